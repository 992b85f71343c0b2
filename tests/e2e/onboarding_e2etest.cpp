// Closed Won → onboarding end to end: `cshealthd serve` replicas on one PostgreSQL, the HubSpot simulator
// sending its own signed webhooks (and `hubspot-sim send-webhook`), the sync as the safety net. What the
// portal should hold (the owner, the stage, eight tasks due on the right business days, a Services
// record, the hand-over) is derived here independently and compared with what the simulator holds.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/core/time.hpp"
#include "cshealthd/hubspot/signature.hpp"
#include "daemon.hpp"
#include "holidays.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::Daemon;
using ::testing::HasSubstr;
using testing::Holidays;
using testing::TempDir;

constexpr const char* kSecret = "app-client-secret";
// The generated portal's owners: 90001 manages, 90002-90004 are CSMs (teams 301/302), 90005-90007 the
// onboarding team (303); 90008 left the company (archived) and is in the pool all the same.
constexpr const char* kPool = "90005,90006,90007,90008";
const std::set<std::string> kOnboarders = {"90005", "90006", "90007"};
constexpr const char* kCsmPool = "90003,90004";

// The checklist as DOMAIN.md §4.1 and seed 000 state it: step, business days to its due date.
const std::vector<std::pair<std::string, int>> kChecklist = {
    {"kickoff", 3},         {"goals", 5},          {"account_setup", 10}, {"data_import", 10},
    {"admin_training", 15}, {"user_training", 15}, {"first_results", 20}, {"complete", 40}};

class OnboardingTest : public testing::ServeFixture {
 protected:
  // A generated portal of 30 companies; `search_lag_ms`: how long HubSpot's search takes to show a change.
  void start_sim(std::vector<std::string> args = {}, int search_lag_ms = 200) {
    args.insert(args.begin(),
                {"--seed", "5", "--generate", "30", "--search-lag-ms", std::to_string(search_lag_ms)});
    ServeFixture::start_sim(args);
  }

  std::vector<std::string> env(int i) const override {
    return base_env(i,
                    {"CSHEALTHD_LOG_LEVEL=info", "CSHEALTHD_JOBS_WORKERS=3", "CSHEALTHD_JOBS_LEASE_MS=5000",
                     "CSHEALTHD_JOBS_POLL_INTERVAL_MS=50", "CSHEALTHD_JOBS_RETRY_BASE_MS=100",
                     "CSHEALTHD_JOBS_RETRY_CAP_MS=1000", "CSHEALTHD_SCHEDULE_TICK_MS=100",
                     "CSHEALTHD_SCHEDULE_SYNC_INTERVAL_MS=0", "CSHEALTHD_HTTP_SHUTDOWN_DEADLINE_MS=3000",
                     "CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim_port_),
                     "CSHEALTHD_HUBSPOT_TOKEN=T", "CSHEALTHD_HUBSPOT_BURST_INTERVAL_MS=1000",
                     "CSHEALTHD_WEBHOOK_SECRET=" + std::string(kSecret), "CSHEALTHD_WRITEBACK_LOCALE=en",
                     "CSHEALTHD_WRITEBACK_SEARCH_LAG_MS=500", "CSHEALTHD_WRITEBACK_MANAGERS=default=90001",
                     "CSHEALTHD_WRITEBACK_SLACK_WEBHOOK_URL=http://127.0.0.1:" + std::to_string(sim_port_) +
                         "/__sim/slack",
                     "CSHEALTHD_ONBOARDING_POOL=" + std::string(kPool),
                     "CSHEALTHD_ONBOARDING_CSM_POOL=" + std::string(kCsmPool)});
  }

