// The scoring engine against both seed scorecards, row by row at every boundary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fstream>
#include <iterator>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/health.hpp"
#include "cshealthd/scoring/scoring_config.hpp"

namespace cshealthd::core {
namespace {

using ::testing::HasSubstr;

constexpr EpochMs kDay = 86'400'000;
constexpr std::int32_t kAsOf = 20'619;  // 2026-06-15

const scoring::ScoringConfig& shipped() {
  static const auto config = scoring::load_scoring("", StatusBands{});
  return config;
}
const Scorecard& card(const std::string& name) {
  const auto* c = shipped().find(name);
  if (!c) throw std::runtime_error("no scorecard " + name);
  return *c;
}

std::string embedded(const std::string& name) {
  for (const auto& f : scoring::embedded_scorecards()) {
    if (f.name == name) return f.text;
  }
  throw std::runtime_error("not shipped: " + name);
}

// A company as of kAsOf; helpers add facts relative to the end of that day.
struct Company {
  CompanyInputs in;
  Company() {
    in.company_id = 42;
    in.as_of_day = kAsOf;
  }
  EpochMs end() const { return start_of_day(kAsOf + 1); }
  Company& metric(Metric m, double v) {
    in.metrics[static_cast<std::size_t>(m)] = v;
    return *this;
  }
  Company& history(Metric m, std::int32_t days_ago, double v) {
    auto& h = in.history[static_cast<std::size_t>(m)];
    h.push_back({kAsOf - days_ago, v});
    std::sort(h.begin(), h.end(), [](const auto& a, const auto& b) { return a.day < b.day; });
    return *this;
  }
  Company& text(TextField f, const std::string& v) {
    in.texts[static_cast<std::size_t>(f)] = v;
    return *this;
  }
  Company& date(DateField f, EpochMs v) {
    in.dates[static_cast<std::size_t>(f)] = v;
    return *this;
  }
  // Renewal `months` (of 365.25/12 days) after the start of the as-of day.
  Company& renewal_in_months(double months) {
    return date(DateField::kRenewalDate,
                start_of_day(kAsOf) + static_cast<EpochMs>(months * (365.25 / 12) * kDay));
  }
  Company& ticket(double hours_ago, const std::string& priority, const std::string& category,
                  std::optional<double> closed_hours_ago = 0.0) {
    Ticket t;
    t.created = end() - static_cast<EpochMs>(hours_ago * 3'600'000);
    if (closed_hours_ago) t.closed = end() - static_cast<EpochMs>(*closed_hours_ago * 3'600'000);
    t.priority = priority;
    t.category = category;
    // Closed an hour after opening unless told otherwise: a quick resolution.
    if (closed_hours_ago && *closed_hours_ago == 0.0) t.closed = t.created + 3'600'000;
    in.tickets.push_back(t);
    return *this;
  }
  Company& answer(const std::string& survey, double value, double days_ago, std::int64_t respondent = 0) {
    in.feedback.push_back({end() - static_cast<EpochMs>(days_ago * kDay), survey, value, respondent});
    return *this;
  }
  Company& meeting(double days_ago, const std::string& outcome) {
    in.meetings.push_back({end() - static_cast<EpochMs>(days_ago * kDay), outcome});
    return *this;
  }
  HealthResult score(const std::string& scorecard = "weighted", StatusBands bands = {}) const {
    HealthResult r;
    core::score(card(scorecard), bands, in, r);
    evaluate_signals(shipped().signals, in, r);
    return r;
  }
};

const ComponentResult& component(const HealthResult& r, const std::string& name) {
  for (const auto& c : r.components) {
    if (c.component->name == name) return c;
  }
  throw std::runtime_error("no component " + name);
}
std::optional<double> points(const HealthResult& r, const std::string& name) {
  const auto& c = component(r, name);
  return c.has_data ? std::optional<double>(c.points) : std::nullopt;
}
bool fired(const HealthResult& r, const std::string& name) {
  return std::any_of(r.signals.begin(), r.signals.end(), [&](const Signal& s) { return s.name == name; });
}

// ---- Preset B: weighted (seed 001) ----------------------------------------------------------------

TEST(WeightedScorecard, UsageActiveUsersOverSeatsRowByRow) {
  // active users per 10,000 seats -> points
  const std::vector<std::pair<double, double>> rows = {{12000, 100}, {10000, 100}, {8000, 100}, {7999, 70},
                                                       {6000, 70},   {5999, 40},   {4000, 40},  {3999, 10},
                                                       {1, 10},      {0, 10}};
  for (const auto& [active, expected] : rows) {
    Company c;
    c.metric(Metric::kLicensedSeats, 10000).metric(Metric::kActiveUsers30d, active);
    EXPECT_EQ(points(c.score(), "usage"), expected) << active << " of 10000 active";
  }
  Company no_seats;
  no_seats.metric(Metric::kLicensedSeats, 0).metric(Metric::kActiveUsers30d, 5);
  EXPECT_EQ(points(no_seats.score(), "usage"), std::nullopt);  // no ratio without seats: no data, not 0
  Company half;
  half.metric(Metric::kActiveUsers30d, 5);
  EXPECT_EQ(points(half.score(), "usage"), std::nullopt);
}

TEST(WeightedScorecard, NpsLatestAnswerRowByRow) {
  const std::vector<std::pair<double, double>> rows = {{10, 100}, {9, 100}, {8, 50},
                                                       {7, 50},   {6, 10},  {0, 10}};
  for (const auto& [nps, expected] : rows) {
    Company c;
    c.answer("NPS", 2, 100).answer("NPS", nps, 10).answer("CSAT", 10, 1);  // the latest NPS counts
    EXPECT_EQ(points(c.score(), "nps"), expected) << "NPS " << nps;
  }
  Company none;
  none.answer("CSAT", 9, 3);
  EXPECT_EQ(points(none.score(), "nps"), std::nullopt);
  Company future;  // answered after the as-of day: not known then
  future.answer("NPS", 3, -2);
  EXPECT_EQ(points(future.score(), "nps"), std::nullopt);
}

TEST(WeightedScorecard, SupportRulesFirstMatchWins) {
  struct Row {
    const char* what;
    std::function<void(Company&)> setup;
    double expected;
  };
  const std::vector<Row> rows = {
      {"no tickets", [](Company&) {}, 100},
      {"minor questions",
       [](Company& c) { c.ticket(24, "LOW", "GENERAL_INQUIRY").ticket(48, "MEDIUM", "GENERAL_INQUIRY"); },
       100},
      {"2 feature requests",
       [](Company& c) { c.ticket(24, "LOW", "FEATURE_REQUEST").ticket(48, "LOW", "FEATURE_REQUEST"); }, 100},
      {"3 feature requests",
       [](Company& c) {
         c.ticket(24, "LOW", "FEATURE_REQUEST")
             .ticket(48, "LOW", "FEATURE_REQUEST")
             .ticket(700, "LOW", "FEATURE_REQUEST");
       },
       60},
      {"3 feature requests, one 31 days ago",
       [](Company& c) {
         c.ticket(24, "LOW", "FEATURE_REQUEST")
             .ticket(48, "LOW", "FEATURE_REQUEST")
             .ticket(31 * 24, "LOW", "FEATURE_REQUEST");
       },
       100},
      {"a critical bug", [](Company& c) { c.ticket(5, "HIGH", "PRODUCT_ISSUE"); }, 20},
      {"an urgent bug", [](Company& c) { c.ticket(5, "URGENT", "PRODUCT_ISSUE"); }, 20},
      {"a high-priority question", [](Company& c) { c.ticket(5, "HIGH", "GENERAL_INQUIRY"); }, 100},
      {"a critical bug 31 days ago", [](Company& c) { c.ticket(31 * 24, "HIGH", "PRODUCT_ISSUE"); }, 100},
      {"critical bug and 3 feature requests",
       [](Company& c) {
         c.ticket(5, "HIGH", "PRODUCT_ISSUE")
             .ticket(24, "LOW", "FEATURE_REQUEST")
             .ticket(48, "LOW", "FEATURE_REQUEST")
             .ticket(72, "LOW", "FEATURE_REQUEST");
       },
       20},
  };
  for (const auto& row : rows) {
    Company c;
    row.setup(c);
    EXPECT_EQ(points(c.score(), "support"), row.expected) << row.what;
  }
}

TEST(WeightedScorecard, RenewalMonthsRowByRow) {
  const std::vector<std::pair<double, double>> rows = {{24, 100}, {6, 100},   {5.99, 70}, {3, 70}, {2.99, 40},
                                                       {1, 40},   {0.99, 20}, {0, 20},    {-2, 20}};
  for (const auto& [months, expected] : rows) {
    Company c;
    c.renewal_in_months(months);
    EXPECT_EQ(points(c.score(), "renewal"), expected) << months << " months";
  }
  EXPECT_EQ(points(Company().score(), "renewal"), std::nullopt);
}

TEST(WeightedScorecard, ExpansionTrendOverThirtyDays) {
  // (seats 30 days ago, seats now) -> points; +5 % is growing, -5 % shrinking, in between flat
  const std::vector<std::tuple<double, double, double>> rows = {
      {100, 105, 100}, {100, 104.99, 50}, {100, 100, 50}, {100, 95.01, 50},
      {100, 95, 10},   {100, 50, 10},     {0, 3, 100}};
  for (const auto& [before, now, expected] : rows) {
    Company c;
    c.history(Metric::kLicensedSeats, 30, before).history(Metric::kLicensedSeats, 0, now);
    EXPECT_EQ(points(c.score(), "expansion"), expected) << before << " -> " << now;
  }
  Company best;  // seats shrinking but users growing: the most favourable trend counts
  best.history(Metric::kLicensedSeats, 30, 100).history(Metric::kLicensedSeats, 0, 80);
  best.history(Metric::kActiveUsers30d, 40, 50).history(Metric::kActiveUsers30d, 0, 60);
  EXPECT_EQ(points(best.score(), "expansion"), 100);
  Company young;  // no snapshot 30 days back: no trend yet
  young.history(Metric::kLicensedSeats, 10, 100).history(Metric::kLicensedSeats, 0, 200);
  EXPECT_EQ(points(young.score(), "expansion"), std::nullopt);
}

TEST(WeightedScorecard, FullScoreIsTheWeightedSum) {
  Company c;
  c.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 65);  // 70
  c.answer("NPS", 8, 5);                                                      // 50
  c.ticket(10, "LOW", "FEATURE_REQUEST")
      .ticket(20, "LOW", "FEATURE_REQUEST")
      .ticket(30, "LOW", "FEATURE_REQUEST");                                           // 60
  c.renewal_in_months(4);                                                              // 70
  c.history(Metric::kLicensedSeats, 30, 100).history(Metric::kLicensedSeats, 0, 100);  // flat: 50
  const auto r = c.score();
  EXPECT_DOUBLE_EQ(r.score, 0.4 * 70 + 0.2 * 50 + 0.15 * 60 + 0.15 * 70 + 0.1 * 50);  // 62.5
  EXPECT_DOUBLE_EQ(r.coverage, 1.0);
  EXPECT_EQ(r.status, "yellow");
  // Points lost: usage 40 % × 30 = 12, NPS 20 % × 50 = 10, support 15 % × 40 = 6, expansion 5, renewal 4.5.
  const auto why = reasons(r);
  ASSERT_EQ(why.size(), 3u);
  EXPECT_EQ(why[0], "usage: 65 (60-79 % active) 70/100, -12 points");
  EXPECT_EQ(why[1], "nps: 8 (passive (7-8)) 50/100, -10 points");
  EXPECT_THAT(why[2], HasSubstr("support"));
}

// ---- Preset A: points (seed 000) ------------------------------------------------------------------

TEST(PointsScorecard, LoginsPerWeekRowByRow) {
  // logins in 30 days -> per week (× 7 / 30) -> points
  const std::vector<std::pair<double, double>> rows = {{30, 20},  {12.86, 20}, {12.85, 10}, {4.29, 10},
                                                       {4.28, 0}, {1, 0},      {0, 0}};
  for (const auto& [logins, expected] : rows) {
    Company c;
    c.metric(Metric::kLogins30d, logins);
    EXPECT_EQ(points(c.score("points"), "usage"), expected) << logins << " logins in 30 days";
  }
}

TEST(PointsScorecard, FeaturesUsedRowByRow) {
  const std::vector<std::pair<double, double>> rows = {{9, 15}, {5, 15}, {4, 10}, {3, 10},
                                                       {2, 5},  {1, 5},  {0, 0}};
  for (const auto& [features, expected] : rows) {
    Company c;
    c.metric(Metric::kFeaturesUsed, features);
    EXPECT_EQ(points(c.score("points"), "depth"), expected) << features << " features";
  }
  Company negative;
  negative.metric(Metric::kFeaturesUsed, -1);
  EXPECT_EQ(points(negative.score("points"), "depth"), std::nullopt);  // out of every band: not rated
}

TEST(PointsScorecard, MeetingAttendanceRowByRow) {
  struct Row {
    std::vector<std::string> outcomes;  // newest first
    std::optional<double> expected;
  };
  const std::vector<Row> rows = {
      {{"COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"}, 15},
      {{"COMPLETED", "NO_SHOW", "COMPLETED", "COMPLETED"}, 10},
      {{"NO_SHOW", "NO_SHOW", "NO_SHOW", "COMPLETED"}, 10},
      {{"NO_SHOW", "NO_SHOW", "NO_SHOW", "NO_SHOW", "COMPLETED"}, 0},  // only the last 4 count
      {{"COMPLETED", "CANCELED", "CANCELED"}, 15},                     // canceled meetings are not missed
      {{"CANCELED"}, std::nullopt},
      {{}, std::nullopt},
  };
  for (const auto& row : rows) {
    Company c;
    for (std::size_t i = 0; i < row.outcomes.size(); ++i) c.meeting(5.0 + 20.0 * i, row.outcomes[i]);
    EXPECT_EQ(points(c.score("points"), "engagement"), row.expected)
        << ::testing::PrintToString(row.outcomes);
  }
}

TEST(PointsScorecard, CsatNpsContractOutcomeRowByRow) {
  for (const auto& [csat, expected] :
       std::vector<std::pair<double, double>>{{10, 15}, {8, 15}, {7.99, 10}, {6, 10}, {5.99, 0}, {0, 0}}) {
    Company c;
    c.answer("CSAT", csat, 3);
    EXPECT_EQ(points(c.score("points"), "support"), expected) << "CSAT " << csat;
  }
  Company avg;  // the average over 90 days: (9 + 6) / 2 = 7.5
  avg.answer("CSAT", 9, 10).answer("CSAT", 6, 20).answer("CSAT", 0, 91);
  EXPECT_EQ(points(avg.score("points"), "support"), 10);
  for (const auto& [nps, expected] :
       std::vector<std::pair<double, double>>{{10, 15}, {9, 15}, {8, 10}, {7, 10}, {6, 0}, {0, 0}}) {
    Company c;
    c.answer("NPS", nps, 3);
    EXPECT_EQ(points(c.score("points"), "nps"), expected) << "NPS " << nps;
  }
  for (const auto& [months, expected] :
       std::vector<std::pair<double, double>>{{12, 10}, {6, 10}, {5.99, 5}, {3, 5}, {2.99, 0}, {-1, 0}}) {
    Company c;
    c.renewal_in_months(months);
    EXPECT_EQ(points(c.score("points"), "contract"), expected) << months << " months";
  }
  for (const auto& [goal, expected] : std::vector<std::pair<std::string, std::optional<double>>>{
           {"achieved", 10}, {"in_progress", 5}, {"not_started", 0}, {"abandoned", std::nullopt}}) {
    Company c;
    c.text(TextField::kGoalStatus, goal);
    EXPECT_EQ(points(c.score("points"), "outcome"), expected) << goal;
  }
}

TEST(PointsScorecard, AHealthyCustomerScoresThePlainSumOfPoints) {
  Company c;
  c.metric(Metric::kLogins30d, 20).metric(Metric::kFeaturesUsed, 4);   // 20 + 10
  c.meeting(5, "COMPLETED").meeting(30, "NO_SHOW");                    // 10
  c.answer("CSAT", 9, 5).answer("NPS", 7, 5);                          // 15 + 10
  c.renewal_in_months(7).text(TextField::kGoalStatus, "in_progress");  // 10 + 5
  const auto r = c.score("points");
  EXPECT_DOUBLE_EQ(r.score, 80);
  EXPECT_EQ(r.status, "green");
  EXPECT_DOUBLE_EQ(r.coverage, 1.0);
}

// ---- Bands, coverage, renormalisation ------------------------------------------------------------

TEST(StatusBands, BoundariesRowByRow) {
  const std::vector<std::pair<double, std::string>> rows = {
      {100, "green"},    {80, "green"},  {79.99, "yellow"}, {60, "yellow"},
      {59.99, "orange"}, {40, "orange"}, {39.99, "red"},    {0, "red"}};
  for (const auto& [score, status] : rows) EXPECT_EQ(status_of(score, 1.0, StatusBands{}), status) << score;
  EXPECT_EQ(status_of(90, 0.49, StatusBands{}), "unknown");
  EXPECT_EQ(status_of(90, 0.5, StatusBands{}), "green");
  StatusBands custom{90, 70, 50, 0.8};
  EXPECT_EQ(status_of(85, 1.0, custom), "yellow");
  EXPECT_EQ(status_of(85, 0.79, custom), "unknown");
}

TEST(Coverage, MissingComponentsAreLeftOutAndWeightsRenormalised) {
  Company c;  // usage 70 (40 %) and support 100 (15 %, no tickets is data); NPS, renewal, expansion missing
  c.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 60);
  const auto r = c.score();
  EXPECT_DOUBLE_EQ(r.coverage, 0.55);
  EXPECT_DOUBLE_EQ(r.score, std::round(10000 * (40 * 0.70 + 15 * 1.0) / 55) / 100);  // 78.18, not 43
  EXPECT_EQ(r.status, "yellow");
  EXPECT_FALSE(component(r, "nps").has_data);
  EXPECT_DOUBLE_EQ(component(r, "usage").effective_weight, 40.0 / 55);

