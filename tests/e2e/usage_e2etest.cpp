// Usage pushed from outside HubSpot, end to end: `cshealthd serve` on a real PostgreSQL against the
// simulator. Pushed figures are kept (or quarantined) with each bad row answered by index, the companies
// they touched are refreshed and rescored by the scheduler with the explanation naming the source, a batch
// sent twice changes nothing, and a quarantined figure is applied once a sync brings its company.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"

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
  // The usage component of the company's latest stored score.
  json usage_component(const std::string& id) const {
    const auto t = text("SELECT components::text FROM health_scores WHERE company_id = " + id +
                        " ORDER BY day DESC, computed_at DESC LIMIT 1");
    if (t.empty()) return json();
    for (const auto& c : json::parse(t))
      if (c["name"] == "usage") return c;
    return json();
  }
  std::string figures() const {
    return text(
        "SELECT string_agg(company_id || ' ' || metric || ' ' || day || ' ' || value || ' ' || source, '; ' "
        "ORDER BY company_id, metric, day) FROM usage_daily");
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
  const auto before = figures();
  ASSERT_EQ(push(batch).status, 200);
  EXPECT_EQ(figures(), before);
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
  EXPECT_EQ(replicas_[0]->log().find("usage-secret"), std::string::npos);  // the token is never logged
}

}  // namespace
}  // namespace cshealthd
