// The KPI formulas of DOMAIN.md §5 (seed 001) on hand-worked examples: the start MRR 100,
// contraction 5, churn 3, expansion 18 → GRR 92 %, NRR 110 %; empty periods; customers who start mid-month;
// customers who churn and come back; each churn rule; every target at its boundary; the churn analysis.
#include <gtest/gtest.h>

#include "cshealthd/core/kpis.hpp"
#include "cshealthd/core/time.hpp"

namespace cshealthd::core {
namespace {

std::int32_t day(const char* text) {
  return *parse_day(text);
}

CompanyPeriod mrr(double start, double end, bool paid_before = false) {
  CompanyPeriod c;
  c.start_mrr = start;
  c.end_mrr = end;
  c.paid_before = paid_before || start > 0;
  c.band = "green";
  return c;
}

const KpiValue& kpi(const std::vector<KpiValue>& all, const std::string& name) {
  for (const auto& v : all) {
    if (v.name == name) return v;
  }
  throw std::runtime_error("no KPI " + name);
}

Period october() {
  return *parse_month("2026-10");
}

TEST(KpisTest, HandWorkedExampleGrr92Nrr110) {
  KpiFacts f;
  f.add(mrr(50, 45), ChurnRule::kEither);  // contraction 5
  f.add(mrr(3, 0), ChurnRule::kEither);    // churn 3
  f.add(mrr(47, 65), ChurnRule::kEither);  // expansion 18
  EXPECT_DOUBLE_EQ(f.start_mrr, 100);
  EXPECT_DOUBLE_EQ(f.contraction_mrr, 5);
  EXPECT_DOUBLE_EQ(f.churn_mrr, 3);
  EXPECT_DOUBLE_EQ(f.expansion_mrr, 18);
  const auto k = compute_kpis(f, 1, KpiTargets{}, october());
  EXPECT_DOUBLE_EQ(*kpi(k, "grr").value, 92);
  EXPECT_DOUBLE_EQ(*kpi(k, "nrr").value, 110);
  EXPECT_TRUE(*kpi(k, "grr").met);  // ≥ 90
  EXPECT_TRUE(*kpi(k, "nrr").met);  // ≥ 110: exactly at target is met
  EXPECT_NEAR(*kpi(k, "churn_rate").value, 100.0 / 3, 1e-9);
  EXPECT_FALSE(*kpi(k, "churn_rate").met);
  EXPECT_DOUBLE_EQ(*kpi(k, "revenue_churn").value, 3);
  EXPECT_DOUBLE_EQ(*kpi(k, "expansion_rate").value, 18);
  EXPECT_EQ(f.customers_start, 3);
  EXPECT_EQ(f.customers_end, 2);
  EXPECT_EQ(f.churned, 1);
}

TEST(KpisTest, TargetsAtTheirBoundaries) {
  // GRR 89.99 vs 90; NRR 109.99 vs 110.
  {
    KpiFacts f;
    f.add(mrr(10000, 8999), ChurnRule::kEither);
    const auto k = compute_kpis(f, 1, KpiTargets{}, october());
    EXPECT_FALSE(*kpi(k, "grr").met);
  }
  {
    KpiFacts f;
    f.add(mrr(10000, 9000), ChurnRule::kEither);
    EXPECT_TRUE(*kpi(compute_kpis(f, 1, KpiTargets{}, october()), "grr").met);
  }
  {
    KpiFacts f;
    f.add(mrr(10000, 10999), ChurnRule::kEither);
    EXPECT_FALSE(*kpi(compute_kpis(f, 1, KpiTargets{}, october()), "nrr").met);
  }
  // Churn 1 of 100 is 1 %: not under 1 %. 1 of 101 is.
  {
    KpiFacts f;
    for (int i = 0; i < 99; ++i) f.add(mrr(10, 10), ChurnRule::kEither);
    f.add(mrr(10, 0), ChurnRule::kEither);
    const auto k = compute_kpis(f, 1, KpiTargets{}, october());
    EXPECT_DOUBLE_EQ(*kpi(k, "churn_rate").value, 1);
    EXPECT_FALSE(*kpi(k, "churn_rate").met);
    f.add(mrr(10, 10), ChurnRule::kEither);
    EXPECT_TRUE(*kpi(compute_kpis(f, 1, KpiTargets{}, october()), "churn_rate").met);
  }
  // A quarter's per-month targets are three times the month's: churn 2.9 % of a quarter is under 3 %.
  {
    KpiFacts f;
    for (int i = 0; i < 971; ++i) f.add(mrr(10, 10), ChurnRule::kEither);
    for (int i = 0; i < 29; ++i) f.add(mrr(10, 0), ChurnRule::kEither);
    const auto q = period_of(Granularity::kQuarter, day("2026-11-15"));
    const auto all = compute_kpis(f, 1, KpiTargets{}, q);
    const auto& c = kpi(all, "churn_rate");
    EXPECT_DOUBLE_EQ(*c.target, 3);
    EXPECT_DOUBLE_EQ(*c.value, 2.9);
    EXPECT_TRUE(*c.met);
    EXPECT_FALSE(*kpi(compute_kpis(f, 1, KpiTargets{}, october()), "churn_rate").met);
  }
  // Expansion 2 % meets "2 % or more"; 1.99 % does not.
  {
    KpiFacts f;
    f.add(mrr(100, 102), ChurnRule::kEither);
    EXPECT_TRUE(*kpi(compute_kpis(f, 1, KpiTargets{}, october()), "expansion_rate").met);
    KpiFacts g;
    g.add(mrr(10000, 10199), ChurnRule::kEither);
    EXPECT_FALSE(*kpi(compute_kpis(g, 1, KpiTargets{}, october()), "expansion_rate").met);
  }
}

TEST(KpisTest, EmptyPeriodHasNoValuesAndMeetsNothing) {
  const KpiFacts f;
  EXPECT_TRUE(f.empty());
  for (const auto& v : compute_kpis(f, 0, KpiTargets{}, october())) {
    EXPECT_FALSE(v.value.has_value()) << v.name;
    EXPECT_FALSE(v.met.has_value()) << v.name;
  }
}

TEST(KpisTest, MidMonthCustomersAreNewNotInTheStart) {
  // A customer won on the 15th: start 0, end 30. It is new MRR, not expansion, and not in GRR/NRR's base.
  KpiFacts f;
  f.add(mrr(100, 100), ChurnRule::kEither);
  f.add(mrr(0, 30), ChurnRule::kEither);
  EXPECT_EQ(f.new_customers, 1);
  EXPECT_DOUBLE_EQ(f.new_mrr, 30);
  EXPECT_EQ(f.customers_start, 1);
  EXPECT_EQ(f.customers_end, 2);
  const auto k = compute_kpis(f, 1, KpiTargets{}, october());
  EXPECT_DOUBLE_EQ(*kpi(k, "nrr").value, 100);
  EXPECT_DOUBLE_EQ(*kpi(k, "expansion_rate").value, 0);
  EXPECT_DOUBLE_EQ(*kpi(k, "customers_per_csm").value, 2);
  // One who leaves mid-month: start 40, end 0 is a churn of the whole 40.
  f.add(mrr(40, 0), ChurnRule::kMrr);
  EXPECT_DOUBLE_EQ(f.churn_mrr, 40);
  EXPECT_DOUBLE_EQ(*kpi(compute_kpis(f, 1, KpiTargets{}, october()), "grr").value, 100.0 * 100 / 140);
}

TEST(KpisTest, ChurnAndComeBack) {
  // Month 1: churns (100 → 0). Month 2: nothing. Month 3: back at 80, a reactivation, not a new logo.
  const CompanyPeriod m1 = mrr(100, 0);
  CompanyPeriod m2 = mrr(0, 0, true);
  CompanyPeriod m3 = mrr(0, 80, true);
  EXPECT_EQ(classify(m1, ChurnRule::kEither).kind, Movement::kChurn);
  EXPECT_EQ(classify(m2, ChurnRule::kEither).kind, Movement::kNone);
  EXPECT_EQ(classify(m3, ChurnRule::kEither).kind, Movement::kReactivation);
  KpiFacts f3;
  f3.add(m3, ChurnRule::kEither);
  EXPECT_EQ(f3.reactivated, 1);
  EXPECT_EQ(f3.new_customers, 0);
  EXPECT_DOUBLE_EQ(f3.reactivation_mrr, 80);
  EXPECT_DOUBLE_EQ(f3.start_mrr, 0);  // not in NRR's base: no NRR that month from it alone
  EXPECT_FALSE(kpi(compute_kpis(f3, 1, KpiTargets{}, october()), "nrr").value.has_value());
  // Within one month (start 100, end 100, down to 0 in between): nets out, like the month-end report.
  EXPECT_EQ(classify(mrr(100, 100), ChurnRule::kEither).kind, Movement::kNone);
  // And a return at a lower MRR after the churn month is a reactivation of that MRR.
  EXPECT_DOUBLE_EQ(classify(mrr(0, 60, true), ChurnRule::kMrr).amount, 60);
}

TEST(KpisTest, ChurnRules) {
  // The stage says churned but MRR is still billed (the contract runs out at month end).
  CompanyPeriod staged = mrr(50, 50);
  staged.stage_churned = true;
  EXPECT_EQ(classify(staged, ChurnRule::kStage).kind, Movement::kChurn);
  EXPECT_EQ(classify(staged, ChurnRule::kEither).kind, Movement::kChurn);
  EXPECT_EQ(classify(staged, ChurnRule::kMrr).kind, Movement::kNone);
  // MRR to zero while the stage was never changed.
  const CompanyPeriod zeroed = mrr(50, 0);
  EXPECT_EQ(classify(zeroed, ChurnRule::kStage).kind, Movement::kContraction);
  EXPECT_DOUBLE_EQ(classify(zeroed, ChurnRule::kStage).amount, 50);
  EXPECT_EQ(classify(zeroed, ChurnRule::kMrr).kind, Movement::kChurn);
  // A stage-churned customer at the end is not counted as a customer, nor in the bands.
  KpiFacts f;
  f.add(staged, ChurnRule::kEither);
  EXPECT_EQ(f.customers_end, 0);
  EXPECT_EQ(f.bands[0], 0);
  // Who churned before the period and still shows MRR is not new.
  CompanyPeriod lingering = mrr(0, 20);
  lingering.stage_churned = true;
  EXPECT_EQ(classify(lingering, ChurnRule::kEither).kind, Movement::kNone);
  EXPECT_EQ(classify(lingering, ChurnRule::kMrr).kind, Movement::kNew);
}

TEST(KpisTest, NpsOnboardingTicketsBandsAndSums) {
  CompanyPeriod a = mrr(10, 10);
  a.nps_promoters = 6;
  a.nps_passives = 2;
  a.nps_detractors = 2;
  a.onboardings_due = 10;
  a.onboardings_on_time = 9;
  a.onboardings_completed = 2;
  a.onboarding_days = 100;
  a.first_values = 4;
  a.value_days = 121;
  a.tickets_resolved = 4;
  a.ticket_hours = 200;
  CompanyPeriod b = mrr(10, 10);
  b.band = "red";
  CompanyPeriod c = mrr(10, 10);
  c.band = "";
  KpiFacts f, g;
  f.add(a, ChurnRule::kEither);
  g.add(b, ChurnRule::kEither);
  g.add(c, ChurnRule::kEither);
  KpiFacts sum = KpiFacts::from_json(f.to_json());  // what the store keeps, read back
  sum += KpiFacts::from_json(g.to_json());
  const auto k = compute_kpis(sum, 2, KpiTargets{}, october());
  EXPECT_DOUBLE_EQ(*kpi(k, "nps").value, 40);  // 60 % − 20 %
  EXPECT_TRUE(*kpi(k, "nps").met);
  EXPECT_DOUBLE_EQ(*kpi(k, "onboarding_completion").value, 90);
  EXPECT_TRUE(*kpi(k, "onboarding_completion").met);
  EXPECT_DOUBLE_EQ(*kpi(k, "onboarding_days").value, 50);
  EXPECT_DOUBLE_EQ(*kpi(k, "time_to_value").value, 30.25);
  EXPECT_FALSE(*kpi(k, "time_to_value").met);  // ≤ 30 days
  EXPECT_DOUBLE_EQ(*kpi(k, "ticket_resolution_hours").value, 50);
  EXPECT_EQ(sum.bands[0], 1);
  EXPECT_EQ(sum.bands[3], 1);
  EXPECT_EQ(sum.bands[4], 1);  // never scored: unknown
  EXPECT_NEAR(*kpi(k, "green_share").value, 100.0 / 3, 1e-9);
  EXPECT_DOUBLE_EQ(*kpi(k, "customers_per_csm").value, 1.5);
  EXPECT_FALSE(kpi(k, "customers_per_csm").target.has_value());
  // NPS +30 exactly meets "+30 or more".
  KpiFacts n;
  CompanyPeriod x;
  x.nps_promoters = 5;
  x.nps_passives = 3;
  x.nps_detractors = 2;
  n.add(x, ChurnRule::kEither);
  EXPECT_DOUBLE_EQ(*kpi(compute_kpis(n, 0, KpiTargets{}, october()), "nps").value, 30);
  EXPECT_TRUE(*kpi(compute_kpis(n, 0, KpiTargets{}, october()), "nps").met);
}

TEST(KpisTest, Periods) {
  const auto m = *parse_month("2026-02");
  EXPECT_EQ(m.first, day("2026-02-01"));
  EXPECT_EQ(m.last, day("2026-02-28"));
  EXPECT_EQ(m.label(), "2026-02");
  EXPECT_FALSE(parse_month("2026-13"));
  EXPECT_FALSE(parse_month("2026-1"));
  EXPECT_FALSE(parse_month("2026-10-01"));
  const auto q = period_of(Granularity::kQuarter, day("2026-12-31"));
  EXPECT_EQ(q.first, day("2026-10-01"));
  EXPECT_EQ(q.last, day("2026-12-31"));
  EXPECT_EQ(q.label(), "2026-Q4");
  const auto ps = periods_between(Granularity::kMonth, day("2025-11-30"), day("2026-02-01"));
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_EQ(ps.front().label(), "2025-11");
  EXPECT_EQ(ps.back().label(), "2026-02");
  EXPECT_EQ(periods_between(Granularity::kMonth, day("2020-01-01"), day("2026-12-01"), 12).front().label(),
            "2026-01");
  EXPECT_TRUE(periods_between(Granularity::kQuarter, day("2026-02-01"), day("2026-01-01")).empty());
}

TEST(KpisTest, ChurnAnalysis) {
  const std::int32_t churn = day("2026-09-30");
  // A: red for the last 45 days, yellow before; two alerts, one completed before the churn.
  ChurnCase a;
  a.churn_day = churn;
  for (int d = 120; d >= 1; --d)
    a.history.push_back({churn - d, d <= 45 ? 30.0 : 70.0, d <= 45 ? "red" : "yellow"});
  a.alerts = {{churn - 44, churn - 40}, {churn - 20, std::nullopt}};
  // B: green to the end (no warning); one alert completed after the churn (not acted on in time).
  ChurnCase b;
  b.churn_day = churn;
  for (int d = 120; d >= 1; --d) b.history.push_back({churn - d, 85, "green"});
  b.alerts = {{churn - 10, churn + 3}};
  // C: orange for 91 days (scores only weekly).
  ChurnCase c;
  c.churn_day = churn;
  for (int d = 91; d >= 1; d -= 7) c.history.push_back({churn - d, 45, "orange"});
  EXPECT_EQ(band_before(a, 30), "red");
  EXPECT_EQ(band_before(a, 60), "yellow");
  EXPECT_EQ(band_before(c, 90), "orange");  // scored 91 days before: within a week
  EXPECT_EQ(warning_lead_days(a), 45);
  EXPECT_EQ(warning_lead_days(b), std::nullopt);
  EXPECT_EQ(warning_lead_days(c), 91);
  const auto fa = churn_facts(a);
  EXPECT_EQ(fa.band_before[0], "red");
  EXPECT_EQ(fa.lead_days, 45);
  EXPECT_EQ(fa.alerts, 2);
  EXPECT_EQ(fa.acted_on, 1);
  const auto s = summarize_churn({fa, churn_facts(b), churn_facts(c)});
  EXPECT_EQ(s.churned, 3);
  ASSERT_EQ(s.lookbacks.size(), 3u);
  EXPECT_EQ(s.lookbacks[0].days, 30);
  EXPECT_EQ(s.lookbacks[0].at_risk, 2);  // A red, C orange
  EXPECT_EQ(s.lookbacks[0].known, 3);
  EXPECT_EQ(s.lookbacks[1].at_risk, 1);  // only C at 60 days
  EXPECT_EQ(s.lookbacks[2].at_risk, 1);
  EXPECT_DOUBLE_EQ(*s.median_lead_days, 68);  // (45 + 91) / 2
  EXPECT_EQ(s.alerts, 3);
  EXPECT_EQ(s.alerts_acted_on, 1);
  EXPECT_FALSE(summarize_churn({}).median_lead_days.has_value());
}

}  // namespace
}  // namespace cshealthd::core
