// The embedded PostgreSQL killed (SIGKILL to the postmaster) in the middle of a sync and of a scoring
// run: the command rides it out or fails cleanly, a rerun finishes the work, and nothing is lost or
// written twice.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/process.hpp"
#include "cshealthd/store/embedded_postgres.hpp"
#include "daemon.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Daemon;
using testing::TempDir;

class PostmasterKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0711);  // as root the cluster runs as `postgres`, which must enter it
    // 1,500 companies with a 40 ms answer per page: a full sync takes long enough to be hit midway.
    sim_ = std::make_unique<testing::SimProcess>(
        dir_, std::vector<std::string>{"--seed", "9", "--generate", "1500", "--faults",
                                       "route=/crm/v3/objects/companies,latency=1x40"});
    ASSERT_NE(sim_->port, 0);
  }
  std::vector<std::string> env() const {
    return {"CSHEALTHD_STATE_DIR=" + state().string(),
            "CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim_->port),
            "CSHEALTHD_HUBSPOT_TOKEN=T", "CSHEALTHD_LOG_FORMAT=text",
            "CSHEALTHD_DATABASE_EMBEDDED_FSYNC=false"};
  }
  fs::path state() const { return dir_.path() / "state"; }
  // A query on the embedded cluster; nullopt while it is down (or not created yet).
  std::optional<long> scalar(const std::string& sql) const {
    try {
      pqxx::connection c("host=" + (state() / "pg").string() +
                         " port=5432 user=cshealthd dbname=cshealthd connect_timeout=2");
      pqxx::nontransaction tx(c);
      const auto r = tx.exec(sql);
      return r[0][0].is_null() ? 0 : r[0][0].as<long>();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  // Waits until `sql` gives at least `n`; then SIGKILLs the postmaster. False when that never happened.
  bool kill_postmaster_once(const std::string& sql, long n, Daemon& running) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (scalar(sql).value_or(0) >= n) break;
      if (running.wait_exit(1ms)) return false;
      std::this_thread::sleep_for(10ms);
    }
    std::ifstream in(state() / "pg" / "postmaster.pid");
    long pid = -1;
    in >> pid;
    return pid > 0 && ::kill(static_cast<pid_t>(pid), SIGKILL) == 0;
  }
  // The cluster, started here once the commands are done, for the final checks (each command stops it
  // when it exits).
  void open_cluster() {
    store::EmbeddedOptions o;
    o.state_dir = state();
    o.fsync = false;
    o.supervise = false;
    cluster_ = std::make_unique<store::EmbeddedPostgres>(o);
    cluster_->start();
  }
  // Runs the command until it succeeds (at most `tries` times); returns the successful run's output.
  testing::RunResult until_success(const std::vector<std::string>& args, int tries = 3) {
    testing::RunResult r;
    for (int i = 0; i < tries; ++i) {
      r = testing::run_cshealthd(args, env());
      if (r.status == 0) break;
    }
    return r;
  }

  TempDir dir_;
  std::unique_ptr<testing::SimProcess> sim_;
  std::unique_ptr<store::EmbeddedPostgres> cluster_;
};

