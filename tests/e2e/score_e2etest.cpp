// `cshealthd score`, `override` and the /v1 health API, against the simulator and a real PostgreSQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <fstream>
#include <map>

#include "cshealthd/http/client.hpp"
#include "daemon.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::Daemon;
using ::testing::HasSubstr;
using testing::TempDir;

// A synced, scored portal of 30 generated companies.
class ScoreCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<testing::SimProcess>(
        dir_, std::vector<std::string>{"--seed", "9", "--generate", companies(), "--truth-out",
                                       (dir_.path() / "truth.json").string()});
    ASSERT_NE(sim_->port, 0) << sim_->daemon->log();
    const auto sync = testing::run_cshealthd({"sync"}, env());
    ASSERT_EQ(sync.status, 0) << sync.output;
  }
  virtual std::string companies() const { return "30"; }
  std::vector<std::string> env(std::vector<std::string> extra = {}) {
    std::vector<std::string> e = {"CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim_->port),
                                  "CSHEALTHD_HUBSPOT_TOKEN=T", "CSHEALTHD_DATABASE_URL=" + db_.conninfo(),
                                  "CSHEALTHD_LOG_FORMAT=text", "CSHEALTHD_LOG_LEVEL=warn"};
    e.insert(e.end(), extra.begin(), extra.end());  // later settings of a key win (see process::spawn)
    return e;
  }
  std::string first_company() {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT min(id)::text FROM companies")[0][0].as<std::string>();
  }

  TempDir dir_;
  testing::TestDatabase db_{false};
  std::unique_ptr<testing::SimProcess> sim_;
};

TEST_F(ScoreCliTest, ScoresEveryCompanyAndExplainsOne) {
  const auto all = testing::run_cshealthd({"score", "--as-of", "2026-11-20"}, env());
  ASSERT_EQ(all.status, 0) << all.output;
  // The companies that existed by the end of the day (point in time: those created since are not).
  const auto existed = [&] {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT count(*) FROM companies WHERE NOT archived AND created_at < '2026-11-21'")[0][0]
        .as<std::string>();
  }();
  EXPECT_THAT(all.output, HasSubstr("as of 2026-11-20: " + existed + " companies scored"));
  EXPECT_THAT(all.output, ::testing::ContainsRegex("green +[0-9]+ +[0-9.]+%"));
  const std::string id = first_company();
  const auto one =
      testing::run_cshealthd({"score", "--as-of", "2026-11-20", "--company", id, "--explain"}, env());
  ASSERT_EQ(one.status, 0) << one.output;
  for (const char* part :
       {"component", "usage", "nps", "support", "renewal", "expansion", "reasons (worst first)"})
    EXPECT_THAT(one.output, HasSubstr(part));
  const auto js =
      testing::run_cshealthd({"score", "--as-of", "2026-11-20", "--company", id, "--json"}, env());
  ASSERT_EQ(js.status, 0) << js.output;
  const auto line = js.output.substr(js.output.find('{'));
  const json r = json::parse(line.substr(0, line.find('\n')));
  EXPECT_EQ(r["company_id"], id);
  EXPECT_EQ(r["as_of"], "2026-11-20");
  for (const char* key : {"score", "status", "coverage", "scorecard", "components", "signals", "reasons"})
    EXPECT_TRUE(r.contains(key)) << key;
  const auto backfill = testing::run_cshealthd({"score", "--as-of", "2026-11-20", "--backfill", "3"}, env());
  ASSERT_EQ(backfill.status, 0) << backfill.output;
  EXPECT_THAT(backfill.output, HasSubstr("as of 2026-11-18"));
  EXPECT_THAT(backfill.output, HasSubstr("as of 2026-11-19"));
}

TEST_F(ScoreCliTest, BadArgumentsAndScorecardsExitTwoNamingTheProblem) {
  const auto date = testing::run_cshealthd({"score", "--as-of", "2026-02-30"}, env());
  EXPECT_EQ(date.status, 2);
  EXPECT_THAT(date.output, HasSubstr("--as-of"));
  const auto unknown = testing::run_cshealthd({"score", "--company", "999"}, env());
  EXPECT_EQ(unknown.status, 1);
  EXPECT_THAT(unknown.output, HasSubstr("no company 999"));
  // A scorecard whose weights do not add up: named with file and line, by `config check` and `score`.
  const auto cards = dir_.path() / "cards";
  std::filesystem::create_directories(cards);
  std::ofstream(cards / "mine.yaml")
      << "scorecard: weighted\ncomponents:\n  - name: usage\n    kind: bands\n"
         "    weight: 90\n    metric: logins_30d\n    bands:\n      - {gte: 0, points: 100}\n";
  const auto check = testing::run_cshealthd({"config", "check"},
                                            env({"CSHEALTHD_SCORING_SCORECARDS_DIR=" + cards.string()}));
  EXPECT_EQ(check.status, 2);
  EXPECT_THAT(check.output, HasSubstr("weights sum to 90%"));
  EXPECT_THAT(check.output, HasSubstr("mine.yaml:3"));
  const auto score =
      testing::run_cshealthd({"score"}, env({"CSHEALTHD_SCORING_SCORECARDS_DIR=" + cards.string()}));
  EXPECT_EQ(score.status, 2);
}