  json hubspot(const std::string& method, const std::string& path, const json& body = nullptr) const {
    const auto r = testing::http_request(sim_port_, method, path, body.is_null() ? "" : body.dump(),
                                         {"Authorization: Bearer T", "Content-Type: application/json"});
    EXPECT_GE(r.status, 200) << method << " " << path << ": " << r.body;
    EXPECT_LT(r.status, 300) << method << " " << path << ": " << r.body;
    return r.body.empty() ? json() : json::parse(r.body);
  }
  json sim(const std::string& path) const {
    return json::parse(testing::http_request(sim_port_, "GET", path).body);
  }
  // The simulator sends its changes as webhooks to replica i.
  void point_webhooks_at(int i) const {
    const auto r = testing::http_request(
        sim_port_, "POST", "/__sim/webhooks",
        json{{"target", "http://127.0.0.1:" + std::to_string(ports_[static_cast<std::size_t>(i)]) +
                            "/webhooks/hubspot"},
             {"secret", kSecret}}
            .dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  struct Customer {
    std::string company, deal;
  };
  // A new customer as sales leaves it: a company without a CS stage, a deal with the hand-over fields.
  Customer create_customer(const std::string& name, std::int64_t mrr,
                           const std::string& plan = "professional") const {
    Customer c;
    c.company = hubspot("POST", objects_ + "/companies", {{"properties", {{"name", name}}}})["id"];
    c.deal = hubspot(
        "POST", objects_ + "/deals",
        {{"properties",
          {{"dealname", name + " - new business"},
           {"dealstage", "contractsent"},
           {"pipeline", "default"},
           {"amount", std::to_string(mrr * 12)},
           {"cs_plan", plan},
           {"cs_mrr", std::to_string(mrr)},
           {"cs_licensed_seats", "40"},
           {"cs_contract_start_date", "2026-12-01"},
           {"cs_onboarding_goals", "Cut month-end close from 10 to 4 days"},
           {"cs_success_kpis", "close days; active users 35/40"}}},
         {"associations", json::array({{{"to", {{"id", c.company}}},
                                        {"types", json::array({{{"associationCategory", "HUBSPOT_DEFINED"},
                                                                {"associationTypeId", 5}}})}}})}})["id"];
    return c;
  }
  void win(const std::string& deal) const {
    hubspot("PATCH", objects_ + "/deals/" + deal, {{"properties", {{"dealstage", "closedwon"}}}});
  }
  // The onboarding tasks of a deal in the simulator, by step.
  std::map<std::string, std::vector<json>> onboarding_tasks(const std::string& deal) const {
    std::map<std::string, std::vector<json>> out;
    const std::string prefix = "onboarding:" + deal + ":";
    const json all = sim("/__sim/objects/tasks");
    for (const auto& t : all["results"]) {
      const std::string key = t["properties"].value("cs_alert_key", "");
      if (key.rfind(prefix, 0) == 0) out[key.substr(prefix.size())].push_back(t);
    }
    return out;
  }
  json company(const std::string& id) const {
    const json all = sim("/__sim/objects/companies");
    for (const auto& c : all["results"]) {
      if (c["id"] == id) return c;
    }
    return json();
  }
  // A webhook body as HubSpot sends it for a deal's stage.
  static std::string stage_event(const std::string& deal, std::int64_t event_id, std::int64_t occurred_ms,
                                 const std::string& stage = "closedwon") {
    return json::array({{{"eventId", event_id},
                         {"subscriptionId", 2195011},
                         {"portalId", 62515},
                         {"appId", 1160452},
                         {"occurredAt", occurred_ms},
                         {"subscriptionType", "deal.propertyChange"},
                         {"attemptNumber", 0},
                         {"objectId", std::stoll(deal)},
                         {"propertyName", "dealstage"},
                         {"propertyValue", stage},
                         {"changeSource", "CRM_UI"}}})
        .dump();
  }
  // POSTs `body` to replica i's path, signed (v3) for `signed_url` with `secret` at `ts_ms`.
  testing::RawResponse post_signed(int i, const std::string& path, const std::string& body,
                                   const std::string& signed_url, const std::string& secret,
                                   std::int64_t ts_ms) const {
    const std::string ts = std::to_string(ts_ms);
    return testing::http_request(
        ports_[static_cast<std::size_t>(i)], "POST", path, body,
        {"Content-Type: application/json",
         "X-HubSpot-Signature-v3: " + hubspot::signature_v3(secret, "POST", signed_url, body, ts),
         "X-HubSpot-Request-Timestamp: " + ts});
  }
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  double metric(int i, const std::string& series) {
    const auto body = testing::http_request(ports_[static_cast<std::size_t>(i)], "GET", "/metrics").body;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return 0;
  }

  std::string objects_ = "/crm/v3/objects";  // how this test spells its own calls to HubSpot
};

TEST_F(OnboardingTest, ClosedWonByWebhookGivesAnOwnerTheStageEightDatedTasksAServiceRecordAndAHandOver) {
  start_sim();
  start(0);
  run_and_wait(0);  // owners, pipelines and the portal's set-up; the generated won deals are history
  EXPECT_EQ(scalar("SELECT count(*) FROM onboardings"), 0);
  point_webhooks_at(0);
  const auto c = create_customer("Acme Analytics", 250'000, "enterprise");
  win(c.deal);

  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(c.deal).size() == 8; }, 60s)) << replicas_[0]->log();
  ASSERT_TRUE(
      wait_for([&] { return company(c.company)["properties"].value("cs_stage", "") == "onboarding"; }, 30s));
  const std::string owner = company(c.company)["properties"].value("cs_onboarding_owner", "");
  EXPECT_TRUE(kOnboarders.count(owner)) << owner;
  EXPECT_EQ(
      text("SELECT source || ' ' || segment || ' ' || owner_id FROM onboardings WHERE deal_id = " + c.deal),
      "webhook high_touch " + owner);

