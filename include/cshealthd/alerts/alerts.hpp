#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/alerts/store.hpp"
#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/core/alerts.hpp"
#include "cshealthd/hubspot/client_factory.hpp"
#include "cshealthd/outbox/settings.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/workflow/context.hpp"
#include "cshealthd/workflow/participant.hpp"

namespace cshealthd::alerts {

struct PlanResult {
  core::Plan plan;
  std::size_t companies = 0;  // companies planned
  std::size_t open_tasks_checked = 0;
};

// The alerts workflow as the pipeline's plan stage (a participant) and `cshealthd plan` run it.
class Alerts : public workflow::Participant {
 public:
  Alerts(store::Database& db, const Settings& settings, const workflow::Context& context,
         const outbox::Settings& outbox, hubspot::ClientFactory clients, metrics::Registry& metrics,
         Clock& clock);

  const Settings& settings() const { return settings_; }

  // Asks HubSpot which open alert tasks are still open (100 per call), then plans `day` for the companies
  // in `only` (all when none) in one transaction of its own; unless `dry_run`, records and commits it.
  // `check_tasks` false skips HubSpot (a dry run that must not call out).
  PlanResult plan(std::int32_t day, const std::optional<std::vector<std::int64_t>>& only,
                  std::optional<std::int64_t> run_id, bool dry_run, bool check_tasks);

  // As a participant of the plan stage: the task status read first, then the plan recorded in the stage's
  // transaction; its progress is the plan's counts.
  const char* name() const override { return "alerts"; }
  void prepare(const workflow::PlanDay& day) override;
  nlohmann::json plan(pqxx::work& tx, const workflow::PlanDay& day) override;

 private:
  std::size_t refresh_task_status(hubspot::HubSpotClient& client);
  // Plans in `tx` (which holds the planning lock); records unless `dry_run`.
  PlanResult plan_in(pqxx::work& tx, std::int32_t day, const std::optional<std::vector<std::int64_t>>& only,
                     std::optional<std::int64_t> run_id, bool dry_run);

  store::Database& db_;
  const Settings& settings_;
  const workflow::Context& ctx_;
  const outbox::Settings& outbox_;
  hubspot::ClientFactory clients_;
  metrics::Registry& metrics_;
  Clock& clock_;
  AlertStore store_;
  std::size_t open_tasks_checked_ = 0;  // by the last prepare
};

// A plan as JSON: counts, and each intent (`cshealthd plan`, the run's stage progress shows the counts).
nlohmann::json plan_json(const core::Plan& plan, bool with_intents);

}  // namespace cshealthd::alerts
