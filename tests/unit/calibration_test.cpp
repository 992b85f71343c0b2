// Calibration's pure parts, on hand-worked examples: weights from coefficients (whole numbers summing to
// 100, the floor, kept weights, refusals), the out-of-time split, and the candidate's text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/calibration.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/review/quarterly_review.hpp"
#include "cshealthd/validity/calibration.hpp"

namespace {

using cshealthd::core::propose_weights;
using cshealthd::core::WeightInput;

int sum(const std::vector<cshealthd::core::WeightProposal>& p) {
  return std::accumulate(p.begin(), p.end(), 0, [](int s, const auto& w) { return s + w.proposed; });
}

TEST(ProposeWeights, ProportionalToHowStronglyPointsWentWithStaying) {
  // Strengths 3, 1, 1 over 100: 60, 20, 20 exactly.
  std::string why;
  const auto p = propose_weights({{"usage", 40, -3.0, 0.72}, {"nps", 20, -1.0, 0.6}, {"support", 40, -1.0, 0.55}}, why);
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0].proposed, 60);
  EXPECT_EQ((*p)[1].proposed, 20);
  EXPECT_EQ((*p)[2].proposed, 20);
  EXPECT_NE((*p)[0].why.find("raised from 40"), std::string::npos) << (*p)[0].why;
  EXPECT_NE((*p)[1].why.find("unchanged"), std::string::npos) << (*p)[1].why;
  EXPECT_NE((*p)[2].why.find("lowered from 40"), std::string::npos) << (*p)[2].why;
  // The figures behind it: exp(-3) = 0.05 odds, and the component's own AUC.
  EXPECT_NE((*p)[0].why.find("x0.05"), std::string::npos) << (*p)[0].why;
  EXPECT_NE((*p)[0].why.find("AUC 0.720"), std::string::npos) << (*p)[0].why;
}

TEST(ProposeWeights, WholeNumbersByLargestRemainderSummingToOneHundred) {
  // Thirds: 33.33 each, one more to the first (ties go to the earlier component).
  std::string why;
  const auto p = propose_weights({{"a", 30, -1.0, {}}, {"b", 30, -1.0, {}}, {"c", 40, -1.0, {}}}, why);
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0].proposed, 34);
  EXPECT_EQ((*p)[1].proposed, 33);
  EXPECT_EQ((*p)[2].proposed, 33);
  // 1 : 2 : 4 over 100 = 14.29, 28.57, 57.14: the largest remainders (.57, .29 vs .14) take the spare one.
  const auto q = propose_weights({{"a", 30, -1.0, {}}, {"b", 30, -2.0, {}}, {"c", 40, -4.0, {}}}, why);
  ASSERT_TRUE(q);
  EXPECT_EQ((*q)[0].proposed, 14);
  EXPECT_EQ((*q)[1].proposed, 29);
  EXPECT_EQ((*q)[2].proposed, 57);
  EXPECT_EQ(sum(*q), 100);
}

TEST(ProposeWeights, PointsThatDidNotGoWithStayingKeepTheFloorAndSaySo) {
  std::string why;
  // support's coefficient is positive (more points, more churn once the others are known), expansion's 0.
  const auto p = propose_weights(
      {{"usage", 40, -2.0, 0.7}, {"support", 15, 0.4, 0.49}, {"expansion", 10, 0.0, 0.5}, {"nps", 35, -2.0, 0.6}}, why);
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[1].proposed, 1);
  EXPECT_EQ((*p)[2].proposed, 1);
  EXPECT_EQ((*p)[0].proposed, 49);
  EXPECT_EQ((*p)[3].proposed, 49);
  EXPECT_EQ(sum(*p), 100);
  EXPECT_NE((*p)[1].why.find("floor"), std::string::npos) << (*p)[1].why;
  // A tiny but positive strength is raised to the floor too, taken off the largest.
  const auto q = propose_weights({{"a", 50, -10.0, {}}, {"b", 50, -0.001, {}}}, why);
  ASSERT_TRUE(q);
  EXPECT_EQ((*q)[1].proposed, 1);
  EXPECT_EQ((*q)[0].proposed, 99);
}

TEST(ProposeWeights, ComponentsWithoutACoefficientKeepTheirWeight) {
  std::string why;
  const auto p = propose_weights({{"usage", 40, -1.0, 0.7}, {"nps", 20, std::nullopt, {}}, {"renewal", 40, -3.0, 0.6}}, why);
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[1].proposed, 20);
  EXPECT_NE((*p)[1].why.find("too little data"), std::string::npos);
  EXPECT_EQ((*p)[0].proposed, 20);
  EXPECT_EQ((*p)[2].proposed, 60);
}