  // Eight tasks, one per step, each due at 09:00 Tokyo on its business day, owned, linked to the company
  // and the deal.
  const Holidays holidays;
  ASSERT_GT(holidays.size(), 40u);
  const auto start_day =
      *core::parse_day(text("SELECT started_on::text FROM onboardings WHERE deal_id = " + c.deal));
  const auto tasks = onboarding_tasks(c.deal);
  for (const auto& [step, days] : kChecklist) {
    ASSERT_EQ(tasks.count(step), 1u) << step;
    ASSERT_EQ(tasks.at(step).size(), 1u) << step << " duplicated";
    const auto& t = tasks.at(step)[0];
    const auto& p = t["properties"];
    const auto due_day = holidays.add(start_day, days);
    // 09:00 in Asia/Tokyo (UTC+9, no DST) is midnight UTC.
    EXPECT_EQ(p.value("hs_timestamp", ""), std::to_string(static_cast<std::int64_t>(due_day) * 86'400'000))
        << step << " due " << core::format_day(due_day);
    EXPECT_EQ(p.value("hubspot_owner_id", ""), owner) << step;
    EXPECT_EQ(p.value("hs_task_status", ""), "NOT_STARTED") << step;
    EXPECT_EQ(t["associations"]["companies"]["results"][0]["id"], c.company) << step;
    EXPECT_EQ(t["associations"]["deals"]["results"][0]["id"], c.deal) << step;
  }
  EXPECT_THAT(tasks.at("kickoff")[0]["properties"].value("hs_task_subject", ""), HasSubstr("Acme Analytics"));
  EXPECT_THAT(tasks.at("goals")[0]["properties"].value("hs_task_body", ""),
              HasSubstr("Cut month-end close from 10 to 4 days"));

  // The Services record, from the deal's hand-over fields.
  ASSERT_TRUE(wait_for([&] { return !sim("/__sim/objects/services")["results"].empty(); }, 30s));
  json service;
  int services = 0;
  const json all_services = sim("/__sim/objects/services");
  for (const auto& s : all_services["results"]) {
    if (s["properties"].value("cs_onboarding_key", "") == "onboarding:" + c.deal + ":service") {
      service = s;
      ++services;
    }
  }
  ASSERT_EQ(services, 1);
  EXPECT_EQ(service["properties"].value("cs_plan", ""), "enterprise");
  EXPECT_EQ(service["properties"].value("cs_mrr", ""), "250000");
  EXPECT_EQ(service["properties"].value("cs_licensed_seats", ""), "40");
  EXPECT_EQ(service["properties"].value("cs_onboarding_start_date", ""),
            std::to_string(static_cast<std::int64_t>(start_day) * 86'400'000));
  EXPECT_EQ(service["properties"].value("cs_onboarding_target_date", ""),
            std::to_string(static_cast<std::int64_t>(holidays.add(start_day, 40)) * 86'400'000));
  EXPECT_EQ(service["associations"]["companies"]["results"][0]["id"], c.company);
  EXPECT_EQ(service["associations"]["deals"]["results"][0]["id"], c.deal);

  // The team is told once.
  ASSERT_TRUE(wait_for([&] { return !sim("/__sim/slack")["messages"].empty(); }, 30s));
  int told = 0;
  const json slack = sim("/__sim/slack");
  for (const auto& m : slack["messages"]) told += m.dump().find("Acme Analytics") != std::string::npos;
  EXPECT_EQ(told, 1);

  // HubSpot retries, and an operator replays with `hubspot-sim send-webhook`: still one onboarding.
  const auto replay = testing::run_process(
      testing::hubspot_sim_binary(),
      {"send-webhook", "--target", "http://127.0.0.1:" + std::to_string(ports_[0]) + "/webhooks/hubspot",
       "--secret", kSecret, "--deal", c.deal, "--repeat", "3"});
  EXPECT_EQ(replay.status, 0) << replay.output;
  EXPECT_EQ(replay.output, "200\n200\n200\n");
  ASSERT_TRUE(wait_for("SELECT count(*) FROM webhook_events WHERE object_id = " + c.deal +
                           " AND processed_at IS NOT NULL AND outcome = 'onboarding_exists'",
                       1, 30s));
  EXPECT_EQ(scalar("SELECT count(*) FROM onboardings"), 1);
  EXPECT_EQ(onboarding_tasks(c.deal).size(), 8u);

  // Every step done in HubSpot: the next run hands the customer to a CSM by capacity.
  for (const auto& [step, list] : onboarding_tasks(c.deal))
    hubspot("PATCH", "/crm/v3/objects/tasks/" + list[0]["id"].get<std::string>(),
            {{"properties", {{"hs_task_status", "COMPLETED"}}}});
  run_and_wait(0);
  ASSERT_TRUE(
      wait_for([&] { return company(c.company)["properties"].value("cs_stage", "") == "active"; }, 30s))
      << company(c.company).dump();
  const std::string csm = company(c.company)["properties"].value("hubspot_owner_id", "");
  EXPECT_TRUE(csm == "90003" || csm == "90004") << csm;
  EXPECT_EQ(text("SELECT state || ' ' || csm_id FROM onboardings WHERE deal_id = " + c.deal),
            "handed_over " + csm);
  const auto handover = onboarding_tasks(c.deal).at("handover");
  ASSERT_EQ(handover.size(), 1u);
  EXPECT_EQ(handover[0]["properties"].value("hubspot_owner_id", ""), csm);
  EXPECT_THAT(handover[0]["properties"].value("hs_task_body", ""),
              HasSubstr("close days; active users 35/40"));
  EXPECT_GE(metric(0, "cshealthd_onboardings_started_total{path=\"webhook\"}"), 1);
  EXPECT_GE(metric(0, "cshealthd_onboarding_handovers_total"), 1);
}

