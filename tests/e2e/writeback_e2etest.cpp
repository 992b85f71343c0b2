// Write-back end to end: `cshealthd sync`, `score` and `plan` against the simulator and a real PostgreSQL.
// What HubSpot should hold is derived here from the scores and the rules, independently of the planner,
// and compared with what the simulator holds: exactly, in both kinds of portal (unique task keys allowed
// or refused), through faults and kill -9.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "cshealthd/http/client.hpp"
#include "daemon.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr const char* kManager = "90001";

// The shipped rules, as DOMAIN.md §3 states them: score thresholds and the churn signals that alert.
const std::set<std::string> kSignalRules = {"usage_drop",      "ticket_surge", "bad_support",    "nps_drop",
                                            "missed_meetings", "silence",      "key_person_left"};
const std::set<std::string> kManagerRules = {"score_below_40", "bad_support"};

std::string decimal(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", std::round(v * 100) / 100);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

struct Expected {
  std::map<std::string, std::map<std::string, std::string>> properties;  // company id -> output properties
  std::map<std::string, std::pair<std::string, std::string>> tasks;      // alert key -> (company, owner)
};

// What HubSpot should show after `day`'s first plan, from the stored scores alone.
Expected expected_after_first_plan(const std::string& conninfo, const std::string& day) {
  Expected e;
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  for (const auto& r : tx.exec_params(
           "SELECT h.company_id::text, h.score, h.status, h.coverage, h.reasons::text, h.signals::text, "
           "coalesce(c.owner_id, '') FROM health_scores h JOIN companies c ON c.id = h.company_id "
           "WHERE h.day = $1::date AND NOT c.archived",
           day)) {
    const auto id = r[0].as<std::string>();
    const double score = r[1].as<double>();
    const auto status = r[2].as<std::string>();
    const auto reasons = json::parse(r[4].as<std::string>());
    std::string text;
    for (std::size_t i = 0; i < reasons.size() && i < 3; ++i)
      text += (i ? "\n" : "") + reasons[i].get<std::string>();
    e.properties[id] = {{"cs_health_score", decimal(score)},
                        {"cs_health_status", status},
                        {"cs_health_coverage", decimal(r[3].as<double>())},
                        {"cs_health_reasons", text}};
    const std::string owner = r[6].as<std::string>();
    std::set<std::string> rules;
    if (status != "unknown" && score < 60) rules.insert("score_below_60");
    if (status != "unknown" && score < 40) rules.insert("score_below_40");
    for (const auto& s : json::parse(r[5].as<std::string>())) {
      if (s.value("kind", "") == "churn" && kSignalRules.count(s.value("name", ""))) rules.insert(s["name"]);
    }
    for (const auto& rule : rules)
      e.tasks["alert:" + id + ":" + rule + ":1"] = {id, kManagerRules.count(rule) ? kManager : owner};
  }
  return e;
}

class WritebackTest : public ::testing::TestWithParam<bool> {
 protected:
  bool unique() const { return GetParam(); }
  void start_sim(std::vector<std::string> extra, const std::string& companies = "120") {
    std::vector<std::string> args = {"--seed", "11", "--generate", companies, "--search-lag-ms", "200"};
    if (!unique()) args.push_back("--no-unique-task-properties");
    args.insert(args.end(), extra.begin(), extra.end());
    sim_ = std::make_unique<testing::SimProcess>(dir_, args);
    ASSERT_NE(sim_->port, 0) << sim_->daemon->log();
  }
  std::vector<std::string> env(std::vector<std::string> extra = {}) const {
    std::vector<std::string> e = {"CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim_->port),
                                  "CSHEALTHD_HUBSPOT_TOKEN=T",
                                  "CSHEALTHD_DATABASE_URL=" + db_.conninfo(),
                                  "CSHEALTHD_LOG_FORMAT=text",
                                  "CSHEALTHD_LOG_LEVEL=warn",
                                  "CSHEALTHD_HUBSPOT_BURST_INTERVAL_MS=1000",
                                  "CSHEALTHD_WRITEBACK_LOCALE=en",
                                  "CSHEALTHD_WRITEBACK_SEARCH_LAG_MS=500",
                                  "CSHEALTHD_WRITEBACK_DAILY_CAP=10000",
                                  std::string("CSHEALTHD_WRITEBACK_MANAGERS=default=") + kManager};
    e.insert(e.end(), zone_.begin(), zone_.end());
    e.insert(e.end(), extra.begin(), extra.end());
    return e;
  }
  void sync_and_score(const std::string& day, std::vector<std::string> extra = {}) {
    const auto sync = testing::run_cshealthd({"sync"}, env(extra));
    ASSERT_EQ(sync.status, 0) << sync.output;
    const auto score = testing::run_cshealthd({"score", "--as-of", day}, env(extra));
    ASSERT_EQ(score.status, 0) << score.output;
  }
  testing::RunResult plan(std::vector<std::string> extra = {}) {
    return testing::run_cshealthd({"plan", "--json"}, env(std::move(extra)));
  }
  json sim_records(const std::string& type) const { return sim_->get("/__sim/objects/" + type)["results"]; }
  std::int64_t sim_last_request() const { return sim_->get("/__sim/requests?since=999999999")["last"]; }
  json sim_requests_since(std::int64_t seq) const {
    return sim_->get("/__sim/requests?since=" + std::to_string(seq))["requests"];
  }
  void exec_sql(const std::string& sql) const {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  long long scalar(const std::string& sql) const {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<long long>();
  }

  // Every expected task exactly once (with its owner and company link), every company's properties as
  // expected, nothing more.
  void expect_portal_matches(const Expected& e) const {
    std::map<std::string, int> seen;
    for (const auto& t : sim_records("tasks")) {
      const auto& p = t["properties"];
      const std::string key = p.value("cs_alert_key", "");
      if (key.rfind("alert:", 0) != 0) continue;
      ++seen[key];
      const auto it = e.tasks.find(key);
      if (it == e.tasks.end()) {
        ADD_FAILURE() << "unexpected task " << key;
        continue;
      }
      EXPECT_EQ(p.value("hubspot_owner_id", ""), it->second.second) << key;
      ASSERT_TRUE(t.contains("associations")) << key;
      EXPECT_EQ(t["associations"]["companies"]["results"][0]["id"], it->second.first) << key;
      EXPECT_THAT(p.value("hs_task_body", ""), HasSubstr("[cshealthd " + key + "]"));
    }
    for (const auto& [key, _] : e.tasks) EXPECT_EQ(seen[key], 1) << "task " << key << " lost or duplicated";
    std::size_t checked = 0;
    for (const auto& c : sim_records("companies")) {
      const auto it = e.properties.find(c["id"].get<std::string>());
      if (it == e.properties.end()) continue;
      ++checked;
      for (const auto& [name, value] : it->second) {
        // Writing "" clears a property in HubSpot.
        EXPECT_EQ(c["properties"].value(name, ""), value) << c["id"] << " " << name;
      }
      EXPECT_TRUE(c["properties"].contains("cs_health_updated_at")) << c["id"];
    }
    EXPECT_EQ(checked, e.properties.size());
  }

  TempDir dir_;
  testing::TestDatabase db_{false};
  std::unique_ptr<testing::SimProcess> sim_;
  std::vector<std::string> zone_;  // the service's zone, when a test pins it
};

TEST_P(WritebackTest, WritesExactlyTheExpectedPortalAndNothingOnARepeat) {
  start_sim({});
  sync_and_score("2026-11-20");
  const auto e = expected_after_first_plan(db_.conninfo(), "2026-11-20");
  ASSERT_GT(e.tasks.size(), 20u);  // the generated portal has customers in trouble
  const auto first = plan();
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_THAT(first.output,
              HasSubstr(std::string("\"task_mode\":\"") + (unique() ? "upsert" : "search") + "\""));
  expect_portal_matches(e);
  // Unique keys where the portal allows them, and the output properties with their types.
  bool found = false;
  for (const auto& t : sim_records("tasks")) found = found || t["properties"].contains("cs_alert_key");
  EXPECT_TRUE(found);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE state <> 'done'"), 0);

  // Nothing changed: nothing is written, nothing created (only the open tasks' status is read).
  const auto before = sim_last_request();
  const auto again = plan();
  ASSERT_EQ(again.status, 0) << again.output;
  sync_and_score("2026-11-20");
  const auto third = plan();
  ASSERT_EQ(third.status, 0) << third.output;
  for (const auto& r : sim_requests_since(before)) {
    const std::string path = r["path"];
    EXPECT_TRUE(r["method"] == "GET" || path.find("/batch/read") != std::string::npos ||
                path.find("/search") != std::string::npos)
        << r["method"] << " " << path;
  }
  expect_portal_matches(e);
}

TEST_P(WritebackTest, ExactlyOnceThroughDroppedConnections429s5xxAndKill9) {
  // Writes applied and then the connection dropped, 5xx, 429 storms, and a little latency so that the
  // kills land in the middle of the delivery.
  start_sim(
      {"--faults",
       "seed=5;"
       "route=/crm/v3/objects/tasks/batch/"
       "create,drop_after=0.3,drop_before=0.2,5xx=0.05,storm=0.03x3,latency=1x80;"
       "route=/crm/v3/objects/tasks/batch/"
       "upsert,drop_after=0.3,drop_before=0.2,5xx=0.05,storm=0.03x3,latency=1x80;"
       "route=/crm/v3/objects/tasks/batch/update,drop_after=0.2,5xx=0.05;"
       "route=/crm/v3/objects/companies/batch/update,drop_after=0.2,5xx=0.05,storm=0.03x3,latency=1x60"},
      "1500");
  sync_and_score("2026-11-20");
  const auto e = expected_after_first_plan(db_.conninfo(), "2026-11-20");
  ASSERT_GT(e.tasks.size(), 300u);
  // Each `plan` is killed at a random point of its delivery: after 1 or 2 writes reached HubSpot, and a
  // random moment more. Runs that find nothing left to deliver do not count.
  std::mt19937 rng(unique() ? 17 : 23);
  std::uniform_int_distribution<int> writes_before_kill(1, 2), extra_ms(0, 100);
  auto is_write = [](const json& r) {
    const std::string path = r["path"];
    return r["method"] == "POST" && (path.find("/batch/update") != std::string::npos ||
                                     path.find("/batch/create") != std::string::npos ||
                                     path.find("/batch/upsert") != std::string::npos ||
                                     path.find("/batch/associate") != std::string::npos);
  };
  // Backoffs capped at a second: the faults are frequent, and the test is about outcomes, not waiting.
  const std::vector<std::string> fast_retries = {"CSHEALTHD_HUBSPOT_MAX_RETRY_WAIT_MS=1000"};
  int killed_mid_delivery = 0;
  for (int i = 0; i < 60 && killed_mid_delivery < 20; ++i) {
    const auto before = sim_last_request();
    testing::DaemonOptions o;
    o.args = {"plan"};
    o.env = env(fast_retries);
    o.log_path = dir_.path() / ("plan-" + std::to_string(i) + ".log");
    testing::Daemon d(o);
    const int target = writes_before_kill(rng);
    bool exited = false;
    for (int waited = 0; waited < 60'000; waited += 20) {
      int writes = 0;
      for (const auto& r : sim_requests_since(before)) writes += is_write(r) ? 1 : 0;
      if (writes >= target) break;
      if (d.wait_exit(20ms)) {
        exited = true;
        break;
      }
    }
    if (exited) continue;
    std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(rng)));
    const bool running = !d.wait_exit(0ms).has_value();
    d.signal(SIGKILL);
    ASSERT_TRUE(d.wait_exit(30s).has_value());
    if (running) ++killed_mid_delivery;
  }
  EXPECT_GE(killed_mid_delivery, 20);
  // A last run, left to finish, settles whatever was in doubt.
  const auto last = plan(fast_retries);
  ASSERT_EQ(last.status, 0) << last.output;
  expect_portal_matches(e);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE state <> 'done'"), 0);
  // The faults did hit writes whose answers never came.
  long long dropped = 0;
  for (const auto& r : sim_requests_since(0)) {
    const std::string path = r["path"];
    if (r["status"] == 0 && path.find("/batch/") != std::string::npos) ++dropped;
  }
  EXPECT_GT(dropped, 3);
  if (!unique()) {
    // Creates in doubt were looked for, and those that had not been applied were created again.
    long long searches = 0;
    for (const auto& r : sim_requests_since(0))
      searches += r["path"] == "/crm/v3/objects/tasks/search" ? 1 : 0;
    EXPECT_GT(searches, 0);
    EXPECT_GT(scalar("SELECT count(*) FROM outbox WHERE kind = 'task' AND attempts > 1"), 0);
  }
}

