// Usage pushed from outside HubSpot, end to end: `cshealthd serve` on a real PostgreSQL against the
// simulator. Pushed figures are kept (or quarantined) with each bad row answered by index, the companies
// they touched are refreshed and rescored by the scheduler with the explanation naming the source, a batch
// sent twice changes nothing, and a quarantined figure is applied once a sync brings its company.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "daemon.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

class UsagePushTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    // The scheduler on (it starts the refresh runs usage asks for), but no nightly and no periodic refresh.
    return pipeline_env(i, {"CSHEALTHD_SCHEDULE_ENABLED=true", "CSHEALTHD_SCHEDULE_CATCH_UP=false",
                            "CSHEALTHD_SCHEDULE_NIGHTLY=0 2 1 1 *", "CSHEALTHD_SCHEDULE_TICK_MS=100",
                            "CSHEALTHD_USAGE_TOKEN=usage-secret", "CSHEALTHD_USAGE_MAX_ROWS=6",
                            "CSHEALTHD_WRITEBACK_ENABLED=false"});
  }
  testing::RawResponse push(const json& body, const std::string& token = "usage-secret") {
    return testing::http_request(ports_[0], "POST", "/v1/usage", body.dump(),
                                 {"Authorization: Bearer " + token, "Content-Type: application/json"});
  }
};