TEST(ProposeWeights, RefusesWhenNoComponentWentWithStaying) {
  std::string why;
  EXPECT_FALSE(propose_weights({{"a", 50, 0.3, {}}, {"b", 50, 0.0, {}}}, why));
  EXPECT_NE(why.find("no component's points went with staying"), std::string::npos) << why;
  why.clear();
  EXPECT_FALSE(propose_weights({{"a", 50, std::nullopt, {}}, {"b", 50, std::nullopt, {}}}, why));
  EXPECT_NE(why.find("enough data"), std::string::npos) << why;
  why.clear();
  // 99 kept leaves no room for two refitted components at the floor.
  EXPECT_FALSE(propose_weights({{"a", 99, std::nullopt, {}}, {"b", 0.5, -1.0, {}}, {"c", 0.5, -1.0, {}}}, why));
  EXPECT_NE(why.find("no room"), std::string::npos) << why;
}

TEST(OutcomeModel, TheLogisticOfEachComponentsShareOfItsPointsMissingOnesAtTheirMean) {
  cshealthd::core::Component usage, nps;
  usage.name = "usage";
  usage.max_points = 100;
  nps.name = "nps";
  nps.max_points = 20;
  cshealthd::core::OutcomeModel m;
  m.intercept = -2;
  m.terms = {{"usage", -3, 0.5}, {"nps", 1.5, 0.4}, {"gone", 2, 0.25}};
  cshealthd::core::HealthResult r;
  cshealthd::core::ComponentResult u, n;
  u.component = &usage;
  u.has_data = true;
  u.points = 25;  // 0.25 of full
  n.component = &nps;
  n.has_data = false;  // no answer: its mean, 0.4
  r.components = {u, n};
  // z = -2 - 3 * 0.25 + 1.5 * 0.4 + 2 * 0.25 (a component the scorecard no longer has: its mean) = -1.65
  EXPECT_NEAR(m.probability(r), 1 / (1 + std::exp(1.65)), 1e-12);
  // Far out in either direction, still a probability.
  m.intercept = 800;
  EXPECT_EQ(m.probability(r), 1.0);
  m.intercept = -800;
  EXPECT_GE(m.probability(r), 0.0);
  EXPECT_LT(m.probability(r), 1e-300);
}