TEST_F(ScoreCliTest, OverrideCommandSetsListsAndRevokes) {
  const std::string id = first_company();
  const auto set =
      testing::run_cshealthd({"override", "set", "--company", id, "--value", "88", "--reason",
                              "exec sponsor renewed", "--expires", "2099-01-01", "--author", "lead"},
                             env());
  EXPECT_EQ(set.status, 2);  // more than a year ahead
  EXPECT_THAT(set.output, HasSubstr("expires_on"));
  const auto ok = testing::run_cshealthd(
      {"override", "set", "--company", id, "--component", "nps", "--value", "100", "--reason",
       "survey sent to the wrong contact", "--expires", testing::utc_day(30), "--author", "lead"},
      env());
  ASSERT_EQ(ok.status, 0) << ok.output;
  const auto scored = testing::run_cshealthd({"score", "--company", id, "--explain"}, env());
  EXPECT_THAT(scored.output, HasSubstr("survey sent to the wrong contact"));
  EXPECT_THAT(scored.output, HasSubstr("[override]"));
  const auto list = testing::run_cshealthd({"override", "list", "--company", id}, env());
  EXPECT_THAT(list.output, HasSubstr("\"component\": \"nps\""));
  EXPECT_EQ(
      testing::run_cshealthd({"override", "revoke", "--company", id, "--component", "nps"}, env()).status, 0);
  EXPECT_EQ(
      testing::run_cshealthd({"override", "revoke", "--company", id, "--component", "nps"}, env()).status, 1);
}

class HealthApiTest : public ScoreCliTest {
 protected:
  void SetUp() override {
    ScoreCliTest::SetUp();
    ASSERT_EQ(testing::run_cshealthd({"score"}, env()).status, 0);
    testing::DaemonOptions o;
    o.env = env({"CSHEALTHD_ADMIN_TOKEN=admin-secret", "CSHEALTHD_HTTP_LISTEN=127.0.0.1:0",
                 "CSHEALTHD_LOG_LEVEL=info"});
    o.log_path = dir_.path() / "serve.log";
    service_ = std::make_unique<Daemon>(o);
    port_ = service_->wait_listening();
    ASSERT_NE(port_, 0) << service_->log();
  }
  http::ClientResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                            const std::string& token = "admin-secret") {
    http::ClientRequest r;
    r.method = method;
    r.url = "http://127.0.0.1:" + std::to_string(port_) + path;
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    r.body = body;
    r.timeout = 30s;
    return http::fetch(r);
  }
  std::unique_ptr<Daemon> service_;
  std::uint16_t port_ = 0;
};

TEST_F(HealthApiTest, HealthHistoryAndListsBehindTheAdminToken) {
  const std::string id = first_company();
  EXPECT_EQ(call("GET", "/v1/companies/" + id + "/health", "", "").status, 401);
  EXPECT_EQ(call("GET", "/v1/companies/" + id + "/health", "", "wrong").status, 401);
  const auto h = call("GET", "/v1/companies/" + id + "/health");
  ASSERT_EQ(h.status, 200) << h.body;
  const json r = json::parse(h.body);
  EXPECT_EQ(r["company_id"], id);
  for (const char* key :
       {"as_of", "score", "status", "coverage", "scorecard", "components", "signals", "reasons"})
    EXPECT_TRUE(r.contains(key)) << key;
  EXPECT_EQ(r["components"].size(), 5u);

  const auto missing = call("GET", "/v1/companies/123/health");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("company_not_found"));
  EXPECT_EQ(call("GET", "/v1/companies/abc/health").status, 400);
  EXPECT_EQ(call("GET", "/v1/companies/" + id + "/health/history?days=0").status, 400);
  const auto history = call("GET", "/v1/companies/" + id + "/health/history?days=7");
  ASSERT_EQ(history.status, 200);
  EXPECT_EQ(json::parse(history.body)["history"].size(), 1u);

  const auto page = call("GET", "/v1/scores?limit=10");
  ASSERT_EQ(page.status, 200);
  const json p = json::parse(page.body);
  EXPECT_EQ(p["results"].size(), 10u);
  const auto next = call("GET", "/v1/scores?limit=100&after=" + p["next_after"].get<std::string>());
  EXPECT_EQ(json::parse(next.body)["results"].size(), 20u);
  EXPECT_EQ(call("GET", "/v1/scores?status=purple").status, 400);
  const auto red = json::parse(call("GET", "/v1/scores?status=red&limit=1000").body);
  for (const auto& row : red["results"]) EXPECT_EQ(row["status"], "red");
}

