#pragma once
#include <memory>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/segment.hpp"
#include "cshealthd/hubspot/client_factory.hpp"
#include "cshealthd/hubspot/rate_budget.hpp"
#include "cshealthd/kpis/kpi_store.hpp"
#include "cshealthd/onboarding/onboarding.hpp"
#include "cshealthd/outbox/settings.hpp"
#include "cshealthd/pipeline/scheduler.hpp"
#include "cshealthd/plays/plays.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/migrations.hpp"
#include "cshealthd/workflow/context.hpp"

namespace cshealthd::app {

struct ComponentOptions {
  int pool_size = 0;     // database connections; 0: database.pool_size
  bool migrate = true;   // apply pending migrations at start (when database.migrate_on_start says so)
  bool hubspot = false;  // the rate budget and clients (needs hubspot.token: ConfigError otherwise)
  bool scoring = true;   // load the scorecards (a command that never scores does without)
  // Load the schedule section, the write-back files (alert rules, templates, holidays), the onboarding
  // checklist and the plays: `serve` and the write-back commands.
  bool writeback = false;
};

// The schedule section, parsed: the cron expression and the zone from the tz database. ConfigError
// names schedule.nightly or schedule.time_zone.
pipeline::ScheduleOptions load_schedule_options(const config::Config& config);
// usage.segment as the Segment source reads it.
core::SegmentSettings load_segment_settings(const config::Config& config);

// The parts the service and every command share, built once, here, in dependency order, and stopped
// in reverse: the metrics registry and the clock; the scoring config (an invalid one is a config error
// before anything starts); the database (the embedded cluster or database.url) with its migrator and
// pool and the job queue on it; the HubSpot rate budget (shared by the replicas through PostgreSQL, or
// one per process), with clients drawing on it.
class Components {
 public:
  Components(const config::Config& config, ComponentOptions options = {});
  ~Components();
  Components(const Components&) = delete;
  Components& operator=(const Components&) = delete;

  const config::Config& config() const { return config_; }
  metrics::Registry& metrics() { return metrics_; }
  Clock& clock() { return *clock_; }
  const scoring::ScoringConfig& scoring() const;
  const alerts::Settings& alerts() const;
  const outbox::Settings& outbox() const;
  const workflow::Context& workflow() const;
  const pipeline::ScheduleOptions& schedule() const;
  const onboarding::Settings& onboarding() const;
  const core::SegmentSettings& segment() const { return segment_; }
  const plays::Settings& plays() const;
  DatabaseRuntime& database_runtime() { return *database_runtime_; }
  store::Migrator& migrator() { return *migrator_; }
  store::Database& db() { return *db_; }
  hubspot::RateBudget& rate_budget();
  // Today as the service has it: the clock's day in schedule.time_zone.
  std::int32_t service_day();
  store::JobQueue& jobs() { return *jobs_; }
  kpis::KpiStore& kpis() { return *kpis_; }
  // A HubSpot client with a connection of its own, on the one rate budget (one per worker thread).
  hubspot::ClientHandle hubspot_client();

  // Releases the pool and stops the embedded cluster; idempotent.
  void stop();

 private:
  const config::Config& config_;
  metrics::Registry metrics_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<scoring::ScoringConfig> scoring_;
  std::unique_ptr<pipeline::ScheduleOptions> schedule_;
  core::SegmentSettings segment_;
  std::unique_ptr<alerts::Settings> alerts_;
  std::unique_ptr<outbox::Settings> outbox_;
  std::unique_ptr<workflow::Context> workflow_;
  std::unique_ptr<onboarding::Settings> onboarding_;
  std::unique_ptr<plays::Settings> plays_;
  std::unique_ptr<DatabaseRuntime> database_runtime_;
  std::unique_ptr<store::Migrator> migrator_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::JobQueue> jobs_;
  std::unique_ptr<kpis::KpiStore> kpis_;
  std::unique_ptr<hubspot::RateBudget> budget_;
};

}  // namespace cshealthd::app
