#include "cshealthd/app/components.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include "cshealthd/app/clock_factory.hpp"
#include "cshealthd/app/shared_rate_budget.hpp"

namespace cshealthd::app {
namespace {

std::string process_owner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

Components::Components(const config::Config& config, ComponentOptions options)
    : config_(config), clock_(make_clock()), segment_(load_segment_settings(config)) {
  if (options.hubspot && config.hubspot.token.empty()) {
    throw config::ConfigError(
        "hubspot.token: required to talk to HubSpot; set CSHEALTHD_HUBSPOT_TOKEN or hubspot.token_file");
  }
  // Scorecards first: an invalid one is a config error (exit 2) before anything starts.
  if (options.scoring)
    scoring_ = std::make_unique<scoring::ScoringConfig>(scoring::load_scoring_config(config));
  // The schedule (its zone is what "today" means) for every command: a bad zone is a config error.
  schedule_ = std::make_unique<pipeline::ScheduleOptions>(load_schedule_options(config));
  if (options.writeback) {
    workflow_ = std::make_unique<workflow::Context>(workflow::load_context(config, schedule_->zone));
    alerts_ = std::make_unique<alerts::Settings>(alerts::load_settings(config));
    onboarding_ = std::make_unique<onboarding::Settings>(onboarding::load_settings(config));
    plays_ = std::make_unique<plays::Settings>(plays::load_settings(config));
    // What each workflow writes, set up on the portal by the outbox.
    auto company_properties = alerts::output_properties(alerts_->plan);
    for (auto& p : onboarding::company_properties(config)) company_properties.push_back(std::move(p));
    outbox_ = std::make_unique<outbox::Settings>(
        outbox::load_settings(config, std::move(company_properties), onboarding::service_properties()));
  }
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
  jobs_ = std::make_unique<store::JobQueue>(
      *db_, store::JobQueueOptions{std::chrono::milliseconds(config.jobs.lease_ms)});
  kpis_ = std::make_unique<kpis::KpiStore>(*db_, kpis::Settings::from(config.kpis));
  if (options.hubspot) {
    const auto& h = config.hubspot;
    const hubspot::BudgetOptions budget{h.burst_limit, std::chrono::milliseconds(h.burst_interval_ms),
                                        h.budget_percent / 100.0, h.search_per_second};
    if (h.shared_budget) {
      budget_ =
          std::make_unique<SharedRateBudget>(database_runtime_->conninfo(), budget, *clock_, process_owner());
    } else {
      budget_ = std::make_unique<hubspot::LocalRateBudget>(budget, *clock_);
    }
  }
}

core::SegmentSettings load_segment_settings(const config::Config& config) {
  const auto& s = config.usage.segment;
  core::SegmentSettings out;
  out.group_key = s.group_key == "domain"        ? core::UsageKeyKind::kDomain
                  : s.group_key == "external_id" ? core::UsageKeyKind::kExternalId
                                                 : core::UsageKeyKind::kId;
  for (auto& name : config::split_list(s.login_events)) out.login_events.insert(std::move(name));
  for (auto& name : config::split_list(s.feature_events)) out.feature_events.insert(std::move(name));
  out.max_age_days = s.max_age_days;
  return out;
}

pipeline::ScheduleOptions load_schedule_options(const config::Config& config) {
  const auto& s = config.schedule;
  pipeline::ScheduleOptions o;
  o.enabled = s.enabled;
  try {
    o.nightly = core::parse_cron(s.nightly);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("schedule.nightly: ") + e.what());
  }
  const char* tzdir = std::getenv("TZDIR");
  const std::string path = std::string(tzdir && *tzdir ? tzdir : "/usr/share/zoneinfo") + "/" + s.time_zone;
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in)
    throw config::ConfigError("schedule.time_zone: no zone '" + s.time_zone + "' in the tz database (" +
                              path + ")");
  try {
    o.zone = core::TimeZone::from_tzif(s.time_zone, bytes.str());
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError("schedule.time_zone: " + path + ": " + e.what());
  }
  o.sync_interval = std::chrono::milliseconds(s.sync_interval_ms);
  o.catch_up = s.catch_up;
  o.tick = std::chrono::milliseconds(s.tick_ms);
  o.max_attempts = config.jobs.max_attempts;
  // Companies a webhook or pushed usage said changed are refreshed as soon as no run is under way.
  o.requested_refresh = (config.webhook.enabled && config.webhook.refresh_on_change) || config.usage.enabled;
  o.requested_refresh_interval = std::chrono::milliseconds(s.requested_refresh_interval_ms);
  return o;
}

Components::~Components() {
  stop();
}

const scoring::ScoringConfig& Components::scoring() const {
  if (!scoring_) throw std::logic_error("components: built without the scoring config");
  return *scoring_;
}

const alerts::Settings& Components::alerts() const {
  if (!alerts_) throw std::logic_error("components: built without the write-back settings");
  return *alerts_;
}

const workflow::Context& Components::workflow() const {
  if (!workflow_) throw std::logic_error("components: built without the workflow context");
  return *workflow_;
}

const outbox::Settings& Components::outbox() const {
  if (!outbox_) throw std::logic_error("components: built without the outbox settings");
  return *outbox_;
}

const pipeline::ScheduleOptions& Components::schedule() const {
  if (!schedule_) throw std::logic_error("components: built without the schedule");
  return *schedule_;
}

const onboarding::Settings& Components::onboarding() const {
  if (!onboarding_) throw std::logic_error("components: built without the onboarding settings");
  return *onboarding_;
}

const plays::Settings& Components::plays() const {
  if (!plays_) throw std::logic_error("components: built without the plays");
  return *plays_;
}

std::int32_t Components::service_day() {
  return core::service_day(schedule_->zone, clock_->now_ms());
}

hubspot::RateBudget& Components::rate_budget() {
  if (!budget_) throw std::logic_error("components: built without HubSpot");
  return *budget_;
}

hubspot::ClientHandle Components::hubspot_client() {
  const auto& h = config_.hubspot;
  http::TransportOptions to;
  to.base_url = h.base_url;
  to.request_timeout = std::chrono::milliseconds(h.request_timeout_ms);
  to.ca_file = h.ca_file;
  hubspot::ClientOptions co;
  co.max_attempts = h.max_attempts;
  co.rate_limit_wait = std::chrono::milliseconds(h.burst_interval_ms);
  co.max_retry_wait = std::chrono::milliseconds(h.max_retry_wait_ms);
  co.api_version = h.api_version;
  hubspot::ClientHandle handle;
  handle.transport = http::make_transport(to);
  handle.client = std::make_unique<hubspot::HubSpotClient>(*handle.transport, rate_budget(), *clock_, h.token,
                                                           metrics_, co);
  return handle;
}

void Components::stop() {
  budget_.reset();
  kpis_.reset();
  jobs_.reset();
  db_.reset();
  migrator_.reset();
  if (database_runtime_) database_runtime_->stop();
}

}  // namespace cshealthd::app