// CRM text is escaped where it goes: a company named to ping the channel and to smuggle a link reaches the
// onboarding's tasks and the hand-over task as inert HTML, and both Slack notes as inert Slack text.
TEST_F(OnboardingTest, AHostileCompanyNameArrivesInertInTheOnboardingTheHandOverAndSlack) {
  start_sim();
  start(0);
  run_and_wait(0);
  point_webhooks_at(0);
  const std::string hostile =
      "Acme <!channel> <https://evil.example|Renew now> <a href=\"https://evil.example\">x</a>";
  const std::string inert = "Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt;";
  const auto c = create_customer(hostile, 250'000, "enterprise");
  win(c.deal);
  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(c.deal).size() == 8; }, 60s)) << replicas_[0]->log();
  const auto inert_task = [&](const json& task, const std::string& what) {
    for (const char* field : {"hs_task_subject", "hs_task_body"}) {
      const std::string v = task["properties"].value(field, "");
      EXPECT_THAT(v, HasSubstr(inert)) << what << " " << field;
      EXPECT_THAT(v, ::testing::Not(HasSubstr("<a href"))) << what << " " << field;
      EXPECT_THAT(v, ::testing::Not(HasSubstr("<!channel>"))) << what << " " << field;
    }
  };
  inert_task(onboarding_tasks(c.deal).at("kickoff")[0], "kickoff");
  // Slack: the start, then (every step done in HubSpot, the next run) the hand-over.
  const auto slack_about = [&](const std::string& words) {
    std::vector<std::string> out;
    const json log = sim("/__sim/slack");  // held: a range-for over a temporary's member would dangle
    for (const auto& m : log["messages"]) {
      const std::string text = m.value("text", "");
      if (text.find(words) != std::string::npos) out.push_back(text);
    }
    return out;
  };
  ASSERT_TRUE(wait_for([&] { return slack_about("New customer").size() == 1; }, 30s))
      << sim("/__sim/slack").dump();
  for (const auto& [step, list] : onboarding_tasks(c.deal))
    hubspot("PATCH", "/crm/v3/objects/tasks/" + list[0]["id"].get<std::string>(),
            {{"properties", {{"hs_task_status", "COMPLETED"}}}});
  run_and_wait(0);
  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(c.deal).count("handover") == 1; }, 30s));
  inert_task(onboarding_tasks(c.deal).at("handover")[0], "handover");
  ASSERT_TRUE(wait_for([&] { return slack_about("completed onboarding").size() == 1; }, 30s))
      << sim("/__sim/slack").dump();
  for (const auto& text : {slack_about("New customer")[0], slack_about("completed onboarding")[0]}) {
    EXPECT_THAT(text, HasSubstr(inert)) << text;
    EXPECT_THAT(text, ::testing::Not(HasSubstr("<!channel>"))) << text;
    EXPECT_THAT(text, ::testing::Not(HasSubstr("<https://"))) << text;
  }
}

