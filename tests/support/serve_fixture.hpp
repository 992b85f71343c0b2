#pragma once
// `cshealthd serve` replicas on one test database, with the HubSpot simulator beside them: what the
// multi-replica end-to-end tests share. A test class says each replica's environment (env(i)).
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "daemon.hpp"
#include "raw_http.hpp"
#include "test_database.hpp"

namespace cshealthd::testing {

class ServeFixture : public ::testing::Test {
 protected:
  static constexpr const char* kAdminToken = "admin-secret";

  // The state dirs sit in dir_: the postgres account must be able to pass through it.
  void SetUp() override { ::chmod(dir_.path().c_str(), 0711); }

  // Replica i's environment (the database, the admin token, the simulator when started, ...).
  virtual std::vector<std::string> env(int i) const = 0;

  // What every replica's environment starts with: its state dir, a free port, the test database, the
  // admin token, text logs; then `more`.
  std::vector<std::string> base_env(int i, std::vector<std::string> more) const {
    std::vector<std::string> e = {
        "CSHEALTHD_STATE_DIR=" + (dir_.path() / ("r" + std::to_string(i))).string(),
        "CSHEALTHD_HTTP_LISTEN=127.0.0.1:0", "CSHEALTHD_DATABASE_URL=" + db_.conninfo(),
        "CSHEALTHD_ADMIN_TOKEN=" + std::string(kAdminToken), "CSHEALTHD_LOG_FORMAT=text"};
    e.insert(e.end(), more.begin(), more.end());
    return e;
  }

  // What a replica needs to run pipelines the test starts against the simulator (start_sim() first): jobs
  // polled quickly, no schedule, UTC, the simulator's address and token, no webhooks; then `more`.
  std::vector<std::string> pipeline_env(int i, std::vector<std::string> more) const {
    std::vector<std::string> e = {"CSHEALTHD_LOG_LEVEL=info",
                                  "CSHEALTHD_JOBS_WORKERS=2",
                                  "CSHEALTHD_JOBS_POLL_INTERVAL_MS=20",
                                  "CSHEALTHD_SCHEDULE_ENABLED=false",
                                  "CSHEALTHD_SCHEDULE_SYNC_INTERVAL_MS=0",
                                  "CSHEALTHD_SCHEDULE_TIME_ZONE=UTC",
                                  "CSHEALTHD_HTTP_SHUTDOWN_DEADLINE_MS=3000",
                                  "CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim_port_),
                                  "CSHEALTHD_HUBSPOT_TOKEN=T",
                                  "CSHEALTHD_HUBSPOT_BURST_INTERVAL_MS=1000",
                                  "CSHEALTHD_WEBHOOK_ENABLED=false",
                                  "CSHEALTHD_WRITEBACK_SEARCH_LAG_MS=200"};
    e.insert(e.end(), more.begin(), more.end());
    return base_env(i, std::move(e));
  }

