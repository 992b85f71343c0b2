#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/store/job_queue.hpp"

namespace cshealthd::pipeline {

using store::JobContext;
using store::JobHandler;
using store::JobInterrupted;
using store::PermanentJobError;

struct WorkerOptions {
  int threads = 2;
  std::string instance;                   // names this replica in leases and logs
  std::chrono::milliseconds poll{1'000};  // an idle worker looks for work this often
  std::chrono::milliseconds retry_base{5'000};
  std::chrono::milliseconds retry_cap{600'000};
  std::uint64_t seed = std::random_device{}();  // the jitter of retries
};

// A replica's job workers: each claims the oldest ready job, runs its kind's handler and records the
// outcome. One heartbeat renews every lease this replica holds; a job whose lease another replica took
// over is told to stop, and can no longer write. Any worker requeues jobs whose lease ran out.
class JobWorkers {
 public:
  JobWorkers(store::JobQueue& queue, metrics::Registry& metrics, WorkerOptions options);
  ~JobWorkers();
  JobWorkers(const JobWorkers&) = delete;
  JobWorkers& operator=(const JobWorkers&) = delete;

  void handle(const std::string& kind, JobHandler handler);  // before start()
  void start();
  void wake();  // work was just enqueued
  // Stops claiming and asks running jobs to stop; waits up to `deadline` for them, then hands back the
  // leases of any still running (another replica resumes them). False when one was still running.
  bool stop(std::chrono::milliseconds deadline);
  std::size_t running() const;

 private:
  struct Running {
    store::Job job;  // for handing it back at the deadline
    std::stop_source stop;
    bool lost = false;
  };
  void work(int index);
  void run_one(store::Job job);
  void heartbeat();
  void requeue_expired();
  std::chrono::milliseconds retry_delay(int attempt);

  store::JobQueue& queue_;
  metrics::Registry& metrics_;
  WorkerOptions o_;
  std::map<std::string, JobHandler> handlers_;
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  bool stopping_ = false;
  std::uint64_t wakes_ = 0;
  bool poller_taken_ = false;               // an idle worker is polling at the poll interval
  std::map<std::string, Running> running_;  // by lease
  std::atomic<std::uint64_t> claims_{0};
  std::atomic<std::int64_t> last_requeue_ms_{0};
  std::mt19937_64 rng_;
};

}  // namespace cshealthd::pipeline