TEST_F(OnboardingTest, ThreeConcurrentDeliveriesToTwoReplicasAndTheSyncGiveOneOnboarding) {
  start_sim();
  start(0);
  start(1);
  run_and_wait(0);
  const auto c = create_customer("Globex", 40'000);
  win(c.deal);  // the simulator sends nothing: this test delivers the event itself
  const std::string body = stage_event(c.deal, 777, now_ms());
  std::vector<std::thread> senders;
  std::vector<int> statuses(3);
  for (int k = 0; k < 3; ++k) {
    senders.emplace_back([&, k] {
      // No public URL here: the signed URI is rebuilt from the Host header (http://127.0.0.1/...).
      statuses[static_cast<std::size_t>(k)] =
          post_signed(k % 2, "/webhooks/hubspot", body, "http://127.0.0.1/webhooks/hubspot", kSecret,
                      now_ms())
              .status;
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_THAT(statuses, ::testing::Each(200));
  EXPECT_EQ(scalar("SELECT count(*) FROM webhook_events WHERE object_id = " + c.deal), 1);
  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(c.deal).size() == 8; }, 60s)) << replicas_[0]->log();
  // The sync sees the same deal become won.
  std::this_thread::sleep_for(500ms);  // past the search lag
  run_and_wait(1);
  EXPECT_GE(
      scalar("SELECT (stages->0->'progress'->'onboarding'->>'stage_changes')::int FROM runs ORDER BY id DESC "
             "LIMIT 1"),
      1);
  ASSERT_TRUE(
      wait_for("SELECT count(*) FROM jobs WHERE kind = 'onboarding' AND state = 'succeeded'", 1, 30s));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'onboarding'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM onboardings"), 1);
  EXPECT_EQ(text("SELECT source FROM onboardings"), "webhook");
  const auto tasks = onboarding_tasks(c.deal);
  EXPECT_EQ(tasks.size(), 8u);
  for (const auto& [step, list] : tasks) EXPECT_EQ(list.size(), 1u) << step;
  EXPECT_EQ(scalar("SELECT count(*) FROM deal_stage_changes"), 0);
}

TEST_F(OnboardingTest, WithoutWebhooksTheNextSyncStartsTheOnboarding) {
  start_sim();
  // A Service Key portal: no webhooks; and HubSpot's dated paths.
  start(0, {"CSHEALTHD_WEBHOOK_ENABLED=false", "CSHEALTHD_HUBSPOT_API_VERSION=2026-03"});
  objects_ = "/crm/objects/2026-03";
  run_and_wait(0);
  // The generated portal's deals won long ago are history, not new customers.
  EXPECT_GT(scalar("SELECT count(*) FROM deals WHERE stage = 'closedwon'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'onboarding'"), 0);
  EXPECT_EQ(testing::http_request(ports_[0], "POST", "/webhooks/hubspot", "[]").status, 404);
  const auto c = create_customer("Initech", 20'000);
  win(c.deal);
  std::this_thread::sleep_for(500ms);  // HubSpot's search shows a change after a lag (200 ms here)
  run_and_wait(0);
  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(c.deal).size() == 8; }, 60s)) << replicas_[0]->log();
  EXPECT_EQ(text("SELECT source || ' ' || segment FROM onboardings WHERE deal_id = " + c.deal),
            "sync tech_touch");
  EXPECT_EQ(scalar("SELECT count(*) FROM onboardings"), 1);
  EXPECT_GE(metric(0, "cshealthd_onboardings_started_total{path=\"sync\"}"), 1);
  // Every call spelled the dated way.
  std::size_t dated = 0;
  const json requests = sim("/__sim/requests?since=0");
  for (const auto& r : requests["requests"]) {
    const std::string path = r.value("path", "");
    if (path.rfind("/crm/", 0) != 0) continue;
    EXPECT_EQ(path.find("/crm/v3/"), std::string::npos) << path;
    EXPECT_EQ(path.find("/crm/v4/"), std::string::npos) << path;
    dated += path.find("/2026-03") != std::string::npos;
  }
  EXPECT_GT(dated, 20u);
}

TEST_F(OnboardingTest, ACompanyInputChangedInHubSpotReachesItsScoreThereByWebhook) {
  // HubSpot's search shows the change only after a minute here: the refresh reads the company by id.
  start_sim({}, 60'000);
  start(0);
  run_and_wait(0);
  point_webhooks_at(0);
  // A healthy-looking company whose usage collapses.
  const std::string id = text(
      "SELECT h.company_id::text FROM health_scores h JOIN companies c ON c.id = h.company_id "
      "WHERE c.active_users_30d > 5 ORDER BY h.score DESC LIMIT 1");
  ASSERT_FALSE(id.empty());
  const std::string before = company(id)["properties"].value("cs_health_score", "");
  ASSERT_FALSE(before.empty());
  hubspot(
      "PATCH", "/crm/v3/objects/companies/" + id,
      {{"properties", {{"cs_active_users_30d", "0"}, {"cs_logins_30d", "0"}, {"cs_features_used", "0"}}}});
  ASSERT_TRUE(wait_for([&] { return company(id)["properties"].value("cs_health_score", "") != before; }, 60s))
      << replicas_[0]->log();
  EXPECT_GE(scalar("SELECT count(*) FROM runs WHERE trigger = 'requested' AND state = 'succeeded'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM webhook_events WHERE object_id = " + id +
                   " AND property_name = 'cs_active_users_30d' AND outcome = 'refresh'"),
            1);
  // What the service itself writes comes back as webhooks too, and starts nothing.
  ASSERT_TRUE(wait_for("SELECT count(*) FROM webhook_events WHERE object_id = " + id +
                           " AND property_name = 'cs_health_score' AND processed_at IS NOT NULL",
                       1, 30s));
  EXPECT_EQ(text("SELECT string_agg(DISTINCT outcome, ',') FROM webhook_events WHERE property_name LIKE "
                 "'cs_health%'"),
            "ignored");
}

TEST_F(OnboardingTest, AStepPastItsDueDayAlertsTheOwnerAndThenTheManagerOnce) {
  start_sim();
  start(0, {"CSHEALTHD_TEST_CLOCK_FILE=" + clock_file().string()});
  run_and_wait(0);
  point_webhooks_at(0);
  const auto c = create_customer("Hooli", 30'000);
  win(c.deal);
  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(c.deal).size() == 8; }, 60s)) << replicas_[0]->log();
  const std::string owner = text("SELECT owner_id FROM onboardings WHERE deal_id = " + c.deal);
  const auto start_day =
      *core::parse_day(text("SELECT started_on::text FROM onboardings WHERE deal_id = " + c.deal));
  // The goals step is done on time; the kickoff is not.
  hubspot("PATCH",
          "/crm/v3/objects/tasks/" + onboarding_tasks(c.deal).at("goals")[0]["id"].get<std::string>(),
          {{"properties", {{"hs_task_status", "COMPLETED"}}}});
  const Holidays holidays;
  const auto at = [&](std::int32_t day) {  // 10:00 Tokyo that day
    set_clock_ms(static_cast<std::int64_t>(day) * 86'400'000 + 3'600'000);
  };
  at(holidays.add(start_day, 6));  // kickoff (3) and goals (5) past due
  run_and_wait(0);
  auto tasks = onboarding_tasks(c.deal);
  ASSERT_EQ(tasks.count("kickoff:overdue"), 1u) << replicas_[0]->log();
  EXPECT_EQ(tasks.at("kickoff:overdue").size(), 1u);
  EXPECT_EQ(tasks.at("kickoff:overdue")[0]["properties"].value("hubspot_owner_id", ""), owner);
  EXPECT_THAT(tasks.at("kickoff:overdue")[0]["properties"].value("hs_task_subject", ""), HasSubstr("Hooli"));
  EXPECT_EQ(tasks.count("goals:overdue"), 0u);
  EXPECT_EQ(tasks.count("kickoff:overdue:escalation"), 0u);
  // Three business days later (onboarding.escalate_after_days) the manager hears of it, once.
  at(holidays.add(start_day, 9));
  run_and_wait(0);
  run_and_wait(0);
  tasks = onboarding_tasks(c.deal);
  ASSERT_EQ(tasks.count("kickoff:overdue:escalation"), 1u);
  EXPECT_EQ(tasks.at("kickoff:overdue:escalation").size(), 1u);
  EXPECT_EQ(tasks.at("kickoff:overdue:escalation")[0]["properties"].value("hubspot_owner_id", ""), "90001");
  EXPECT_EQ(tasks.at("kickoff:overdue").size(), 1u);
  EXPECT_EQ(tasks.count("account_setup:overdue"), 0u);  // due on day 10
}