// A task a CSM completes in HubSpot is seen as closed: read by id while few are open, then (past 100
// open) by a search for the alert tasks changed since the last read.
class WritebackReadsTest : public WritebackTest {};

TEST_P(WritebackReadsTest, ATaskCompletedInHubSpotIsSeenClosedByIdAndBySearch) {
  start_sim({}, "400");
  sync_and_score("2026-11-20");
  ASSERT_EQ(plan().status, 0);
  ASSERT_GT(scalar("SELECT count(*) FROM alert_episodes WHERE task_open"), 100);
  auto complete = [&](const std::string& key) {
    std::string id;
    for (const auto& t : sim_records("tasks")) {
      if (t["properties"].value("cs_alert_key", "") == key) id = t["id"];
    }
    ASSERT_FALSE(id.empty()) << key;
    http::ClientRequest r;
    r.method = "PATCH";
    r.url = "http://127.0.0.1:" + std::to_string(sim_->port) + "/crm/v3/objects/tasks/" + id;
    r.headers = {{"Authorization", "Bearer T"}, {"Content-Type", "application/json"}};
    r.body = json{{"properties", {{"hs_task_status", "COMPLETED"}}}}.dump();
    ASSERT_EQ(http::fetch(r).status, 200);
  };
  auto open_of = [&](const std::string& key) {
    return scalar("SELECT count(*) FROM alert_episodes WHERE task_open AND task_key = '" + key + "'");
  };
  const auto keys = [&] {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const auto& r :
         tx.exec("SELECT task_key FROM alert_episodes WHERE task_open ORDER BY task_key LIMIT 2"))
      out.push_back(r[0].as<std::string>());
    return out;
  }();
  complete(keys[0]);
  const auto before = sim_last_request();
  ASSERT_EQ(plan().status, 0);  // the first read of the open tasks: by id
  EXPECT_EQ(open_of(keys[0]), 0);
  EXPECT_EQ(open_of(keys[1]), 1);
  complete(keys[1]);
  std::this_thread::sleep_for(300ms);  // past the simulator's search lag (the next read's overlap covers it)
  const auto searched_from = sim_last_request();
  ASSERT_EQ(plan().status, 0);  // then: the alert tasks changed since
  EXPECT_EQ(open_of(keys[1]), 0);
  long long reads = 0, searches = 0;
  for (const auto& r : sim_requests_since(before)) {
    const std::string path = r["path"];
    if (path == "/crm/v3/objects/tasks/batch/read") reads += r["seq"].get<std::int64_t>() <= searched_from;
    if (path == "/crm/v3/objects/tasks/search") searches += r["seq"].get<std::int64_t>() > searched_from;
  }
  EXPECT_GT(reads, 1);
  EXPECT_GE(searches, 1);
}