TEST(SplitOutOfTime, TheLatestThirdJudgesAndNoChurnLabelsBoth) {
  // 13 monthly dates 0..360, horizon 90: the last 4 (270..360) judge; training keeps d + 90 <= 270.
  std::vector<std::int32_t> days;
  for (int d = 0; d <= 360; d += 30) days.push_back(d);
  const auto s = cshealthd::validity::split_out_of_time(days, 90, 1.0 / 3);
  EXPECT_EQ(s.validation, (std::vector<std::int32_t>{270, 300, 330, 360}));
  EXPECT_EQ(s.training, (std::vector<std::int32_t>{0, 30, 60, 90, 120, 150, 180}));
  // A horizon as long as the history leaves nothing to train on: refused, naming the option.
  try {
    cshealthd::validity::split_out_of_time(days, 300, 1.0 / 3);
    FAIL() << "expected a refusal";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--from"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cshealthd::validity::split_out_of_time({100}, 90, 1.0 / 3), std::invalid_argument);
}

TEST(WithWeights, ReplacesEachComponentsWeightAndKeepsEverythingElse) {
  cshealthd::config::Config config;  // the shipped scorecards
  const auto file = cshealthd::scoring::scorecard_file(config, "weighted");
  const auto text = cshealthd::scoring::with_weights(
      file, {{"usage", 52}, {"nps", 8}, {"support", 1}, {"renewal", 30}, {"expansion", 9}});
  // Comments and bands as they were.
  EXPECT_NE(text.find("# Preset B, seed 001"), std::string::npos);
  EXPECT_NE(text.find("{gte: 80, points: 100, label: \"80 % or more active\"}"), std::string::npos);
  const auto loaded = cshealthd::scoring::load_scoring_with_candidate(
      config, cshealthd::scoring::ScoringFile(file.name, text, "candidate"));
  const auto* card = loaded.find("weighted");
  ASSERT_NE(card, nullptr);
  std::vector<double> weights;
  for (const auto& c : card->components) weights.push_back(c.weight);
  EXPECT_EQ(weights, (std::vector<double>{52, 8, 1, 30, 9}));
  // A component the file does not have is an error naming it, never a silently unchanged weight.
  try {
    cshealthd::scoring::with_weights(file, {{"usage", 50}, {"tenure", 50}});
    FAIL() << "expected an error";
  } catch (const cshealthd::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'tenure'"), std::string::npos) << e.what();
  }
}

TEST(WithWeights, FlowStyleComponentsToo) {
  const cshealthd::scoring::ScoringFile file(
      "x.yaml",
      "scorecard: x\ncomponents:\n  - {name: a, kind: bands, weight: 60, metric: mrr, bands: [{gte: 0, points: 100}]}\n"
      "  - {name: b, kind: bands, weight: 40, metric: mrr, bands: [{gte: 0, points: 100}]}\n");
  const auto text = cshealthd::scoring::with_weights(file, {{"a", 25}, {"b", 75}});
  EXPECT_NE(text.find("{name: a, kind: bands, weight: 25,"), std::string::npos) << text;
  EXPECT_NE(text.find("{name: b, kind: bands, weight: 75,"), std::string::npos) << text;
}

// The review's message from what the backtest and the calibration said, including what they could not
// say: an undefined AUC has no interval, a refused calibration has no weights (neither may crash it).
TEST(ReviewMessage, SaysWhatTheBacktestAndTheCalibrationFoundOrWhyNot) {
  using cshealthd::review::Findings;
  Findings f;
  f.quarter = "2026-Q3";
  f.backtest = nlohmann::json::parse(R"({"id": 7, "dates": 13, "from": "2025-09-01", "to": "2026-08-27",
    "horizon_days": 90, "auc": {"value": null, "why": "undefined"}, "recall_red_orange": null,
    "false_alarm_red_orange": 0.05, "median_lead_days": null})");
  f.calibration = nlohmann::json::parse(R"({"id": 3, "status": "refused", "reason": "4 churns followed ...; nothing is proposed"})");
  auto m = cshealthd::review::compose(f, "en", cshealthd::core::Markup::kPlain);
  EXPECT_EQ(m.subject, "Quarterly score review: 2026-Q3");
  ASSERT_EQ(m.lines.size(), 2u);
  EXPECT_THAT(m.lines[0], ::testing::HasSubstr("backtest 7"));
  EXPECT_THAT(m.lines[0], ::testing::HasSubstr("AUC n/a [n/a, n/a]"));
  EXPECT_THAT(m.lines[0], ::testing::HasSubstr("flagged 5.0 %"));
  EXPECT_THAT(m.lines[1], ::testing::HasSubstr("No new weights this quarter (calibration 3): 4 churns followed"));
  EXPECT_EQ(m.outcome, "auc n/a; calibration 3 refused");

  // A proposal that judged better out of time names the commands; one that did not says to keep the weights.
  f.calibration = nlohmann::json::parse(R"({"id": 4, "status": "proposed",
    "weights": [{"name": "usage", "current": 40, "proposed": 55}, {"name": "nps", "current": 60, "proposed": 45}],
    "out_of_time": {"current": {"auc": {"value": 0.70}}, "proposed": {"auc": {"value": 0.74}}}})");
  f.deploy_path = "/etc/cshealthd/scorecards/weighted.yaml";
  m = cshealthd::review::compose(f, "en", cshealthd::core::Markup::kPlain);
  EXPECT_THAT(m.lines[1], ::testing::HasSubstr("proposes usage 55, nps 45 (now usage 40, nps 60)"));
  EXPECT_THAT(m.lines[1], ::testing::HasSubstr("AUC 0.740 against 0.700"));
  EXPECT_THAT(m.lines[1], ::testing::HasSubstr("cshealthd calibrate --show 4 --out /etc/cshealthd/scorecards/weighted.yaml"));
  f.calibration["out_of_time"]["proposed"]["auc"]["value"] = 0.69;
  m = cshealthd::review::compose(f, "en", cshealthd::core::Markup::kPlain);
  EXPECT_THAT(m.lines[1], ::testing::HasSubstr("found no better weights"));
  // In Japanese by default; a failed backtest is said, not hidden.
  f.backtest = nullptr;
  f.backtest_error = "--to: the churns of the 90 days after 2026-09-01 are not all known yet";
  m = cshealthd::review::compose(f, "ja", cshealthd::core::Markup::kPlain);
  EXPECT_THAT(m.subject, ::testing::HasSubstr("四半期ヘルススコアレビュー"));
  EXPECT_THAT(m.lines[0], ::testing::HasSubstr("are not all known yet"));
  EXPECT_EQ(m.outcome.rfind("no backtest", 0), 0u);
}

}  // namespace