TEST_F(UsagePushTest,
       PushedFiguresAreScoredWithinTheNextRefreshOnceEachAndQuarantinedUntilTheirCompanyComes) {
  start_sim({"--seed", "11", "--generate", "20"});
  start(0);
  run_and_wait(0);
  const std::string today = testing::utc_day();
  // Two companies with seats in HubSpot: one named by id, the other by its domain as a person types it.
  const auto a =
      text("SELECT id FROM companies WHERE licensed_seats > 1 AND domain IS NOT NULL ORDER BY id LIMIT 1");
  const auto b = text(
      "SELECT id FROM companies WHERE licensed_seats > 1 AND domain IS NOT NULL ORDER BY id OFFSET 1 "
      "LIMIT 1");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  const auto seats_a = scalar("SELECT licensed_seats::bigint FROM companies WHERE id = " + a);
  const auto domain_b = text("SELECT domain FROM companies WHERE id = " + b);
  const std::string pushed_at = text("SELECT now()::text");
  const json batch = {
      {"rows",
       {{{"company_id", a}, {"date", today}, {"active_users_30d", seats_a}},  // every seat active
        {{"domain", "https://WWW." + domain_b + "./app"}, {"date", today}, {"logins_30d", 321}},
        {{"domain", "newco.example"}, {"date", today}, {"active_users_30d", 4}, {"licensed_seats", 8}},
        {{"company_id", a}, {"date", testing::utc_day(1)}, {"logins_30d", 1}},                 // the future
        {{"company_id", a}, {"date", today}, {"active_users_30d", 9}, {"licensed_seats", 8}},  // users >
                                                                                               // seats
        {{"company_id", a}, {"date", today}, {"logins_30d", "many"}}}}};                       // not a number
  const auto r = push(batch);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto answer = json::parse(r.body);
  EXPECT_EQ(answer["accepted"], 3);
  EXPECT_EQ(answer["figures"], 2);
  EXPECT_EQ(answer["quarantined"], 2);
  ASSERT_EQ(answer["rejected"].size(), 3u);
  EXPECT_EQ(answer["rejected"][0]["index"], 3);
  EXPECT_THAT(answer["rejected"][0]["error"].get<std::string>(), HasSubstr("in the future"));
  EXPECT_EQ(answer["rejected"][1]["index"], 4);
  EXPECT_THAT(answer["rejected"][1]["error"].get<std::string>(), HasSubstr("above licensed_seats"));
  EXPECT_EQ(answer["rejected"][2]["index"], 5);
  EXPECT_THAT(answer["rejected"][2]["error"].get<std::string>(), HasSubstr("logins_30d: expected a number"));

  // The scheduler refreshes the two companies; a's usage is now 100 %, from the pushed figure.
  ASSERT_TRUE(wait_for(
      [&] {
        const auto c = usage_component(a);
        return !c.is_null() && c.contains("sources") &&
               std::find(c["sources"].begin(), c["sources"].end(), "push") != c["sources"].end();
      },
      120s))
      << usage_component(a).dump() << replicas_[0]->log();
  EXPECT_DOUBLE_EQ(usage_component(a)["raw"].get<double>(), 100);
  EXPECT_GE(scalar("SELECT count(*) FROM runs WHERE kind = 'refresh' AND state = 'succeeded'"), 1);
  EXPECT_GT(scalar("SELECT count(*) FROM health_scores WHERE company_id = " + a + " AND computed_at > '" +
                   pushed_at + "'"),
            0);
  // The API's explanation names the source too.
  const auto health = json::parse(api(0, "GET", "/v1/companies/" + a + "/health").body);
  bool named = false;
  for (const auto& c : health["components"])
    if (c["name"] == "usage")
      named = c.value("sources", json::array()).dump().find("push") != std::string::npos;
  EXPECT_TRUE(named) << health.dump();

  // The same batch again: the same figures, nothing added.
  const auto before = usage_figures();
  ASSERT_EQ(push(batch).status, 200);
  EXPECT_EQ(usage_figures(), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM usage_daily"), 2);

  // The quarantine, and its company arriving with a later sync.
  const auto q = json::parse(api(0, "GET", "/v1/usage/quarantine").body);
  EXPECT_EQ(q["size"], 2);
  EXPECT_EQ(q["items"][0]["key"], "newco.example");
  EXPECT_EQ(q["items"][0]["reason"], "no synced company has this domain");
  const std::string newco = sim("POST", "/crm/v3/objects/companies",
                                {{"properties", {{"name", "NewCo"}, {"domain", "www.NewCo.example"}}}})["id"];
  run_and_wait(0);
  EXPECT_TRUE(wait_for([&] { return scalar("SELECT count(*) FROM usage_quarantine") == 0; }, 60s));
  EXPECT_EQ(text("SELECT string_agg(metric || '=' || value, ',' ORDER BY metric) FROM usage_daily WHERE "
                 "company_id = " +
                 newco),
            "active_users_30d=4,licensed_seats=8");
}

TEST_F(UsagePushTest, TheUsageTokenWritesUsageOnlyAndBadRequestsAreClearErrors) {
  start_sim({"--seed", "11", "--generate", "3"});
  start(0);
  const json one = {{"rows", {{{"company_id", "1"}, {"date", testing::utc_day()}, {"logins_30d", 1}}}}};
  EXPECT_EQ(push(one, "wrong").status, 401);
  EXPECT_EQ(
      testing::http_request(ports_[0], "POST", "/v1/usage", one.dump(), {"Content-Type: application/json"})
          .status,
      401);
  // The usage token reads nothing and changes nothing else.
  EXPECT_EQ(testing::http_request(ports_[0], "GET", "/v1/scores", "", {"Authorization: Bearer usage-secret"})
                .status,
            401);
  EXPECT_EQ(testing::http_request(ports_[0], "GET", "/v1/usage/quarantine", "",
                                  {"Authorization: Bearer usage-secret"})
                .status,
            401);
  EXPECT_EQ(push(json::parse(R"({"rows": "x"})")).status, 400);
  EXPECT_EQ(push(json::parse(R"({"rows": [], "extra": 1})")).status, 400);
  const auto broken = testing::http_request(ports_[0], "POST", "/v1/usage", "{\"rows\": [",
                                            {"Authorization: Bearer usage-secret"});
  EXPECT_EQ(broken.status, 400) << broken.body;
  json many = {{"rows", json::array()}};
  for (int i = 0; i < 7; ++i) many["rows"].push_back(one["rows"][0]);
  const auto big = push(many);
  EXPECT_EQ(big.status, 413);
  EXPECT_THAT(big.body, HasSubstr("usage.max_rows"));
  // Every row wrong: 422 and nothing kept.
  const auto none =
      push({{"rows", {{{"date", testing::utc_day()}, {"logins_30d", 1}}, {{"company_id", "1"}}}}});
  EXPECT_EQ(none.status, 422) << none.body;
  EXPECT_THAT(none.body, HasSubstr("exactly one of company_id, domain, external_id"));
  EXPECT_THAT(none.body, HasSubstr("date: required"));
  EXPECT_EQ(scalar("SELECT count(*) FROM usage_daily") + scalar("SELECT count(*) FROM usage_quarantine"), 0);
  // The same rows as a CSV: a dry run keeps nothing, then the file is kept, its bad row named by line.
  const std::string csv =
      "company_id,date,logins_30d\n1," + testing::utc_day() + ",5\n2," + testing::utc_day() + ",lots\n";
  const auto csv_post = [&](const std::string& query) {
    return testing::http_request(ports_[0], "POST", "/v1/usage.csv" + query, csv,
                                 {"Authorization: Bearer usage-secret", "Content-Type: text/csv"});
  };
  const auto dry = csv_post("?dry_run=true");
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(json::parse(dry.body)["accepted"], 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM usage_daily") + scalar("SELECT count(*) FROM usage_quarantine"), 0);
  EXPECT_EQ(csv_post("?dry_run=maybe").status, 400);
  const auto kept = csv_post("");
  ASSERT_EQ(kept.status, 200) << kept.body;
  const auto k = json::parse(kept.body);
  EXPECT_EQ(k["error_count"], 1);
  EXPECT_EQ(k["errors"][0]["line"], 3);
  EXPECT_THAT(k["errors"][0]["error"].get<std::string>(), HasSubstr("logins_30d: expected a number"));
  EXPECT_EQ(scalar("SELECT count(*) FROM usage_daily WHERE source = 'csv'") +
                scalar("SELECT count(*) FROM usage_quarantine WHERE source = 'csv'"),
            1);
  const auto unreadable = testing::http_request(ports_[0], "POST", "/v1/usage.csv", "when,what\n1,2\n",
                                                {"Authorization: Bearer usage-secret"});
  EXPECT_EQ(unreadable.status, 400) << unreadable.body;
  EXPECT_EQ(replicas_[0]->log().find("usage-secret"), std::string::npos);  // the token is never logged
}

}  // namespace
}  // namespace cshealthd