  Company thin;  // support only: 15 % of the weight -> unknown, whatever the score
  const auto t = thin.score();
  EXPECT_DOUBLE_EQ(t.coverage, 0.15);
  EXPECT_DOUBLE_EQ(t.score, 100);
  EXPECT_EQ(t.status, "unknown");

  Company exactly_half;  // points card: usage 20 + depth 15 + contract 10 + outcome 10 = 55 % of the weight
  exactly_half.metric(Metric::kLogins30d, 0).metric(Metric::kFeaturesUsed, 0).renewal_in_months(1);
  exactly_half.text(TextField::kGoalStatus, "not_started");
  const auto h = exactly_half.score("points");
  EXPECT_DOUBLE_EQ(h.coverage, 0.55);
  EXPECT_EQ(h.status, "red");  // 0 points of 55 known
  Company below;
  below.metric(Metric::kLogins30d, 30).metric(Metric::kFeaturesUsed, 9);  // 35 % known
  EXPECT_EQ(below.score("points").status, "unknown");
  EXPECT_DOUBLE_EQ(below.score("points").score, 100);
  const auto n = Company().score("points");  // nothing known at all
  EXPECT_EQ(n.coverage, 0);
  EXPECT_EQ(n.status, "unknown");
}

TEST(Coverage, NothingKnownIsUnknownEvenWithoutAMinimum) {
  EXPECT_EQ(Company().score("points", StatusBands{80, 60, 40, 0.0}).status, "unknown");
}