TEST_F(OnboardingTest, AWonDealWithoutACompanyIsRetriedThenDeadLetteredAndAnOperatorRetriesIt) {
  start_sim();
  start(0);
  run_and_wait(0);
  point_webhooks_at(0);
  const std::string deal =
      hubspot("POST", objects_ + "/deals",
              {{"properties", {{"dealname", "Orphan deal"}, {"dealstage", "contractsent"}}}})["id"];
  win(deal);
  ASSERT_TRUE(wait_for("SELECT count(*) FROM jobs WHERE kind = 'onboarding' AND state = 'dead'", 1, 60s))
      << text(
             "SELECT state || ' ' || attempt || ' ' || coalesce(error, '') FROM jobs WHERE kind = "
             "'onboarding'");
  EXPECT_EQ(text("SELECT attempt FROM jobs WHERE kind = 'onboarding'"), "8");  // with backoff between
  EXPECT_THAT(text("SELECT error FROM jobs WHERE kind = 'onboarding'"),
              HasSubstr("has no associated company"));
  EXPECT_EQ(scalar("SELECT count(*) FROM onboardings"), 0);
  // Sales adds the company; the operator retries the dead job.
  const std::string company =
      hubspot("POST", objects_ + "/companies", {{"properties", {{"name", "Found Later"}}}})["id"];
  hubspot("PUT", "/crm/v4/objects/deals/" + deal + "/associations/default/companies/" + company);
  const auto retried =
      api(0, "POST", "/v1/jobs/" + text("SELECT id FROM jobs WHERE kind = 'onboarding'") + "/retry");
  EXPECT_EQ(retried.status, 200) << retried.body;
  ASSERT_TRUE(wait_for([&] { return onboarding_tasks(deal).size() == 8; }, 60s)) << replicas_[0]->log();
  EXPECT_EQ(text("SELECT company_id::text FROM onboardings WHERE deal_id = " + deal), company);
}