namespace cshealthd {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

// `cshealthd usage import` and `usage template` against a real PostgreSQL, no HubSpot needed.
// A steady stream of changes is rescored in rounds (schedule.requested_refresh_interval_ms), not with a
// refresh run started back to back for each: the first after a quiet spell at once, the next only once the
// interval has passed, and then for everything asked meanwhile.
class UsageRoundsTest : public UsagePushTest {
 protected:
  std::vector<std::string> env(int i) const override {
    auto e = UsagePushTest::env(i);
    e.push_back("CSHEALTHD_SCHEDULE_REQUESTED_REFRESH_INTERVAL_MS=6000");
    return e;
  }
};

TEST_F(UsageRoundsTest, ChangesArrivingTogetherAreRescoredInRounds) {
  start_sim({"--seed", "11", "--generate", "6"});
  start(0);
  run_and_wait(0);
  const auto ids = text("SELECT string_agg(id::text, ',' ORDER BY id) FROM companies");
  const auto a = ids.substr(0, ids.find(',')), b = ids.substr(ids.rfind(',') + 1);
  const auto refreshes = [&] { return scalar("SELECT count(*) FROM runs WHERE kind = 'refresh'"); };
  const auto push_one = [&](const std::string& id, int users) {
    const json body = {
        {"rows", {{{"company_id", id}, {"date", testing::utc_day()}, {"active_users_30d", users}}}}};
    ASSERT_EQ(push(body).status, 200);
  };
  push_one(a, 1);
  ASSERT_TRUE(wait_for([&] { return refreshes() == 1; }, 30s));  // at once
  push_one(b, 2);
  push_one(a, 3);
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(refreshes(), 1);  // within the interval: waiting
  EXPECT_EQ(scalar("SELECT count(*) FROM refresh_requests WHERE run_id IS NULL"), 2);
  ASSERT_TRUE(wait_for(
      [&] { return scalar("SELECT count(*) FROM refresh_requests WHERE run_id IS NULL") == 0; }, 60s));
  EXPECT_EQ(refreshes(), 2);  // one round for both
  EXPECT_EQ(scalar("SELECT count(DISTINCT run_id) FROM refresh_requests WHERE company_id IN (" + a + ", " +
                   b + ") AND id > (SELECT min(id) FROM refresh_requests)"),
            1);
}

class UsageCsvImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pqxx::connection c(db_.conninfo());
    pqxx::work tx(c);
    // 300 companies, as the sync stores them.
    tx.exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) SELECT "
        "'companies', 1000 + g, '{}', jsonb_build_object('name', 'Company ' || g, 'domain', 'c' || g || "
        "'.example'), now(), now() FROM generate_series(1, 300) g");
    tx.commit();
  }
  std::vector<std::string> env() const {
    return {"CSHEALTHD_DATABASE_URL=" + db_.conninfo(), "CSHEALTHD_LOG_FORMAT=text",
            "CSHEALTHD_LOG_LEVEL=warn", "CSHEALTHD_SCHEDULE_TIME_ZONE=UTC"};
  }
  testing::RunResult usage(std::vector<std::string> args) const {
    args.insert(args.begin(), "usage");
    return testing::run_cshealthd(args, env());
  }
  std::string text(const std::string& sql) const {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    const auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }
  // A year of daily figures for every company, by domain (as a sheet would carry them): 2 figures a row.
  std::string year_file(int days) const {
    std::string csv = "domain,date,logins_30d,active_users_30d\n";
    for (int company = 1; company <= 300; ++company)
      for (int d = 0; d < days; ++d)
        csv += "WWW.C" + std::to_string(company) + ".example," + testing::utc_day(-d - 1) + "," +
               std::to_string(company + d) + "," + std::to_string(d % 7) + "\n";
    return csv;
  }
  std::filesystem::path write(const std::string& name, const std::string& body) const {
    const auto p = dir_.path() / name;
    std::ofstream(p) << body;
    return p;
  }

  testing::TempDir dir_{"usage-csv"};
  testing::TestDatabase db_;
};

