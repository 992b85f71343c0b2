#include "cshealthd/pipeline/job_workers.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/store/errors.hpp"

namespace cshealthd::pipeline {
namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

JobWorkers::JobWorkers(store::JobQueue& queue, metrics::Registry& metrics, WorkerOptions options)
    : queue_(queue), metrics_(metrics), o_(std::move(options)), rng_(o_.seed) {}

JobWorkers::~JobWorkers() {
  if (stop(std::chrono::milliseconds(0))) return;
  // A handler outlived the shutdown deadline; the owner leaves this object allocated (the process
  // exits without destroying it), so the threads may not be joined here either.
  for (auto& t : threads_) t.detach();
  if (heartbeat_.joinable()) heartbeat_.detach();
}

void JobWorkers::handle(const std::string& kind, JobHandler handler) {
  handlers_[kind] = std::move(handler);
}

void JobWorkers::start() {
  for (int i = 0; i < o_.threads; ++i) threads_.emplace_back([this, i] { work(i); });
  heartbeat_ = std::thread([this] { heartbeat(); });
}

void JobWorkers::wake() {
  std::lock_guard lock(mutex_);
  ++wakes_;
  wake_.notify_all();
}

std::size_t JobWorkers::running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

std::chrono::milliseconds JobWorkers::retry_delay(int attempt) {
  std::lock_guard lock(mutex_);
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  return std::chrono::milliseconds(
      core::retry_delay_ms(attempt, o_.retry_base.count(), o_.retry_cap.count(), unit));
}

// Whoever looks first requeues jobs whose worker stopped renewing; at most a few times per lease.
void JobWorkers::requeue_expired() {
  const auto now = steady_ms();
  auto last = last_requeue_ms_.load();
  const auto every = std::max<std::int64_t>(250, queue_.options().lease.count() / 4);
  if (now - last < every || !last_requeue_ms_.compare_exchange_strong(last, now)) return;
  const auto n = queue_.requeue_expired();
  if (n == 0) return;
  metrics_
      .counter("cshealthd_job_lease_takeovers_total", "Jobs requeued because their worker's lease ran out")
      .inc(n);
  spdlog::warn("jobs: {} job(s) requeued: their worker stopped renewing its lease", n);
}

void JobWorkers::work(int index) {
  const std::string prefix = o_.instance + "/w" + std::to_string(index) + "/";
  std::vector<std::string> kinds;
  for (const auto& [kind, handler] : handlers_) kinds.push_back(kind);
  while (true) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen = wakes_;
    }
    std::optional<store::Job> job;
    try {
      requeue_expired();
      job = queue_.claim(prefix + std::to_string(++claims_), kinds);
    } catch (const std::exception& e) {
      spdlog::warn("jobs: cannot reach the queue: {}", e.what());
    }
    if (job) {
      {
        std::lock_guard lock(mutex_);
        ++wakes_;
      }
      wake_.notify_one();  // there may be more: an idle worker looks at once
      run_one(std::move(*job));
      continue;
    }
    // One idle worker per replica polls at the poll interval; the others look ten times less often, or
    // when woken (work found or enqueued here), so idle replicas cost the database little.
    std::unique_lock lock(mutex_);
    const bool poller = !poller_taken_;
    poller_taken_ = true;
    wake_.wait_for(lock, poller ? o_.poll : 10 * o_.poll, [&] { return stopping_ || wakes_ != seen; });
    if (poller) poller_taken_ = false;
  }
}

