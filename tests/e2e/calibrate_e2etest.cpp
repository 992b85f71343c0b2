// Calibration end to end: the simulator's portal with a year of history synced once, then `cshealthd
// calibrate` fits the churn model on the earlier dates and judges it on the later ones. The proposal's
// weights sum to 100 and each says why; its training dates' horizons all end before the judging
// begins; and its out-of-time figures are what `cshealthd backtest` reports over the same later dates for
// the deployed scorecard and for the candidate file it wrote (so the comparison is real, out of time, and
// the file is the scorecard that was judged). A portal too small for 30 churns is refused with the reason,
// nothing written; and nothing is ever deployed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "serve_fixture.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

class CalibrateTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override { return pipeline_env(i, {}); }
  static json parse_json(const std::string& output) { return json::parse(output.substr(output.find("{\n"))); }
};

TEST_F(CalibrateTest, ProposesWeightsJudgedOutOfTimeAsTheBacktestJudgesThem) {
  start_sim({"--seed", "5", "--generate", "2000", "--revenue-history", "--search-lag-ms", "0"});
  const auto sync = testing::run_cshealthd({"sync", "--full"}, env(0));
  ASSERT_EQ(sync.status, 0) << sync.output;
  const auto before_scores = scalar("SELECT count(*) FROM health_scores");

  const auto out = (dir_.path() / "candidate.yaml").string();
  const auto run = testing::run_cshealthd({"calibrate", "--json", "--out", out}, env(0));
  ASSERT_EQ(run.status, 0) << run.output;
  const auto r = parse_json(run.output);
  ASSERT_EQ(r["status"], "proposed") << r.dump(2);
  EXPECT_GE(r["training"]["churns"].get<int>(), 30);

  // Out of time: every training date's horizon ends by the first judged date.
  const auto first_judged = r["validation"]["from"].get<std::string>();
  EXPECT_EQ(scalar("SELECT ('" + r["training"]["to"].get<std::string>() + "'::date + " +
                   std::to_string(r["horizon_days"].get<int>()) + " <= '" + first_judged + "'::date)::int"),
            1);
  EXPECT_EQ(scalar("SELECT ('" + r["training"]["to"].get<std::string>() + "'::date < '" + first_judged + "'::date)::int"),
            1);

  // Whole weights summing to 100, one per component of the deployed scorecard, each explained.
  int total = 0;
  std::vector<std::string> names;
  for (const auto& w : r["weights"]) {
    total += w["proposed"].get<int>();
    EXPECT_GE(w["proposed"].get<int>(), 1);
    EXPECT_FALSE(w["why"].get<std::string>().empty());
    names.push_back(w["name"].get<std::string>());
  }
  EXPECT_EQ(total, 100);
  EXPECT_EQ(names, (std::vector<std::string>{"usage", "nps", "support", "renewal", "expansion"}));
  EXPECT_TRUE(r["out_of_time"]["current"]["auc"]["value"].is_number());
  EXPECT_TRUE(r["out_of_time"]["proposed"]["auc"]["value"].is_number());
  const auto& p = r["churn_probability"];
  ASSERT_TRUE(p["brier"].is_number());
  EXPECT_GT(p["brier"].get<double>(), 0);
  EXPECT_LT(p["brier"].get<double>(), 1);
  EXPECT_EQ(p["reliability"].size(), 10u);
  // The stored model is Platt-scaled on its training rows (its scaling says so; the ranking kept).
  EXPECT_EQ(r["model"]["platt"]["applied"], true) << r["model"].dump();
  EXPECT_GT(r["model"]["platt"]["b"].get<double>(), 0);
  // The expansion likelihood: the portal's MRR steps up give its model enough expansions to fit.
  ASSERT_TRUE(r["expansion_model"].is_object()) << r["expansion_probability"].dump();
  const auto& x = r["expansion_probability"];
  ASSERT_TRUE(x["brier"].is_number()) << x.dump();
  EXPECT_LT(x["brier"].get<double>(), x["brier_base_rate"].get<double>() + 0.05);
  EXPECT_TRUE(x["auc"]["value"].is_number());
  EXPECT_EQ(x["reliability"].size(), 10u);

  // The candidate file: the deployed scorecard's text with the proposed weights, and a header that says so.
  std::ifstream in(out);
  ASSERT_TRUE(in) << out;
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("# Candidate weights for scorecard 'weighted'"));
  EXPECT_THAT(text.str(), HasSubstr("Not deployed"));
  EXPECT_THAT(text.str(), HasSubstr("{gte: 80, points: 100, label: \"80 % or more active\"}"));  // bands unchanged

  // The same figures from the backtest over the judged dates: deployed, then the candidate file.
  const std::vector<std::string> window = {"backtest", "--json", "--from", first_judged, "--to",
                                           r["validation"]["to"].get<std::string>(), "--every",
                                           std::to_string(r["every_days"].get<int>())};
  const auto current = testing::run_cshealthd(window, env(0));
  ASSERT_EQ(current.status, 0) << current.output;
  const auto c = parse_json(current.output);
  EXPECT_EQ(c["auc"], r["out_of_time"]["current"]["auc"]);
  EXPECT_EQ(c["recall_red_orange"], r["out_of_time"]["current"]["recall_red_orange"]);
  auto with_file = window;
  with_file.insert(with_file.end(), {"--scorecard", out});
  const auto proposed = testing::run_cshealthd(with_file, env(0));
  ASSERT_EQ(proposed.status, 0) << proposed.output;
  const auto q = parse_json(proposed.output);
  EXPECT_EQ(q["auc"], r["out_of_time"]["proposed"]["auc"]);
  EXPECT_EQ(q["false_alarm_red_orange"], r["out_of_time"]["proposed"]["false_alarm_red_orange"]);
  // Each stored observation's expansion label, recomputed in SQL from the MRR snapshots: a rise while
  // paying within the horizon after its day (the portal has no upsell deals).
  const auto bt = std::to_string(c["id"].get<long long>());
  EXPECT_GT(scalar("SELECT count(*) FROM backtest_observations WHERE expanded AND backtest_id = " + bt), 10);
  EXPECT_EQ(scalar("SELECT count(*) FROM backtest_observations o WHERE backtest_id = " + bt +
                   " AND o.expanded <> EXISTS (SELECT 1 FROM (SELECT company_id, day, v, lag(v) OVER (PARTITION BY "
                   "company_id ORDER BY day) AS prev FROM (SELECT company_id, day, coalesce(synced->>'mrr', "
                   "backfilled->>'mrr')::float8 AS v FROM company_snapshots WHERE synced ? 'mrr' OR backfilled ? "
                   "'mrr') m) s WHERE s.company_id = o.company_id AND s.prev > 0 AND s.v > s.prev AND s.day > o.day "
                   "AND s.day <= o.day + " + std::to_string(r["horizon_days"].get<int>()) + ")"),
            0);

  // Stored; nothing deployed or scored.
  EXPECT_EQ(scalar("SELECT count(*) FROM calibrations WHERE status = 'proposed' AND candidate IS NOT NULL AND id = " +
                   std::to_string(r["id"].get<long long>())),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores"), before_scores);

  // Its model now scores the churn risk (cs_churn_risk) beside the score: every company the calibrated
  // scorecard scores has one, and it is the model's formula over the components stored with it.
  EXPECT_EQ(scalar("SELECT calibration_id FROM churn_models WHERE scorecard = 'weighted'"), r["id"].get<long long>());
  const auto score = testing::run_cshealthd({"score"}, env(0));
  ASSERT_EQ(score.status, 0) << score.output;
  const std::string today = "health_scores WHERE day = (SELECT max(day) FROM health_scores)";
  EXPECT_GT(scalar("SELECT count(*) FROM " + today), 1000);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + today + " AND churn_risk IS NULL"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + today + " AND (churn_risk <= 0 OR churn_risk >= 1)"), 0);
  // Both probabilities are their model's formula over the components stored with the score.
  for (const auto& [column, model] : {std::pair<std::string, std::string>{"churn_risk", "model"},
                                      std::pair<std::string, std::string>{"expansion_likelihood", "expansion_model"}}) {
    EXPECT_EQ(scalar("SELECT count(*) FROM " + today + " AND " + column + " IS NULL"), 0) << column;
    EXPECT_EQ(scalar("WITH m AS (SELECT " + model + " AS model FROM churn_models WHERE scorecard = 'weighted') "
                     "SELECT count(*) FROM " + today + " AND abs(" + column +
                     " - 1 / (1 + exp(-((SELECT (model->>'intercept')::float8 FROM m) + "
                     "(SELECT sum(c.value::float8 * coalesce((SELECT (e->>'points')::float8 / (e->>'max_points')::float8 "
                     "FROM jsonb_array_elements(components) e WHERE e->>'name' = c.key AND jsonb_typeof(e->'points') = "
                     "'number'), (m.model->'means'->>c.key)::float8)) FROM m, jsonb_each_text(m.model->'coefficients') "
                     "c))))) > 1e-9"),
              0)
        << column;
  }

  // The table people read.
  const auto table = testing::run_cshealthd({"calibrate", "--out", out}, env(0));
  ASSERT_EQ(table.status, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("out of time"));
  EXPECT_THAT(table.output, HasSubstr("current weights"));
  EXPECT_THAT(table.output, HasSubstr("Brier"));
  EXPECT_THAT(table.output, HasSubstr("expansion likelihood (its model, out of time)"));
  EXPECT_THAT(table.output, HasSubstr("candidate written to " + out));
}

