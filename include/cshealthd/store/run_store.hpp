#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/store/database.hpp"
#include "cshealthd/store/job_queue.hpp"

namespace cshealthd::store {

// A pipeline run as stored. Times are epoch milliseconds (0: not yet).
struct Run {
  std::int64_t id = 0;
  std::string kind;     // nightly | refresh | manual
  std::string trigger;  // schedule | catch-up | api | cli
  std::string state;    // queued | running | succeeded | failed
  std::string as_of;    // the day it scores, YYYY-MM-DD
  std::int64_t scheduled_for_ms = 0;
  nlohmann::json stages;   // [{name, state, started_at, finished_at, progress}]
  nlohmann::json summary;  // null until it ends
  std::string error;
  std::int64_t created_ms = 0, started_ms = 0, finished_ms = 0;
  std::optional<std::int64_t> job_id;
};

struct RunRequest {
  std::string kind = "manual";
  std::string trigger = "api";
  std::string as_of;  // YYYY-MM-DD
  std::optional<std::int64_t> scheduled_for_s;
  std::optional<std::string> unique_key;  // the run's job key: one run per key, ever
  std::vector<std::string> stages;
  int max_attempts = 5;
  bool catch_up = false;  // its plan stage creates what plays starting that night find under way
  // Runs in the transaction that creates the run and its job, with the run's id (the scheduler marks the
  // refresh requests a run covers: they are the run's before its job can start).
  std::function<void(pqxx::work&, std::int64_t run_id)> in_tx;
};

// Runs and the job that carries each one out. A run and its job are created in one transaction, so a
// run never exists without its job (nor a second one for a unique key).
class RunStore {
 public:
  explicit RunStore(Database& db) : db_(db) {}

  // The new run's id, or nullopt when the unique key is taken.
  std::optional<std::int64_t> create(const RunRequest& request, const std::string& job_kind);
  std::optional<Run> get(std::int64_t id);
  std::vector<Run> list(int limit);
  // The run queued or under way (its job not finished, a failed attempt waiting included), if any.
  std::optional<std::int64_t> active();

  // Within a job's transaction (fenced by its checkpoint write):
  static void set_state(pqxx::work& tx, std::int64_t run, const std::string& state,
                        const std::string& error = {});
  static void set_stage(pqxx::work& tx, std::int64_t run, const std::string& stage, const std::string& state,
                        const nlohmann::json& progress);
  static void finish(pqxx::work& tx, std::int64_t run, const nlohmann::json& summary);

 private:
  Database& db_;
};

}  // namespace cshealthd::store