TEST_F(OnboardingTest, ThroughDroppedConnectionsAfterApply429sAndAKill9EachTaskAndRecordIsWrittenOnce) {
  // Tasks without a unique key (create, then search after the lag). The first service create and the
  // second and third task creates are applied and their answers lost; 429s and 5xx come at random on
  // company updates and associations.
  start_sim({"--no-unique-task-properties", "--faults",
             "seed=7;route=/crm/v3/objects/0-162/batch/create,count=1,drop_after=1;"
             "route=/crm/v3/objects/tasks/batch/create,skip=1,count=2,drop_after=1;"
             "route=/crm/v3/objects/companies/batch/update,429=0.3,5xx=0.2;"
             "route=/crm/v4/associations,429=0.3"});
  start(0);
  start(1);
  run_and_wait(0);
  point_webhooks_at(0);
  std::vector<Customer> customers;
  for (int i = 0; i < 5; ++i) customers.push_back(create_customer("Faulty " + std::to_string(i), 20'000));
  for (const auto& c : customers) win(c.deal);
  // Replica 0 dies while it works on them; replica 1 takes its jobs over when their leases run out.
  ASSERT_TRUE(wait_for("SELECT count(*) FROM jobs WHERE kind = 'onboarding'", 1, 30s));
  std::this_thread::sleep_for(300ms);
  replicas_[0]->signal(SIGKILL);
  replicas_[0]->wait_exit(10s);
  start(0);
  ASSERT_TRUE(wait_for("SELECT count(*) FROM onboardings", 5, 120s)) << replicas_[1]->log();
  // Whatever is still in the outbox goes out with the next run's deliver stage.
  ASSERT_TRUE(wait_for(
      [&] {
        return scalar(
                   "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending') AND key LIKE "
                   "'onboarding:%'") == 0;
      },
      120s))
      << text(
             "SELECT string_agg(key || ' ' || state, ', ') FROM outbox WHERE state <> 'done' AND key LIKE "
             "'onboarding:%'");
  run_and_wait(1);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE state = 'dead' AND key LIKE 'onboarding:%'"), 0);
  std::map<std::string, int> services;
  const json all_services = sim("/__sim/objects/services");
  for (const auto& sv : all_services["results"]) ++services[sv["properties"].value("cs_onboarding_key", "")];
  for (const auto& c : customers) {
    const auto tasks = onboarding_tasks(c.deal);
    EXPECT_EQ(tasks.size(), 8u) << c.deal;
    for (const auto& [step, list] : tasks)
      EXPECT_EQ(list.size(), 1u) << c.deal << " " << step << " written twice";
    EXPECT_EQ(services["onboarding:" + c.deal + ":service"], 1) << c.deal;
    EXPECT_EQ(company(c.company)["properties"].value("cs_stage", ""), "onboarding") << c.deal;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'onboarding'"), 5);
  // The faults did happen: writes applied whose answers never came, on services and on tasks.
  std::map<std::string, int> dropped;
  const json requests = sim("/__sim/requests?since=0");
  for (const auto& r : requests["requests"]) {
    if (r.value("status", -1) != 0) continue;
    const std::string path = r.value("path", "");
    ++dropped[path.find("/0-162/") != std::string::npos   ? "services"
              : path.find("/tasks/") != std::string::npos ? "tasks"
                                                          : "other"];
  }
  EXPECT_GE(dropped["services"], 1);
  EXPECT_GE(dropped["tasks"], 1);
}

TEST_F(OnboardingTest, OnlyCorrectlySignedFreshRequestsAreStoredAndBadBodiesAre4xx) {
  start_sim();
  const std::string public_url = "https://cs.example.com";
  start(0, {"CSHEALTHD_PUBLIC_URL=" + public_url, "CSHEALTHD_WEBHOOK_MAX_BODY_BYTES=4096"});
  const std::string path = "/webhooks/hubspot?portal=62515&x=a%2Fb";
  const std::string url = public_url + path;  // what HubSpot signed: the proxy's URL, not the socket's
  const auto now = now_ms();
  const auto stored = [&] { return scalar("SELECT count(*) FROM webhook_events"); };
  const std::string event = stage_event("1234", 1, now);

  EXPECT_EQ(post_signed(0, path, event, "http://127.0.0.1" + path, kSecret, now).status,
            401);                                                                   // socket's URI
  EXPECT_EQ(post_signed(0, path, event, url, kSecret, now - 301'000).status, 401);  // stale
  EXPECT_EQ(post_signed(0, path, event, url, kSecret, now + 301'000).status, 401);  // from the future
  EXPECT_EQ(post_signed(0, path, event, url, "not-the-secret", now).status, 401);   // wrong secret
  EXPECT_EQ(post_signed(0, path, event, public_url + "/webhooks/hubspot?portal=1", kSecret, now).status, 401);
  {
    const std::string ts = std::to_string(now);
    const auto sig = hubspot::signature_v3(kSecret, "POST", url, event, ts);
    std::string tampered = event;
    tampered.replace(tampered.find("closedwon"), 9, "closedlos");
    EXPECT_EQ(testing::http_request(ports_[0], "POST", path, tampered,
                                    {"X-HubSpot-Signature-v3: " + sig, "X-HubSpot-Request-Timestamp: " + ts})
                  .status,
              401);
    EXPECT_EQ(
        testing::http_request(ports_[0], "POST", path, event, {"X-HubSpot-Request-Timestamp: " + ts}).status,
        401);
  }
  EXPECT_EQ(stored(), 0);
  // Signed, but not what HubSpot sends: 400, nothing stored; too large: 413.
  for (const std::string& bad :
       std::vector<std::string>{"{}", "[1]", "not json", R"([{"objectId":"x","occurredAt":1}])",
                                std::string(20, '[') + std::string(20, ']')}) {
    const auto r = post_signed(0, path, bad, url, kSecret, now);
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
    EXPECT_THAT(r.body, HasSubstr("malformed_events")) << bad;
  }
  EXPECT_EQ(post_signed(0, path, "[" + std::string(5000, ' ') + "]", url, kSecret, now).status, 413);
  EXPECT_EQ(stored(), 0);
  // The proxy's URL with its query string, signed as HubSpot does: stored, and a repeat is a duplicate.
  const auto ok = post_signed(0, path, event, url, kSecret, now);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["accepted"], 1);
  const auto again = post_signed(0, path, event, url, kSecret, now + 1000);
  EXPECT_EQ(json::parse(again.body)["duplicates"], 1);
  EXPECT_EQ(stored(), 1);
  EXPECT_EQ(metric(0, "cshealthd_webhook_requests_total{outcome=\"bad_signature\"}"), 5);
  EXPECT_EQ(metric(0, "cshealthd_webhook_requests_total{outcome=\"stale\"}"), 2);
  EXPECT_EQ(metric(0, "cshealthd_webhook_requests_total{outcome=\"malformed\"}"), 5);
  EXPECT_EQ(metric(0, "cshealthd_webhook_requests_total{outcome=\"too_large\"}"), 1);
  EXPECT_EQ(metric(0, "cshealthd_webhook_requests_total{outcome=\"accepted\"}"), 1);
  EXPECT_EQ(metric(0, "cshealthd_webhook_requests_total{outcome=\"duplicate\"}"), 1);
  // With the database gone, a 503 (HubSpot retries), never a 2xx for events not stored.
  exec("ALTER TABLE webhook_events RENAME TO webhook_events_away");
  const auto down = post_signed(0, path, stage_event("1234", 2, now), url, kSecret, now);
  exec("ALTER TABLE webhook_events_away RENAME TO webhook_events");
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(testing::http_request(ports_[0], "GET", "/healthz").status, 200);
}

TEST_F(OnboardingTest, FiftyWonDealsAreSpreadByRemainingCapacityAndNeverToAnArchivedOwner) {
  start_sim();
  start(0, {"CSHEALTHD_ONBOARDING_HIGH_TOUCH_CAPACITY=3", "CSHEALTHD_ONBOARDING_TECH_TOUCH_CAPACITY=20",
            "CSHEALTHD_ONBOARDING_SERVICES=false"});
  run_and_wait(0);
  // 90005 already onboards five tech-touch customers.
  exec(
      "INSERT INTO onboardings (deal_id, company_id, source, state, segment, owner_id, started_on, deal) "
      "SELECT g, g, 'api', 'onboarding', 'tech_touch', '90005', current_date, '{}' FROM generate_series(1, "
      "5) g");
  point_webhooks_at(0);
  std::vector<Customer> customers;
  for (int i = 0; i < 50; ++i)
    customers.push_back(create_customer("Customer " + std::to_string(i), i < 10 ? 150'000 : 30'000));
  json inputs = json::array();
  for (const auto& c : customers)
    inputs.push_back({{"id", c.deal}, {"properties", {{"dealstage", "closedwon"}}}});
  hubspot("POST", "/crm/v3/objects/deals/batch/update", {{"inputs", inputs}});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM onboardings WHERE source = 'webhook'", 50, 120s))
      << replicas_[0]->log();
  std::map<std::string, std::map<std::string, long long>> load;  // segment -> owner -> customers
  pqxx::connection conn(db_.conninfo());
  pqxx::nontransaction tx(conn);
  for (const auto& r : tx.exec("SELECT segment, owner_id, count(*) FROM onboardings GROUP BY 1, 2"))
    load[r[0].as<std::string>()][r[1].as<std::string>()] = r[2].as<long long>();
  // Tech-touch: 45 customers over three owners of 20 each, 90005 starting with 5: 15 each.
  EXPECT_EQ(load["tech_touch"],
            (std::map<std::string, long long>{{"90005", 15}, {"90006", 15}, {"90007", 15}}));
  // High-touch: 10 customers, 3 each fills the pool; the tenth goes to one of them, over capacity.
  long long high = 0, most = 0, least = 100;
  for (const auto& [owner, n] : load["high_touch"]) {
    EXPECT_TRUE(kOnboarders.count(owner)) << owner;
    high += n;
    most = std::max(most, n);
    least = std::min(least, n);
  }
  EXPECT_EQ(high, 10);
  EXPECT_EQ(load["high_touch"].size(), 3u);
  EXPECT_EQ(most - least, 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM onboardings WHERE owner_id = '90008'"), 0);  // archived: never
  ASSERT_TRUE(wait_for(
      [&] {
        std::size_t n = 0;
        const json all = sim("/__sim/objects/tasks");
        for (const auto& t : all["results"])
          n += t["properties"].value("cs_alert_key", "").rfind("onboarding:", 0) == 0;
        return n == 400;
      },
      120s));
}

}  // namespace
}  // namespace cshealthd