TEST(Coverage, MinimumCoverageIsConfigurableAndInclusive) {
  Company c;
  c.metric(Metric::kLogins30d, 30).metric(Metric::kFeaturesUsed, 9).renewal_in_months(12);  // 45 % known
  EXPECT_EQ(c.score("points", StatusBands{80, 60, 40, 0.45}).status, "green");
  EXPECT_EQ(c.score("points", StatusBands{80, 60, 40, 0.46}).status, "unknown");
}

// ---- Segments ------------------------------------------------------------------------------------

TEST(Segments, FirstMatchInFileOrderElseTheDefault) {
  const auto& seg = shipped().segments;
  Company rich, poor, unknown;
  rich.metric(Metric::kMrr, 5000);
  poor.metric(Metric::kMrr, 4999.99);
  EXPECT_EQ(*seg.select(rich.in).first, "high_touch");
  EXPECT_EQ(*seg.select(poor.in).first, "tech_touch");
  EXPECT_EQ(*seg.select(unknown.in).first, "tech_touch");
  EXPECT_EQ(*seg.select(rich.in).second, "weighted");

  const auto custom = scoring::parse_scoring(
      {{"weighted.yaml", embedded("weighted.yaml")},
       {"points.yaml", embedded("points.yaml")},
       {"segments.yaml",
        "segments:\n"
        "  - {name: enterprise, scorecard: points, when: {field: plan, in: [enterprise]}}\n"
        "  - {name: big, scorecard: weighted, when: {metric: mrr, gte: 1000, lt: 100000}}\n"
        "default: {name: small, scorecard: weighted}\n"}},
      StatusBands{});
  Company both;  // matches both rules: the first wins
  both.metric(Metric::kMrr, 5000).text(TextField::kPlan, "enterprise");
  EXPECT_EQ(*custom.segments.select(both.in).first, "enterprise");
  EXPECT_EQ(*custom.segments.select(both.in).second, "points");
  Company huge;
  huge.metric(Metric::kMrr, 100000);
  EXPECT_EQ(*custom.segments.select(huge.in).first, "small");  // lt is exclusive
  Company mid;
  mid.metric(Metric::kMrr, 1000).text(TextField::kPlan, "starter");
  EXPECT_EQ(*custom.segments.select(mid.in).first, "big");
}

