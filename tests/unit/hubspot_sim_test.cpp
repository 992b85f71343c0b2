// The HubSpot simulator over real loopback HTTP (port 0): the behaviour the service will rely on.
#include <atomic>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api.hpp"
#include "cshealthd/http/client.hpp"
#include "cshealthd/http/server.hpp"
#include "cshealthd/hubspot/signature.hpp"
#include "generator.hpp"
#include "in_process.hpp"
#include "raw_http.hpp"
#include "webhooks.hpp"

namespace cshealthd::sim {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class SimTest : public ::testing::Test {
 protected:
  void start(SimOptions o = unlimited("T"), int companies = 0, std::uint64_t seed = 1) {
    sim_.reset();
    sim_ = std::make_unique<InProcessSimulator>(o, companies, seed);
  }
  void TearDown() override { sim_.reset(); }
  std::string url(const std::string& path) { return sim_->base_url() + path; }
  http::ClientResponse call(const std::string& method, const std::string& path, const json& body = nullptr,
                            const std::string& token = "T") {
    http::ClientRequest r;
    r.method = method;
    r.url = url(path);
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.is_null()) {
      r.body = body.dump();
      r.headers.emplace_back("Content-Type", "application/json");
    }
    return http::fetch(r);
  }
  static json body(const http::ClientResponse& r) { return json::parse(r.body); }
  // Creates n companies through batch/create, 100 at a time.
  void create_companies(int n, const std::string& prefix = "c") {
    for (int done = 0; done < n;) {
      json inputs = json::array();
      for (int i = 0; i < 100 && done < n; ++i, ++done) {
        inputs.push_back(
            {{"properties", {{"name", prefix + std::to_string(done)}, {"cs_mrr", std::to_string(done)}}},
             {"associations", json::array()}});
      }
      ASSERT_EQ(call("POST", "/crm/v3/objects/companies/batch/create", {{"inputs", inputs}}).status, 201);
    }
  }

  std::unique_ptr<InProcessSimulator> sim_;
};

TEST_F(SimTest, AuthRequiresTheBearerToken) {
  start();
  for (const std::string token : {"", "wrong"}) {
    const auto r = call("GET", "/crm/v3/objects/companies", nullptr, token);
    EXPECT_EQ(r.status, 401) << token;
    EXPECT_EQ(body(r)["category"], "INVALID_AUTHENTICATION");
    EXPECT_EQ(body(r)["status"], "error");
    EXPECT_TRUE(body(r).contains("correlationId"));
  }
  EXPECT_EQ(call("GET", "/crm/v3/objects/companies").status, 200);
}