  // The simulator on a free port, token "T", with `args`.
  void start_sim(const std::vector<std::string>& args) {
    DaemonOptions o;
    o.binary = hubspot_sim_binary();
    o.args = {"--listen", "127.0.0.1:0", "--token", "T"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.log_path = dir_.path() / "sim.log";
    sim_ = std::make_unique<Daemon>(o);
    sim_port_ = sim_->wait_listening();
    ASSERT_NE(sim_port_, 0) << sim_->log();
  }

  // Replica i (0-based) with env(i) and `extra`; waits until it listens.
  void start(int i, const std::vector<std::string>& extra = {}) {
    DaemonOptions o;
    o.env = env(i);
    o.env.insert(o.env.end(), extra.begin(), extra.end());
    o.log_path = dir_.path() / ("replica" + std::to_string(i) + "-" + std::to_string(starts_++) + ".log");
    const auto at = static_cast<std::size_t>(i);
    if (replicas_.size() <= at) replicas_.resize(at + 1);
    ports_.resize(replicas_.size());
    replicas_[at] = std::make_unique<Daemon>(o);
    ports_[at] = replicas_[at]->wait_listening(std::chrono::seconds(60));
    ASSERT_NE(ports_[at], 0) << replicas_[at]->log();
  }

  // The live companies a scoring run for `day` scores: every one created by the day's end (the zone is
  // UTC here) but those churned as of the day under kpis.churn = either (the CS stage `churned`, or an MRR
  // of 0 after a snapshot above 0, each as the latest snapshot on or before the day records it). Written
  // out here, apart from the service's reader.
  long long scorable(const std::string& day) const {
    const std::string d = "'" + day + "'::date";
    const std::string latest = " FROM company_snapshots s WHERE s.company_id = c.id AND s.day <= " + d;
    return scalar(
        "SELECT count(*) FROM companies c WHERE NOT c.archived AND coalesce(c.created_at < (" + d +
        " + 1)::timestamp AT TIME ZONE 'UTC', true) AND NOT coalesce((SELECT (s.backfilled || "
        "s.synced) ->> 'cs_stage'" +
        latest +
        " AND (s.backfilled || s.synced) ? 'cs_stage' ORDER BY s.day DESC LIMIT 1) = 'churned', false) AND "
        "NOT coalesce((SELECT ((s.backfilled || s.synced) ->> 'mrr')::float8" +
        latest +
        " AND jsonb_typeof((s.backfilled || s.synced) -> 'mrr') = 'number' ORDER BY s.day DESC LIMIT 1) = 0 "
        "AND EXISTS (SELECT 1 FROM company_snapshots s WHERE s.company_id = c.id AND s.day < " +
        d +
        " AND jsonb_typeof((s.backfilled || s.synced) -> 'mrr') = 'number' AND ((s.backfilled || s.synced) "
        "->> 'mrr')::float8 > 0), false)");
  }

  long long scalar(const std::string& sql) const {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    const auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<long long>();
  }
  std::string text(const std::string& sql) const {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    const auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }
  void exec(const std::string& sql) const {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  // Polls until `done` holds (exceptions count as not yet), or until `sql` gives at least n; false when
  // the time ran out.
  bool wait_for(const std::function<bool()>& done, std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        if (done()) return true;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  bool wait_for(const std::string& sql, long long n, std::chrono::seconds timeout) const {
    return wait_for([&] { return scalar(sql) >= n; }, timeout);
  }
  // The replicas' wall clock, when started with CSHEALTHD_TEST_CLOCK_FILE=clock_file(): epoch ms,
  // written whole (a new file renamed over the old), so a replica never reads it half-written.
  std::filesystem::path clock_file() const { return dir_.path() / "clock"; }
  void set_clock_ms(std::int64_t ms) const {
    const auto tmp = dir_.path() / "clock.tmp";
    { std::ofstream(tmp) << ms << "\n"; }
    std::filesystem::rename(tmp, clock_file());
  }

  // A call to the simulator's API (its /__sim routes too), expected to succeed: its JSON answer.
  nlohmann::json sim(const std::string& method, const std::string& path,
                     const nlohmann::json& body = nullptr) const {
    const auto r = http_request(sim_port_, method, path, body.is_null() ? "" : body.dump(),
                                {"Authorization: Bearer T", "Content-Type: application/json"});
    EXPECT_GE(r.status, 200) << method << " " << path << ": " << r.body;
    EXPECT_LT(r.status, 300) << method << " " << path << ": " << r.body;
    return r.body.empty() ? nlohmann::json() : nlohmann::json::parse(r.body);
  }
  // Both clocks, the replicas' (started with CSHEALTHD_TEST_CLOCK_FILE=clock_file()) and the
  // simulator's, at 10:00 UTC of `day`.
  void set_day(std::int32_t day) {
    const std::int64_t ms = std::int64_t{day} * 86'400'000 + 10 * 3'600'000;
    set_clock_ms(ms);
    sim("POST", "/__sim/clock", {{"set_ms", ms}});
  }

  // A pipeline run started through replica i's API (retried while the API refuses, e.g. a run under way),
  // followed until it succeeded.
  void run_and_wait(int i, const std::string& body = "") {
    const auto before = scalar("SELECT count(*) FROM runs WHERE state = 'succeeded'");
    RawResponse posted;
    ASSERT_TRUE(wait_for(
        [&] {
          posted = api(i, "POST", "/v1/runs", body);
          return posted.status == 202;
        },
        std::chrono::seconds(60)))
        << posted.status << " " << posted.body;
    ASSERT_TRUE(wait_for("SELECT count(*) FROM runs WHERE state = 'succeeded'", before + 1,
                         std::chrono::seconds(120)))
        << text("SELECT string_agg(coalesce(error, ''), '; ') FROM runs") << replicas_[0]->log();
  }

  // The usage component of a company's latest stored score (null when none), and every usage figure
  // stored ("company metric day value source; ..."): what the usage tests compare.
  nlohmann::json usage_component(const std::string& id) const {
    const auto t = text("SELECT components::text FROM health_scores WHERE company_id = " + id +
                        " ORDER BY day DESC, computed_at DESC LIMIT 1");
    if (t.empty()) return nlohmann::json();
    for (const auto& c : nlohmann::json::parse(t))
      if (c["name"] == "usage") return c;
    return nlohmann::json();
  }
  std::string usage_figures() const {
    return text(
        "SELECT string_agg(company_id || ' ' || metric || ' ' || day || ' ' || value || ' ' || source, '; ' "
        "ORDER BY company_id, metric, day) FROM usage_daily");
  }

  // The admin API of replica i.
  RawResponse api(int i, const std::string& method, const std::string& path, const std::string& body = "") {
    return http_request(
        ports_[static_cast<std::size_t>(i)], method, path, body,
        {"Authorization: Bearer " + std::string(kAdminToken), "Content-Type: application/json"});
  }

  TempDir dir_;
  TestDatabase db_;
  std::unique_ptr<Daemon> sim_;
  std::uint16_t sim_port_ = 0;
  std::vector<std::unique_ptr<Daemon>> replicas_;
  std::vector<std::uint16_t> ports_;
  int starts_ = 0;
};

}  // namespace cshealthd::testing