class WritebackUsageTest : public WritebackTest {};

// Usage sent to cshealthd (here a CSV import) is written through to the company's usage properties,
// created with the portal's set-up, once; a repeat with nothing changed writes nothing.
TEST_P(WritebackUsageTest, TheUsageSummaryIsWrittenThroughOnceAndNotAgain) {
  zone_ = {"CSHEALTHD_SCHEDULE_TIME_ZONE=UTC"};
  start_sim({}, "20");
  const std::string today = testing::utc_day();
  ASSERT_EQ(testing::run_cshealthd({"sync"}, env()).status, 0);
  const auto company = scalar("SELECT min(id) FROM companies");
  const auto csv = dir_.path() / "usage.csv";
  {
    std::ofstream out(csv);
    out << "company_id,date,active_users_30d,licensed_seats,logins_30d\n"
        << company << "," << today << ",3,4,50\n";
  }
  const auto imported = testing::run_cshealthd({"usage", "import", csv.string()}, env());
  ASSERT_EQ(imported.status, 0) << imported.output;
  sync_and_score(today);
  const auto first = plan();
  ASSERT_EQ(first.status, 0) << first.output;
  json props;
  for (const auto& c : sim_records("companies"))
    if (c["id"] == std::to_string(company)) props = c["properties"];
  EXPECT_EQ(props.value("cs_usage_active_users_30d", ""), "3") << props.dump();
  EXPECT_EQ(props.value("cs_usage_logins_30d", ""), "50");
  EXPECT_EQ(props.value("cs_usage_seat_utilisation", ""), "75");
  EXPECT_FALSE(props.contains("cs_usage_last_active_date"));  // only the Segment source knows it
  http::ClientRequest list;
  list.url = "http://127.0.0.1:" + std::to_string(sim_->port) + "/crm/v3/properties/companies";
  list.headers = {{"Authorization", "Bearer T"}};
  const std::string defined = http::fetch(list).body;
  for (const char* name : {"cs_usage_active_users_30d", "cs_usage_logins_30d", "cs_usage_seat_utilisation",
                           "cs_usage_features_used", "cs_usage_last_active_date"})
    EXPECT_NE(defined.find(std::string("\"") + name + "\""), std::string::npos) << name;
  // Nothing changed: no property written again.
  const auto before = sim_last_request();
  sync_and_score(today);
  ASSERT_EQ(plan().status, 0);
  for (const auto& r : sim_requests_since(before)) {
    const std::string path = r["path"];
    EXPECT_TRUE(r["method"] == "GET" || path.find("/batch/read") != std::string::npos ||
                path.find("/search") != std::string::npos)
        << r["method"] << " " << path;
  }
}

