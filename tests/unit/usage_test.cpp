// Usage rows as core judges them: how a domain is normalised, and each row error at its boundary.
#include "cshealthd/core/usage.hpp"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cshealthd::core {
namespace {

using ::testing::HasSubstr;

constexpr std::int32_t kToday = 20'619;  // 2026-06-15

TEST(UsageTest, ADomainIsNormalisedForMatching) {
  EXPECT_EQ(normalise_domain("acme.example"), "acme.example");
  EXPECT_EQ(normalise_domain("  ACME.Example\t"), "acme.example");
  EXPECT_EQ(normalise_domain("www.acme.example."), "acme.example");
  EXPECT_EQ(normalise_domain("https://WWW.Acme.example./pricing?x=1"), "acme.example");
  EXPECT_EQ(normalise_domain("http://acme.example#top"), "acme.example");
  EXPECT_EQ(normalise_domain("wwwacme.example"), "wwwacme.example");  // only a "www." label goes
  EXPECT_EQ(normalise_domain("www."), "");
  EXPECT_EQ(normalise_domain(""), "");
}

TEST(UsageTest, AKeyIsCheckedByItsKindInOnePlace) {
  const auto key = [](UsageKeyKind k, std::string_view t) { return usage_key(k, t); };
  EXPECT_EQ(std::get<UsageKey>(key(UsageKeyKind::kId, " 00123 ")).value, "123");
  for (const char* bad : {"0", "000", "", "-5", "12a", "1234567890123456789"})
    EXPECT_THAT(std::get<std::string>(key(UsageKeyKind::kId, bad)), HasSubstr("company_id: expected")) << bad;
  EXPECT_EQ(std::get<UsageKey>(key(UsageKeyKind::kDomain, "https://WWW.Acme.example./x")).value,
            "acme.example");
  EXPECT_THAT(std::get<std::string>(key(UsageKeyKind::kDomain, "www.")),
              HasSubstr("domain: expected 1 to 255"));
  EXPECT_EQ(std::get<UsageKey>(key(UsageKeyKind::kExternalId, "ACC-1")).value, "ACC-1");
  EXPECT_THAT(std::get<std::string>(key(UsageKeyKind::kExternalId, std::string(256, 'x'))),
              HasSubstr("external_id: expected 1 to 255"));
}

UsageRow row(std::int32_t day, std::vector<std::pair<Metric, double>> figures) {
  return UsageRow{{UsageKeyKind::kId, "1"}, day, std::move(figures)};
}

TEST(UsageTest, ARowErrsOnAFutureDayButNotOnToday) {
  EXPECT_EQ(usage_row_error(row(kToday, {{Metric::kLogins30d, 1}}), kToday), std::nullopt);
  const auto e = usage_row_error(row(kToday + 1, {{Metric::kLogins30d, 1}}), kToday);
  ASSERT_TRUE(e);
  EXPECT_THAT(*e, HasSubstr("2026-06-16 is in the future"));
}

TEST(UsageTest, EachFigureMustBeAWholeNonNegativeFiniteUsageCount) {
  EXPECT_EQ(usage_row_error(row(kToday, {{Metric::kFeaturesUsed, 0}}), kToday), std::nullopt);
  EXPECT_THAT(*usage_row_error(row(kToday, {{Metric::kFeaturesUsed, -1}}), kToday), HasSubstr("negative"));
  EXPECT_THAT(*usage_row_error(row(kToday, {{Metric::kLogins30d, 1.5}}), kToday), HasSubstr("whole number"));
  EXPECT_THAT(*usage_row_error(row(kToday, {{Metric::kLogins30d, std::nan("")}}), kToday),
              HasSubstr("finite"));
  EXPECT_THAT(
      *usage_row_error(row(kToday, {{Metric::kLogins30d, std::numeric_limits<double>::infinity()}}), kToday),
      HasSubstr("finite"));
  EXPECT_THAT(*usage_row_error(row(kToday, {{Metric::kMrr, 100}}), kToday), HasSubstr("not a usage metric"));
  EXPECT_THAT(*usage_row_error(row(kToday, {}), kToday), HasSubstr("no figures"));
}

TEST(UsageTest, ActiveUsersMayReachButNotPassTheSeatsOfTheSameRow) {
  EXPECT_EQ(
      usage_row_error(row(kToday, {{Metric::kActiveUsers30d, 50}, {Metric::kLicensedSeats, 50}}), kToday),
      std::nullopt);
  const auto e =
      usage_row_error(row(kToday, {{Metric::kActiveUsers30d, 51}, {Metric::kLicensedSeats, 50}}), kToday);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, "active_users_30d (51) above licensed_seats (50)");
  // Alone, either is fine: the seats may come from HubSpot.
  EXPECT_EQ(usage_row_error(row(kToday, {{Metric::kActiveUsers30d, 51}}), kToday), std::nullopt);
}

TEST(UsageTest, SourcesAndKeyKindsHaveStableNames) {
  EXPECT_STREQ(name_of(MetricSource::kHubSpot), "hubspot");
  EXPECT_STREQ(name_of(MetricSource::kPush), "push");
  EXPECT_STREQ(name_of(MetricSource::kCsv), "csv");
  EXPECT_STREQ(name_of(MetricSource::kSegment), "segment");
  EXPECT_EQ(metric_source_from_name("segment"), MetricSource::kSegment);
  EXPECT_EQ(metric_source_from_name("Segment"), std::nullopt);
  EXPECT_STREQ(name_of(UsageKeyKind::kExternalId), "external_id");
}

}  // namespace
}  // namespace cshealthd::core
