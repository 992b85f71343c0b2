// Backtests end to end: the simulator's portal with a year of history (usage snapshots, MRR with churns
// and returns) synced once, then `cshealthd backtest` rescores its observation dates from that history.
// Its figures are recomputed here in SQL from the observations it stored and the KPIs' churn events: who
// was observed each date, each label, the AUC (pairwise, ties one half), recall, false alarms and the
// band churn rates. The API serves the stored report; bad requests are refused with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "raw_http.hpp"
#include "serve_fixture.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

class BacktestTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    return pipeline_env(i, {"CSHEALTHD_DASHBOARD_TOKEN=dashboard-reader"});
  }
  double real(const std::string& sql) const { return std::stod(text(sql)); }
};

TEST_F(BacktestTest, FiguresMatchAnIndependentComputationAndTheApiServesTheReport) {
  start_sim({"--seed", "7", "--generate", "300", "--revenue-history", "--search-lag-ms", "0"});
  const auto sync = testing::run_cshealthd({"sync", "--full"}, env(0));
  ASSERT_EQ(sync.status, 0) << sync.output;

  const auto run = testing::run_cshealthd({"backtest", "--every", "30", "--horizon", "90", "--json"}, env(0));
  ASSERT_EQ(run.status, 0) << run.output;
  const auto report = json::parse(run.output.substr(run.output.find("{\n")));
  const auto id = std::to_string(report["id"].get<long long>());
  const std::string obs = "backtest_observations WHERE backtest_id = " + id;
  EXPECT_EQ(report["dates"], 13);
  EXPECT_EQ(report["observations"].get<long long>(), scalar("SELECT count(*) FROM " + obs));
  ASSERT_GT(report["churned"].get<long long>(), 10) << "the generated year should have churns to rank";

  // Who was observed: every company that existed by the end of the date and was not inside a churn it
  // had not come back from; each label is a churn in (date, date + 90].
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT d.day, c.id FROM (SELECT DISTINCT day FROM " + obs +
                   ") d JOIN crm_objects c ON c.object_type = 'companies' AND NOT c.archived AND c.created_at < "
                   "d.day + 1 WHERE NOT EXISTS (SELECT 1 FROM churn_events e WHERE e.company_id = c.id AND "
                   "e.churn_day <= d.day AND (e.returned_on IS NULL OR e.returned_on > d.day)) EXCEPT SELECT "
                   "day, company_id FROM " + obs + ") missing"),
            0);
  EXPECT_EQ(report["observations"].get<long long>(),
            scalar("SELECT count(*) FROM (SELECT DISTINCT day FROM " + obs + ") d JOIN crm_objects c ON "
                   "c.object_type = 'companies' AND NOT c.archived AND c.created_at < d.day + 1 WHERE NOT EXISTS "
                   "(SELECT 1 FROM churn_events e WHERE e.company_id = c.id AND e.churn_day <= d.day AND "
                   "(e.returned_on IS NULL OR e.returned_on > d.day))"));
  EXPECT_EQ(scalar("SELECT count(*) FROM backtest_observations o WHERE o.backtest_id = " + id +
                   " AND o.churned <> EXISTS (SELECT 1 FROM churn_events e WHERE e.company_id = o.company_id "
                   "AND e.churn_day > o.day AND e.churn_day <= o.day + 90)"),
            0);
  EXPECT_EQ(report["churned"].get<long long>(), scalar("SELECT count(*) FROM " + obs + " AND churned"));

  // The AUC over every (churner, stayer) pair of scored observations, a lower score ranking riskier.
  const double pairs_auc = real(
      "WITH s AS (SELECT score, churned FROM " + obs + " AND status <> 'unknown') "
      "SELECT (count(*) FILTER (WHERE p.score < n.score) + 0.5 * count(*) FILTER (WHERE p.score = n.score))::float8 "
      "/ count(*) FROM s p CROSS JOIN s n WHERE p.churned AND NOT n.churned");
  EXPECT_NEAR(report["auc"]["value"].get<double>(), pairs_auc, 1e-4);
  EXPECT_LE(report["auc"]["low"].get<double>(), report["auc"]["value"].get<double>());
  EXPECT_GE(report["auc"]["high"].get<double>(), report["auc"]["value"].get<double>());
  const double recall = real("SELECT avg((status IN ('red', 'orange'))::int)::float8 FROM " + obs +
                             " AND churned AND status <> 'unknown'");
  EXPECT_NEAR(report["recall_red_orange"].get<double>(), recall, 1e-4);
  const double alarms = real("SELECT avg((status IN ('red', 'orange'))::int)::float8 FROM " + obs +
                             " AND NOT churned AND status <> 'unknown'");
  EXPECT_NEAR(report["false_alarm_red_orange"].get<double>(), alarms, 1e-4);
  for (const auto& b : report["bands"]) {
    const auto band = b["band"].get<std::string>();
    EXPECT_EQ(b["observations"].get<long long>(), scalar("SELECT count(*) FROM " + obs + " AND status = '" + band + "'"))
        << band;
    EXPECT_EQ(b["churned"].get<long long>(),
              scalar("SELECT count(*) FROM " + obs + " AND churned AND status = '" + band + "'"))
        << band;
  }
  // Each component's AUC over the observations where it had data.
  for (const auto& c : report["components"]) {
    const auto name = c["name"].get<std::string>();
    if (!c["auc"]["value"].is_number()) continue;
    const double own = real("WITH s AS (SELECT (components->>'" + name + "')::float8 AS points, churned FROM " + obs +
                            " AND components->>'" + name + "' IS NOT NULL) SELECT (count(*) FILTER (WHERE p.points < "
                            "n.points) + 0.5 * count(*) FILTER (WHERE p.points = n.points))::float8 / count(*) FROM s "
                            "p CROSS JOIN s n WHERE p.churned AND NOT n.churned");
    EXPECT_NEAR(c["auc"]["value"].get<double>(), own, 1e-4) << name;
  }

  // The table people read says the same.
  const auto table = testing::run_cshealthd({"backtest", "--every", "90"}, env(0));
  ASSERT_EQ(table.status, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("observation dates"));
  EXPECT_THAT(table.output, HasSubstr("AUC "));
  EXPECT_THAT(table.output, HasSubstr("churn rate"));

  // A candidate scorecard no segment uses is evaluated on everyone, and stored as what it was.
  const auto candidate = testing::run_cshealthd(
      {"backtest", "--json", "--scorecard", std::string(CSHEALTHD_SOURCE_DIR) + "/config/scorecards/points.yaml"},
      env(0));
  ASSERT_EQ(candidate.status, 0) << candidate.output;
  const auto other = json::parse(candidate.output.substr(candidate.output.find("{\n")));
  EXPECT_THAT(other["scorecard"].get<std::string>(), HasSubstr("points.yaml"));
  EXPECT_EQ(other["observations"], report["observations"]);  // the same companies and dates
  bool points_components = false;
  for (const auto& c : other["components"]) points_components |= c["name"] == "depth";
  EXPECT_TRUE(points_components);

  // Requests that cannot be answered: exit 2 with the reason, nothing stored.
  const auto before = scalar("SELECT count(*) FROM backtests");
  const auto future = testing::run_cshealthd({"backtest", "--to", "2099-01-01"}, env(0));
  EXPECT_EQ(future.status, 2);
  EXPECT_THAT(future.output, HasSubstr("are not all known yet"));
  const auto missing = testing::run_cshealthd({"backtest", "--scorecard", "/nonexistent.yaml"}, env(0));
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.output, HasSubstr("--scorecard"));
  const auto bad_day = testing::run_cshealthd({"backtest", "--from", "2026-13-01"}, env(0));
  EXPECT_EQ(bad_day.status, 2);
  EXPECT_THAT(bad_day.output, HasSubstr("--from"));
  EXPECT_EQ(scalar("SELECT count(*) FROM backtests"), before);

  // The API: the list (latest first) and the whole report, for the admin and the dashboard's reader.
  ASSERT_NO_FATAL_FAILURE(start(0));
  const auto list = api(0, "GET", "/v1/backtests");
  ASSERT_EQ(list.status, 200) << list.body;
  const auto listed = json::parse(list.body)["backtests"];
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[2]["id"], report["id"]);
  EXPECT_EQ(listed[2]["auc"], report["auc"]["value"]);
  const auto one = testing::http_request(ports_[0], "GET", "/v1/backtests/" + id, "",
                                         {"Authorization: Bearer dashboard-reader"});
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["backtest"]["auc"], report["auc"]);
  EXPECT_EQ(api(0, "GET", "/v1/backtests/999999").status, 404);
  EXPECT_EQ(api(0, "GET", "/v1/backtests?limit=0").status, 400);
  EXPECT_EQ(api(0, "GET", "/v1/backtests/abc").status, 400);
  EXPECT_EQ(testing::http_request(ports_[0], "GET", "/v1/backtests", "", {}).status, 401);
}

}  // namespace
}  // namespace cshealthd
