#include "cshealthd/app/components.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/base/system_clock.hpp"

namespace cshealthd::app {

Components::Components(const config::Config& config, ComponentOptions options)
    : config_(config), clock_(std::make_unique<SystemClock>()) {
  if (options.hubspot && config.hubspot.token.empty()) {
    throw config::ConfigError(
        "hubspot.token: required to talk to HubSpot; set CSHEALTHD_HUBSPOT_TOKEN or hubspot.token_file");
  }
  // Scorecards first: an invalid one is a config error (exit 2) before anything starts.
  if (options.scoring)
    scoring_ = std::make_unique<scoring::ScoringConfig>(scoring::load_scoring_config(config));
  database_runtime_ = std::make_unique<DatabaseRuntime>(config);
  migrator_ = std::make_unique<store::Migrator>(database_runtime_->conninfo(), store::embedded_migrations(),
                                                migrator_options(config));
  if (options.migrate && config.database.migrate_on_start) {
    const auto report = migrator_->migrate();
    spdlog::info("migrations: {} applied now, {} in total", report.applied.size(), report.total);
  }
  db_ = std::make_unique<store::Database>(
      database_runtime_->conninfo(),
      store::PoolOptions{options.pool_size > 0 ? options.pool_size : config.database.pool_size,
                         config.database.statement_timeout_ms, config.database.connect_timeout_s,
                         std::chrono::milliseconds(30'000)});
  if (options.hubspot) {
    const auto& h = config.hubspot;
    budget_ = std::make_unique<hubspot::LocalRateBudget>(
        hubspot::BudgetOptions{h.burst_limit, std::chrono::milliseconds(h.burst_interval_ms),
                               h.budget_percent / 100.0, h.search_per_second},
        *clock_);
  }
}

Components::~Components() {
  stop();
}

const scoring::ScoringConfig& Components::scoring() const {
  if (!scoring_) throw std::logic_error("components: built without the scoring config");
  return *scoring_;
}

hubspot::RateBudget& Components::rate_budget() {
  if (!budget_) throw std::logic_error("components: built without HubSpot");
  return *budget_;
}

sync::ClientHandle Components::hubspot_client() {
  const auto& h = config_.hubspot;
  hubspot::TransportOptions to;
  to.base_url = h.base_url;
  to.request_timeout = std::chrono::milliseconds(h.request_timeout_ms);
  to.ca_file = h.ca_file;
  hubspot::ClientOptions co;
  co.max_attempts = h.max_attempts;
  co.rate_limit_wait = std::chrono::milliseconds(h.burst_interval_ms);
  co.max_retry_wait = std::chrono::milliseconds(h.max_retry_wait_ms);
  sync::ClientHandle handle;
  handle.transport = hubspot::make_transport(to);
  handle.client = std::make_unique<hubspot::HubSpotClient>(*handle.transport, rate_budget(), *clock_, h.token,
                                                           metrics_, co);
  return handle;
}

void Components::stop() {
  budget_.reset();
  db_.reset();
  migrator_.reset();
  if (database_runtime_) database_runtime_->stop();
}

}  // namespace cshealthd::app
