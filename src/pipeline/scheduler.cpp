#include "cshealthd/pipeline/scheduler.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/store/errors.hpp"
#include "cshealthd/store/refresh_requests.hpp"
#include "cshealthd/store/run_store.hpp"
#include "cshealthd/store/session_lock.hpp"

namespace cshealthd::pipeline {
namespace {

constexpr const char* kLeaderLock = "cshealthd.scheduler.leader";

}  // namespace

Scheduler::Scheduler(store::Database& db, Pipeline& pipeline, store::JobQueue& queue, Clock& clock,
                     metrics::Registry& metrics, ScheduleOptions options)
    : db_(db), pipeline_(pipeline), queue_(queue), clock_(clock), metrics_(metrics), o_(std::move(options)) {}

Scheduler::~Scheduler() {
  stop();
}

void Scheduler::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      try {
        tick();
      } catch (const std::exception& e) {
        leader_.reset();  // a broken session may still hold the lock server-side until it is noticed
        metrics_.gauge("cshealthd_scheduler_leader", "1 on the replica that schedules runs").set(0);
        spdlog::warn("scheduler: {}", e.what());
      }
      lock.lock();
      wake_.wait_for(lock, o_.tick, [&] { return stopping_; });
    }
  });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  leader_.reset();  // hands the leadership to another replica at once
}

bool Scheduler::lead() {
  if (leader_ && leader_->alive()) return true;
  if (leader_) spdlog::warn("scheduler: lost the leader's session; another replica may lead now");
  leader_.reset();
  auto lock = std::make_unique<store::SessionLock>(db_.conninfo(), kLeaderLock, std::chrono::milliseconds(0));
  if (!lock->held()) return false;
  leader_ = std::move(lock);
  spdlog::info("scheduler: this replica leads scheduling now");
  return true;
}

bool Scheduler::tick() {
  if (std::chrono::steady_clock::now() - gauges_at_ >= std::chrono::seconds(5)) {
    gauges_at_ = std::chrono::steady_clock::now();
    try {
      refresh_gauges();
    } catch (const std::exception& e) {  // the gauges wait; the leadership is not at stake
      spdlog::warn("scheduler: could not refresh the queue gauges: {}", e.what());
    }
  }
  if (!o_.enabled && !o_.requested_refresh) return false;
  const bool leader = lead();
  metrics_.gauge("cshealthd_scheduler_leader", "1 on the replica that schedules runs").set(leader ? 1 : 0);
  if (!leader) return false;
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.wall_now().time_since_epoch()).count();
  if (o_.enabled) {
    schedule_nightly(now);
    schedule_refresh(now);
  }
  if (o_.leader_chore) {
    try {
      o_.leader_chore();
    } catch (const std::exception& e) {
      spdlog::warn("scheduler: {}", e.what());
    }
  }
  if (o_.requested_refresh) schedule_requested_refresh(now);
  return true;
}

// Companies a webhook said changed get a refresh run as soon as none is under way: it covers every
// request made until it starts (a request made while a run is under way waits for the next one, whose
// sync begins after it).
void Scheduler::schedule_requested_refresh(core::EpochSeconds now) {
  const auto last =
      db_.with_retry("refresh_requests", [&](pqxx::connection& c) -> std::optional<std::int64_t> {
        pqxx::read_transaction tx(c, "refresh_requests");
        return store::RefreshRequests::latest_waiting(tx);
      });
  if (!last) return;
  const auto started = std::chrono::steady_clock::now();
  if (requested_at_ && started - *requested_at_ < o_.requested_refresh_interval) return;
  store::RunStore runs(db_);
  if (runs.active()) return;
  auto r = refresh_request(now, "requested");  // by a webhook or by pushed usage
  r.unique_key = "requested:" + std::to_string(*last);
  // The requests become the run's with it: its sync reads those companies by id.
  r.in_tx = [last = *last](pqxx::work& tx, std::int64_t run) {
    store::RefreshRequests::assign(tx, run, last);
  };
  if (pipeline_.start(r)) requested_at_ = started;
}