// ---- Overrides -----------------------------------------------------------------------------------

TEST(Overrides, ComponentAndScoreOverridesApplyUntilTheyExpire) {
  Company c;
  c.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 10);  // usage 10
  c.answer("NPS", 10, 3).renewal_in_months(12);
  c.in.overrides.push_back({"usage", 100, "seats miscounted by billing", "lead@vendor.example", kAsOf});
  auto r = c.score();
  EXPECT_EQ(points(r, "usage"), 100);
  EXPECT_TRUE(component(r, "usage").overridden);
  EXPECT_THAT(std::string(component(r, "usage").rule_text()), HasSubstr("seats miscounted by billing"));

  c.in.overrides[0].expires_day = kAsOf - 1;  // expired yesterday: ignored
  r = c.score();
  EXPECT_EQ(points(r, "usage"), 10);
  EXPECT_FALSE(component(r, "usage").overridden);

  Company s;
  s.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 10);
  s.in.overrides.push_back({"", 85, "exec sponsor confirmed renewal", "lead@vendor.example", kAsOf + 30});
  r = s.score();
  EXPECT_DOUBLE_EQ(r.score, 85);
  EXPECT_EQ(r.status, "green");  // a person vouched for it: coverage does not make it unknown
  EXPECT_DOUBLE_EQ(r.computed_score, std::round(10000 * (40 * 0.1 + 15) / 55) / 100);
  ASSERT_FALSE(reasons(r).empty());
  EXPECT_THAT(reasons(r)[0], HasSubstr("exec sponsor confirmed renewal"));
  s.in.as_of_day = kAsOf + 31;
  EXPECT_FALSE(s.score().score_override.has_value());
}

// ---- Signals -------------------------------------------------------------------------------------

