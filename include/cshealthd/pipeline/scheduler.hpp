#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <pqxx/pqxx>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/pipeline/pipeline.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/session_lock.hpp"

namespace cshealthd::pipeline {

struct ScheduleOptions {
  bool enabled = true;
  core::CronSpec nightly = core::parse_cron("0 2 * * *");
  core::TimeZone zone = core::TimeZone::utc();
  std::chrono::milliseconds sync_interval{300'000};  // a refresh run this often (0: never)
  bool catch_up = true;                              // a nightly run missed while every replica was down
  std::chrono::milliseconds tick{1'000};
  int max_attempts = 5;  // of each run's job
  // Start a refresh run for the companies webhooks said changed (refresh_requests), once no run is under
  // way; independent of `enabled` (the nightly and interval runs).
  bool requested_refresh = true;
  // ... at most this often (measured from the last one this replica started).
  std::chrono::milliseconds requested_refresh_interval{10'000};
  // Work only the leading replica does, each tick before it looks for refresh requests (the Segment
  // source's settling, which makes some). Its failure is logged; the leadership is not at stake.
  std::function<void()> leader_chore;
};

// Every replica runs one; the one holding the scheduler's advisory lock (on a connection of its own, so
// PostgreSQL frees it when the leader dies) enqueues the nightly run of each occurrence and the refresh
// runs in between. Each nightly run's job has the unique key nightly:<local date>, so however the
// leadership moves and however the replicas' clocks disagree, one run per date exists. Every replica
// also refreshes the queue's gauges.
class Scheduler {
 public:
  Scheduler(store::Database& db, Pipeline& pipeline, store::JobQueue& queue, Clock& clock,
            metrics::Registry& metrics, ScheduleOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  void stop();
  // One pass (what the thread does each tick); true when this replica led it.
  bool tick();

 private:
  bool lead();
  void schedule_nightly(core::EpochSeconds now);
  void schedule_requested_refresh(core::EpochSeconds now);
  store::RunRequest refresh_request(core::EpochSeconds now, const char* trigger) const;
  void schedule_refresh(core::EpochSeconds now);
  void refresh_gauges();

  store::Database& db_;
  Pipeline& pipeline_;
  store::JobQueue& queue_;
  Clock& clock_;
  metrics::Registry& metrics_;
  ScheduleOptions o_;
  std::unique_ptr<store::SessionLock> leader_;  // held while this replica leads
  std::optional<core::EpochSeconds> first_seen_;
  std::optional<std::int64_t> last_refresh_slot_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point gauges_at_{};
  std::optional<std::chrono::steady_clock::time_point> requested_at_;  // the last requested refresh started
};

}  // namespace cshealthd::pipeline
