// The job queue and the scheduler against a real PostgreSQL: exclusive claims, leases that run out,
// fenced writes, retries, dead jobs, unique keys; the nightly run once per date whatever the clocks say.
#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "cshealthd/config/config.hpp"
#include "cshealthd/pipeline/pipeline.hpp"
#include "cshealthd/pipeline/scheduler.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/run_store.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using store::Job;
using store::JobQueue;
using store::JobSpec;

const std::vector<std::string> kAll = {"probe", "pipeline"};

JobSpec kind(const std::string& k) {
  JobSpec s;
  s.kind = k;
  return s;
}

store::PoolOptions pool(int size = 4) {
  return store::PoolOptions{size, 30'000, 10, std::chrono::milliseconds(30'000)};
}

long long scalar(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<long long>();
}

void exec(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

TEST(JobQueueTest, ConcurrentWorkersClaimEveryJobExactlyOnce) {
  testing::TestDatabase tdb;
  store::Database db(tdb.conninfo(), pool(10));
  JobQueue q(db, {30s});
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(q.enqueue(kind("probe")));
  std::mutex m;
  std::multiset<std::int64_t> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      for (int n = 0;; ++n) {
        auto job = q.claim("w" + std::to_string(w) + "/" + std::to_string(n), kAll);
        if (!job) break;
        {
          std::lock_guard lock(m);
          claimed.insert(job->id);
        }
        ASSERT_TRUE(q.complete(*job, {{"ok", true}}));
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(claimed.size(), 2000u);
  EXPECT_EQ(std::set<std::int64_t>(claimed.begin(), claimed.end()).size(), 2000u);  // 0 double claims
  EXPECT_EQ(scalar(tdb.conninfo(), "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempt = 1"),
            2000);
}

TEST(JobQueueTest, AnExpiredLeaseIsTakenOverAndTheOldWorkerCanNoLongerWrite) {
  testing::TestDatabase tdb;
  store::Database db(tdb.conninfo(), pool());
  JobQueue q(db, {1000ms});
  const auto id = *q.enqueue(kind("probe"));
  const auto first = *q.claim("dead-worker/1", kAll);
  EXPECT_EQ(first.attempt, 1);
  EXPECT_FALSE(q.claim("other/1", kAll));  // held
  EXPECT_EQ(q.requeue_expired(), 0u);
  EXPECT_EQ(q.renew({"dead-worker/1"}), std::vector<std::string>{"dead-worker/1"});
  std::this_thread::sleep_for(1100ms);  // the worker "died": no renewal
  EXPECT_EQ(q.requeue_expired(), 1u);
  const auto second = *q.claim("other/1", kAll);
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.takeovers, 1);
  // The first worker wakes up: every write it tries is refused.
  EXPECT_FALSE(q.complete(first, {}));
  EXPECT_FALSE(q.fail(first, "late", false, 0ms));
  EXPECT_FALSE(q.release(first));
  EXPECT_TRUE(q.renew({"dead-worker/1"}).empty());
  EXPECT_THROW(db.with_connection("cp",
                                  [&](pqxx::connection& c) {
                                    pqxx::work tx(c);
                                    JobQueue::checkpoint(tx, first, {{"x", 1}});
                                  }),
               store::LeaseLost);
  EXPECT_TRUE(q.complete(second, {{"done", true}}));
  EXPECT_EQ(q.get(id)->state, "succeeded");
}

TEST(JobQueueTest, AWorkerClaimsOnlyTheKindsItCanRun) {
  testing::TestDatabase tdb;
  store::Database db(tdb.conninfo(), pool());
  JobQueue q(db, {30s});
  q.enqueue(kind("from-a-newer-version"));
  q.enqueue(kind("probe"));
  const auto job = q.claim("w/1", {"probe"});
  ASSERT_TRUE(job);
  EXPECT_EQ(job->kind, "probe");
  EXPECT_FALSE(q.claim("w/2", {"probe"}));
  EXPECT_EQ(q.list(std::string("queued"), 10).size(), 1u);
}

TEST(JobQueueTest, FailedAttemptsWaitTheirBackoffThenDie) {
  testing::TestDatabase tdb;
  store::Database db(tdb.conninfo(), pool());
  JobQueue q(db, {30s});
  JobSpec spec = kind("probe");
  spec.max_attempts = 3;
  const auto id = *q.enqueue(spec);
  auto job = *q.claim("w/1", kAll);
  EXPECT_EQ(*q.fail(job, "boom 1", false, 60'000ms), "failed");
  EXPECT_FALSE(q.claim("w/2", kAll));  // not before its backoff
  exec(tdb.conninfo(), "UPDATE jobs SET run_after = now()");
  job = *q.claim("w/3", kAll);
  EXPECT_EQ(job.attempt, 2);
  EXPECT_EQ(job.error, "boom 1");
  EXPECT_EQ(*q.fail(job, "boom 2", false, 0ms), "failed");
  job = *q.claim("w/4", kAll);
  EXPECT_EQ(*q.fail(job, "boom 3", false, 0ms), "dead");  // the third of three
  EXPECT_FALSE(q.claim("w/5", kAll));
  EXPECT_EQ(q.list(std::string("dead"), 10).size(), 1u);
  // An operator retries it: attempts start again.
  EXPECT_TRUE(q.retry(id));
  EXPECT_FALSE(q.retry(id));  // queued now, not failed or dead
  job = *q.claim("w/6", kAll);
  EXPECT_EQ(job.attempt, 1);
  // A permanent error is dead at once.
  EXPECT_EQ(*q.fail(job, "no such run", true, 0ms), "dead");
}

TEST(JobQueueTest, ReleaseHandsTheJobBackWithoutSpendingAnAttempt) {
  testing::TestDatabase tdb;
  store::Database db(tdb.conninfo(), pool());
  JobQueue q(db, {30s});
  JobSpec spec = kind("probe");
  spec.max_attempts = 1;
  q.enqueue(spec);
  for (int i = 0; i < 3; ++i) {
    auto job = *q.claim("w/" + std::to_string(i), kAll);
    EXPECT_EQ(job.attempt, 1);
    EXPECT_TRUE(q.release(job));
  }
  auto job = *q.claim("w/9", kAll);
  EXPECT_TRUE(q.complete(job, {}));
}

TEST(JobQueueTest, AUniqueKeyIsTakenOnceEver) {
  testing::TestDatabase tdb;
  store::Database db(tdb.conninfo(), pool());
  JobQueue q(db, {30s});
  JobSpec spec = kind("pipeline");
  spec.unique_key = "nightly:2026-12-02";
  EXPECT_TRUE(q.enqueue(spec));
  EXPECT_FALSE(q.enqueue(spec));
  auto job = *q.claim("w/1", kAll);
  q.complete(job, {});
  EXPECT_FALSE(q.enqueue(spec));  // finished jobs keep their key
  // A run whose job key is taken is not created either (one transaction).
  store::RunStore runs(db);
  store::RunRequest r;
  r.kind = "nightly";
  r.as_of = "2026-12-02";
  r.unique_key = "nightly:2026-12-02";
  r.stages = {"sync", "score"};
  EXPECT_FALSE(runs.create(r, "pipeline"));
  EXPECT_EQ(scalar(tdb.conninfo(), "SELECT count(*) FROM runs"), 0);
}

// ---- the scheduler ----------------------------------------------------------------------------------

class SettableClock final : public Clock {
 public:
  explicit SettableClock(std::int64_t wall_ms) : wall_ms_(wall_ms) {}
  std::chrono::steady_clock::time_point steady_now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(wall_ms_.load()));
  }
  void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
  void set(std::int64_t ms) { wall_ms_ = ms; }

 private:
  std::atomic<std::int64_t> wall_ms_;
};

std::int64_t utc_ms(const char* iso) {
  return *core::parse_iso8601(iso);
}

core::TimeZone tokyo() {
  std::ifstream f("/usr/share/zoneinfo/Asia/Tokyo", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return core::TimeZone::from_tzif("Asia/Tokyo", ss.str());
}

// One replica's scheduler parts, on the shared database, with its own clock.
struct Replica {
  Replica(const std::string& conninfo, const config::Config& config, const scoring::ScoringConfig& scoring,
          std::int64_t wall_ms)
      : db(conninfo, pool(2)),
        queue(db, {30s}),
        clock(wall_ms),
        sync(
            db, []() -> hubspot::ClientHandle { throw std::logic_error("no HubSpot in this test"); }, clock,
            metrics, config, utc),
        score(db, scoring, metrics, config.scoring, utc),
        pipeline(db, sync, score, {}, nullptr, {}, clock, metrics) {}
  pipeline::Scheduler scheduler(pipeline::ScheduleOptions o) {
    return pipeline::Scheduler(db, pipeline, queue, clock, metrics, o);
  }
  store::Database db;
  JobQueue queue;
  metrics::Registry metrics;
  SettableClock clock;
  core::TimeZone utc = core::TimeZone::utc();
  pipeline::SyncJob sync;
  pipeline::ScoreJob score;
  pipeline::Pipeline pipeline;
};

// One database, the default config and scorecards, and the schedule's zone, for each scheduler test.
class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : scoring(scoring::load_scoring_config(config)) { o.zone = tokyo(); }
  std::unique_ptr<Replica> replica(std::int64_t wall_ms) {
    return std::make_unique<Replica>(tdb.conninfo(), config, scoring, wall_ms);
  }
  long long count(const std::string& sql) const { return scalar(tdb.conninfo(), sql); }
  // Ticks until it leads: a closed session's lock is released by the server a moment after the close.
  static bool leads(pipeline::Scheduler& s) {
    for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(20ms)) {
      if (s.tick()) return true;
    }
    return false;
  }

  testing::TestDatabase tdb;
  const config::Config config;
  const scoring::ScoringConfig scoring;
  pipeline::ScheduleOptions o;
};