TEST(Signals, UsageDrop) {
  Company drop, steady, rate, rate_ok;
  drop.history(Metric::kLogins30d, 30, 100).history(Metric::kLogins30d, 0, 50);
  steady.history(Metric::kLogins30d, 30, 100).history(Metric::kLogins30d, 0, 51);
  EXPECT_TRUE(fired(drop.score(), "usage_drop"));
  EXPECT_FALSE(fired(steady.score(), "usage_drop"));
  rate.history(Metric::kLicensedSeats, 30, 100)
      .history(Metric::kActiveUsers30d, 30, 70)
      .history(Metric::kActiveUsers30d, 0, 49);
  rate_ok.history(Metric::kLicensedSeats, 30, 100)
      .history(Metric::kActiveUsers30d, 30, 70)
      .history(Metric::kActiveUsers30d, 0, 50);
  EXPECT_TRUE(fired(rate.score(), "usage_drop"));  // 70 % -> 49 %: down 30 %
  EXPECT_FALSE(fired(rate_ok.score(), "usage_drop"));
  const auto r = drop.score();
  EXPECT_EQ(r.signals[0].facts(), "logins in the last 30 days 50 vs 100 the 30 days before (50%)");
  EXPECT_EQ(r.signals[0].priority, "high");
}

TEST(Signals, TicketSurge) {
  auto with = [](int now, int before) {
    Company c;
    for (int i = 0; i < now; ++i) c.ticket(24.0 * (i + 1), "LOW", "GENERAL_INQUIRY");
    for (int i = 0; i < before; ++i) c.ticket(24.0 * (31 + i), "LOW", "GENERAL_INQUIRY");
    return fired(c.score(), "ticket_surge");
  };
  EXPECT_TRUE(with(4, 2));
  EXPECT_FALSE(with(3, 2));
  EXPECT_TRUE(with(3, 0));
  EXPECT_FALSE(with(2, 0));  // 2 vs 0 is no surge: at least 3
}

TEST(Signals, BadSupport) {
  Company three, two, slow, quick, open, fresh;
  for (int i = 0; i < 3; ++i) three.ticket(24.0 * (i + 1), "URGENT", "PRODUCT_ISSUE");
  for (int i = 0; i < 2; ++i) two.ticket(24.0 * (i + 1), "URGENT", "PRODUCT_ISSUE");
  EXPECT_TRUE(fired(three.score(), "bad_support"));
  EXPECT_FALSE(fired(two.score(), "bad_support"));
  slow.ticket(100, "LOW", "GENERAL_INQUIRY", 100 - 48.5);    // took 48.5 h
  quick.ticket(100, "LOW", "GENERAL_INQUIRY", 100 - 47.5);   // took 47.5 h
  open.ticket(49, "LOW", "GENERAL_INQUIRY", std::nullopt);   // open for 49 h
  fresh.ticket(47, "LOW", "GENERAL_INQUIRY", std::nullopt);  // open for 47 h
  EXPECT_TRUE(fired(slow.score(), "bad_support"));
  EXPECT_FALSE(fired(quick.score(), "bad_support"));
  EXPECT_TRUE(fired(open.score(), "bad_support"));
  EXPECT_FALSE(fired(fresh.score(), "bad_support"));
}

TEST(Signals, NpsDrop) {
  auto drop = [](double before, double now) {  // the same person twice
    Company c;
    c.answer("NPS", before, 100, 7).answer("NPS", now, 5, 7);
    return fired(c.score(), "nps_drop");
  };
  EXPECT_TRUE(drop(9, 6));    // promoter to detractor
  EXPECT_TRUE(drop(7, 6));    // passive to detractor
  EXPECT_TRUE(drop(10, 7));   // fell 3 points
  EXPECT_FALSE(drop(10, 8));  // fell 2, still passive
  EXPECT_FALSE(drop(6, 4));   // fell 2 among detractors
  EXPECT_TRUE(drop(6, 3));
  EXPECT_FALSE(drop(5, 9));
}

// nps_drop never compares two different people's single answers: a promoter and, later, another
// person's detractor answer is no drop; the company's answers over two 180-day windows are compared
// instead when the latest respondent had not answered before.
TEST(Signals, NpsDropComparesTheSamePersonOrTwoWindowsNeverTwoPeople) {
  Company two_people;
  two_people.answer("NPS", 9, 100, 1).answer("NPS", 6, 5, 2);
  EXPECT_FALSE(fired(two_people.score(), "nps_drop"));
  Company same_person_held;  // person 1 still a promoter; person 2's first answer is lower, same window
  same_person_held.answer("NPS", 9, 300, 1).answer("NPS", 10, 20, 1).answer("NPS", 8, 5, 2);
  EXPECT_FALSE(fired(same_person_held.score(), "nps_drop"));
  Company windows;  // unknown respondents: 9.5 on average 181-360 days ago, 5.5 in the last 180
  windows.answer("NPS", 9, 300).answer("NPS", 10, 200).answer("NPS", 5, 20).answer("NPS", 6, 10);
  const auto r = windows.score();
  ASSERT_TRUE(fired(r, "nps_drop"));
  for (const auto& s : r.signals) {
    if (std::string_view(s.name) == "nps_drop") {
      EXPECT_THAT(s.facts(), ::testing::HasSubstr("mean NPS 5.5"));
    }
  }
  Company one_window;  // every answer recent: nothing to compare with
  one_window.answer("NPS", 10, 100).answer("NPS", 3, 5);
  EXPECT_FALSE(fired(one_window.score(), "nps_drop"));
}

TEST(Signals, MissedMeetings) {
  auto missed = [](std::vector<std::string> newest_first) {
    Company c;
    for (std::size_t i = 0; i < newest_first.size(); ++i) c.meeting(3.0 + 10.0 * i, newest_first[i]);
    return fired(c.score(), "missed_meetings");
  };
  EXPECT_TRUE(missed({"NO_SHOW", "NO_SHOW"}));
  EXPECT_TRUE(missed({"NO_SHOW", "CANCELED", "NO_SHOW", "COMPLETED"}));  // canceled does not break the run
  EXPECT_FALSE(missed({"NO_SHOW", "COMPLETED", "NO_SHOW"}));
  EXPECT_FALSE(missed({"NO_SHOW"}));
}

