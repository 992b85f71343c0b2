#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace cshealthd::workflow {

// The day the pipeline's plan stage plans.
struct PlanDay {
  std::int32_t day = 0;
  std::optional<std::int64_t> run_id;
  // A refresh: only these companies were rescored (nullopt: every company, a nightly or manual run).
  std::optional<std::vector<std::int64_t>> only;
  // The run was asked to catch up: a play's first night creates the steps already under way.
  bool catch_up = false;
  bool refresh() const { return only.has_value(); }
};

// A workflow as the pipeline runs it. The plan stage calls every participant's prepare (outside any
// transaction: it may call HubSpot), then plan in one transaction that also holds the planning lock and
// the job's checkpoint: what a participant records commits with the stage, or not at all.
class Participant {
 public:
  virtual ~Participant() = default;
  virtual const char* name() const = 0;
  // After the sync stage's data is in (progress, or null when it has nothing to say).
  virtual nlohmann::json after_sync() { return nullptr; }
  virtual void prepare(const PlanDay&) {}
  // Its progress: an object merged into the plan stage's progress.
  virtual nlohmann::json plan(pqxx::work& tx, const PlanDay& day) = 0;
};

// Serialises planners (the pipeline's plan stage, `cshealthd plan`) for the transaction.
void lock_planning(pqxx::work& tx);

}  // namespace cshealthd::workflow