INSTANTIATE_TEST_SUITE_P(UniqueTaskKeys, WritebackUsageTest, ::testing::Values(true));

INSTANTIATE_TEST_SUITE_P(UniqueTaskKeys, WritebackReadsTest, ::testing::Values(true));  // the same in both

INSTANTIATE_TEST_SUITE_P(BothPortals, WritebackTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "UniqueTaskKeys" : "SearchReconciled"; });

// Alert governance across days, driven by overrides of the score (the planner sees what a CS lead's
// override makes of a company). A score as of a day sees the overrides set by that day's end in the
// service's zone, so the days are today's and the next ones in UTC, never fixed dates.
class WritebackGovernanceTest : public WritebackTest {
 protected:
  virtual std::vector<std::string> sim_args() const { return {}; }
  void SetUp() override {
    zone_ = {"CSHEALTHD_SCHEDULE_TIME_ZONE=UTC"};
    start_sim(sim_args(), "12");
    const auto sync = testing::run_cshealthd({"sync"}, env());
    ASSERT_EQ(sync.status, 0) << sync.output;
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    for (const auto& r : tx.exec("SELECT id::text FROM companies ORDER BY id LIMIT 2"))
      ids_.push_back(r[0].as<std::string>());
  }
  void set_score(const std::string& company, int value) {
    const auto r =
        testing::run_cshealthd({"override", "set", "--company", company, "--value", std::to_string(value),
                                "--reason", "test", "--expires", testing::utc_day(30), "--author", "lead"},
                               env());
    ASSERT_EQ(r.status, 0) << r.output;
  }
  void day(const std::string& d, std::vector<std::string> extra = {}) {
    const auto score = testing::run_cshealthd({"score", "--as-of", d}, env(extra));
    ASSERT_EQ(score.status, 0) << score.output;
    const auto p = plan(extra);
    ASSERT_EQ(p.status, 0) << p.output;
  }
  std::vector<json> tasks_of(const std::string& company, const std::string& rule) const {
    std::vector<json> out;
    const std::string prefix = "alert:" + company + ":" + rule + ":";
    for (const auto& t : sim_records("tasks")) {
      if (t["properties"].value("cs_alert_key", "").rfind(prefix, 0) == 0) out.push_back(t);
    }
    return out;
  }
  std::vector<std::string> ids_;
};

