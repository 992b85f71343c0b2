// The backtest's measures on examples worked by hand.
#include "cshealthd/core/validity.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace cshealthd::core {
namespace {

std::vector<Labeled> obs(std::initializer_list<std::pair<double, bool>> list) {
  std::vector<Labeled> out;
  for (const auto& [risk, positive] : list) out.push_back({risk, positive});
  return out;
}

TEST(Validity, AucCountsTiesOneHalfAndItsIntervalIsDeLongs) {
  // Churners at 3 and 2, stayers at 2 and 1: pairs (3,2) 1, (3,1) 1, (2,2) 1/2, (2,1) 1 -> 3.5 / 4.
  const auto a = auc(obs({{3, true}, {2, true}, {2, false}, {1, false}}));
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(a->value, 0.875);
  EXPECT_EQ(a->positives, 2);
  EXPECT_EQ(a->negatives, 2);
  // Placements: churners 1 and 0.75, stayers 1 and 0.75; each variance 0.03125; se = sqrt(0.03125).
  EXPECT_NEAR(a->low, 0.875 - 1.959963984540054 * std::sqrt(0.03125), 1e-12);
  EXPECT_DOUBLE_EQ(a->high, 1.0);  // clamped
}

TEST(Validity, AucAtItsBoundsAndUndefinedForOneClass) {
  EXPECT_DOUBLE_EQ(auc(obs({{2, true}, {1, false}, {3, true}, {0, false}}))->value, 1.0);
  EXPECT_DOUBLE_EQ(auc(obs({{1, true}, {2, false}, {0, true}, {3, false}}))->value, 0.0);
  EXPECT_DOUBLE_EQ(auc(obs({{5, true}, {5, false}, {5, true}, {5, false}}))->value, 0.5);
  EXPECT_FALSE(auc(obs({{1, true}, {2, true}})));
  EXPECT_FALSE(auc(obs({{1, false}})));
  EXPECT_FALSE(auc({}));
}

TEST(Validity, AucDoesNotDependOnTheOrderOfObservations) {
  auto o = obs({{0.3, true}, {0.1, false}, {0.3, false}, {0.7, true}, {0.2, false}, {0.5, false}, {0.9, true}});
  const auto first = *auc(o);
  std::reverse(o.begin(), o.end());
  const auto second = *auc(o);
  EXPECT_EQ(first.value, second.value);
  EXPECT_EQ(first.low, second.low);
  EXPECT_EQ(first.high, second.high);
}

TEST(Validity, RocCurveStepsOncePerTiedRisk) {
  const auto c = roc_curve(obs({{3, true}, {2, false}, {2, true}, {1, false}}));
  ASSERT_EQ(c.size(), 4u);
  EXPECT_DOUBLE_EQ(c[0].fpr, 0);
  EXPECT_DOUBLE_EQ(c[0].tpr, 0);
  EXPECT_DOUBLE_EQ(c[1].fpr, 0);
  EXPECT_DOUBLE_EQ(c[1].tpr, 0.5);
  EXPECT_DOUBLE_EQ(c[2].fpr, 0.5);
  EXPECT_DOUBLE_EQ(c[2].tpr, 1);
  EXPECT_DOUBLE_EQ(c[3].fpr, 1);
  EXPECT_DOUBLE_EQ(c[3].tpr, 1);
  EXPECT_TRUE(roc_curve(obs({{1, true}})).empty());
}

TEST(Validity, LiftOfTheTopDecileAndATieAcrossTheCut) {
  // Ten companies, churners the riskiest and the safest: the top tenth is all churn (rate 1 / 0.2).
  std::vector<Labeled> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back({static_cast<double>(i), i == 10 || i == 1});
  EXPECT_DOUBLE_EQ(*lift(ten, 0.1), 5.0);
  // The top quarter of four is one of a tied pair holding one churner: half a churner expected in one
  // place, over an overall rate of 1/4.
  EXPECT_DOUBLE_EQ(*lift(obs({{2, true}, {2, false}, {1, false}, {1, false}}), 0.25), 2.0);
  EXPECT_DOUBLE_EQ(*lift(obs({{2, false}, {2, true}, {1, false}, {1, false}}), 0.25), 2.0);
  EXPECT_FALSE(lift(obs({{1, false}, {2, false}}), 0.1));
  EXPECT_FALSE(lift({}, 0.1));
}

TEST(Validity, RecallFalseAlarmsAndBandRates) {
  const FlagRates f{3, 4, 17, 100};
  EXPECT_DOUBLE_EQ(*f.recall(), 0.75);
  EXPECT_DOUBLE_EQ(*f.false_alarm_share(), 0.17);
  EXPECT_FALSE((FlagRates{}.recall()));
  EXPECT_FALSE((FlagRates{}.false_alarm_share()));
  EXPECT_DOUBLE_EQ(*(BandRate{"red", 8, 2}.rate()), 0.25);
  EXPECT_FALSE((BandRate{"green", 0, 0}.rate()));
}

TEST(Validity, BrierAndReliability) {
  EXPECT_DOUBLE_EQ(*brier({0.9, 0.2}, {true, false}), (0.01 + 0.04) / 2);
  EXPECT_DOUBLE_EQ(*brier({1, 0}, {true, false}), 0);
  EXPECT_FALSE(brier({}, {}));
  EXPECT_FALSE(brier({0.5}, {true, false}));
  const auto r = reliability({0.4, 0.1, 0.3, 0.2}, {true, false, true, false}, 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].count, 2);
  EXPECT_DOUBLE_EQ(r[0].predicted, 0.15);
  EXPECT_DOUBLE_EQ(r[0].observed, 0);
  EXPECT_DOUBLE_EQ(r[1].predicted, 0.35);
  EXPECT_DOUBLE_EQ(r[1].observed, 1);
  EXPECT_EQ(reliability({0.5}, {true}, 10).size(), 1u);  // never more bins than observations
}