TEST_F(SimTest, ListPagesEndExactlyAtPageBoundaries) {
  start();
  create_companies(200);
  auto p1 = body(call("GET", "/crm/v3/objects/companies?limit=100"));
  ASSERT_EQ(p1["results"].size(), 100u);
  ASSERT_TRUE(p1.contains("paging"));
  const std::string after = p1["paging"]["next"]["after"];
  auto p2 = body(call("GET", "/crm/v3/objects/companies?limit=100&after=" + after));
  EXPECT_EQ(p2["results"].size(), 100u);
  EXPECT_FALSE(p2.contains("paging"));  // exactly 200: no empty third page
  std::set<std::string> ids;
  for (const auto& page : {p1, p2}) {
    for (const auto& r : page["results"]) ids.insert(r["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 200u);
  create_companies(1, "extra");
  auto p3 = body(
      call("GET", "/crm/v3/objects/companies?limit=100&after=" + p2["results"][99]["id"].get<std::string>()));
  EXPECT_EQ(p3["results"].size(), 2u);  // `after` is inclusive of the cursor id, as HubSpot's next cursor
  EXPECT_EQ(call("GET", "/crm/v3/objects/companies?limit=101").status, 400);
}

TEST_F(SimTest, RecordsHaveStringValuesAndRequestedProperties) {
  start();
  create_companies(1);
  const auto r = body(call("GET", "/crm/v3/objects/companies?properties=cs_mrr,cs_plan"))["results"][0];
  EXPECT_EQ(r["properties"]["cs_mrr"], "0");  // a string, like every HubSpot value
  EXPECT_TRUE(r["properties"]["cs_plan"].is_null());
  EXPECT_TRUE(r["properties"].contains("hs_lastmodifieddate"));
  EXPECT_TRUE(r.contains("createdAt"));
  EXPECT_EQ(r["archived"], false);
}

TEST_F(SimTest, AwkwardValuesSurviveListSearchAndHistory) {
  start();
  const std::string awkward = "Q\"uote \\ back\nline\ttab \x01 caf\xc3\xa9 \xe2\x82\xac";
  ASSERT_EQ(call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", awkward}}}}).status, 201);
  const auto listed =
      body(call("GET", "/crm/v3/objects/companies?properties=name,name&propertiesWithHistory=name"));
  const auto& r = listed["results"][0];
  EXPECT_EQ(r["properties"]["name"], awkward);
  EXPECT_EQ(r["properties"].size(), 4u);  // name once, plus the id, created and modified dates
  EXPECT_EQ(r["propertiesWithHistory"]["name"][0]["value"], awkward);
  const auto found = body(call("POST", "/crm/v3/objects/companies/search",
                               {{"properties", {"name"}}, {"filterGroups", json::array()}, {"limit", 10}}));
  EXPECT_EQ(found["total"], 1);
  EXPECT_EQ(found["results"][0]["properties"]["name"], awkward);
  EXPECT_FALSE(found.contains("paging"));
}

TEST_F(SimTest, BatchLimitIsOneHundred) {
  start();
  json inputs = json::array();
  for (int i = 0; i < 101; ++i)
    inputs.push_back({{"properties", {{"name", "x"}}}, {"associations", json::array()}});
  const auto over = call("POST", "/crm/v3/objects/companies/batch/create", {{"inputs", inputs}});
  EXPECT_EQ(over.status, 400);
  EXPECT_THAT(body(over)["message"].get<std::string>(), HasSubstr("100"));
  inputs.erase(inputs.begin());
  EXPECT_EQ(call("POST", "/crm/v3/objects/companies/batch/create", {{"inputs", inputs}}).status, 201);
}

TEST_F(SimTest, PartialBatchReadIs207) {
  start();
  create_companies(2);
  const auto all = body(call("GET", "/crm/v3/objects/companies"))["results"];
  const auto r = call("POST", "/crm/v3/objects/companies/batch/read",
                      {{"inputs", {{{"id", all[0]["id"]}}, {{"id", "999"}}, {{"id", all[1]["id"]}}}}});
  EXPECT_EQ(r.status, 207);
  const auto b = body(r);
  EXPECT_EQ(b["results"].size(), 2u);
  EXPECT_EQ(b["numErrors"], 1);
  EXPECT_EQ(b["errors"][0]["context"]["ids"][0], "999");
}

TEST_F(SimTest, UnknownPropertyFailsTheWholeWrite) {
  start();
  const auto r =
      call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", "a"}, {"no_such_prop", "x"}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("PROPERTY_DOESNT_EXIST"));
  EXPECT_EQ(body(call("GET", "/crm/v3/objects/companies"))["results"].size(), 0u);
  EXPECT_EQ(call("POST", "/crm/v3/objects/companies", {{"properties", {{"cs_mrr", "lots"}}}}).status, 400);
  EXPECT_EQ(call("POST", "/crm/v3/objects/companies", {{"properties", {{"cs_plan", "platinum"}}}}).status,
            400);
}

TEST_F(SimTest, WritesKeepHistoryAndModifiedDate) {
  start();
  const auto created =
      body(call("POST", "/crm/v3/objects/companies", {{"properties", {{"cs_active_users_30d", "10"}}}}));
  const std::string id = created["id"];
  sim_->simulator().advance_clock(60'000);
  ASSERT_EQ(
      call("PATCH", "/crm/v3/objects/companies/" + id, {{"properties", {{"cs_active_users_30d", "12"}}}})
          .status,
      200);
  sim_->simulator().advance_clock(60'000);
  ASSERT_EQ(call("PATCH", "/crm/v3/objects/companies/" + id, {{"properties", {{"cs_active_users_30d", "7"}}}})
                .status,
            200);
  const auto r =
      body(call("GET", "/crm/v3/objects/companies/" + id + "?propertiesWithHistory=cs_active_users_30d"));
  const auto h = r["propertiesWithHistory"]["cs_active_users_30d"];
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0]["value"], "7");  // newest first
  EXPECT_EQ(h[2]["value"], "10");
  EXPECT_GT(r["updatedAt"].get<std::string>(), created["updatedAt"].get<std::string>());
  EXPECT_EQ(r["properties"]["hs_lastmodifieddate"], r["updatedAt"]);
}

TEST_F(SimTest, ListWithHistoryIsCappedAtFifty) {
  start();
  create_companies(60);
  const auto r = body(call("GET", "/crm/v3/objects/companies?limit=100&propertiesWithHistory=cs_mrr"));
  EXPECT_EQ(r["results"].size(), 50u);
  EXPECT_TRUE(r.contains("paging"));
}

TEST_F(SimTest, GeneratedUsageHistorySpansTwelveMonths) {
  start(unlimited("T"), 30, 5);
  const auto page =
      body(call("GET", "/crm/v3/objects/companies?limit=30&propertiesWithHistory=cs_active_users_30d"));
  std::size_t longest = 0;
  for (const auto& c : page["results"])
    longest = std::max(longest, c["propertiesWithHistory"]["cs_active_users_30d"].size());
  EXPECT_EQ(longest, 12u);
}

TEST_F(SimTest, SearchOperatorsGroupsAndSort) {
  start();
  create_companies(20);  // cs_mrr = 0..19
  auto search = [&](const json& filters_or_groups, const json& extra = json::object()) {
    json b = extra;
    b["filterGroups"] = filters_or_groups;
    b["limit"] = 200;
    return body(call("POST", "/crm/v3/objects/companies/search", b));
  };
  auto f = [](const std::string& op, const json& v = nullptr) {
    json x = {{"propertyName", "cs_mrr"}, {"operator", op}};
    if (!v.is_null()) x["value"] = v;
    return x;
  };
  EXPECT_EQ(search({{{"filters", {f("EQ", "5")}}}})["total"], 1);
  EXPECT_EQ(search({{{"filters", {f("NEQ", "5")}}}})["total"], 19);
  EXPECT_EQ(search({{{"filters", {f("LT", 5)}}}})["total"], 5);  // numbers compare as numbers, not text
  EXPECT_EQ(search({{{"filters", {f("LTE", "5")}}}})["total"], 6);
  EXPECT_EQ(search({{{"filters", {f("GT", "15")}}}})["total"], 4);
  EXPECT_EQ(search({{{"filters", {f("GTE", "15")}}}})["total"], 5);
  json between = f("BETWEEN", "3");
  between["highValue"] = "6";
  EXPECT_EQ(search({{{"filters", {between}}}})["total"], 4);
  json in = {{"propertyName", "cs_mrr"}, {"operator", "IN"}, {"values", {"1", "2", "99"}}};
  EXPECT_EQ(search({{{"filters", {in}}}})["total"], 2);
  in["operator"] = "NOT_IN";
  EXPECT_EQ(search({{{"filters", {in}}}})["total"], 18);
  EXPECT_EQ(search({{{"filters", {{{"propertyName", "cs_plan"}, {"operator", "HAS_PROPERTY"}}}}}})["total"],
            0);
  EXPECT_EQ(
      search({{{"filters", {{{"propertyName", "cs_plan"}, {"operator", "NOT_HAS_PROPERTY"}}}}}})["total"],
      20);
  EXPECT_EQ(
      search({{{"filters",
                {{{"propertyName", "name"}, {"operator", "CONTAINS_TOKEN"}, {"value", "c1*"}}}}}})["total"],
      11);
  // AND within a group, OR across groups.
  EXPECT_EQ(search({{{"filters", {f("GTE", "10"), f("LT", "12")}}}})["total"], 2);
  EXPECT_EQ(search({{{"filters", {f("EQ", "1")}}}, {{"filters", {f("EQ", "2")}}}})["total"], 2);
  const auto sorted = search(
      {{{"filters", {f("GTE", "0")}}}},
      {{"sorts", {{{"propertyName", "cs_mrr"}, {"direction", "DESCENDING"}}}}, {"properties", {"cs_mrr"}}});
  EXPECT_EQ(sorted["results"][0]["properties"]["cs_mrr"], "19");
  const auto plain =
      search({{{"filters", {f("GTE", "0")}}}}, {{"sorts", {"-cs_mrr"}}, {"properties", {"cs_mrr"}}});
  EXPECT_EQ(plain["results"][0]["properties"]["cs_mrr"], "19");  // the string form of a sort
}

TEST_F(SimTest, SearchLimitsAreEnforced) {
  start();
  const json f = {{"propertyName", "name"}, {"operator", "HAS_PROPERTY"}};
  auto status = [&](const json& b) { return call("POST", "/crm/v3/objects/companies/search", b).status; };
  json groups = json::array();
  for (int i = 0; i < 5; ++i) groups.push_back({{"filters", {f}}});
  EXPECT_EQ(status({{"filterGroups", groups}}), 200);
  groups.push_back({{"filters", {f}}});
  EXPECT_EQ(status({{"filterGroups", groups}}), 400);  // 6 groups
  EXPECT_EQ(status({{"filterGroups", {{{"filters", json::array({f, f, f, f, f, f, f})}}}}}),
            400);  // 7 in a group
  json many = json::array();
  for (int i = 0; i < 4; ++i) many.push_back({{"filters", json::array({f, f, f, f, f})}});
  EXPECT_EQ(status({{"filterGroups", many}}), 400);  // 20 in all
  EXPECT_EQ(status({{"limit", 201}}), 400);
  EXPECT_EQ(status({{"limit", 200}, {"after", "9800"}}), 200);
  EXPECT_EQ(status({{"limit", 100}, {"after", "9900"}}), 200);
  EXPECT_EQ(status({{"limit", 100}, {"after", "9901"}}), 400);  // past 10,000 results
}

TEST_F(SimTest, SearchTotalsBeyondTheCapAndIndexLag) {
  SimOptions o = unlimited("T");
  o.search_lag_ms = 3'600'000;  // an hour of simulated time: how long the writes take cannot matter
  start(o);
  create_companies(10'050);
  const json q = {
      {"filterGroups", {{{"filters", {{{"propertyName", "name"}, {"operator", "HAS_PROPERTY"}}}}}}}};
  EXPECT_EQ(body(call("POST", "/crm/v3/objects/companies/search", q))["total"], 0);  // not indexed yet
  sim_->simulator().advance_clock(3'600'001);
  EXPECT_EQ(body(call("POST", "/crm/v3/objects/companies/search", q))["total"], 10'050);
}

TEST_F(SimTest, BurstLimitHeadersAndBody) {
  SimOptions o = unlimited("T");
  o.limits.burst = 5;
  start(o);
  for (int i = 0; i < 5; ++i) {
    const auto r = call("GET", "/crm/v3/objects/companies");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("X-HubSpot-RateLimit-Max"), "5");
    EXPECT_EQ(r.header("X-HubSpot-RateLimit-Remaining"), std::to_string(4 - i));
    EXPECT_EQ(r.header("X-HubSpot-RateLimit-Interval-Milliseconds"), "10000");
  }
  const auto limited = call("GET", "/crm/v3/objects/companies");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(body(limited)["policyName"], "TEN_SECONDLY_ROLLING");
  EXPECT_EQ(body(limited)["errorType"], "RATE_LIMIT");
  EXPECT_EQ(body(limited)["message"], "You have reached your ten_secondly_rolling limit.");
  EXPECT_EQ(limited.header("Retry-After"), "");  // not sent unless configured
}

TEST_F(SimTest, RetryAfterOnlyWhenConfigured) {
  SimOptions o = unlimited("T");
  o.limits.burst = 1;
  o.limits.retry_after_s = 2;
  start(o);
  call("GET", "/crm/v3/objects/companies");
  EXPECT_EQ(call("GET", "/crm/v3/objects/companies").header("Retry-After"), "2");
}

TEST_F(SimTest, SearchHasItsOwnPerSecondLimitWithoutHeaders) {
  SimOptions o = unlimited("T");
  o.limits.search_per_second = 2;
  o.limits.burst = 100;
  start(o);
  for (int i = 0; i < 2; ++i) {
    const auto r = call("POST", "/crm/v3/objects/companies/search", json::object());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("X-HubSpot-RateLimit-Remaining"), "");
  }
  const auto limited = call("POST", "/crm/v3/objects/companies/search", json::object());
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(body(limited)["message"], "You have reached your secondly limit.");
  EXPECT_EQ(call("GET", "/crm/v3/objects/companies").status, 200);  // the burst budget is separate
}

TEST_F(SimTest, DailyLimit) {
  SimOptions o = unlimited("T");
  o.limits.daily = 3;
  start(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call("GET", "/crm/v3/objects/companies").status, 200);
  const auto r = call("GET", "/crm/v3/objects/companies");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(body(r)["policyName"], "DAILY");
}

TEST(FaultsTest, SameSeedSameFaultsDifferentSeedDifferent) {
  const std::string spec =
      "seed=42;5xx=0.1,429=0.05,storm=0.01x5,drop_before=0.02,drop_after=0.02,truncate=0.02";
  auto sequence = [](const std::string& s) {
    Faults f(s);
    std::string out;
    for (int i = 0; i < 2000; ++i) {
      const auto d = f.decide("/crm/v3/objects/companies");
      out += std::to_string(d.status) + (d.drop_before ? "b" : "") + (d.drop_after ? "a" : "") +
             (d.truncate ? "t" : "") + ",";
    }
    return out;
  };
  const auto a = sequence(spec);
  EXPECT_EQ(a, sequence(spec));
  EXPECT_NE(a,
            sequence("seed=43;5xx=0.1,429=0.05,storm=0.01x5,drop_before=0.02,drop_after=0.02,truncate=0.02"));
  EXPECT_NE(a.find("500"), std::string::npos);
  EXPECT_NE(a.find("429"), std::string::npos);
  EXPECT_NE(a.find("b,"), std::string::npos);
  EXPECT_THROW(Faults("5xx=2"), std::invalid_argument);
  EXPECT_THROW(Faults("bogus=1"), std::invalid_argument);
}

TEST(FaultsTest, SkipAndCountPickExactlyTheNthCall) {
  Faults f("route=/crm,skip=2,count=1,5xx=1");
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) statuses.push_back(f.decide("/crm/v3/objects/deals").status);
  EXPECT_EQ(statuses[0], 0);
  EXPECT_EQ(statuses[1], 0);
  EXPECT_NE(statuses[2], 0);  // the third, and only the third
  EXPECT_EQ(statuses[3], 0);
  EXPECT_EQ(statuses[4], 0);
}

TEST(FaultsTest, KeyOrderWithinARuleDoesNotMatter) {
  Faults a("5xx=1,skip=1,route=/crm");
  Faults b("route=/crm,skip=1,5xx=1");
  for (Faults* f : {&a, &b}) {
    EXPECT_EQ(f->decide("/crm/v3/objects/deals").status, 0);
    EXPECT_NE(f->decide("/crm/v3/objects/deals").status, 0);
  }
  EXPECT_TRUE(Faults("seed=4").empty());
}

TEST(FaultsTest, RouteRulesApplyOnlyToTheirRoutes) {
  Faults f("route=/crm/v3/objects/tickets,5xx=1");
  EXPECT_EQ(f.decide("/crm/v3/objects/companies").status, 0);
  EXPECT_NE(f.decide("/crm/v3/objects/tickets").status, 0);
}

TEST_F(SimTest, DroppedConnectionsBeforeAndAfterTheWrite) {
  SimOptions o = unlimited("T");
  o.faults = "route=/crm/v3/objects/companies,drop_before=1";
  start(o);
  const auto before = call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", "a"}}}});
  EXPECT_EQ(before.status, 0);                                                     // no answer at all
  EXPECT_EQ(body(call("GET", "/__sim/objects/companies"))["results"].size(), 0u);  // and nothing written

  o.faults = "route=/crm/v3/objects/companies,drop_after=1";
  start(o);
  const auto after = call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", "a"}}}});
  EXPECT_EQ(after.status, 0);
  EXPECT_EQ(body(call("GET", "/__sim/objects/companies"))["results"].size(), 1u);  // written all the same
}

TEST_F(SimTest, TruncatedBodiesAreShort) {
  SimOptions o = unlimited("T");
  o.faults = "route=/crm/v3/objects/companies,truncate=1";
  start(o);
  testing::RawConnection c(sim_->port());
  ASSERT_TRUE(c.send("GET /crm/v3/objects/companies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer T\r\n\r\n"));
  EXPECT_EQ(c.read_response().status, 0);  // Content-Length promised more than arrived
}

TEST_F(SimTest, AssociationsV4AndCreateWithAssociations) {
  start();
  const auto company = body(call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", "A"}}}}));
  const auto task =
      call("POST", "/crm/v3/objects/tasks",
           {{"properties", {{"hs_task_subject", "call"}, {"hs_timestamp", "1790000000000"}}},
            {"associations",
             {{{"to", {{"id", company["id"]}}},
               {"types", {{{"associationCategory", "HUBSPOT_DEFINED"}, {"associationTypeId", 192}}}}}}}});
  ASSERT_EQ(task.status, 201) << task.body;
  const std::string cid = company["id"];
  const auto list = body(call("GET", "/crm/v4/objects/companies/" + cid + "/associations/tasks"));
  ASSERT_EQ(list["results"].size(), 1u);
  EXPECT_EQ(list["results"][0]["associationTypes"][0]["typeId"], 191);  // company -> task
  const auto batch = call("POST", "/crm/v4/associations/companies/tasks/batch/read",
                          {{"inputs", {{{"id", cid}}, {{"id", "1"}}}}});
  EXPECT_EQ(batch.status, 207);  // id 1 has none
  const std::uint64_t task_id = std::stoull(body(task)["id"].get<std::string>());
  EXPECT_EQ(body(batch)["results"][0]["to"][0]["toObjectId"].get<std::uint64_t>(),
            task_id);  // a number in v4
}

TEST_F(SimTest, PropertiesApiAndDuplicates) {
  start();
  const json def = {{"name", "cs_health_score"},
                    {"label", "Health score"},
                    {"type", "number"},
                    {"fieldType", "number"},
                    {"groupName", "customer_success"}};
  EXPECT_EQ(call("POST", "/crm/v3/properties/companies", def).status, 400);  // no such group yet
  EXPECT_EQ(
      call("POST", "/crm/v3/properties/companies/groups", {{"name", "customer_success"}, {"label", "CS"}})
          .status,
      201);
  EXPECT_EQ(call("POST", "/crm/v3/properties/companies/groups", {{"name", "customer_success"}}).status, 409);
  EXPECT_EQ(call("POST", "/crm/v3/properties/companies", def).status, 201);
  EXPECT_EQ(call("POST", "/crm/v3/properties/companies", def).status, 409);
  EXPECT_EQ(body(call("GET", "/crm/v3/properties/companies/cs_health_score"))["type"], "number");
  json bad = def;
  bad["name"] = "x";
  bad["fieldType"] = "select";
  EXPECT_EQ(call("POST", "/crm/v3/properties/companies", bad).status, 400);  // number cannot be a select
  EXPECT_EQ(
      call("PATCH", "/crm/v3/objects/companies/1", {{"properties", {{"cs_health_score", "80"}}}}).status,
      404);
}

// What HubSpot's published spec marks required, refused as real HubSpot may: an enumeration option without
// `hidden` (OptionInput), a batch create input without `associations` (SimplePublicObjectInputForCreate).
// The service once sent both; these would have caught it.
TEST_F(SimTest, RefusesWhatHubSpotsSpecRequires) {
  start();
  ASSERT_EQ(call("POST", "/crm/v3/properties/companies/groups", {{"name", "g"}, {"label", "G"}}).status, 201);
  json status = {{"name", "cs_health_status"}, {"label", "Status"}, {"type", "enumeration"},
                 {"fieldType", "select"},      {"groupName", "g"},  {"options", json::array()}};
  status["options"] = {{{"label", "red"}, {"value", "red"}, {"displayOrder", 0}}};
  const auto refused = call("POST", "/crm/v3/properties/companies", status);
  EXPECT_EQ(refused.status, 400);
  EXPECT_THAT(refused.body, HasSubstr("hidden"));
  status["options"][0]["hidden"] = false;
  EXPECT_EQ(call("POST", "/crm/v3/properties/companies", status).status, 201);

  const auto no_links = call("POST", "/crm/v3/objects/companies/batch/create",
                             {{"inputs", {{{"properties", {{"name", "a"}}}}}}});
  EXPECT_EQ(no_links.status, 400);
  EXPECT_THAT(no_links.body, HasSubstr("associations"));
  EXPECT_EQ(call("POST", "/crm/v3/objects/companies/batch/create",
                 {{"inputs", {{{"properties", {{"name", "a"}}}, {"associations", json::array()}}}}})
                .status,
            201);
}

// What write-back relies on: tasks upserted on a unique key (new: true, then false), upsert refused on a
// property without unique values, portals that refuse unique task properties, batch creates with their
// company link, batch associate, and enumeration values with surrounding whitespace refused.
TEST_F(SimTest, WriteBackSurfaceUpsertUniqueKeysAssociationsAndWhitespace) {
  start();
  create_companies(1);
  const std::string company = body(call("GET", "/crm/v3/objects/companies?limit=1"))["results"][0]["id"];
  ASSERT_EQ(call("POST", "/crm/v3/properties/tasks/groups", {{"name", "g"}}).status, 201);
  json key = {{"name", "k"}, {"label", "k"}, {"type", "string"}, {"fieldType", "text"}, {"groupName", "g"}};
  ASSERT_EQ(call("POST", "/crm/v3/properties/tasks", key).status, 201);
  const json upsert = {
      {"inputs", {{{"idProperty", "k"}, {"id", "a:1"}, {"properties", {{"hs_task_subject", "s"}}}}}}};
  EXPECT_EQ(call("POST", "/crm/v3/objects/tasks/batch/upsert", upsert).status, 400);  // k is not unique
  key["name"] = "u";
  key["hasUniqueValue"] = true;
  ASSERT_EQ(call("POST", "/crm/v3/properties/tasks", key).status, 201);
  json by_u = upsert;
  by_u["inputs"][0]["idProperty"] = "u";
  const auto first = call("POST", "/crm/v3/objects/tasks/batch/upsert", by_u);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(body(first)["results"][0]["new"], true);
  EXPECT_EQ(body(first)["results"][0]["properties"]["u"], "a:1");
  EXPECT_EQ(body(first)["results"][0]["properties"]["hs_task_status"], "NOT_STARTED");
  const auto again = call("POST", "/crm/v3/objects/tasks/batch/upsert", by_u);
  EXPECT_EQ(body(again)["results"][0]["new"], false);
  EXPECT_EQ(body(again)["results"][0]["id"], body(first)["results"][0]["id"]);
  // A duplicate value of a unique property is refused on create.
  EXPECT_EQ(call("POST", "/crm/v3/objects/tasks", {{"properties", {{"u", "a:1"}}}}).status, 409);
  // Batch create with the company link; batch associate (default type) links an existing task.
  const json assoc = json::array(
      {{{"to", {{"id", company}}},
        {"types", json::array({{{"associationCategory", "HUBSPOT_DEFINED"}, {"associationTypeId", 192}}})}}});
  const auto created =
      call("POST", "/crm/v3/objects/tasks/batch/create",
           {{"inputs", {{{"properties", {{"hs_task_subject", "x"}}}, {"associations", assoc}}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string task = body(created)["results"][0]["id"];
  EXPECT_EQ(body(call("GET", "/crm/v4/objects/tasks/" + task + "/associations/companies"))["results"].size(),
            1u);
  const std::string upserted = body(first)["results"][0]["id"];
  const auto linked = call("POST", "/crm/v4/associations/tasks/companies/batch/associate/default",
                           {{"inputs", {{{"from", {{"id", upserted}}}, {"to", {{"id", company}}}}}}});
  ASSERT_EQ(linked.status, 200) << linked.body;
  EXPECT_EQ(
      body(call("GET", "/crm/v4/objects/tasks/" + upserted + "/associations/companies"))["results"].size(),
      1u);
  // HubSpot (since 2025-04) refuses enumeration values with surrounding whitespace.
  const auto padded =
      call("PATCH", "/crm/v3/objects/tasks/" + task, {{"properties", {{"hs_task_status", " COMPLETED"}}}});
  EXPECT_EQ(padded.status, 400);
  EXPECT_THAT(padded.body, HasSubstr("SURROUNDING_WHITESPACE"));
  EXPECT_EQ(
      call("PATCH", "/crm/v3/objects/tasks/" + task, {{"properties", {{"hs_task_status", "COMPLETED"}}}})
          .status,
      200);

  // A portal that refuses unique task properties.
  SimOptions strict = unlimited("T");
  strict.unique_task_properties = false;
  start(strict);
  ASSERT_EQ(call("POST", "/crm/v3/properties/tasks/groups", {{"name", "g"}}).status, 201);
  EXPECT_EQ(call("POST", "/crm/v3/properties/tasks", key).status, 400);
  key.erase("hasUniqueValue");
  EXPECT_EQ(call("POST", "/crm/v3/properties/tasks", key).status, 201);
}

TEST_F(SimTest, OwnersPipelinesAndReadOnlyFeedback) {
  start(unlimited("T"), 10);
  const auto owners = body(call("GET", "/crm/v3/owners"));
  ASSERT_FALSE(owners["results"].empty());
  EXPECT_EQ(owners["results"][0]["type"], "PERSON");
  EXPECT_TRUE(owners["results"][0].contains("userId"));
  const auto pipes = body(call("GET", "/crm/v3/pipelines/deals"))["results"];
  bool won_opaque = false;
  for (const auto& s : pipes[1]["stages"]) {
    if (s["metadata"]["probability"] == "1.0" && s["metadata"]["isClosed"] == "true")
      won_opaque = s["id"] != "closedwon";
  }
  EXPECT_TRUE(won_opaque);
  EXPECT_EQ(call("POST", "/crm/v3/objects/feedback_submissions", {{"properties", json::object()}}).status,
            403);
  EXPECT_EQ(call("GET", "/crm/v3/objects/0-19").status, 200);  // by type id too
}

TEST_F(SimTest, RequestLogAndReset) {
  start();
  call("GET", "/crm/v3/objects/companies");
  call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", "x"}}}});
  const auto log = body(call("GET", "/__sim/requests", nullptr, ""))["requests"];
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1]["method"], "POST");
  EXPECT_EQ(log[1]["status"], 201);
  EXPECT_THAT(log[1]["body"].get<std::string>(), HasSubstr("\"name\""));
  EXPECT_EQ(call("POST", "/__sim/reset", json::object(), "").status, 200);
  EXPECT_EQ(body(call("GET", "/__sim/objects/companies", nullptr, ""))["results"].size(), 0u);
}

TEST(GeneratorTest, DeterministicFromSeedWithGroundTruth) {
  json t1, t2, t3;
  auto a = generate({300, 11, 1'790'000'000'000}, &t1);
  auto b = generate({300, 11, 1'790'000'000'000}, &t2);
  auto c = generate({300, 12, 1'790'000'000'000}, &t3);
  Simulator sa({}, [&] { return std::move(a); }), sb({}, [&] { return std::move(b); }),
      sc({}, [&] { return std::move(c); });
  EXPECT_EQ(sa.dump_state(), sb.dump_state());
  EXPECT_EQ(t1, t2);
  EXPECT_NE(sa.dump_state(), sc.dump_state());
  std::map<std::string, int> cohorts;
  int churners = 0;
  for (const auto& [id, e] : t1["companies"].items()) {
    cohorts[e["cohort"]]++;
    if (e["churns"]) {
      ++churners;
      EXPECT_TRUE(e.contains("churn_date"));
    }
  }
  EXPECT_EQ(cohorts.size(), 5u);  // every cohort is present
  EXPECT_GT(churners, 10);
}

// The latent model: deterministic, both contract terms, a year of dated churns in the portal itself, and
// a ground truth whose churns are not all foretold (shocks) while some high-risk customers stay.
TEST(GeneratorTest, TheLatentModelHasTermsAPastAndChurnNoSignalGivesAway) {
  json t1, t2;
  const GenerateOptions o{2000, 5, 1'790'000'000'000, false, Model::kLatent};
  auto a = generate(o, &t1);
  auto b = generate(o, &t2);
  Simulator sa({}, [&] { return std::move(a); }), sb({}, [&] { return std::move(b); });
  const json state = sa.dump_state();
  EXPECT_EQ(state, sb.dump_state());
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(t1["model"], "latent");
  std::map<std::string, int> terms, causes;
  int past = 0, ahead = 0, risky_stayers = 0;
  for (const auto& [id, e] : t1["companies"].items()) {
    terms[e["term"]]++;
    if (e.contains("churned_on")) ++past;
    if (e["churns"]) {
      ++ahead;
      causes[e["cause"]]++;
      EXPECT_TRUE(e.contains("churn_date"));
    } else if (e["risk"].get<double>() > 0.6) {
      ++risky_stayers;
    }
  }
  EXPECT_GT(terms["monthly"], 300);
  EXPECT_GT(terms["annual"], 300);
  EXPECT_GT(past, 60) << "a year of churns";
  EXPECT_GT(ahead, 20);
  EXPECT_GT(causes["shock"], 0) << "some churns no signal foretells";
  EXPECT_GT(causes["risk"], causes["shock"]);
  EXPECT_GT(risky_stayers, 20) << "warning signs that do not end in churn";
  // The past churns are in the portal: the churned stage, MRR 0 and the churn date, dated within the year.
  const auto text = [](const json& p, const char* k) {
    return p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : std::string();
  };
  int churned_companies = 0;
  for (const auto& c : state["objects"]["companies"]) {
    const auto& p = c["properties"];
    if (text(p, "cs_stage") != "churned") continue;
    ++churned_companies;
    EXPECT_EQ(text(p, "cs_mrr"), "0");
    EXPECT_FALSE(text(p, "cs_churn_date").empty());
    EXPECT_FALSE(text(p, "cs_churn_reason").empty());
  }
  EXPECT_GT(churned_companies, 40);
  EXPECT_LE(churned_companies, past);
}

TEST(GeneratorTest, AskingForTheTruthDoesNotChangeThePortal) {
  // The simulator generates once to serve and once for --truth-out: both must be the same portal.
  json truth;
  auto with = generate({400, 9, 1'790'000'000'000}, &truth);
  auto without = generate({400, 9, 1'790'000'000'000});
  Simulator sa({}, [&] { return std::move(with); }), sb({}, [&] { return std::move(without); });
  EXPECT_EQ(sa.dump_state(), sb.dump_state());
}

TEST(GeneratorTest, SavedPortalLoadsBackIdentically) {
  auto a = generate({50, 3, 1'790'000'000'000});
  Simulator sa({}, [&] { return std::move(a); });
  const json state = sa.dump_state();
  Simulator sb({}, [&] { return load_portal(state); });
  EXPECT_EQ(sb.dump_state(), state);
}

TEST(WebhookTest, SignedDeliveryIsRetriedUntilAccepted) {
  http::Router router;
  std::atomic<int> calls{0};
  std::vector<json> received;
  std::mutex mu;
  std::string url;
  router.add("POST", "/hook", [&](const http::Request& q) {
    const auto verdict =
        hubspot::verify_v3("s3cret", "POST", url, q.body, *q.header("x-hubspot-signature-v3"),
                           *q.header("x-hubspot-request-timestamp"),
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    if (verdict != hubspot::Verdict::kValid) return http::Response::error(401, "bad_signature", "no");
    if (calls++ < 2) return http::Response::error(500, "flaky", "try again");
    std::lock_guard lock(mu);
    received.push_back(json::parse(q.body));
    return http::Response::text(200, "");
  });
  WorkerPool workers(2, "hook");
  metrics::Registry m;
  http::Server server({}, router, workers, m);
  server.start();
  url = "http://127.0.0.1:" + std::to_string(server.port()) + "/hook";
  {
    WebhookSender sender({url, "s3cret", 10, 20ms, 10ms, 100});
    sender.enqueue({{"objectId", 7}, {"propertyValue", "closedwon"}});
    for (int i = 0; i < 500 && sender.delivered() == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(sender.delivered(), 1u);
  }
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0][0]["attemptNumber"], 2);  // third try
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(post_signed(url, "wrong", "[]", 1).status, 401);
  server.shutdown(1s);
}

TEST_F(SimTest, DealStageChangesEmitWebhookEvents) {
  start();
  std::vector<json> events;
  sim_->simulator().on_change([&](json e) { events.push_back(std::move(e)); });
  const auto deal = body(call("POST", "/crm/v3/objects/deals",
                              {{"properties", {{"dealname", "d"}, {"dealstage", "contractsent"}}}}));
  const std::string id = deal["id"];
  call("PATCH", "/crm/v3/objects/deals/" + id, {{"properties", {{"dealstage", "closedwon"}}}});
  call("PATCH", "/crm/v3/objects/deals/" + id, {{"properties", {{"amount", "5"}}}});  // not a stage change
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["propertyValue"], "closedwon");
  EXPECT_EQ(events[1]["subscriptionType"], "deal.propertyChange");
  EXPECT_EQ(events[1]["objectId"].get<std::uint64_t>(), std::stoull(id));
}

TEST_F(SimTest, CompanyChangesEmitAnEventPerChangedProperty) {
  start();
  std::vector<json> events;
  sim_->simulator().on_change([&](json e) { events.push_back(std::move(e)); });
  const auto company = body(call("POST", "/crm/v3/objects/companies", {{"properties", {{"name", "c"}}}}));
  const std::string id = company["id"];
  EXPECT_TRUE(events.empty());  // a creation is another subscription
  call("PATCH", "/crm/v3/objects/companies/" + id, {{"properties", {{"cs_mrr", "1200"}, {"name", "c"}}}});
  ASSERT_EQ(events.size(), 1u);  // the name did not change
  EXPECT_EQ(events[0]["subscriptionType"], "company.propertyChange");
  EXPECT_EQ(events[0]["propertyName"], "cs_mrr");
  EXPECT_EQ(events[0]["propertyValue"], "1200");
  EXPECT_GT(events[0]["occurredAt"].get<std::int64_t>(), 0);
}

TEST_F(SimTest, DatedPathsServeTheSameApi) {
  start();
  const auto v3 = body(call("GET", "/crm/v3/objects/companies?limit=5"));
  const auto dated = body(call("GET", "/crm/objects/2026-03/companies?limit=5"));
  EXPECT_EQ(v3["results"], dated["results"]);
  EXPECT_EQ(body(call("GET", "/crm/owners/2026-03"))["results"],
            body(call("GET", "/crm/v3/owners"))["results"]);
  EXPECT_FALSE(body(call("GET", "/crm/pipelines/2026-03/deals"))["results"].empty());
}

}  // namespace
}  // namespace cshealthd::sim