TEST_F(HealthApiTest, OverridesThroughTheApiRescoreAtOnce) {
  const std::string id = first_company();
  const std::string expires = "\"expires_on\": \"" + testing::utc_day(30) + "\"";  // always ahead
  const auto bad = call("PUT", "/v1/companies/" + id + "/override", R"({"value": 90})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("reason"));
  EXPECT_EQ(call("PUT", "/v1/companies/" + id + "/override", "{not json").status, 400);
  EXPECT_EQ(call("PUT", "/v1/companies/" + id + "/override",
                 R"({"value": 90, "reason": "x", )" + expires + R"(, "colour": 1})")
                .status,
            400);
  EXPECT_EQ(
      call("PUT", "/v1/companies/123/override", R"({"value": 90, "reason": "x", )" + expires + "}").status,
      404);
  const auto typed = call("PUT", "/v1/companies/" + id + "/override",
                          R"({"component": 7, "value": 90, "reason": "x", )" + expires + "}");
  EXPECT_EQ(typed.status, 400);  // not silently a whole-score override
  EXPECT_THAT(typed.body, HasSubstr("component"));
  EXPECT_EQ(call("PUT", "/v1/companies/" + id + "/override",
                 R"({"component": "nps", "value": 90, "reason": "x", "expires_on": "2027-02-30"})")
                .status,
            400);

  const auto set =
      call("PUT", "/v1/companies/" + id + "/override",
           R"({"value": 91.5, "reason": "renewal signed early", "author": "lead", )" + expires + "}");
  ASSERT_EQ(set.status, 200) << set.body;
  const json s = json::parse(set.body);
  EXPECT_DOUBLE_EQ(s["health"]["score"].get<double>(), 91.5);
  EXPECT_EQ(s["health"]["status"], "green");
  const json now = json::parse(call("GET", "/v1/companies/" + id + "/health").body);
  EXPECT_DOUBLE_EQ(now["score"].get<double>(), 91.5);
  EXPECT_EQ(now["override"]["reason"], "renewal signed early");

  const auto del = call("DELETE", "/v1/companies/" + id + "/override");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_TRUE(json::parse(del.body)["health"]["override"].is_null());
  EXPECT_EQ(call("DELETE", "/v1/companies/" + id + "/override").status, 404);
  const auto audit = json::parse(call("GET", "/v1/companies/" + id + "/overrides").body);
  ASSERT_EQ(audit["overrides"].size(), 1u);
  EXPECT_EQ(audit["overrides"][0]["revoked"], true);
}

// The scores mean something: on a generated portal whose fate is known, customers the generator made
// churn score far below the healthy and expanding ones, and are flagged.
class CohortTest : public ScoreCliTest {
 protected:
  std::string companies() const override { return "400"; }
};

TEST_F(CohortTest, ChurningCustomersScoreLowAndHealthyOnesHigh) {
  ASSERT_EQ(testing::run_cshealthd({"score"}, env()).status, 0);
  json truth;
  std::ifstream(dir_.path() / "truth.json") >> truth;
  ASSERT_TRUE(truth.contains("companies")) << truth.dump().substr(0, 200);
  pqxx::connection c(db_.conninfo());
  pqxx::nontransaction tx(c);
  std::map<std::string, std::vector<double>> by_cohort;
  std::map<std::string, int> red_or_orange, flagged, total;
  for (const auto& r : tx.exec("SELECT company_id::text, score, status, signals::text FROM health_scores "
                               "WHERE day = (SELECT max(day) FROM health_scores)")) {
    const auto& t = truth["companies"][r[0].as<std::string>()];
    if (t.is_null()) continue;
    const std::string cohort = t["cohort"];
    by_cohort[cohort].push_back(r[1].as<double>());
    ++total[cohort];
    const std::string status = r[2].as<std::string>();
    if (status == "red" || status == "orange") ++red_or_orange[cohort];
    if (json::parse(r[3].as<std::string>()).size() > 0) ++flagged[cohort];
  }
  auto mean = [&](const std::string& cohort) {
    const auto& v = by_cohort[cohort];
    double sum = 0;
    for (const double x : v) sum += x;
    return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
  };
  ASSERT_GE(total["churning"], 10);
  ASSERT_GE(total["healthy"], 10);
  EXPECT_LT(mean("churning") + 20, mean("healthy")) << mean("churning") << " vs " << mean("healthy");
  EXPECT_LT(mean("churning") + 20, mean("expanding"));
  EXPECT_LT(mean("declining"), mean("healthy"));
  EXPECT_GE(red_or_orange["churning"] * 10,
            total["churning"] * 7);                                // at least 70 % of them flagged red/orange
  EXPECT_LE(red_or_orange["healthy"] * 10, total["healthy"] * 2);  // at most 20 % false alarms
}

}  // namespace
}  // namespace cshealthd