TEST_P(WritebackGovernanceTest, DipRecoverDipGivesTwoTasksAClearedConditionClosesItsTaskASnoozeSilences) {
  const std::string a = ids_[0], b = ids_[1];
  const std::vector<std::string> close_at_once = {"CSHEALTHD_WRITEBACK_AUTO_CLOSE_DAYS=0"};
  std::vector<std::string> d;  // the five days, today first
  for (int i = 0; i < 5; ++i) d.push_back(testing::utc_day(i));
  set_score(a, 55);
  set_score(b, 50);
  const auto snooze = testing::run_cshealthd({"snooze", "set", "--company", b, "--rule", "score_below_60",
                                              "--until", d[2], "--reason", "exec call booked"},
                                             env());
  ASSERT_EQ(snooze.status, 0) << snooze.output;
  day(d[0], close_at_once);
  ASSERT_EQ(tasks_of(a, "score_below_60").size(), 1u);
  EXPECT_TRUE(tasks_of(b, "score_below_60").empty());
  set_score(a, 62);  // above 60, within the margin: the task closes, the episode goes on
  day(d[1], close_at_once);
  auto t = tasks_of(a, "score_below_60");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["properties"]["hs_task_status"], "COMPLETED");
  EXPECT_THAT(t[0]["properties"].value("hs_task_body", ""), HasSubstr("Closed by cshealthd on " + d[1]));
  set_score(a, 58);  // a wobble inside the same episode
  day(d[2], close_at_once);
  EXPECT_EQ(tasks_of(a, "score_below_60").size(), 1u);
  EXPECT_TRUE(tasks_of(b, "score_below_60").empty());  // snoozed until today, inclusive
  set_score(a, 70);                                    // recovered past 60 + 5: re-armed
  day(d[3], close_at_once);
  EXPECT_EQ(tasks_of(b, "score_below_60").size(), 1u);  // the snooze is over
  set_score(a, 50);
  day(d[4], close_at_once);
  t = tasks_of(a, "score_below_60");
  ASSERT_EQ(t.size(), 2u);  // two episodes, two tasks: not one, not five
  std::set<std::string> keys;
  for (const auto& x : t) keys.insert(x["properties"]["cs_alert_key"]);
  EXPECT_EQ(keys,
            (std::set<std::string>{"alert:" + a + ":score_below_60:1", "alert:" + a + ":score_below_60:2"}));
  // The snooze was audited.
  EXPECT_EQ(
      scalar(
          "SELECT count(*) FROM alert_snoozes WHERE rule = 'score_below_60' AND reason = 'exec call booked'"),
      1);
}