TEST(Signals, SilenceKeyPersonRenewalSeats) {
  Company silent, talking;
  silent.date(DateField::kLastContacted, silent.end() - 61 * kDay);
  talking.date(DateField::kLastContacted, talking.end() - 59 * kDay);
  EXPECT_TRUE(fired(silent.score(), "silence"));
  EXPECT_FALSE(fired(talking.score(), "silence"));

  Company left, moved_on;
  left.in.contacts = {{true, true, 7}, {false, false, 8}};
  moved_on.in.contacts = {{false, true, 7}, {true, false, 8}};
  EXPECT_TRUE(fired(left.score(), "key_person_left"));
  EXPECT_FALSE(fired(moved_on.score(), "key_person_left"));

  Company soon, later, past;
  soon.date(DateField::kRenewalDate, start_of_day(kAsOf) + 90 * kDay);
  later.date(DateField::kRenewalDate, start_of_day(kAsOf) + 91 * kDay);
  past.date(DateField::kRenewalDate, start_of_day(kAsOf) - kDay);
  EXPECT_TRUE(fired(soon.score(), "renewal_near"));
  EXPECT_FALSE(fired(later.score(), "renewal_near"));
  EXPECT_FALSE(fired(past.score(), "renewal_near"));

  Company full, room;
  full.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 90);
  room.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 89);
  EXPECT_TRUE(fired(full.score(), "seats_full"));
  EXPECT_FALSE(fired(room.score(), "seats_full"));

  Company promoter, passive;
  promoter.answer("NPS", 9, 3);
  passive.answer("NPS", 8, 3);
  EXPECT_TRUE(fired(promoter.score(), "promoter"));
  EXPECT_FALSE(fired(passive.score(), "promoter"));
}

TEST(Signals, ScoreCrossingsAndUpsell) {
  // usage 100, NPS 100, support 100, renewal (1-3 months) 40 -> 100*.4+100*.2+100*.15+40*.15 = 81/0.9
  auto company = [](double active, std::optional<double> previous) {
    Company c;
    c.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, active).answer("NPS", 10, 3);
    c.renewal_in_months(2);
    if (previous) c.in.previous = PreviousResult{kAsOf - 1, *previous, ""};
    return c.score();
  };
  // active 30 -> usage 10: (4 + 20 + 15 + 6) / 0.9 = 50
  EXPECT_TRUE(fired(company(30, 60), "score_below_alert"));
  EXPECT_FALSE(fired(company(30, 59), "score_below_alert"));  // already below: once per crossing
  EXPECT_TRUE(fired(company(30, std::nullopt), "score_below_alert"));
  EXPECT_FALSE(fired(company(30, 60), "score_below_escalate"));
  const auto high = company(85, 70);  // 90
  EXPECT_DOUBLE_EQ(high.score, 90);
  EXPECT_FALSE(fired(high, "score_below_alert"));
  EXPECT_TRUE(fired(high, "renewal_upsell"));
  EXPECT_DOUBLE_EQ(*high.delta, 20);
  EXPECT_FALSE(fired(company(65, 70), "renewal_upsell"));  // usage 70: 78 < 80
}

TEST(Signals, EscalationBelowForty) {
  Company c;  // usage 10, NPS 10, support 20 -> 4 + 2 + 3 = 9 / 0.75 = 12
  c.metric(Metric::kLicensedSeats, 100).metric(Metric::kActiveUsers30d, 1).answer("NPS", 0, 3);
  c.ticket(3, "HIGH", "PRODUCT_ISSUE");
  c.in.previous = PreviousResult{kAsOf - 1, 45, "orange"};
  const auto r = c.score();
  EXPECT_TRUE(fired(r, "score_below_escalate"));
  EXPECT_FALSE(fired(r, "score_below_alert"));  // one signal per crossing: the lower line
}

// ---- Determinism and config errors ---------------------------------------------------------------

TEST(Engine, SameInputsGiveTheSameResult) {
  Company c;
  c.metric(Metric::kLicensedSeats, 40).metric(Metric::kActiveUsers30d, 17).answer("NPS", 7, 40);
  c.ticket(10, "HIGH", "PRODUCT_ISSUE").renewal_in_months(4.2);
  const auto a = c.score(), b = c.score();
  EXPECT_EQ(a.score, b.score);
  EXPECT_EQ(reasons(a), reasons(b));
  EXPECT_EQ(a.signals.size(), b.signals.size());
}

