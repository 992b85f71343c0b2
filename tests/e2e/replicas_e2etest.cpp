// Three `cshealthd serve` processes on one PostgreSQL, as a deployment runs them: the job queue runs every
// job exactly once, a replica killed (kill -9) in the middle of the nightly run is replaced by another that
// resumes where it stopped, the nightly run happens once per date however the clocks disagree and the
// leadership moves, a night missed while all were down is caught up once, and replicas syncing together
// stay inside the app's one HubSpot budget.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/core/time.hpp"
#include "cshealthd/http/client.hpp"
#include "cshealthd/store/session_lock.hpp"
#include "daemon.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::Daemon;
using testing::TempDir;

class ReplicasTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    std::vector<std::string> e = base_env(
        i, {"CSHEALTHD_JOBS_WORKERS=4", "CSHEALTHD_JOBS_LEASE_MS=2000", "CSHEALTHD_JOBS_POLL_INTERVAL_MS=50",
            "CSHEALTHD_JOBS_RETRY_BASE_MS=100", "CSHEALTHD_SCHEDULE_TICK_MS=100",
            "CSHEALTHD_SCHEDULE_SYNC_INTERVAL_MS=0", "CSHEALTHD_HTTP_SHUTDOWN_DEADLINE_MS=3000"});
    if (sim_port_) {
      e.push_back("CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim_port_));
      e.push_back("CSHEALTHD_HUBSPOT_TOKEN=T");
    }
    return e;
  }

  // The replica whose pid is in a lease token ("host:pid:id/w0/3"), or -1.
  int replica_of(const std::string& lease) const {
    const auto a = lease.find(':'), b = lease.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) return -1;
    const auto pid = std::stoi(lease.substr(a + 1, b - a - 1));
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      if (replicas_[i] && replicas_[i]->pid() == pid) return static_cast<int>(i);
    }
    return -1;
  }
  void set_clock(const char* iso) const { set_clock_ms(*core::parse_iso8601(iso)); }
};