TEST_F(UsageCsvImportTest, AFileIsImportedOnceADryRunKeepsNothingAndBadRowsAreNamedByLine) {
  const std::string today = testing::utc_day();
  const auto file = write("usage.csv",
                          "\xEF\xBB\xBF"
                          "company_id,date,active_users_30d,licensed_seats\r\n"
                          "1001," +
                              today +
                              ",40,50\r\n"
                              "1002," +
                              testing::utc_day(1) +
                              ",1,2\r\n"  // line 3: the future
                              "9999," +
                              today +
                              ",1,2\r\n"  // line 4: no such company
                              "1003," +
                              today + ",\"4\"0,50\r\n");  // line 5: a broken quote
  const auto dry = usage({"import", file.string(), "--dry-run"});
  EXPECT_EQ(dry.status, 1) << dry.output;
  EXPECT_THAT(dry.output,
              HasSubstr("dry run (nothing kept): 2 of 4 rows would be kept: 2 figures, 2 quarantined"));
  EXPECT_EQ(text("SELECT count(*) FROM usage_daily"), "0");
  EXPECT_EQ(text("SELECT count(*) FROM usage_quarantine"), "0");
  const auto first = usage({"import", file.string()});
  EXPECT_EQ(first.status, 1) << first.output;
  EXPECT_THAT(first.output,
              HasSubstr(file.string() + ":3: date " + testing::utc_day(1) + " is in the future"));
  EXPECT_THAT(first.output, HasSubstr(file.string() + ":5: text after a closing quote"));
  EXPECT_THAT(first.output, HasSubstr("2 of 4 rows kept: 2 figures, 2 quarantined"));
  const auto kept = text(
      "SELECT string_agg(company_id || ' ' || metric || ' ' || value || ' ' || source, ', ' ORDER "
      "BY metric) FROM usage_daily");
  EXPECT_EQ(kept, "1001 active_users_30d 40 csv, 1001 licensed_seats 50 csv");
  ASSERT_EQ(usage({"import", file.string()}).status, 1);  // again: the same
  EXPECT_EQ(
      text("SELECT string_agg(company_id || ' ' || metric || ' ' || value || ' ' || source, ', ' ORDER BY "
           "metric) FROM usage_daily"),
      kept);
  EXPECT_EQ(text("SELECT count(*) FROM usage_quarantine"), "2");
  // A file without the columns it needs is unreadable: exit 2 and the columns named.
  const auto bad = usage({"import", write("bad.csv", "when,logins\n2026-01-01,3\n").string()});
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr(":1: header: needs a date column"));
}