TEST_F(PostmasterKillTest, ASyncHitByAPostmasterKillLosesAndDoublesNothing) {
  testing::DaemonOptions o;
  o.args = {"sync", "--objects", "companies,tickets"};
  o.env = env();
  o.log_path = dir_.path() / "sync1.log";
  Daemon first(o);
  ASSERT_TRUE(
      kill_postmaster_once("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'", 300, first))
      << first.log();
  const auto status = first.wait_exit(180s);
  ASSERT_TRUE(status.has_value()) << first.log();
  // Either the sync rode it out (the supervisor restarts the cluster, transient errors are retried) or
  // it failed with the cursor where it stopped; a second run then finishes.
  std::printf("first sync after the kill: exit %d\n", *status);
  for (const auto& line : {std::string("failed"), std::string("resuming")}) {
    const auto log = first.log();
    for (std::size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) {
      const auto start = log.rfind('\n', at);
      std::printf("  %s\n", log.substr(start + 1, log.find('\n', at) - start - 1).substr(0, 300).c_str());
    }
  }
  const auto second = until_success({"sync", "--objects", "companies,tickets"});
  SCOPED_TRACE("first sync:\n" + first.log() + "\nlast sync:\n" + second.output);
  ASSERT_EQ(second.status, 0) << second.output;
  open_cluster();

  const auto tickets = sim_->get("/__sim/objects/tickets")["results"];
  const auto sim_tickets = tickets.size();
  EXPECT_EQ(scalar("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"), 1500);
  EXPECT_EQ(scalar("SELECT count(*) FROM crm_objects WHERE object_type = 'tickets'"),
            static_cast<long>(sim_tickets));
  EXPECT_EQ(scalar("SELECT count(*) FROM sync_pending_backfill"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM sync_state WHERE full_cursor IS NOT NULL"), 0);
  // Every company has its back-filled days, as many as a clean sync writes (one row per company and
  // day is the table's key).
  EXPECT_EQ(scalar("SELECT count(DISTINCT company_id) FROM company_snapshots"), 1500);
  const auto days = scalar("SELECT count(*) FROM company_snapshots");
  testing::TestDatabase clean(false);
  auto clean_env = env();
  clean_env.push_back("CSHEALTHD_DATABASE_URL=" + clean.conninfo());
  ASSERT_EQ(testing::run_cshealthd({"sync", "--objects", "companies"}, clean_env).status, 0);
  pqxx::connection c(clean.conninfo());
  pqxx::nontransaction q(c);
  EXPECT_EQ(days, q.exec("SELECT count(*) FROM company_snapshots")[0][0].as<long>());
  // Every ticket's company link, as the simulator has it.
  long links = 0;
  for (const auto& t : tickets) {
    if (!t.contains("associations") || !t["associations"].contains("companies")) continue;
    std::set<std::string> companies;
    for (const auto& a : t["associations"]["companies"]["results"])
      companies.insert(a["id"].get<std::string>());
    links += static_cast<long>(companies.size());
  }
  EXPECT_EQ(
      scalar("SELECT count(*) FROM crm_associations WHERE from_type = 'tickets' AND to_type = 'companies'"),
      links);
}

TEST_F(PostmasterKillTest, AScoringRunHitByAPostmasterKillEndsWithOneScorePerCompany) {
  ASSERT_EQ(until_success({"sync", "--objects", "companies,tickets,meetings"}).status, 0);
  testing::DaemonOptions o;
  // Small chunks: many commits, so the kill lands between some of them.
  o.args = {"score", "--as-of", "2026-06-30"};
  o.env = env();
  o.env.push_back("CSHEALTHD_SCORING_CHUNK_SIZE=20");
  o.log_path = dir_.path() / "score1.log";
  Daemon first(o);
  const bool hit =
      kill_postmaster_once("SELECT count(*) FROM health_scores WHERE day = '2026-06-30'", 100, first);
  const auto status = first.wait_exit(180s);
  ASSERT_TRUE(status.has_value()) << first.log();
  std::printf("scoring run %s the kill: exit %d\n", hit ? "hit by" : "finished before", *status);
  {
    const auto log = first.log();
    for (std::size_t at = log.find("failed"); at != std::string::npos; at = log.find("failed", at + 1)) {
      const auto start = log.rfind('\n', at);
      std::printf("  %s\n", log.substr(start + 1, log.find('\n', at) - start - 1).substr(0, 300).c_str());
    }
  }
  const auto again = until_success({"score", "--as-of", "2026-06-30"});
  ASSERT_EQ(again.status, 0) << again.output;
  open_cluster();
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores WHERE day = '2026-06-30'"),
            scalar("SELECT count(*) FROM companies WHERE NOT archived AND created_at < '2026-07-01'"));
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT company_id FROM health_scores WHERE day = '2026-06-30' "
                   "GROUP BY company_id HAVING count(*) > 1) doubled"),
            0);
  EXPECT_GE(
      scalar("SELECT count(*) FROM score_runs WHERE as_of = '2026-06-30' AND finished_at IS NOT NULL AND "
             "error IS NULL")
          .value_or(0),
      1);
}

}  // namespace
}  // namespace cshealthd
