#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/core/writeback.hpp"
#include "cshealthd/hubspot/client_factory.hpp"
#include "cshealthd/outbox/settings.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/writeback/settings.hpp"
#include "cshealthd/writeback/store.hpp"

namespace cshealthd::writeback {

struct PlanResult {
  core::Plan plan;
  std::size_t companies = 0;  // companies planned
  std::size_t open_tasks_checked = 0;
};

// Write-back as the pipeline's plan and deliver stages (and `cshealthd plan`) run it.
class Writeback {
 public:
  Writeback(store::Database& db, const Settings& settings, const outbox::Settings& outbox,
            hubspot::ClientFactory clients, metrics::Registry& metrics, Clock& clock);

  const Settings& settings() const { return settings_; }

  // Asks HubSpot which open alert tasks are still open (100 per call), then plans `day` for the companies
  // in `only` (all when none). Unless `dry_run`, records the plan in one transaction (with whatever
  // `in_tx` adds: the job's checkpoint) and commits it. `check_tasks` false skips HubSpot (a dry run that
  // must not call out).
  PlanResult plan(std::int32_t day, const std::optional<std::vector<std::int64_t>>& only,
                  std::optional<std::int64_t> run_id, bool dry_run, bool check_tasks,
                  const std::function<void(pqxx::work&, const core::Plan&)>& in_tx = {});

 private:
  std::size_t refresh_task_status(hubspot::HubSpotClient& client);

  store::Database& db_;
  const Settings& settings_;
  const outbox::Settings& outbox_;
  hubspot::ClientFactory clients_;
  metrics::Registry& metrics_;
  Clock& clock_;
  WritebackStore store_;
};

// A plan as JSON: counts, and each intent (`cshealthd plan`, the run's stage progress shows the counts).
nlohmann::json plan_json(const core::Plan& plan, bool with_intents);

}  // namespace cshealthd::writeback
