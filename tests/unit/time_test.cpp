#include "cshealthd/core/time.hpp"

#include <gtest/gtest.h>

namespace cshealthd::core {
namespace {

TEST(TimeTest, FormatsAndParsesIso8601) {
  EXPECT_EQ(format_iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_date(1'700'000'000'123), "2023-11-14");
  EXPECT_EQ(parse_iso8601("2023-11-14T22:13:20.123Z"), 1'700'000'000'123);
  EXPECT_EQ(parse_iso8601("2023-11-14"), 1'699'920'000'000);
  EXPECT_EQ(parse_iso8601("2023-11-14T23:13:20+01:00"), 1'700'000'000'000);
  EXPECT_EQ(parse_iso8601("2024-02-29"), parse_iso8601("2024-03-01").value() - kMsPerDay);  // leap day
}

TEST(TimeTest, FormatsEveryFieldAtItsEdges) {
  EXPECT_EQ(format_iso8601(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso8601(951'782'399'999), "2000-02-28T23:59:59.999Z");
  EXPECT_EQ(format_iso8601(951'782'400'000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso8601(253'402'300'800'000), "10000-01-01T00:00:00.000Z");  // five-digit year
  EXPECT_EQ(format_date(-62'167'219'200'000), "0000-01-01");
  EXPECT_EQ(format_date(-1), "1969-12-31");
}

TEST(TimeTest, RejectsImpossibleOrMalformed) {
  for (const char* bad : {"2023-02-29", "2024-02-30", "2023-13-01", "2023-00-10", "2023-11-14T24:00",
                          "2023-11-14X", "14/11/2023", "", "2023-11-14T10:00:00Zjunk", "2023-11-1"}) {
    EXPECT_FALSE(parse_iso8601(bad).has_value()) << bad;
  }
}

// What PostgreSQL cannot store is malformed, at the edges of what it can.
TEST(TimeTest, OnlyTimesPostgresCanStoreParse) {
  EXPECT_FALSE(parse_iso8601("0000-01-01").has_value());  // no year 0
  EXPECT_TRUE(parse_iso8601("0001-01-01").has_value());
  EXPECT_FALSE(parse_iso8601("0001-01-01T00:00:00+00:01").has_value());  // before year 1 once offset
  EXPECT_TRUE(parse_iso8601("9999-12-31T23:59:59.999Z").has_value());
  EXPECT_FALSE(parse_iso8601("9999-12-31T23:59:59-00:01").has_value());  // into year 10000
  EXPECT_TRUE(parse_iso8601("2024-01-01T00:00:00+15:59").has_value());
  EXPECT_FALSE(parse_iso8601("2024-01-01T00:00:00+16:00").has_value());
  EXPECT_FALSE(parse_iso8601("2024-01-01T00:00:00-23:59").has_value());
  EXPECT_EQ(parse_hubspot_timestamp("253402300799999"), 253'402'300'799'999);  // 9999-12-31, last ms
  EXPECT_FALSE(parse_hubspot_timestamp("253402300800000").has_value());        // 10000-01-01
  EXPECT_FALSE(parse_hubspot_timestamp("999999999999999").has_value());
}

TEST(TimeTest, HubSpotTimestampsAreMillisecondsOrIso) {
  EXPECT_EQ(parse_hubspot_timestamp("1700000000000"), 1'700'000'000'000);
  EXPECT_EQ(parse_hubspot_timestamp("2023-11-14T22:13:20.000Z"), 1'700'000'000'000);
  EXPECT_FALSE(parse_hubspot_timestamp("soon").has_value());
}

}  // namespace
}  // namespace cshealthd::core