// The latest occurrence at or before now, unless it came before the schedule was first seen (a fresh
// install does not run "yesterday's" night) or catch-up is off and it is not just due.
void Scheduler::schedule_nightly(core::EpochSeconds now) {
  if (!first_seen_) {
    first_seen_ = db_.with_retry("schedule_first_seen", [&](pqxx::connection& c) {
      pqxx::work tx(c, "schedule_first_seen");
      const auto r = tx.exec_params1(
          "INSERT INTO schedules (name, first_seen_at) VALUES ('nightly', to_timestamp($1)) "
          "ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING extract(epoch from "
          "first_seen_at)::bigint",
          static_cast<long long>(now));
      tx.commit();
      return r[0].as<std::int64_t>();
    });
  }
  const auto due = core::last_occurrence(o_.nightly, o_.zone, now);
  if (!due || *due < *first_seen_) return;
  const auto lag = now - *due;
  const bool late = lag > std::max<std::int64_t>(120, 3 * o_.tick.count() / 1000);
  if (late && !o_.catch_up) return;
  const std::string date = core::local_date(o_.zone, *due);
  store::RunRequest r;
  r.kind = "nightly";
  r.trigger = late ? "catch-up" : "schedule";
  r.as_of = date;
  r.scheduled_for_s = *due;
  r.unique_key = "nightly:" + date;
  r.max_attempts = o_.max_attempts;
  if (const auto id = pipeline_.start(r)) {
    metrics_.gauge("cshealthd_scheduler_lag_seconds", "How late the last scheduled run was enqueued")
        .set(static_cast<double>(lag));
    spdlog::info("scheduler: nightly run {} for {} enqueued ({}, {} s after {})", *id, date, r.trigger, lag,
                 core::format_local(o_.zone, *due));
    db_.with_retry("schedule_occurred", [&](pqxx::connection& c) {
      pqxx::work tx(c, "schedule_occurred");
      tx.exec_params(
          "UPDATE schedules SET last_occurrence = to_timestamp($1), updated_at = now() WHERE name = "
          "'nightly'",
          static_cast<long long>(*due));
      tx.commit();
    });
  }
}

// A refresh per interval slot, unless a run is still under way (a refresh never queues behind another,
// nor races a nightly run's sync).
void Scheduler::schedule_refresh(core::EpochSeconds now) {
  const auto every = o_.sync_interval.count() / 1000;
  if (every <= 0) return;
  const auto slot = now / every;
  if (last_refresh_slot_ == slot) return;
  store::RunStore runs(db_);
  if (runs.active()) return;
  auto r = refresh_request(now, "schedule");
  r.scheduled_for_s = slot * every;
  r.unique_key = "refresh:" + std::to_string(slot * every);
  pipeline_.start(r);
  last_refresh_slot_ = slot;
}

// A refresh of the day it is in the schedule's zone, tried twice at most: another comes soon anyway.
store::RunRequest Scheduler::refresh_request(core::EpochSeconds now, const char* trigger) const {
  store::RunRequest r;
  r.kind = "refresh";
  r.trigger = trigger;
  r.as_of = core::local_date(o_.zone, now);
  r.max_attempts = 2;
  return r;
}

void Scheduler::refresh_gauges() {
  const auto counts = queue_.counts();
  std::map<std::string, double> depth;
  for (const auto& [key, n] : counts) {
    metrics_
        .gauge("cshealthd_jobs", "Jobs by kind and state (all replicas)",
               {{"kind", key.first}, {"state", key.second}})
        .set(static_cast<double>(n));
    if (key.second == "queued" || key.second == "failed") depth[key.first] += static_cast<double>(n);
  }
  double total = 0;
  for (const auto& [kind, n] : depth) total += n;
  metrics_.gauge("cshealthd_job_queue_depth", "Jobs waiting to run (queued, or failed awaiting a retry)")
      .set(total);
  const auto last = db_.with_retry("last_nightly", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "last_nightly");
    return tx
        .exec(
            "SELECT coalesce(extract(epoch from max(finished_at)), 0)::float8 FROM runs "
            "WHERE kind = 'nightly' AND state = 'succeeded'")[0][0]
        .as<double>();
  });
  metrics_
      .gauge("cshealthd_nightly_last_success_time_seconds",
             "When a nightly run last finished (any replica; 0: never): alert when it is over a day old")
      .set(last);
}

}  // namespace cshealthd::pipeline