std::string error_of(const std::string& file, const std::string& text) {
  try {
    scoring::parse_scoring({{file, text}}, StatusBands{});
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

// Contract terms: a monthly contract is always in its renewal month, so the shipped renewal component
// scores its tenure instead, row by row at the bands' edges; an annual one (or none) is unchanged.
TEST(WeightedScorecard, MonthlyContractsScoreTheirTenureNotTheRenewalMonth) {
  const std::vector<std::pair<double, double>> rows = {{24, 100}, {12, 100}, {11.99, 70}, {6, 70},
                                                       {5.99, 40}, {3, 40},   {2.99, 20},  {0, 20}};
  for (const auto& [months, expected] : rows) {
    Company c;
    c.text(TextField::kContractTerm, "monthly")
        .renewal_in_months(0.5)
        .date(DateField::kContractStartDate, start_of_day(kAsOf) - static_cast<EpochMs>(months * (365.25 / 12) * kDay));
    EXPECT_EQ(points(c.score(), "renewal"), expected) << months << " months a customer";
  }
  Company annual, unknown, no_start;
  annual.text(TextField::kContractTerm, "annual").renewal_in_months(0.5);
  unknown.renewal_in_months(0.5);
  no_start.text(TextField::kContractTerm, "Monthly").renewal_in_months(0.5);
  EXPECT_EQ(points(annual.score(), "renewal"), 20);   // the renewal month, as before
  EXPECT_EQ(points(unknown.score(), "renewal"), 20);  // no term: annual
  EXPECT_EQ(points(no_start.score(), "renewal"), std::nullopt);  // no start date: no tenure to rate
  EXPECT_EQ(points(no_start.score("points"), "contract"), std::nullopt);

  EXPECT_TRUE(monthly_term(std::string("monthly")));
  EXPECT_TRUE(monthly_term(std::string(" Month ")));
  EXPECT_TRUE(monthly_term(std::string("月額")));
  EXPECT_FALSE(monthly_term(std::string("annual")));
  EXPECT_FALSE(monthly_term(std::string("monthly-ish")));
  EXPECT_FALSE(monthly_term(std::string("")));
  EXPECT_FALSE(monthly_term(std::nullopt));

  // Nor do the renewal signals fire for a monthly contract: its renewal is no event.
  Company soon_monthly, soon_annual;
  soon_monthly.text(TextField::kContractTerm, "monthly").date(DateField::kRenewalDate, start_of_day(kAsOf) + 20 * kDay);
  soon_annual.date(DateField::kRenewalDate, start_of_day(kAsOf) + 20 * kDay);
  EXPECT_FALSE(fired(soon_monthly.score(), "renewal_near"));
  EXPECT_TRUE(fired(soon_annual.score(), "renewal_near"));
}

TEST(ScorecardConfig, MonthlyLeaveOutGivesTheComponentsWeightToTheOthers) {
  const std::string text =
      "scorecard: weighted\ncomponents:\n"
      "  - {name: usage, kind: bands, weight: 50, metric: logins_30d, bands: [{gte: 0, points: 100}]}\n"
      "  - {name: renewal, kind: days_until, weight: 50, field: renewal_date, unit: months, monthly: leave_out,\n"
      "     bands: [{gte: 1, points: 100}, {lt: 1, points: 0}]}\n";
  const auto cfg = scoring::parse_scoring({{"weighted.yaml", text}}, StatusBands{});
  Company monthly, annual;
  monthly.metric(Metric::kLogins30d, 10).text(TextField::kContractTerm, "monthly").renewal_in_months(0.5);
  annual.metric(Metric::kLogins30d, 10).renewal_in_months(0.5);
  HealthResult m, a;
  core::score(*cfg.find("weighted"), StatusBands{}, monthly.in, m);
  core::score(*cfg.find("weighted"), StatusBands{}, annual.in, a);
  EXPECT_EQ(m.score, 100);  // usage alone
  EXPECT_EQ(m.coverage, 0.5);
  EXPECT_EQ(std::string(component(m, "renewal").rule_text()), "monthly contract: left out");
  EXPECT_EQ(a.score, 50);
  EXPECT_THAT(error_of("weighted.yaml",
                       "scorecard: weighted\ncomponents:\n  - {name: renewal, kind: days_until, weight: 100, "
                       "field: renewal_date, monthly: sometimes, bands: [{gte: 0, points: 100}]}\n"),
              HasSubstr("monthly"));
}

// Found by the scorecard fuzz target: a key that is not text threw YAML's own exception (exit 1).
TEST(ScorecardConfig, AKeyThatIsNotTextIsAConfigError) {
  EXPECT_THAT(error_of("w.yaml", "scorecard: weighted\n[a, b]: 1\n"), HasSubstr("a key must be text"));
  EXPECT_THAT(error_of("signals.yaml", "{x: 1}: {enabled: true}\n"), HasSubstr("a key must be text"));
  EXPECT_THAT(error_of("w.yaml", "scorecard: weighted\ncomponents:\n  - {[1]: 2}\n"), HasSubstr("w.yaml"));
}

TEST(ScorecardConfig, ErrorsNameFileLineAndProblem) {
  const std::string head = "scorecard: weighted\ncomponents:\n";
  const std::string usage =
      "  - name: usage\n    kind: bands\n    weight: 60\n    metric: active_users_30d\n    bands:\n";
  EXPECT_THAT(error_of("w.yaml", head + usage + "      - {gte: 0, points: 100}\n"),
              AllOf(HasSubstr("weights sum to 60%"), HasSubstr("w.yaml:3")));
  const std::string two = "  - name: nps\n    kind: bands\n    weight: 40\n    metric: mrr\n    bands:\n";
  EXPECT_THAT(error_of("o.yaml", head + usage +
                                     "      - {gte: 0, lte: 10, points: 1}\n      - {gte: 10, points: 2}\n" +
                                     two + "      - {gte: 0, points: 1}\n"),
              AllOf(HasSubstr("overlaps"), HasSubstr("o.yaml:9")));
  EXPECT_THAT(
      error_of("g.yaml", head + usage + "      - {gte: 0, lt: 10, points: 1}\n      - {gt: 10, points: 2}\n" +
                             two + "      - {gte: 0, points: 1}\n"),
      AllOf(HasSubstr("gap"), HasSubstr("g.yaml:9")));
  EXPECT_THAT(
      error_of("m.yaml",
               head + "  - name: x\n    kind: bands\n    weight: 100\n    metric: revenue\n    bands: []\n"),
      AllOf(HasSubstr("unknown metric 'revenue'"), HasSubstr("m.yaml:6")));
  EXPECT_THAT(error_of("k.yaml", head + "  - name: x\n    kind: bands\n    weigth: 100\n"),
              AllOf(HasSubstr("weigth"), HasSubstr("unknown key"), HasSubstr("k.yaml:5")));
  EXPECT_THAT(error_of("p.yaml", head + usage + "      - {gte: 0, points: 101}\n"),
              HasSubstr("points must be within"));
  EXPECT_THAT(error_of("b.yaml", head + usage + "      - {gt: 1, gte: 1, points: 1}\n"),
              HasSubstr("gt or gte"));
  EXPECT_THAT(error_of("y.yaml", "scorecard: [\n"), HasSubstr("y.yaml:"));
}

TEST(ScorecardConfig, AValueOutsideItsChoicesNamesThemAll) {
  const std::string head = "scorecard: weighted\ncomponents:\n  - name: x\n    weight: 100\n";
  const std::string agg = head + "    kind: aggregate\n    bands: [{gte: 0, points: 1}]\n";
  EXPECT_THAT(error_of("s.yaml", agg + "    source: calls\n"),
              AllOf(HasSubstr("expected tickets, feedback or meetings, got 'calls'"), HasSubstr("s.yaml:7")));
  EXPECT_THAT(error_of("r.yaml", agg + "    source: tickets\n    reduce: sum\n"),
              HasSubstr("expected count, latest, average or share, got 'sum'"));
  EXPECT_THAT(error_of("f.yaml", agg + "    source: tickets\n    reduce: latest\n"),
              HasSubstr("latest needs a source with values (feedback)"));
  EXPECT_THAT(error_of("u.yaml", head + "    kind: days_until\n    field: renewal_date\n    unit: weeks\n"
                                        "    bands: [{gte: 0, points: 1}]\n"),
              HasSubstr("expected days or months, got 'weeks'"));
}

TEST(ScorecardConfig, ShippedPresetsLoadWithWeightedAsTheDefault) {
  const auto& s = shipped();
  ASSERT_NE(s.find("points"), nullptr);
  ASSERT_NE(s.find("weighted"), nullptr);
  EXPECT_EQ(s.segments.default_scorecard, "weighted");
  EXPECT_EQ(s.find("points")->components.size(), 7u);
  EXPECT_EQ(s.find("weighted")->components.size(), 5u);
  EXPECT_THAT(error_of("segments.yaml", "default: {scorecard: nope}\n"),
              HasSubstr("no scorecard named 'nope'"));
  EXPECT_THAT(error_of("signals.yaml", "usage_drop: {priority: urgent}\n"),
              AllOf(HasSubstr("usage_drop.priority"), HasSubstr("signals.yaml:1")));
}

// The engine's table is the one definition of the signals: the shipped signals.yaml states its defaults
// (every signal, every parameter, the same values), and the docs have a row for every name it emits.
TEST(Signals, TheShippedFileAndTheDocsFollowTheEnginesTable) {
  const SignalConfig defaults;
  const auto& file = shipped().signals.signals;
  ASSERT_EQ(file.size(), defaults.signals.size());
  std::ifstream yaml(std::string(CSHEALTHD_SOURCE_DIR) + "/config/scorecards/signals.yaml");
  const std::string text((std::istreambuf_iterator<char>(yaml)), std::istreambuf_iterator<char>());
  for (std::size_t i = 0; i < file.size(); ++i) {
    const auto& a = file[i];
    const auto& b = defaults.signals[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.enabled, b.enabled) << a.name;
    EXPECT_EQ(a.priority, b.priority) << a.name;
    EXPECT_THAT(text, HasSubstr(a.name + ":"));
    ASSERT_EQ(a.params.size(), b.params.size()) << a.name;
    for (std::size_t k = 0; k < a.params.size(); ++k) {
      EXPECT_EQ(a.params[k].number, b.params[k].number) << a.name << "." << a.params[k].name;
      EXPECT_EQ(a.params[k].texts, b.params[k].texts) << a.name << "." << a.params[k].name;
      EXPECT_THAT(text, HasSubstr(a.params[k].name + ":")) << a.name;
    }
  }
  std::ifstream md(std::string(CSHEALTHD_SOURCE_DIR) + "/docs/scoring.md");
  const std::string docs((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  for (const auto& name : signal_names()) EXPECT_THAT(docs, HasSubstr("`" + name + "`"));
}

// The reader takes what the table defines and nothing else; a value of the wrong kind or a check across
// parameters fails on the signal's own line.
TEST(Signals, TheReaderFollowsTheTable) {
  EXPECT_THAT(error_of("signals.yaml", "nps_drop: {points: 2, pionts: 3}\n"),
              AllOf(HasSubstr("pionts"), HasSubstr("signals.yaml:1")));
  EXPECT_THAT(error_of("signals.yaml", "sudden_silence: {enabled: true}\n"), HasSubstr("sudden_silence"));
  EXPECT_THAT(error_of("signals.yaml", "silence: {days: -1}\n"), HasSubstr("silence.days"));
  EXPECT_THAT(error_of("signals.yaml", "bad_support: {critical_priorities: HIGH}\n"),
              HasSubstr("critical_priorities"));
  EXPECT_THAT(error_of("signals.yaml", "promoter: {enabled: true}\nscore_below: {alert: 40, escalate: 40}\n"),
              AllOf(HasSubstr("escalate must be below"), HasSubstr("signals.yaml:2")));
  std::vector<scoring::ScoringFile> files;
  for (const auto& f : scoring::embedded_scorecards()) {
    if (f.name != "signals.yaml") files.push_back(f);
  }
  files.emplace_back("signals.yaml",
                     "nps_drop: {points: 5, priority: low}\nbad_support: {critical_priorities: [P1]}\n");
  const auto c = scoring::parse_scoring(files, StatusBands{});
  SignalConfig signals = c.signals;
  EXPECT_EQ(signals.find("nps_drop")->param("points")->number, 5);
  EXPECT_EQ(signals.find("nps_drop")->priority, "low");
  EXPECT_EQ(signals.find("bad_support")->param("critical_priorities")->texts, std::vector<std::string>{"P1"});
  EXPECT_EQ(signals.find("bad_support")->param("open_hours")->number, 48);  // untouched: the default
}
}  // namespace
}  // namespace cshealthd::core

namespace cshealthd::core {
namespace {

// One list of signal names (signal_names) is what the plays file and the alert rules are checked
// against: each name in it is one the engine explains (a facts text of its own, not the bare name).
TEST(Signals, EveryListedNameHasItsOwnFacts) {
  for (const auto& name : signal_names()) {
    Signal s;
    s.name = name.c_str();
    s.values = {1, 2, 3, 4, 5};
    EXPECT_NE(s.facts(), name) << name;
  }
}

}  // namespace
}  // namespace cshealthd::core