TEST(Validity, Median) {
  EXPECT_DOUBLE_EQ(*median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(*median({4, 1, 3, 2}), 2.5);
  EXPECT_FALSE(median({}));
}

TEST(Validity, UnpenalisedLogisticFitRecoversTheGroupRates) {
  // x = 0: 1 of 4 churn; x = 1: 3 of 4. The maximum-likelihood fit predicts each group's own rate:
  // intercept log(1/3), weight log(3) - log(1/3).
  std::vector<std::vector<double>> rows;
  std::vector<bool> y;
  for (int i = 0; i < 4; ++i) rows.push_back({0}), y.push_back(i == 0);
  for (int i = 0; i < 4; ++i) rows.push_back({1}), y.push_back(i != 0);
  LogisticOptions o;
  o.l2 = 0;
  const auto f = fit_logistic(rows, y, o);
  ASSERT_TRUE(f.converged);
  EXPECT_NEAR(f.intercept, std::log(1.0 / 3), 1e-9);
  EXPECT_NEAR(f.weights[0], 2 * std::log(3.0), 1e-9);
  EXPECT_NEAR(f.predict({1}), 0.75, 1e-9);
  EXPECT_NEAR(f.log_loss, -(0.75 * std::log(0.75) + 0.25 * std::log(0.25)), 1e-9);

  // A penalty shrinks the weight toward 0, keeping its sign.
  o.l2 = 2;
  const auto shrunk = fit_logistic(rows, y, o);
  ASSERT_TRUE(shrunk.converged);
  EXPECT_GT(shrunk.weights[0], 0);
  EXPECT_LT(shrunk.weights[0], 2 * std::log(3.0));
}

TEST(Validity, LogisticFitSaysWhenItCannotBeTrusted) {
  LogisticOptions o;
  o.l2 = 0;
  // Perfectly separable without a penalty: the weight grows forever.
  EXPECT_FALSE(fit_logistic({{0}, {1}, {2}, {3}}, {false, false, true, true}, o).converged);
  // With a penalty it has an answer.
  EXPECT_TRUE(fit_logistic({{0}, {1}, {2}, {3}}, {false, false, true, true}).converged);
  EXPECT_FALSE(fit_logistic({{0}, {1}}, {true, true}).converged);   // one class
  EXPECT_FALSE(fit_logistic({{0}, {1, 2}}, {true, false}).converged);  // ragged rows
  EXPECT_FALSE(fit_logistic({}, {}).converged);
  // A constant feature keeps weight 0; the other still fits.
  const auto f = fit_logistic({{5, 0}, {5, 1}, {5, 0}, {5, 1}, {5, 1}}, {false, true, true, false, true});
  ASSERT_TRUE(f.converged);
  EXPECT_EQ(f.weights[0], 0);
}

TEST(Validity, PlattScalingTurnsARiskIntoAnIncreasingProbability) {
  const auto p = fit_platt(obs({{0.9, true}, {0.8, true}, {0.7, false}, {0.4, true}, {0.3, false}, {0.1, false}}));
  ASSERT_TRUE(p.fitted);
  EXPECT_GT(p.b, 0);
  EXPECT_LT(p.probability(0.1), p.probability(0.9));
  EXPECT_GT(p.probability(0.1), 0);
  EXPECT_LT(p.probability(0.9), 1);
  // Perfectly separated risks still give a finite fit (Platt's smoothed targets).
  EXPECT_TRUE(fit_platt(obs({{1, true}, {0, false}})).fitted);
  EXPECT_FALSE(fit_platt(obs({{1, true}})).fitted);
}

// Who was a customer on an observation day, and who churned within the horizon after it: the
// boundaries, day by day.
TEST(Validity, OutcomeAtTheBoundariesOfTheDayAndTheHorizon) {
  const std::vector<ChurnEvent> once = {{100, std::nullopt}};
  EXPECT_EQ(outcome_at(once, 9, 90).churn_day, std::nullopt);   // 91 days ahead: beyond the horizon
  EXPECT_EQ(outcome_at(once, 10, 90).churn_day, 100);           // exactly at the horizon: counted
  EXPECT_EQ(outcome_at(once, 99, 90).churn_day, 100);           // the day before
  EXPECT_TRUE(outcome_at(once, 99, 90).customer);
  EXPECT_FALSE(outcome_at(once, 100, 90).customer);             // the churn's own day: gone
  EXPECT_EQ(outcome_at(once, 100, 90).churn_day, std::nullopt);
  EXPECT_FALSE(outcome_at(once, 500, 90).customer);             // never came back
  // Came back on day 150 (a new lifetime), churned again on day 200.
  const std::vector<ChurnEvent> twice = {{100, 150}, {200, std::nullopt}};
  EXPECT_FALSE(outcome_at(twice, 149, 90).customer);
  EXPECT_TRUE(outcome_at(twice, 150, 90).customer);
  EXPECT_EQ(outcome_at(twice, 150, 90).churn_day, 200);
  EXPECT_EQ(outcome_at(twice, 50, 90).churn_day, 100);  // the first churn ahead, not the second
  EXPECT_TRUE(outcome_at({}, 0, 90).customer);
}

// A backtest's table on five observations worked by hand (one company churned on day 50, red at both
// observations before it; an orange one and a green one stayed; one had too little data).
TEST(Validity, BacktestSummaryOverallPerSegmentAndPerComponent) {
  std::vector<BacktestObservation> obs = {
      {1, 0, 30, "red", "smb", {10.0}, true, 50, "weighted", {}, false, {}},
      {1, 30, 35, "red", "smb", {10.0}, true, 50, "weighted", {}, false, {}},
      {2, 0, 80, "green", "smb", {100.0}, false, {}, "weighted", {}, false, {}},
      {2, 30, 85, "green", "smb", {100.0}, false, {}, "weighted", {}, false, {}},
      {3, 0, 55, "orange", "ent", {40.0}, false, {}, "weighted", {}, false, {}},
      {4, 0, 0, "unknown", "ent", {std::nullopt}, false, {}, "weighted", {}, false, {}}};
  const auto s = summarize_backtest(obs, {"usage"});
  EXPECT_EQ(s["observations"], 6);
  EXPECT_EQ(s["churned"], 2);
  EXPECT_EQ(s["unscored"], 1);
  EXPECT_EQ(s["auc"]["value"], 1.0);
  EXPECT_EQ(s["top_decile_lift"], 2.5);  // half a place, all churn, over 2 of 5
  EXPECT_EQ(s["recall_red"], 1.0);
  EXPECT_EQ(s["recall_red_orange"], 1.0);
  EXPECT_EQ(s["false_alarm_red_orange"], 0.3333);
  EXPECT_EQ(s["median_lead_days"], 50.0);
  EXPECT_EQ(s["churns"], 1);
  EXPECT_EQ(s["components"][0]["name"], "usage");
  EXPECT_EQ(s["components"][0]["observations"], 5);
  EXPECT_EQ(s["components"][0]["auc"]["value"], 1.0);
  ASSERT_EQ(s["bands"].size(), 4u);
  EXPECT_EQ(s["bands"][0]["band"], "red");
  EXPECT_EQ(s["bands"][0]["churn_rate"], 1.0);
  EXPECT_EQ(s["bands"][1]["band"], "orange");
  EXPECT_EQ(s["bands"][1]["churn_rate"], 0.0);
  EXPECT_EQ(s["bands"][3]["band"], "unknown");
  ASSERT_EQ(s["segments"].size(), 2u);
  EXPECT_EQ(s["segments"][0]["segment"], "ent");
  EXPECT_TRUE(s["segments"][0]["auc"]["value"].is_null());  // no churner among them: undefined, said so
  EXPECT_NE(s["segments"][0]["auc"]["why"].get<std::string>().find("one class"), std::string::npos);
  EXPECT_EQ(s["segments"][1]["auc"]["value"], 1.0);
  // The overall ROC curve for drawing: both churners first, then the three who stayed.
  EXPECT_EQ(s["roc"], nlohmann::json::parse("[[0,0],[0,0.5],[0,1],[0.3333,1],[0.6667,1],[1,1]]"));
}

// An expansion counts for a date when it falls after it, within the horizon (the day itself and the
// day after the horizon do not).
TEST(Validity, ExpandedWithinTheHorizonAtItsBoundaries) {
  EXPECT_TRUE(expanded_within({300, 100}, 10, 90));   // day 100 = 10 + 90: the horizon's last day
  EXPECT_FALSE(expanded_within({100}, 10, 89));       // one day beyond it
  EXPECT_FALSE(expanded_within({100}, 100, 90));      // the observation day itself: already known
  EXPECT_TRUE(expanded_within({101}, 100, 90));
  EXPECT_FALSE(expanded_within({}, 0, 90));
}

// The expansion likelihood's figures worked by hand: AUC 3 of 4 pairs, Brier 0.2 against the base
// rate's 0.25; an unscored observation and one without a likelihood are left out; no churn risk: null.
TEST(Validity, ExpansionLikelihoodFiguresInTheSummary) {
  auto ob = [](std::int64_t id, const char* status, bool expanded, std::optional<double> p) {
    BacktestObservation o;
    o.company_id = id;
    o.score = 50;
    o.status = status;
    o.segment = "smb";
    o.components = {50.0};
    o.scorecard = "weighted";
    o.expanded = expanded;
    o.expansion_likelihood = p;
    return o;
  };
  const std::vector<BacktestObservation> obs = {ob(1, "green", true, 0.8),   ob(2, "green", false, 0.6),
                                                ob(3, "yellow", true, 0.4),  ob(4, "yellow", false, 0.2),
                                                ob(5, "unknown", true, 0.9), ob(6, "green", false, std::nullopt)};
  const auto s = summarize_backtest(obs, {"usage"});
  EXPECT_EQ(s["expanded"], 3);
  EXPECT_TRUE(s["churn_probability"].is_null());
  const auto& x = s["expansion_probability"];
  EXPECT_EQ(x["observations"], 4);
  EXPECT_EQ(x["auc"]["value"], 0.75);
  EXPECT_EQ(x["auc"]["expanded"], 2);
  EXPECT_EQ(x["brier"], 0.2);
  EXPECT_EQ(x["brier_base_rate"], 0.25);
  EXPECT_EQ(x["base_rate"], 0.5);
  std::int64_t counted = 0;
  for (const auto& b : x["reliability"]) counted += b["count"].get<std::int64_t>();
  EXPECT_EQ(counted, 4);
}

}  // namespace
}  // namespace cshealthd::core
