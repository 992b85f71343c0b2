#include "cshealthd/core/schedule.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {
namespace {

EpochSeconds at(const char* iso) {
  return *parse_iso8601(iso) / 1000;
}

std::string iso(EpochSeconds t) {
  return format_iso8601(t * 1000);
}

TimeZone zone(const std::string& name) {
  std::ifstream f("/usr/share/zoneinfo/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return TimeZone::from_tzif(name, ss.str());
}

TEST(CronTest, ParsesFieldsListsRangesStepsAndNames) {
  const auto c = parse_cron("*/15 2-4 1,15 jan-MAR mon-fri");
  EXPECT_TRUE(c.minute.test(0) && c.minute.test(45) && !c.minute.test(44));
  EXPECT_TRUE(c.hour.test(2) && c.hour.test(4) && !c.hour.test(5) && !c.hour.test(1));
  EXPECT_TRUE(c.day_of_month.test(1) && c.day_of_month.test(15) && !c.day_of_month.test(2));
  EXPECT_TRUE(c.month.test(1) && c.month.test(3) && !c.month.test(4));
  EXPECT_TRUE(c.day_of_week.test(1) && c.day_of_week.test(5) && !c.day_of_week.test(0) &&
              !c.day_of_week.test(6));
  EXPECT_TRUE(parse_cron("0 0 * * 7").day_of_week.test(0));  // 7 is Sunday too
  EXPECT_EQ(parse_cron("@daily").minute.count(), 1u);
  EXPECT_EQ(parse_cron("5/20 * * * *").minute.count(), 3u);  // 5, 25, 45
}

TEST(CronTest, RejectsWhatIsNotAnExpressionAndNamesTheField) {
  for (const char* bad :
       {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 13 *",
        "* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "1,,2 * * * *", "@sometimes", "-1 * * * *"}) {
    EXPECT_THROW(parse_cron(bad), std::invalid_argument) << bad;
  }
  try {
    parse_cron("0 25 * * *");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("hour"), std::string::npos) << e.what();
  }
}

TEST(CronTest, NightlyInTokyoIsSeventeenHundredUtcTheDayBefore) {
  const auto tokyo = zone("Asia/Tokyo");
  const auto nightly = parse_cron("0 2 * * *");
  EXPECT_EQ(iso(*next_occurrence(nightly, tokyo, at("2026-12-01T10:00:00Z"))), "2026-12-01T17:00:00.000Z");
  // Strictly after: at the occurrence itself, the next one is a day later.
  EXPECT_EQ(iso(*next_occurrence(nightly, tokyo, at("2026-12-01T17:00:00Z"))), "2026-12-02T17:00:00.000Z");
  EXPECT_EQ(iso(*next_occurrence(nightly, tokyo, at("2026-12-01T16:59:59Z"))), "2026-12-01T17:00:00.000Z");
  // At or before: the occurrence itself counts.
  EXPECT_EQ(iso(*last_occurrence(nightly, tokyo, at("2026-12-01T17:00:00Z"))), "2026-12-01T17:00:00.000Z");
  EXPECT_EQ(iso(*last_occurrence(nightly, tokyo, at("2026-12-01T16:59:59Z"))), "2026-11-30T17:00:00.000Z");
  EXPECT_EQ(local_date(tokyo, at("2026-12-01T17:00:00Z")), "2026-12-02");
  EXPECT_EQ(format_local(tokyo, at("2026-12-01T17:00:00Z")), "2026-12-02T02:00:00+09:00");
}

TEST(CronTest, DaylightSavingSkipsAndRepeatsAsTheWallClockDoes) {
  const auto ny = zone("America/New_York");
  // 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not happen that day.
  const auto half_two = parse_cron("30 2 * * *");
  EXPECT_EQ(iso(*next_occurrence(half_two, ny, at("2026-03-07T08:00:00Z"))), "2026-03-09T06:30:00.000Z");
  // 2026-11-01: 01:00-02:00 happens twice; 01:30 occurs in both (EDT, then EST).
  const auto half_one = parse_cron("30 1 * * *");
  const auto first = *next_occurrence(half_one, ny, at("2026-11-01T04:00:00Z"));
  EXPECT_EQ(iso(first), "2026-11-01T05:30:00.000Z");
  EXPECT_EQ(iso(*next_occurrence(half_one, ny, first)), "2026-11-01T06:30:00.000Z");
  EXPECT_EQ(format_local(ny, at("2026-07-01T12:00:00Z")), "2026-07-01T08:00:00-04:00");
  // Far past the file's transitions, the POSIX rule carries on.
  EXPECT_EQ(ny.offset_at(at("2080-07-01T12:00:00Z")), -4 * 3600);
  EXPECT_EQ(ny.offset_at(at("2080-01-01T12:00:00Z")), -5 * 3600);
}

TEST(CronTest, AnOffsetOfOddSecondsStillFiresOnTheWallClockMinute) {
  // Tokyo's local mean time, +9:18:59, until 1887: 00:00 UTC is 09:18:59 local, so 03:00 is the next day's.
  const auto tokyo = zone("Asia/Tokyo");
  const auto t = *next_occurrence(parse_cron("0 3 * * *"), tokyo, at("1880-01-01T00:00:00Z"));
  EXPECT_EQ(format_local(tokyo, t).substr(0, 19), "1880-01-02T03:00:00");
  EXPECT_EQ(*last_occurrence(parse_cron("0 3 * * *"), tokyo, t), t);
  EXPECT_EQ(*last_occurrence(parse_cron("0 3 * * *"), tokyo, t - 1), t - 86'400);
}

TEST(CronTest, DayFieldsCombineWithOrWhenBothAreRestricted) {
  const auto utc = TimeZone::utc();
  // The 13th, or any Friday: 2026-02-06 is a Friday, before the 13th.
  EXPECT_EQ(iso(*next_occurrence(parse_cron("0 0 13 * fri"), utc, at("2026-02-01T00:00:00Z"))),
            "2026-02-06T00:00:00.000Z");
  EXPECT_EQ(iso(*next_occurrence(parse_cron("0 0 29 2 *"), utc, at("2026-03-01T00:00:00Z"))),
            "2028-02-29T00:00:00.000Z");
  EXPECT_FALSE(next_occurrence(parse_cron("0 0 30 2 *"), utc, at("2026-03-01T00:00:00Z")));
  EXPECT_FALSE(last_occurrence(parse_cron("0 0 31 4 *"), utc, at("2026-03-01T00:00:00Z")));
}

TEST(TimeZoneTest, PosixRulesOfBothHemispheres) {
  // Sydney: daylight from the first Sunday of October to the first Sunday of April.
  EXPECT_EQ(*posix_tz_offset("AEST-10AEDT,M10.1.0,M4.1.0/3", at("2026-01-15T00:00:00Z")), 11 * 3600);
  EXPECT_EQ(*posix_tz_offset("AEST-10AEDT,M10.1.0,M4.1.0/3", at("2026-06-15T00:00:00Z")), 10 * 3600);
  EXPECT_EQ(*posix_tz_offset("<+09>-9", 0), 9 * 3600);
  EXPECT_EQ(*posix_tz_offset("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", at("2026-07-01T00:00:00Z")), -2 * 3600);
  EXPECT_FALSE(posix_tz_offset("EST5EDT,M3.2", 0));
  EXPECT_FALSE(posix_tz_offset("X5", 0));
}

TEST(TimeZoneTest, RejectsBytesThatAreNotTzif) {
  EXPECT_THROW(TimeZone::from_tzif("x", "not a zone"), std::invalid_argument);
  const std::string head = "TZif2" + std::string(15, '\0');
  EXPECT_THROW(TimeZone::from_tzif("x", head + std::string(24, '\xff')), std::invalid_argument);
  auto tokyo = std::string();
  {
    std::ifstream f("/usr/share/zoneinfo/Asia/Tokyo", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    tokyo = ss.str();
  }
  for (std::size_t cut = 0; cut < tokyo.size() - 12; cut += 7) {
    try {
      (void)TimeZone::from_tzif("cut", tokyo.substr(0, cut));  // truncated: an error or a zone, never a crash
    } catch (const std::invalid_argument&) {
    }
  }
}

TEST(RetryDelayTest, FullJitterUnderAnExponentialCeiling) {
  EXPECT_EQ(retry_delay_ms(1, 1000, 60'000, 0.0), 0);
  EXPECT_EQ(retry_delay_ms(1, 1000, 60'000, 0.5), 500);
  EXPECT_EQ(retry_delay_ms(2, 1000, 60'000, 0.5), 1000);
  EXPECT_EQ(retry_delay_ms(4, 1000, 60'000, 0.999), 7992);
  EXPECT_EQ(retry_delay_ms(7, 1000, 60'000, 0.5), 30'000);  // 64 s capped at 60
  EXPECT_EQ(retry_delay_ms(1000, 1000, 60'000, 0.9999), 59'994);
  EXPECT_LE(retry_delay_ms(3, 1000, 60'000, 7.0), 4000);  // a bad draw is clamped
}

}  // namespace
}  // namespace cshealthd::core