void JobWorkers::run_one(store::Job job) {
  std::stop_token token;
  {
    std::lock_guard lock(mutex_);
    auto& r = running_[job.lease];
    r.job = job;
    token = r.stop.get_token();
    if (stopping_) r.stop.request_stop();
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::string outcome;
  // Recording the outcome needs the database too; when it cannot be reached the job's lease runs out and
  // another worker takes the job over (and a finished job's work is found done there).
  auto record = [&](const char* what, auto&& write) {
    try {
      outcome = write();
    } catch (const std::exception& e) {
      spdlog::error("jobs: {} {}: could not record {}: {}", job.kind, job.id, what, e.what());
      outcome = "unrecorded";
    }
  };
  const auto it = handlers_.find(job.kind);
  try {
    if (it == handlers_.end())
      throw PermanentJobError("no handler for job kind '" + job.kind + "' in this version");
    JobContext ctx{job, token, queue_};
    const auto result = it->second(ctx);
    record("its success", [&] { return std::string(queue_.complete(job, result) ? "succeeded" : "lost"); });
  } catch (const JobInterrupted& e) {
    spdlog::info("jobs: {} {} handed back: {}", job.kind, job.id, e.what());
    record("its hand-back", [&] { return std::string(queue_.release(job) ? "released" : "lost"); });
  } catch (const store::LeaseLost&) {
    outcome = "lost";
  } catch (const std::exception& e) {
    const bool permanent = dynamic_cast<const PermanentJobError*>(&e) != nullptr;
    bool lost = false;
    {
      std::lock_guard lock(mutex_);
      lost = running_[job.lease].lost;
    }
    if (lost) {
      outcome = "lost";
    } else {
      record("its failure", [&] {
        const auto state = queue_.fail(job, e.what(), permanent, retry_delay(job.attempt));
        return state ? *state : std::string("lost");
      });
      spdlog::error("jobs: {} {} attempt {}/{} failed ({}): {}", job.kind, job.id, job.attempt,
                    job.max_attempts, outcome, e.what());
    }
  }
  if (outcome == "lost") {
    spdlog::warn("jobs: {} {} lost its lease to another worker; its writes were refused", job.kind, job.id);
  }
  metrics_
      .counter("cshealthd_jobs_finished_total", "Job attempts by kind and outcome",
               {{"kind", job.kind}, {"outcome", outcome}})
      .inc();
  metrics_
      .histogram("cshealthd_job_duration_seconds", "Wall time of job attempts", {{"kind", job.kind}},
                 {0.01, 0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200})
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  std::lock_guard lock(mutex_);
  running_.erase(job.lease);
  idle_.notify_all();
}

void JobWorkers::heartbeat() {
  const auto every = std::max(std::chrono::milliseconds(100), queue_.options().lease / 3);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    idle_.wait_for(lock, every, [&] { return stopping_; });
    if (stopping_) break;
    std::vector<std::string> leases;
    for (const auto& [lease, r] : running_) leases.push_back(lease);
    lock.unlock();
    std::vector<std::string> held;
    bool ok = true;
    try {
      held = queue_.renew(leases);
    } catch (const std::exception& e) {
      ok = false;  // the leases may run out: the jobs' own writes will tell
      spdlog::warn("jobs: could not renew leases: {}", e.what());
    }
    lock.lock();
    if (!ok) continue;
    for (const auto& lease : leases) {
      if (std::find(held.begin(), held.end(), lease) != held.end()) continue;
      const auto it = running_.find(lease);
      if (it == running_.end()) continue;  // it finished meanwhile
      it->second.lost = true;
      it->second.stop.request_stop();
    }
  }
}

bool JobWorkers::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return true;
    stopping_ = true;
    for (auto& [lease, r] : running_) r.stop.request_stop();
    wake_.notify_all();
    idle_.notify_all();
  }
  std::vector<store::Job> late;
  {
    std::unique_lock lock(mutex_);
    if (!idle_.wait_for(lock, deadline, [&] { return running_.empty(); })) {
      for (const auto& [lease, r] : running_) late.push_back(r.job);
    }
  }
  if (!late.empty()) {
    // Past the deadline: the leases go back so another replica resumes at once; the fencing token keeps
    // whatever these workers still try to write out of the job.
    for (const auto& job : late) {
      try {
        if (queue_.release(job))
          spdlog::warn("jobs: {} {} released at the shutdown deadline", job.kind, job.id);
      } catch (const std::exception& e) {
        spdlog::warn("jobs: could not release {} {}: {}", job.kind, job.id, e.what());
      }
    }
    return false;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
  return true;
}

}  // namespace cshealthd::pipeline
