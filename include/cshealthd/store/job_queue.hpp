#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/store/database.hpp"
#include "cshealthd/store/errors.hpp"

namespace cshealthd::store {

struct JobSpec {
  std::string kind;
  std::optional<std::string> unique_key;  // at most one job with this key, ever
  std::optional<std::int64_t> run_id;
  nlohmann::json payload = nlohmann::json::object();
  int max_attempts = 5;
  std::chrono::milliseconds delay{0};
};

// A job as stored. Times are epoch milliseconds (0: not yet).
struct Job {
  std::int64_t id = 0;
  std::string kind;
  std::optional<std::string> unique_key;
  std::optional<std::int64_t> run_id;
  nlohmann::json payload, checkpoint, result;
  std::string state;  // queued | running | failed | succeeded | dead
  int attempt = 0, max_attempts = 0, takeovers = 0;
  std::string lease;  // the claim's token: every write of the job's worker is fenced by it
  std::string error;
  std::int64_t created_ms = 0, started_ms = 0, finished_ms = 0, run_after_ms = 0;
};

// The job's lease is no longer this worker's: it ran out and another worker took the job over.
// A StoreError (a conflict, never retried) so it passes through Database::with_retry unchanged.
class LeaseLost : public StoreError {
 public:
  explicit LeaseLost(const std::string& what) : StoreError(Kind::kConflict, what) {}
};

struct JobQueueOptions {
  std::chrono::milliseconds lease{30'000};
};

// The jobs table as a queue shared by every replica. Claims take the oldest ready job with
// FOR UPDATE SKIP LOCKED, so concurrent workers never take the same one; each claim gets a fresh lease
// token, and every later write by that worker names it, so one that lost its lease changes nothing.
class JobQueue {
 public:
  JobQueue(Database& db, JobQueueOptions options);

  const JobQueueOptions& options() const { return o_; }

  // The new job's id, or nullopt when its unique key is taken.
  std::optional<std::int64_t> enqueue(const JobSpec& spec);
  static std::optional<std::int64_t> enqueue(pqxx::work& tx, const JobSpec& spec);
  // Whether a job of `kind` waits to run (queued, or failed and due again).
  static bool waiting(pqxx::transaction_base& tx, const std::string& kind);

  // The oldest ready job of one of `kinds`, now running under `lease` (unique per claim), or nullopt.
  // A replica claims only the kinds it can run: in a rolling upgrade an older one leaves newer kinds be.
  std::optional<Job> claim(const std::string& lease, const std::vector<std::string>& kinds);
  // Jobs whose lease ran out go back to the queue (or to dead, out of attempts). Returns how many.
  std::size_t requeue_expired();
  // Extends the leases named; returns those still held (the others were taken over).
  std::vector<std::string> renew(const std::vector<std::string>& leases);

  // Each returns false when the lease was lost (nothing changed).
  bool complete(const Job& job, const nlohmann::json& result);
  // A failed attempt: ready again after `retry_in` (state failed), or dead when out of attempts or
  // `permanent`. Returns the new state, or nullopt when the lease was lost.
  std::optional<std::string> fail(const Job& job, const std::string& error, bool permanent,
                                  std::chrono::milliseconds retry_in);
  // Gives the job back unfinished (shutdown): ready at once for another worker; the attempt is not spent.
  bool release(const Job& job);
  // Stores progress inside the caller's transaction; throws LeaseLost (the caller's work rolls back).
  static void checkpoint(pqxx::work& tx, const Job& job, const nlohmann::json& checkpoint);

  std::optional<Job> get(std::int64_t id);
  std::vector<Job> list(const std::optional<std::string>& state, int limit,
                        std::optional<std::int64_t> run_id = {});
  // A failed or dead job back to the queue now, with its attempts reset: the job as it was queued, or
  // nullopt unless it was failed or dead.
  std::optional<Job> retry(std::int64_t id);
  // Jobs per (kind, state).
  std::map<std::pair<std::string, std::string>, std::int64_t> counts();

 private:
  template <typename... Params>
  pqxx::result fenced(const char* name, const std::string& set, const Job& job, Params&&... params);

  Database& db_;
  JobQueueOptions o_;
};

// What a job handler gets: the job as claimed (its lease fences every write it makes through the
// queue) and a stop token, set on shutdown or when the lease is lost.
struct JobContext {
  const Job& job;
  std::stop_token stop;
  JobQueue& queue;
};
// Returns the job's result. Throws JobInterrupted to hand the job back unfinished, PermanentJobError for
// a failure no retry can mend, anything else for a failure worth retrying.
using JobHandler = std::function<nlohmann::json(JobContext&)>;

class JobInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class PermanentJobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cshealthd::store