TEST_F(ReplicasTest, TenThousandJobsOverThreeReplicasOfFourWorkersRunExactlyOnce) {
  for (int i = 0; i < 3; ++i) start(i);
  exec("INSERT INTO jobs (kind) SELECT 'probe' FROM generate_series(1, 10000)");
  ASSERT_TRUE(wait_for("SELECT count(*) FROM jobs WHERE state = 'succeeded'", 10'000, 240s))
      << scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") << " succeeded";
  EXPECT_EQ(scalar("SELECT count(*) FROM job_probes"), 10'000);                // 0 lost, 0 run twice
  EXPECT_EQ(scalar("SELECT count(DISTINCT job_id) FROM job_probes"), 10'000);  // 0 double claims
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE attempt <> 1 OR takeovers <> 0"), 0);
  // Every replica took its share.
  std::map<int, long long> per_replica;
  pqxx::connection c(db_.conninfo());
  pqxx::nontransaction tx(c);
  for (const auto& r : tx.exec("SELECT worker FROM job_probes"))
    ++per_replica[replica_of(r[0].as<std::string>())];
  EXPECT_EQ(per_replica.count(-1), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_GT(per_replica[i], 500) << "replica " << i;
}

TEST_F(ReplicasTest, AFailingJobIsRetriedWithBackoffThenDeadAndAnOperatorRetriesIt) {
  start(0);
  exec(
      "INSERT INTO jobs (kind, payload, max_attempts) VALUES ('probe', '{\"fail_until_attempt\": 3}', 5), "
      "('probe', '{\"fail_until_attempt\": 99}', 2), ('no-such-kind', '{}', 5)");
  ASSERT_TRUE(wait_for("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'dead')", 2, 60s));
  EXPECT_EQ(text("SELECT state || ' ' || attempt FROM jobs WHERE payload->>'fail_until_attempt' = '3'"),
            "succeeded 3");
  EXPECT_EQ(text("SELECT state || ' ' || attempt FROM jobs WHERE payload->>'fail_until_attempt' = '99'"),
            "dead 2");
  // A kind this version cannot run is left for a replica that can (a rolling upgrade), not failed.
  EXPECT_EQ(text("SELECT state || ' ' || attempt FROM jobs WHERE kind = 'no-such-kind'"), "queued 0");
  const auto dead = json::parse(api(0, "GET", "/v1/jobs?state=dead").body);
  ASSERT_EQ(dead["jobs"].size(), 1u);
  const auto id = dead["jobs"][0]["id"].get<long long>();
  EXPECT_THAT(dead["jobs"][0]["error"].get<std::string>(), ::testing::HasSubstr("failing attempt 2"));
  EXPECT_EQ(api(0, "POST", "/v1/jobs/" + std::to_string(id - 1) + "/retry").status, 409);  // it succeeded
  const auto retried = api(0, "POST", "/v1/jobs/" + std::to_string(id) + "/retry");
  EXPECT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(json::parse(retried.body)["job"]["attempt"], 0);
  EXPECT_EQ(api(0, "POST", "/v1/jobs/999999/retry").status, 404);
  EXPECT_EQ(api(0, "POST", "/v1/jobs/abc/retry").status, 400);
  EXPECT_EQ(api(0, "GET", "/v1/jobs?state=exploded").status, 400);
  EXPECT_EQ(testing::http_request(ports_[0], "GET", "/v1/jobs").status, 401);
  // The retried job runs its two attempts again and is dead again.
  std::string metrics;
  for (int tries = 0; tries < 300; ++tries, std::this_thread::sleep_for(100ms)) {
    metrics = testing::http_request(ports_[0], "GET", "/metrics").body;
    if (metrics.find("outcome=\"dead\"} 2") != std::string::npos) break;
  }
  EXPECT_EQ(text("SELECT state || ' ' || attempt FROM jobs WHERE id = " + std::to_string(id)), "dead 2");
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("cshealthd_jobs_finished_total{kind=\"probe\",outcome=\"dead\"} 2"));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("cshealthd_jobs_finished_total{kind=\"probe\",outcome=\"failed\"} 4"));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("cshealthd_jobs_finished_total{kind=\"probe\",outcome=\"succeeded\"} 1"));
}

TEST_F(ReplicasTest, KillNineMidRunAnotherReplicaResumesTheSyncAtItsCursorAndTheScoringAtItsChunk) {
  // 1,500 companies whose pages take 40 ms: the first sync is long enough to be hit midway.
  start_sim({"--seed", "9", "--generate", "1500", "--rate-limit", "off", "--search-rate", "off", "--faults",
             "route=/crm/v3/objects/companies,latency=1x40"});
  set_clock("2026-12-01T16:59:30Z");  // 01:59:30 in Tokyo
  const std::vector<std::string> extra = {"CSHEALTHD_TEST_CLOCK_FILE=" + clock_file().string(),
                                          "CSHEALTHD_SCORING_CHUNK_SIZE=50"};
  for (int i = 0; i < 3; ++i) start(i, extra);
  set_clock("2026-12-01T17:00:01Z");  // 02:00:01: the nightly run is due
  ASSERT_TRUE(wait_for("SELECT count(*) FROM jobs WHERE kind = 'pipeline' AND state = 'running'", 1, 30s));
  ASSERT_TRUE(wait_for("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'", 300, 60s));
  const auto lease = text("SELECT lease_owner FROM jobs WHERE kind = 'pipeline'");
  const int victim = replica_of(lease);
  ASSERT_GE(victim, 0) << lease;
  const auto companies_at_kill = scalar("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'");
  ASSERT_LT(companies_at_kill, 1500) << "the sync finished before the kill";
  replicas_[static_cast<std::size_t>(victim)]->signal(SIGKILL);
  replicas_[static_cast<std::size_t>(victim)]->wait_exit(10s);

  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", 1, 180s))
      << text("SELECT error FROM jobs WHERE kind = 'pipeline'");
  EXPECT_EQ(scalar("SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(text("SELECT kind || ' ' || trigger || ' ' || as_of FROM runs"), "nightly schedule 2026-12-02");
  EXPECT_EQ(scalar("SELECT takeovers FROM jobs WHERE kind = 'pipeline'"), 1);
  EXPECT_EQ(scalar("SELECT attempt FROM jobs WHERE kind = 'pipeline'"), 2);
  // The sync resumed at its cursor: each page of companies was asked for once, but for the one in flight.
  const auto log = json::parse(testing::http_request(sim_port_, "GET", "/__sim/requests").body)["requests"];
  std::map<std::string, int> pages;
  int list_calls = 0;
  for (const auto& r : log) {
    const auto path = r["path"].get<std::string>();
    if (r["method"] != "GET" || path.rfind("/crm/v3/objects/companies?", 0) != 0) continue;
    ++list_calls;
    ++pages[path];
  }
  int repeated = 0;
  for (const auto& [path, n] : pages) repeated += n - 1;
  EXPECT_LE(repeated, 2) << list_calls << " list calls for " << pages.size() << " pages";
  EXPECT_EQ(scalar("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"), 1500);
  // Every company is scored but those churned by then (they leave the scores: none is missed or doubled).
  const auto scorable_02 = scorable("2026-12-02");
  EXPECT_GT(scorable_02, 1400);
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores WHERE day = '2026-12-02'"), scorable_02);
  EXPECT_EQ(scalar("SELECT count(*) FROM score_runs WHERE as_of = '2026-12-02'"), 1);

  // Now a run killed while scoring: start one on a replica, kill whoever holds it mid-score.
  const int alive = victim == 0 ? 1 : 0;
  const auto posted = api(alive, "POST", "/v1/runs", R"({"as_of": "2026-12-03"})");
  ASSERT_EQ(posted.status, 202) << posted.body;
  const auto run_id = json::parse(posted.body)["run"]["id"].get<long long>();
  EXPECT_EQ(api(alive, "POST", "/v1/runs").status, 409);  // one run at a time
  const std::string score_progress =
      "SELECT coalesce((checkpoint->'score'->>'companies')::bigint, 0) FROM jobs "
      "WHERE run_id = " +
      std::to_string(run_id);
  ASSERT_TRUE(wait_for(score_progress, 200, 120s));
  const auto holder =
      replica_of(text("SELECT lease_owner FROM jobs WHERE run_id = " + std::to_string(run_id)));
  ASSERT_GE(holder, 0);
  replicas_[static_cast<std::size_t>(holder)]->signal(SIGKILL);
  replicas_[static_cast<std::size_t>(holder)]->wait_exit(10s);
  const auto killed_at = text("SELECT now()");
  const auto scored_before = scalar(score_progress);  // committed with their rows, so exactly these are kept
  const auto scorable_03 = scorable("2026-12-03");
  ASSERT_LT(scored_before, scorable_03) << "the scoring finished before the kill";
  ASSERT_TRUE(wait_for(
      "SELECT count(*) FROM runs WHERE state = 'succeeded' AND id = " + std::to_string(run_id), 1, 180s));
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores WHERE day = '2026-12-03'"), scorable_03);
  // No result was written twice: the companies scored before the kill were not scored again.
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores WHERE day = '2026-12-03' AND computed_at > '" +
                   killed_at + "'"),
            scorable_03 - scored_before);
  EXPECT_EQ(scalar("SELECT count(*) FROM score_runs WHERE as_of = '2026-12-03'"), 1);
  const int survivor = 3 - victim - holder;
  const auto run = json::parse(api(survivor, "GET", "/v1/runs/" + std::to_string(run_id)).body)["run"];
  EXPECT_EQ(run["summary"]["companies_scored"], scorable_03) << run.dump();
  EXPECT_EQ(run["stages"][1]["state"], "done");
  // Each run ended by writing back: every company's properties once (the first run), alert tasks each
  // exactly once in HubSpot, nothing left over.
  EXPECT_EQ(run["stages"][2]["name"], "plan");
  EXPECT_EQ(run["stages"][2]["state"], "done");
  EXPECT_EQ(run["stages"][3]["name"], "deliver");
  EXPECT_EQ(run["stages"][3]["state"], "done");
  EXPECT_TRUE(run["summary"].contains("writeback")) << run.dump();
  EXPECT_GE(scalar("SELECT count(*) FROM outbox WHERE kind = 'properties' AND state = 'done'"), scorable_02);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE state <> 'done'"), 0);
  http::ClientRequest tasks;
  tasks.url = "http://127.0.0.1:" + std::to_string(sim_port_) + "/__sim/objects/tasks";
  tasks.timeout = 60s;
  std::map<std::string, int> per_key;
  const json all_tasks = json::parse(http::fetch(tasks).body);
  for (const auto& t : all_tasks["results"]) ++per_key[t["properties"].value("cs_alert_key", "")];
  EXPECT_EQ(static_cast<long long>(per_key.size()),
            scalar("SELECT count(*) FROM outbox WHERE kind = 'task' AND state = 'done'"));
  for (const auto& [key, n] : per_key) EXPECT_EQ(n, 1) << key;
}

TEST_F(ReplicasTest, SigtermMidRunHandsTheRunBackWithinTheDeadlineAndAnotherReplicaFinishesIt) {
  start_sim({"--seed", "9", "--generate", "1500", "--rate-limit", "off", "--search-rate", "off", "--faults",
             "route=/crm/v3/objects/companies,latency=1x40"});
  for (int i = 0; i < 2; ++i) start(i);
  const auto posted = api(0, "POST", "/v1/runs");
  ASSERT_EQ(posted.status, 202) << posted.body;
  ASSERT_TRUE(wait_for("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'", 200, 60s));
  // The run shows the sync's progress while it runs.
  EXPECT_TRUE(
      wait_for("SELECT coalesce((stages->0->'progress'->>'records_so_far')::bigint, 0) FROM runs", 100, 10s));
  const int holder = replica_of(text("SELECT lease_owner FROM jobs WHERE kind = 'pipeline'"));
  ASSERT_GE(holder, 0);
  const auto t0 = std::chrono::steady_clock::now();
  replicas_[static_cast<std::size_t>(holder)]->signal(SIGTERM);
  EXPECT_EQ(replicas_[static_cast<std::size_t>(holder)]->wait_exit(10s), 0);
  // Handed back at its next committed page, well within http.shutdown_deadline_ms (3 s here).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_THAT(replicas_[static_cast<std::size_t>(holder)]->log(), ::testing::HasSubstr("handed back"));
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", 1, 120s));
  // The hand-back spent no attempt and needed no lease to run out.
  EXPECT_EQ(text("SELECT attempt || ' ' || takeovers FROM jobs WHERE kind = 'pipeline'"), "1 0");
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores"),
            scorable(text("SELECT max(day) FROM health_scores")));
}

TEST_F(ReplicasTest, ARunWaitsForAnotherSyncOfATypeInsteadOfSpendingAnAttempt) {
  start_sim({"--seed", "3", "--generate", "40", "--rate-limit", "off", "--search-rate", "off"});
  start(0);
  // Another process (a CLI sync, say) holds the companies type.
  pqxx::connection holder(db_.conninfo());
  pqxx::nontransaction(holder).exec_params("SELECT pg_advisory_lock($1)",
                                           store::SessionLock::key("cshealthd.sync.companies"));
  const auto posted = api(0, "POST", "/v1/runs");
  ASSERT_EQ(posted.status, 202) << posted.body;
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(text("SELECT state FROM runs"), "running");
  pqxx::nontransaction(holder).exec_params("SELECT pg_advisory_unlock($1)",
                                           store::SessionLock::key("cshealthd.sync.companies"));
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", 1, 60s));
  EXPECT_EQ(text("SELECT attempt || ' ' || coalesce(error, '') FROM jobs"), "1 ");
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores"), 40);
}

TEST_F(ReplicasTest, TheCliQueuesARunFollowsItToTheEndAndListsTheQueue) {
  start_sim({"--seed", "3", "--generate", "40", "--rate-limit", "off", "--search-rate", "off"});
  // With no replica up, the run waits in the queue, and `jobs` shows it there.
  const auto queued = testing::run_cshealthd({"run", "--as-of", "2026-12-02"}, env(0));
  EXPECT_EQ(queued.status, 0) << queued.output;
  EXPECT_THAT(queued.output, ::testing::HasSubstr("run 1 queued (as of 2026-12-02); no service replica"));
  const auto jobs = testing::run_cshealthd({"jobs", "--state", "queued"}, env(0));
  EXPECT_EQ(jobs.status, 0) << jobs.output;
  EXPECT_THAT(jobs.output, ::testing::ContainsRegex("1 +pipeline +queued +0/5 +1 "));
  EXPECT_EQ(testing::run_cshealthd({"jobs", "--state", "exploded"}, env(0)).status, 2);
  EXPECT_EQ(testing::run_cshealthd({"run", "--as-of", "2026-02-30"}, env(0)).status, 2);
  // A replica takes it; `run --wait` follows a second one to its end and prints the summary.
  start(0);
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", 1, 60s));
  const auto waited = testing::run_cshealthd({"run", "--wait"}, env(0));
  EXPECT_EQ(waited.status, 0) << waited.output;
  EXPECT_THAT(waited.output, ::testing::HasSubstr("run 2 succeeded"));
  EXPECT_THAT(waited.output, ::testing::HasSubstr("\"companies_scored\": 40"));
  EXPECT_THAT(waited.output, ::testing::ContainsRegex("score +done +\\[#{20}\\] 40 companies"));
}

TEST_F(ReplicasTest, OneNightlyPerDateWithClocksTwoMinutesApartALeaderKilledAndAMissedNightCaughtUpOnce) {
  start_sim({"--seed", "3", "--generate", "30", "--rate-limit", "off", "--search-rate", "off"});
  set_clock("2026-12-01T16:55:00Z");  // 01:55 in Tokyo
  const std::vector<int> skews = {-120'000, 0, 120'000};
  auto extra = [&](int i) {
    return std::vector<std::string>{
        "CSHEALTHD_TEST_CLOCK_FILE=" + clock_file().string(),
        "CSHEALTHD_TEST_CLOCK_SKEW_MS=" + std::to_string(skews[static_cast<std::size_t>(i)])};
  };
  for (int i = 0; i < 3; ++i) start(i, extra(i));
  auto leader = [&] {
    for (std::size_t i = 0; i < ports_.size(); ++i) {
      if (!replicas_[i]) continue;
      const auto m = testing::http_request(ports_[i], "GET", "/metrics").body;
      if (m.find("cshealthd_scheduler_leader 1") != std::string::npos) return static_cast<int>(i);
    }
    return -1;
  };
  // Time moves through 02:00 a minute per 300 ms; the leader is killed on the way.
  bool killed = false;
  for (int minute = 56; minute <= 70; ++minute) {
    const auto t = *core::parse_iso8601("2026-12-01T16:00:00Z") + minute * 60'000;
    set_clock_ms(t);
    std::this_thread::sleep_for(300ms);
    if (minute == 57 && !killed) {
      int l = -1;
      for (int tries = 0; tries < 50 && l < 0; ++tries, std::this_thread::sleep_for(100ms)) l = leader();
      ASSERT_GE(l, 0);
      replicas_[static_cast<std::size_t>(l)]->signal(SIGKILL);
      replicas_[static_cast<std::size_t>(l)]->wait_exit(10s);
      replicas_[static_cast<std::size_t>(l)].reset();
      killed = true;
    }
  }
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", 1, 120s));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE kind = 'nightly'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE as_of = '2026-12-02' AND trigger = 'schedule'"), 1);

  // Every replica stops; two nights pass; all three start again at 06:00 on the 4th: one catch-up run.
  for (auto& r : replicas_) {
    if (!r) continue;
    r->signal(SIGTERM);
    EXPECT_EQ(r->wait_exit(30s), 0);
    r.reset();
  }
  set_clock("2026-12-03T21:00:00Z");
  for (int i = 0; i < 3; ++i) start(i, extra(i));
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE trigger = 'catch-up'", 1, 30s));
  ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", 2, 120s));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE kind = 'nightly'"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE trigger = 'catch-up' AND as_of = '2026-12-04'"), 1);
  // Every replica's gauges (refreshed every 5 s) show the queue and the last nightly run.
  std::string metrics;
  for (int tries = 0; tries < 100; ++tries, std::this_thread::sleep_for(100ms)) {
    metrics = testing::http_request(ports_[0], "GET", "/metrics").body;
    if (metrics.find("cshealthd_jobs{kind=\"pipeline\",state=\"succeeded\"} 2") != std::string::npos) break;
  }
  EXPECT_THAT(metrics, ::testing::HasSubstr("cshealthd_jobs{kind=\"pipeline\",state=\"succeeded\"} 2"));
  EXPECT_THAT(metrics, ::testing::ContainsRegex("cshealthd_nightly_last_success_time_seconds [1-9]"));
}