TEST_P(WritebackGovernanceTest, AnAssigneeOverTheCapGetsOneDigestMostUrgentFirst) {
  for (const auto& id : ids_) set_score(id, 30);
  const auto score = testing::run_cshealthd({"score", "--as-of", testing::utc_day()}, env());
  ASSERT_EQ(score.status, 0) << score.output;
  const auto e = expected_after_first_plan(db_.conninfo(), testing::utc_day());
  std::map<std::string, int> per_assignee;
  for (const auto& [key, t] : e.tasks) ++per_assignee[t.second];
  const auto p = plan({"CSHEALTHD_WRITEBACK_DAILY_CAP=2"});
  ASSERT_EQ(p.status, 0) << p.output;
  std::map<std::string, int> own, digests;
  std::map<std::string, std::string> digest_body;
  for (const auto& t : sim_records("tasks")) {
    const auto& props = t["properties"];
    const std::string key = props.value("cs_alert_key", "");
    const std::string owner = props.value("hubspot_owner_id", "");
    if (key.rfind("digest:", 0) == 0) {
      ++digests[owner];
      digest_body[owner] = props.value("hs_task_body", "");
    } else if (key.rfind("alert:", 0) == 0) {
      ++own[owner];
    }
  }
  ASSERT_FALSE(per_assignee.empty());
  bool some_over = false;
  for (const auto& [who, k] : per_assignee) {
    EXPECT_EQ(own[who], std::min(k, 2)) << who;
    EXPECT_EQ(digests[who], k > 2 ? 1 : 0) << who;
    if (k > 2) {
      some_over = true;
      EXPECT_THAT(digest_body[who], HasSubstr(std::to_string(k - 2) + " alerts"));
      // HIGH before MEDIUM in the list.
      const auto high = digest_body[who].find("[HIGH]"), medium = digest_body[who].find("[MEDIUM]");
      if (medium != std::string::npos && high != std::string::npos) {
        EXPECT_LT(high, medium);
      }
    }
  }
  EXPECT_TRUE(some_over);
}

// The admin API over write-back: snoozes (set, list, revoke) and the outbox (list, retry), with their
// errors as JSON.
TEST_P(WritebackGovernanceTest, TheAdminApiSetsListsAndRevokesSnoozesAndRetriesDeadItems) {
  const auto score = testing::run_cshealthd({"score", "--as-of", testing::utc_day()}, env());
  ASSERT_EQ(score.status, 0) << score.output;
  ASSERT_EQ(plan().status, 0);
  testing::DaemonOptions o;
  o.env = env({"CSHEALTHD_HTTP_LISTEN=127.0.0.1:0", "CSHEALTHD_ADMIN_TOKEN=adm",
               "CSHEALTHD_SCHEDULE_ENABLED=false",
               "CSHEALTHD_LOG_LEVEL=info"});  // "listening on" is an info line
  o.log_path = dir_.path() / "serve.log";
  testing::Daemon serve(o);
  const auto port = serve.wait_listening();
  ASSERT_NE(port, 0) << serve.log();
  auto api = [&](const std::string& method, const std::string& path, const json& body = nullptr) {
    http::ClientRequest r;
    r.method = method;
    r.url = "http://127.0.0.1:" + std::to_string(port) + path;
    r.headers = {{"Authorization", "Bearer adm"}, {"Content-Type", "application/json"}};
    if (!body.is_null()) r.body = body.dump();
    r.timeout = 10s;
    return http::fetch(r);
  };
  const std::string a = ids_[0];
  const std::string base = "/v1/companies/" + a + "/snoozes";
  auto set = api("POST", base,
                 {{"rule", "usage_drop"},
                  {"until", testing::utc_day(13)},
                  {"reason", "QBR booked"},
                  {"author", "lead"}});
  ASSERT_EQ(set.status, 201) << set.body;
  EXPECT_EQ(json::parse(set.body)["snooze"]["rule"], "usage_drop");
  EXPECT_EQ(
      api("POST", base, {{"rule", "no_such_rule"}, {"until", testing::utc_day(13)}, {"reason", "x"}}).status,
      400);
  EXPECT_EQ(api("POST", base, {{"rule", "usage_drop"}, {"until", "2020-01-01"}, {"reason", "x"}}).status,
            400);
  EXPECT_EQ(api("POST", base, {{"rule", "usage_drop"}, {"until", testing::utc_day(13)}}).status,
            400);  // no reason
  EXPECT_EQ(api("POST", base,
                {{"rule", "usage_drop"}, {"until", testing::utc_day(13)}, {"reason", "x"}, {"bogus", 1}})
                .status,
            400);
  EXPECT_EQ(api("POST", "/v1/companies/999/snoozes",
                {{"rule", "usage_drop"}, {"until", testing::utc_day(13)}, {"reason", "x"}})
                .status,
            404);
  const auto listed = json::parse(api("GET", base).body)["snoozes"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["reason"], "QBR booked");
  EXPECT_EQ(api("DELETE", base + "/usage_drop?author=lead").status, 204);
  EXPECT_EQ(api("DELETE", base + "/usage_drop").status, 404);
  EXPECT_EQ(json::parse(api("GET", base).body)["snoozes"][0]["revoked"], true);  // kept: the audit trail

  const auto outbox = api("GET", "/v1/outbox?state=done&limit=5");
  ASSERT_EQ(outbox.status, 200) << outbox.body;
  const auto page = json::parse(outbox.body);
  ASSERT_EQ(page["items"].size(), 5u);
  EXPECT_GT(page["counts"]["done"].get<long long>(), 5);
  EXPECT_TRUE(page.contains("next_before"));
  EXPECT_EQ(api("GET", "/v1/outbox?state=lost").status, 400);
  EXPECT_EQ(api("GET", "/v1/outbox?limit=0").status, 400);
  const auto done_id = std::to_string(page["items"][0]["id"].get<long long>());
  EXPECT_EQ(api("POST", "/v1/outbox/" + done_id + "/retry").status, 409);  // only dead items
  EXPECT_EQ(api("POST", "/v1/outbox/99999999/retry").status, 404);
  exec_sql("UPDATE outbox SET state = 'dead', error = 'test' WHERE id = " + done_id);
  const auto retried = api("POST", "/v1/outbox/" + done_id + "/retry");
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(json::parse(retried.body)["item"]["state"], "pending");
  EXPECT_EQ(api("GET", "/v1/outbox", nullptr).status, 200);
}