TEST_F(UsageCsvImportTest, AYearKilledMidImportAndRunAgainEndsAsOneCleanLoad) {
  const auto file = write("year.csv", year_file(200));  // 60,000 rows, three batches
  testing::DaemonOptions o;
  o.args = {"usage", "import", file.string()};
  o.env = env();
  o.log_path = dir_.path() / "import.log";
  long long seen = 0;
  {
    testing::Daemon importer(o);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      seen = std::stoll(text("SELECT count(*) FROM usage_daily"));
      if (seen > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    importer.signal(SIGKILL);
    importer.wait_exit(std::chrono::seconds(10));
  }
  EXPECT_GT(seen, 0);
  EXPECT_LT(seen, 120'000) << "the import ended before the kill: nothing was interrupted";
  const auto again = usage({"import", file.string()});
  ASSERT_EQ(again.status, 0) << again.output;
  // Every figure once, with its value: 300 companies x 200 days x 2 metrics.
  EXPECT_EQ(text("SELECT count(*) FROM usage_daily"), "120000");
  long long logins = 0, users = 0;
  for (int company = 1; company <= 300; ++company)
    for (int d = 0; d < 200; ++d) {
      logins += company + d;
      users += d % 7;
    }
  EXPECT_EQ(text("SELECT sum(value)::bigint FROM usage_daily WHERE metric = 'logins_30d'"),
            std::to_string(logins));
  EXPECT_EQ(text("SELECT sum(value)::bigint FROM usage_daily WHERE metric = 'active_users_30d'"),
            std::to_string(users));
  EXPECT_EQ(text("SELECT count(*) FROM usage_quarantine"), "0");
}

TEST_F(UsageCsvImportTest, TheTemplateListsEveryCompanyToFillInAndReadsBackAsItIs) {
  const auto t = usage({"template"});
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_THAT(
      t.output,
      HasSubstr("company_id,name,domain,date,licensed_seats,active_users_30d,logins_30d,features_used\n"));
  EXPECT_THAT(t.output, HasSubstr("1001,Company 1,c1.example," + testing::utc_day() + ",,,,\n"));
  EXPECT_EQ(std::count(t.output.begin(), t.output.end(), '\n'), 301);
  // Filled in with one figure, it imports (the id wins over the domain in the same row; the rows left
  // empty are skipped).
  std::string filled = t.output;
  const std::string row = "1001,Company 1,c1.example," + testing::utc_day() + ",,,,";
  filled.replace(filled.find(row), row.size(), row + "3");  // features_used, the last column
  const auto imported = usage({"import", write("filled.csv", filled).string()});
  EXPECT_EQ(imported.status, 0) << imported.output;
  EXPECT_EQ(text("SELECT company_id || ' ' || metric || ' ' || value FROM usage_daily"),
            "1001 features_used 3");
}

}  // namespace
}  // namespace cshealthd