TEST_F(ReplicasTest, ThreeSyncingTogetherNeverExceedTheAppBudgetInAnyTenSeconds) {
  start_sim({"--seed", "4", "--generate", "4000", "--rate-limit", "190/10s", "--search-rate", "5/s"});
  // Three processes sync different object types at once, each with the whole budget configured.
  const std::vector<std::vector<std::string>> objects = {{"--objects", "companies,meetings"},
                                                         {"--objects", "contacts,tickets"},
                                                         {"--objects", "deals,feedback_submissions"}};
  std::vector<std::unique_ptr<Daemon>> syncs;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    testing::DaemonOptions o;
    o.args = {"sync", "--full"};
    o.args.insert(o.args.end(), objects[i].begin(), objects[i].end());
    o.env = env(static_cast<int>(i));
    o.log_path = dir_.path() / ("sync" + std::to_string(i) + ".log");
    syncs.push_back(std::make_unique<Daemon>(o));
  }
  for (auto& s : syncs) EXPECT_EQ(s->wait_exit(600s), 0) << s->log();
  const auto log = json::parse(testing::http_request(sim_port_, "GET", "/__sim/requests").body)["requests"];
  std::vector<std::int64_t> at;
  int limited = 0;
  for (const auto& r : log) {
    at.push_back(r["at_ms"].get<std::int64_t>());
    limited += r["status"] == 429 ? 1 : 0;
  }
  ASSERT_GT(at.size(), 400u) << "too few requests to say anything about a 10 s window";
  std::sort(at.begin(), at.end());
  std::size_t worst = 0;
  for (std::size_t i = 0, j = 0; i < at.size(); ++i) {
    while (at[i] - at[j] >= 10'000) ++j;
    worst = std::max(worst, i - j + 1);
  }
  EXPECT_LE(worst, 190u) << "requests in the busiest 10 s";
  EXPECT_LT(limited * 100, static_cast<int>(at.size())) << limited << " 429s of " << at.size();
  std::printf("[ measured ] %zu requests, busiest 10 s: %zu, 429s: %d\n", at.size(), worst, limited);
}

}  // namespace
}  // namespace cshealthd