INSTANTIATE_TEST_SUITE_P(UniqueTaskKeys, WritebackGovernanceTest, ::testing::Values(true));

// Red alerts and escalations also go to the CS team's Slack channel, once each, retried when Slack fails;
// the webhook URL (a credential) never shows in a log or an error.
class WritebackSlackTest : public WritebackGovernanceTest {
 protected:
  std::vector<std::string> sim_args() const override { return {"--slack-fail-first", "1"}; }
};

TEST_P(WritebackSlackTest, RedAlertsArePostedOnceAndAFailedPostIsRetried) {
  const std::string url = "http://127.0.0.1:" + std::to_string(sim_->port) + "/__sim/slack";
  const std::vector<std::string> slack = {"CSHEALTHD_WRITEBACK_SLACK_WEBHOOK_URL=" + url,
                                          "CSHEALTHD_LOG_LEVEL=info"};
  set_score(ids_[0], 30);
  const auto score = testing::run_cshealthd({"score", "--as-of", testing::utc_day()}, env(slack));
  ASSERT_EQ(score.status, 0) << score.output;
  const auto first = plan(slack);
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("Slack post failed"));
  EXPECT_THAT(first.output, ::testing::Not(HasSubstr("/__sim/slack")));
  std::this_thread::sleep_for(2500ms);  // the retry's backoff
  const auto second = plan(slack);
  ASSERT_EQ(second.status, 0) << second.output;
  const auto messages = sim_->get("/__sim/slack")["messages"];
  std::map<std::string, int> per_alert;
  for (const auto& m : messages) {
    const std::string text = m["text"];
    const auto at = text.find("[cshealthd ");
    ASSERT_NE(at, std::string::npos) << text;
    ++per_alert[text.substr(at, text.find(']', at) - at)];
  }
  EXPECT_EQ(per_alert["[cshealthd alert:" + ids_[0] + ":score_below_40:1"], 1);
  for (const auto& [key, n] : per_alert) EXPECT_EQ(n, 1) << key;
  // Only alerts marked for Slack: no plain below-60 task went there.
  EXPECT_EQ(per_alert.count("[cshealthd alert:" + ids_[0] + ":score_below_60:1"), 0u);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE kind = 'slack' AND state <> 'done'"), 0);
}