TEST_F(CalibrateTest, TooFewChurnsIsRefusedWithTheReasonAndNothingWritten) {
  start_sim({"--seed", "7", "--generate", "120", "--revenue-history", "--search-lag-ms", "0"});
  const auto sync = testing::run_cshealthd({"sync", "--full"}, env(0));
  ASSERT_EQ(sync.status, 0) << sync.output;
  const auto out = (dir_.path() / "never.yaml").string();
  const auto run = testing::run_cshealthd({"calibrate", "--json", "--out", out}, env(0));
  ASSERT_EQ(run.status, 1) << run.output;
  const auto r = parse_json(run.output);
  EXPECT_EQ(r["status"], "refused");
  const auto churns = r["training"]["churns"].get<long long>();
  EXPECT_LT(churns, 30);
  // The count it refused on is the churns that followed a training date within the horizon.
  const auto from = r["training"]["from"].get<std::string>(), to = r["training"]["to"].get<std::string>();
  EXPECT_EQ(churns, scalar("SELECT count(DISTINCT (company_id, churn_day)) FROM churn_events e WHERE EXISTS (SELECT 1 "
                           "FROM generate_series('" + from + "'::date, '" + to + "'::date, interval '30 days') d "
                           "WHERE e.churn_day > d::date AND e.churn_day <= d::date + 90)"));
  EXPECT_THAT(r["reason"].get<std::string>(), HasSubstr(std::to_string(churns) + " churns followed the training dates"));
  EXPECT_THAT(r["reason"].get<std::string>(), HasSubstr("fewer than 30"));
  EXPECT_THAT(r["reason"].get<std::string>(), HasSubstr("nothing is proposed"));
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(scalar("SELECT count(*) FROM calibrations WHERE status = 'refused' AND candidate IS NULL"), 1);

  // A table says the same; bad options exit 2 naming the option, nothing stored.
  const auto table = testing::run_cshealthd({"calibrate", "--out", out}, env(0));
  EXPECT_EQ(table.status, 1);
  EXPECT_THAT(table.output, HasSubstr("nothing proposed: "));
  const auto card = testing::run_cshealthd({"calibrate", "--card", "nosuch"}, env(0));
  EXPECT_EQ(card.status, 2);
  EXPECT_THAT(card.output, HasSubstr("--card"));
  const auto horizon = testing::run_cshealthd({"calibrate", "--horizon", "400", "--to", "2025-06-01"}, env(0));
  EXPECT_EQ(horizon.status, 2) << horizon.output;
  EXPECT_EQ(scalar("SELECT count(*) FROM calibrations"), 2);
}

}  // namespace
}  // namespace cshealthd