TEST_F(SchedulerTest, OneNightlyRunPerDateWithClocksSkewedAndTheLeaderChanging) {
  o.sync_interval = 0ms;
  const std::int64_t base = utc_ms("2026-12-01T16:50:00Z");  // 01:50 in Tokyo
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int skew : {-120'000, 0, 120'000}) replicas.push_back(replica(base + skew));
  // Each pass, a different replica holds the lock: its scheduler object goes (the session with it).
  for (std::int64_t t = base; t < base + 20 * 60'000; t += 30'000) {
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      replicas[i]->clock.set(t + (static_cast<std::int64_t>(i) - 1) * 120'000);
      auto s = replicas[i]->scheduler(o);
      EXPECT_TRUE(leads(s));  // the last leader's session is gone (or going): this one leads
    }
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE kind = 'nightly'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE unique_key = 'nightly:2026-12-02'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE as_of = '2026-12-02' AND trigger = 'schedule'"), 1);
  // The next night brings the next one, once.
  for (std::int64_t t = base + 86'400'000; t < base + 86'400'000 + 20 * 60'000; t += 60'000) {
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      replicas[i]->clock.set(t + (static_cast<std::int64_t>(i) - 1) * 120'000);
      replicas[i]->scheduler(o).tick();
    }
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE kind = 'nightly'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE as_of = '2026-12-03'"), 1);
}

TEST_F(SchedulerTest, OnlyTheLockHolderSchedules) {
  auto a_ptr = replica(utc_ms("2026-12-01T10:00:00Z"));
  Replica& a = *a_ptr;
  auto b_ptr = replica(utc_ms("2026-12-01T10:00:00Z"));
  Replica& b = *b_ptr;
  auto sa = a.scheduler(o);
  auto sb = b.scheduler(o);
  EXPECT_TRUE(sa.tick());
  EXPECT_FALSE(sb.tick());
  EXPECT_FALSE(sb.tick());
  sa.stop();  // its session goes (the server notices at once, but not before close returns): b takes over
  EXPECT_TRUE(leads(sb));
}

TEST_F(SchedulerTest, ANightMissedWhileAllWereDownIsCaughtUpOnceAndAFreshInstallCatchesUpNothing) {
  o.sync_interval = 0ms;
  // First start at 05:00 Tokyo: 02:00 came before the schedule existed; nothing to catch up.
  auto r_ptr = replica(utc_ms("2026-12-01T20:00:00Z"));
  Replica& r = *r_ptr;
  {
    auto s = r.scheduler(o);
    EXPECT_TRUE(leads(s));
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs"), 0);
  // Down from 23:00 until 06:00 two days later (so two nights were missed): one catch-up run, for the
  // latest night, however many replicas start and tick.
  r.clock.set(utc_ms("2026-12-03T21:00:00Z"));
  auto r2_ptr = replica(utc_ms("2026-12-03T21:00:05Z"));
  Replica& r2 = *r2_ptr;
  for (int i = 0; i < 5; ++i) {
    r.scheduler(o).tick();
    r2.scheduler(o).tick();
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE trigger = 'catch-up' AND as_of = '2026-12-04'"), 1);
  // With catch-up off, a missed night is left alone.
  o.catch_up = false;
  r.clock.set(utc_ms("2026-12-05T03:00:00Z"));
  {
    auto s = r.scheduler(o);
    EXPECT_TRUE(leads(s));
  }
  EXPECT_EQ(count("SELECT count(*) FROM runs"), 1);
}

TEST_F(SchedulerTest, RefreshRunsComeOncePerIntervalAndNeverPileUp) {
  o.sync_interval = 300'000ms;
  auto r_ptr = replica(utc_ms("2026-12-01T10:00:10Z"));
  Replica& r = *r_ptr;
  auto s = r.scheduler(o);
  s.tick();
  s.tick();
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE kind = 'refresh'"), 1);
  // The next slot, with the first still queued: none.
  r.clock.set(utc_ms("2026-12-01T10:05:10Z"));
  s.tick();
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE kind = 'refresh'"), 1);
  // Once it is done, the next slot brings one.
  auto job = *r.queue.claim("w/1", kAll);
  r.queue.complete(job, {});
  r.clock.set(utc_ms("2026-12-01T10:10:10Z"));
  s.tick();
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE kind = 'refresh'"), 2);
}

}  // namespace
}  // namespace cshealthd