// CRM text is hostile. A company named as Slack markup and HTML reaches Slack and the HubSpot task as
// text: Slack's bot pings no channel and shows no disguised link, and the task carries no live HTML.
TEST_P(WritebackSlackTest, AHostileCompanyNameArrivesInertInSlackAndInTheTask) {
  const std::string hostile =
      "Acme <!channel> <https://evil.example|Renew now> <a href=\"https://evil.example\">x</a>";
  http::ClientRequest rename;
  rename.method = "PATCH";
  rename.url = "http://127.0.0.1:" + std::to_string(sim_->port) + "/crm/v3/objects/companies/" + ids_[0];
  rename.headers = {{"Authorization", "Bearer T"}, {"Content-Type", "application/json"}};
  rename.body = json{{"properties", {{"name", hostile}}}}.dump();
  ASSERT_EQ(http::fetch(rename).status, 200);
  ASSERT_EQ(testing::run_cshealthd({"sync", "--full"}, env()).status, 0);  // past HubSpot's search lag
  const std::string url = "http://127.0.0.1:" + std::to_string(sim_->port) + "/__sim/slack";
  const std::vector<std::string> slack = {"CSHEALTHD_WRITEBACK_SLACK_WEBHOOK_URL=" + url};
  set_score(ids_[0], 30);
  ASSERT_EQ(testing::run_cshealthd({"score", "--as-of", testing::utc_day()}, env(slack)).status, 0);
  ASSERT_EQ(plan(slack).status, 0);
  std::this_thread::sleep_for(2500ms);  // the first post fails (this simulator's setting): its retry
  ASSERT_EQ(plan(slack).status, 0);
  int posted = 0;
  const auto slack_log = sim_->get("/__sim/slack");
  for (const auto& m : slack_log["messages"]) {
    const std::string text = m["text"];
    if (text.find("alert:" + ids_[0] + ":") == std::string::npos) continue;
    ++posted;
    EXPECT_THAT(text, HasSubstr("Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt;")) << text;
    EXPECT_THAT(text, ::testing::Not(HasSubstr("<!channel>"))) << text;
    EXPECT_THAT(text, ::testing::Not(HasSubstr("<https://"))) << text;
  }
  EXPECT_EQ(posted, 1) << slack_log.dump();
  const auto tasks = tasks_of(ids_[0], "score_below_40");
  ASSERT_EQ(tasks.size(), 1u);
  for (const char* field : {"hs_task_subject", "hs_task_body"}) {
    const std::string v = tasks[0]["properties"].value(field, "");
    EXPECT_THAT(v, HasSubstr("Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt;")) << field;
    EXPECT_THAT(v, ::testing::Not(HasSubstr("<a href"))) << field;
    EXPECT_THAT(v, ::testing::Not(HasSubstr("<!channel>"))) << field;
  }
}

TEST_P(WritebackSlackTest, AnUnreachableWebhookKeepsItsUrlOutOfLogsAndErrors) {
  // Nothing listens on port 1: the post fails in the transport (whose messages can name the request's path).
  const std::vector<std::string> slack = {
      "CSHEALTHD_WRITEBACK_SLACK_WEBHOOK_URL=http://127.0.0.1:1/services/T000/B000/s3cr3t-path",
      "CSHEALTHD_LOG_LEVEL=info"};
  set_score(ids_[0], 30);
  const auto score = testing::run_cshealthd({"score", "--as-of", testing::utc_day()}, env(slack));
  ASSERT_EQ(score.status, 0) << score.output;
  const auto p = plan(slack);
  ASSERT_EQ(p.status, 0) << p.output;
  EXPECT_THAT(p.output, HasSubstr("Slack post failed"));
  EXPECT_THAT(p.output, ::testing::Not(HasSubstr("s3cr3t")));
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE error LIKE '%s3cr3t%'"), 0);
  EXPECT_GT(scalar("SELECT count(*) FROM outbox WHERE kind = 'slack' AND state = 'pending' AND attempts = 1"),
            0);
}

INSTANTIATE_TEST_SUITE_P(UniqueTaskKeys, WritebackSlackTest, ::testing::Values(true));

// A portal whose property of the same name has another type: the run stops, saying what to fix.
TEST(WritebackSetupTest, APropertyOfTheWrongTypeStopsWithAClearMessage) {
  TempDir dir;
  testing::TestDatabase db{false};
  testing::SimProcess sim(dir, {"--seed", "3", "--generate", "5"});
  ASSERT_NE(sim.port, 0);
  const std::string base = "http://127.0.0.1:" + std::to_string(sim.port);
  for (const auto& body :
       {json{{"name", "customer_success"}, {"label", "CS"}}, json{{"name", "cs_health_score"},
                                                                  {"label", "x"},
                                                                  {"type", "string"},
                                                                  {"fieldType", "text"},
                                                                  {"groupName", "customer_success"}}}) {
    http::ClientRequest r;
    r.method = "POST";
    r.url = base +
            (body.contains("type") ? "/crm/v3/properties/companies" : "/crm/v3/properties/companies/groups");
    r.headers = {{"Authorization", "Bearer T"}, {"Content-Type", "application/json"}};
    r.body = body.dump();
    ASSERT_LT(http::fetch(r).status, 300);
  }
  const std::vector<std::string> env = {"CSHEALTHD_HUBSPOT_BASE_URL=" + base, "CSHEALTHD_HUBSPOT_TOKEN=T",
                                        "CSHEALTHD_DATABASE_URL=" + db.conninfo(),
                                        "CSHEALTHD_LOG_FORMAT=text"};
  ASSERT_EQ(testing::run_cshealthd({"sync"}, env).status, 0);
  ASSERT_EQ(testing::run_cshealthd({"score", "--as-of", "2026-11-20"}, env).status, 0);
  const auto p = testing::run_cshealthd({"plan"}, env);
  EXPECT_EQ(p.status, 1);
  EXPECT_THAT(p.output, HasSubstr("cs_health_score is of type 'string'"));
  EXPECT_THAT(p.output, HasSubstr("writeback.properties"));
}

}  // namespace
}  // namespace cshealthd
