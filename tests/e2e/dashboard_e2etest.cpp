// KPIs and the dashboard end to end: the simulator's generated portal with a year of MRR history (growth,
// contraction, churns and returns), synced and scored back 120 days by the CLI, then `cshealthd serve` runs
// a night, whose kpis stage computes 13 months. The API's answers are checked against the database and
// each other (CSV, series, CLI), the dashboard token reads but cannot write, bad requests are 4xx, and a
// headless Chromium drives the dashboard in both languages (tests/browser/dashboard.py).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cshealthd/core/time.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kDashboardToken = "dashboard-reader";

class DashboardTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    return pipeline_env(
        i, {"CSHEALTHD_WRITEBACK_LOCALE=ja", "CSHEALTHD_DASHBOARD_TOKEN=" + std::string(kDashboardToken)});
  }
  testing::RawResponse get(const std::string& path, const std::string& token = kAdminToken) {
    return testing::http_request(ports_[0], "GET", path, "", {"Authorization: Bearer " + token});
  }
  json get_json(const std::string& path, const std::string& token = kAdminToken) {
    const auto r = get(path, token);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.status == 200 ? json::parse(r.body) : json();
  }
};

TEST_F(DashboardTest, KpisListsAndTheDashboardInABrowser) {
  start_sim({"--seed", "7", "--generate", "60", "--revenue-history", "--search-lag-ms", "0"});
  // The history first (as an operator would back-fill it), then a night of the service.
  const auto sync = testing::run_cshealthd({"sync", "--full"}, env(0));
  ASSERT_EQ(sync.status, 0) << sync.output;
  const auto backfill = testing::run_cshealthd({"score", "--backfill", "120"}, env(0));
  ASSERT_EQ(backfill.status, 0) << backfill.output;
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  const auto run = json::parse(api(0, "GET", "/v1/runs?limit=1").body)["runs"][0];
  EXPECT_EQ(run["stages"][4]["name"], "kpis");
  EXPECT_EQ(run["stages"][4]["state"], "done");
  EXPECT_GE(run["stages"][4]["progress"]["periods"].get<int>(), 13 + 5);

  // KPIs: twelve months, the latest computed; each value is the formula over the facts beside it.
  const auto kpis = get_json("/v1/kpis");
  ASSERT_EQ(kpis["periods"].size(), 12u);
  std::size_t computed = 0;
  double churned = 0;
  for (const auto& p : kpis["periods"]) {
    if (!p["computed"].get<bool>()) continue;
    ++computed;
    churned += p["customers"]["churned"].get<double>();
    const auto& m = p["mrr"];
    const double start = m["start"].get<double>();
    const double kept = start - m["contraction"].get<double>() - m["churn"].get<double>();
    for (const auto& k : p["kpis"]) {
      if (start <= 0) break;
      if (k["name"] == "grr") {
        EXPECT_NEAR(k["value"].get<double>(), 100 * kept / start, 1e-6);
      } else if (k["name"] == "nrr") {
        EXPECT_NEAR(k["value"].get<double>(), 100 * (kept + m["expansion"].get<double>()) / start, 1e-6);
      }
    }
  }
  EXPECT_EQ(computed, 12u);
  EXPECT_GT(churned, 0);  // the generated year has churns
  // Every churn a month counted is a case of the churn analysis, and the other way round.
  EXPECT_EQ(churned, static_cast<double>(scalar("SELECT count(*) FROM churn_events WHERE churn_day >= '" +
                                                kpis["periods"][0]["first"].get<std::string>() + "'")));
  // Series and CSV say the same as the periods.
  const auto series = get_json("/v1/kpis/nrr/series");
  ASSERT_EQ(series["series"].size(), 12u);
  EXPECT_EQ(series["series"][11]["value"], kpis["periods"][11]["kpis"][0]["value"]);
  const auto csv = get("/v1/kpis.csv");
  EXPECT_EQ(csv.status, 200);
  EXPECT_THAT(csv.body, HasSubstr("period,kpi,value,target,met,numerator,denominator\r\n"));
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 1 + 12 * 12);
  // The CLI's monthly report of the last full month matches the API's.
  const auto& last_month = kpis["periods"][10];
  const auto cli =
      testing::run_cshealthd({"kpis", "--month", last_month["period"].get<std::string>(), "--json"}, env(0));
  ASSERT_EQ(cli.status, 0) << cli.output;
  const auto cli_json = json::parse(cli.output.substr(cli.output.find('{')));
  EXPECT_EQ(cli_json["mrr"], last_month["mrr"]);
  EXPECT_EQ(cli_json["kpis"], last_month["kpis"]);
  // Quarters and filters.
  const auto quarters = get_json("/v1/kpis?granularity=quarter");
  EXPECT_EQ(quarters["periods"].size(), 4u);
  const auto dash = get_json("/v1/dashboard");
  ASSERT_FALSE(dash["segments"].empty());
  ASSERT_FALSE(dash["owners"].empty());
  double by_segment = 0;
  for (const auto& s : dash["segments"])
    by_segment +=
        get_json("/v1/kpis?segment=" + s.get<std::string>())["periods"][10]["mrr"]["start"].get<double>();
  EXPECT_NEAR(by_segment, last_month["mrr"]["start"].get<double>(), 1e-6);

  // Lists against the database.
  const auto risk = get_json("/v1/at-risk?limit=1000");
  EXPECT_EQ(
      risk["total"].get<long long>(),
      scalar("SELECT count(*) FROM health_scores h JOIN crm_objects c ON c.id = h.company_id WHERE h.day = "
             "(SELECT max(day) FROM health_scores) AND h.score < 60 AND h.status <> 'unknown' AND NOT "
             "c.archived"));
  ASSERT_GT(risk["total"].get<long long>(), 0);
  for (std::size_t i = 1; i < risk["companies"].size(); ++i)
    EXPECT_LE(risk["companies"][i - 1]["score"].get<double>(), risk["companies"][i]["score"].get<double>());
  const auto renewals = get_json("/v1/renewals?within_days=90");
  EXPECT_GT(renewals["total"].get<long long>(), 0);
  for (const auto& r : renewals["renewals"]) {
    EXPECT_GE(r["days_left"].get<int>(), 0);
    EXPECT_LE(r["days_left"].get<int>(), 90);
  }
  const auto churn = get_json("/v1/churn-analysis");
  EXPECT_GT(churn["summary"]["churned"].get<long long>(), 0);
  EXPECT_EQ(churn["summary"]["churned"].get<long long>(), static_cast<long long>(churn["churns"].size()));
  const auto first = risk["companies"][0]["company_id"].get<std::string>();
  const auto page = get_json("/v1/companies/" + first + "/page");
  EXPECT_EQ(page["history"].size(), 120u);  // the back-filled 120 days (tonight's among them)

  // The dashboard token reads, and only reads; bad requests are 4xx JSON.
  EXPECT_EQ(get("/v1/kpis", kDashboardToken).status, 200);
  EXPECT_EQ(get("/v1/companies/" + first + "/health", kDashboardToken).status, 200);
  EXPECT_EQ(testing::http_request(ports_[0], "POST", "/v1/runs", "{}",
                                  {"Authorization: Bearer " + std::string(kDashboardToken)})
                .status,
            401);
  EXPECT_EQ(get("/v1/outbox", kDashboardToken).status, 401);
  EXPECT_EQ(get("/v1/kpis", "wrong").status, 401);
  EXPECT_EQ(get("/v1/kpis?granularity=week").status, 400);
  EXPECT_EQ(get("/v1/kpis?from=2026-13").status, 400);
  EXPECT_EQ(get("/v1/kpis?from=2026-10-01&to=2026-09-01").status, 400);
  EXPECT_EQ(get("/v1/kpis/arr/series").status, 404);
  EXPECT_EQ(get("/v1/at-risk?sort=evil;DROP").status, 400);
  EXPECT_EQ(get("/v1/at-risk?owner=abc").status, 400);
  EXPECT_EQ(get("/v1/renewals?within_days=-1").status, 400);
  EXPECT_EQ(get("/v1/companies/999999999/page").status, 404);

  // The page and its assets: no token needed, nothing from elsewhere.
  const auto index = testing::http_request(ports_[0], "GET", "/", "", {});
  ASSERT_EQ(index.status, 200);
  EXPECT_THAT(index.body, HasSubstr("/dashboard/app.js"));
  EXPECT_THAT(index.body, ::testing::Not(HasSubstr("http")));
  const auto js = testing::http_request(ports_[0], "GET", "/dashboard/app.js", "", {});
  ASSERT_EQ(js.status, 200);
  std::ifstream src(std::string(CSHEALTHD_SOURCE_DIR) + "/src/dashboard/app.js", std::ios::binary);
  const std::string source((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
  EXPECT_EQ(js.body, source);  // compiled in byte for byte
  const auto css = testing::http_request(ports_[0], "GET", "/dashboard/app.css", "", {});
  EXPECT_LT(index.body.size() + js.body.size() + css.body.size(), 100u * 1024);

  // The score's quality: a backtest and a calibration for the dashboard's page (the calibration may
  // refuse on so small a portal; the page shows either).
  const auto backtest = testing::run_cshealthd({"backtest"}, env(0));
  ASSERT_EQ(backtest.status, 0) << backtest.output;
  const auto calibrate = testing::run_cshealthd({"calibrate", "--min-churns", "3", "--out",
                                                 (dir_.path() / "candidate.yaml").string()}, env(0));
  ASSERT_LE(calibrate.status, 1) << calibrate.output;

  // A real browser.
  const char* chromium = nullptr;
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (std::filesystem::exists(p)) chromium = p;
  }
  if (chromium == nullptr)
    GTEST_SKIP() << "Chromium is not installed (scripts/setup installs the Debian package `chromium`): the "
                    "browser part of this test did not run";
  const auto shots = std::filesystem::current_path() / "dashboard-screenshots";
  const auto browser = testing::run_process(
      "/usr/bin/python3", {std::string(CSHEALTHD_SOURCE_DIR) + "/tests/browser/dashboard.py", "--url",
                           "http://127.0.0.1:" + std::to_string(ports_[0]), "--token", kDashboardToken,
                           "--out", shots.string(), "--chromium", chromium});
  EXPECT_EQ(browser.status, 0) << browser.output;
  std::cout << "browser: " << browser.output.substr(0, 4000) << "\n";
  for (const char* shot :
       {"overview-ja.png", "company-ja.png", "churn-ja.png", "quality-ja.png", "overview-en.png", "company-en.png",
        "quality-en.png"})
    EXPECT_TRUE(std::filesystem::exists(shots / shot)) << shot;
}

}  // namespace
}  // namespace cshealthd
