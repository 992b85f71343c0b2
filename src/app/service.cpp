#include "cshealthd/app/service.hpp"

#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cshealthd/api/dashboard.hpp"
#include "cshealthd/api/v1.hpp"
#include "cshealthd/api/webhooks.hpp"
#include "cshealthd/app/components.hpp"
#include "cshealthd/app/score_command.hpp"
#include "cshealthd/base/log.hpp"
#include "cshealthd/base/process.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/pipeline/segment_settler.hpp"
#include "version.hpp"

namespace cshealthd::app {
namespace {

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

Service::Service(config::Config config)
    : config_(std::move(config)),
      instance_id_(hostname() + ":" + std::to_string(getpid()) + ":" + log::new_id()) {}

Service::~Service() {
  stop();
}

void Service::start() {
  // The pool serves the API, and each job worker's sync (a connection per type synced at once, plus one)
  // and scoring (a reader and a writer).
  ComponentOptions co;
  co.pool_size = config_.database.pool_size + config_.jobs.workers * (config_.sync.parallelism + 3);
  co.hubspot = !config_.hubspot.token.empty();
  co.writeback = true;
  // A bad cron, zone or alerts file is a ConfigError (exit 2) before the database starts.
  components_ = std::make_unique<Components>(config_, co);
  const auto& schedule = components_->schedule();
  auto& metrics_ = components_->metrics();
  metrics_
      .gauge("cshealthd_build_info", "Build of the running binary",
             {{"version", build::kVersion}, {"git_sha", build::kGitSha}})
      .set(1);
  metrics_.gauge("cshealthd_start_time_seconds", "When this process started (Unix time)")
      .set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());

  register_instance();
  build_pipeline(schedule);

  workers_ = std::make_unique<WorkerPool>(config_.http.worker_threads, "http-workers",
                                          static_cast<std::size_t>(config_.http.worker_queue_limit));
  add_routes();
  add_v1_routes(schedule.zone);
  if (config_.dashboard.enabled) api::add_dashboard_routes(router_);
  if (config_.webhook.enabled) {
    api::add_webhook_routes(
        router_, api::WebhookDeps{components_->db(), components_->metrics(), components_->clock(),
                                  config_.webhook.secret, config_.public_url,
                                  static_cast<std::size_t>(config_.webhook.max_body_bytes),
                                  static_cast<std::size_t>(config_.webhook.max_events),
                                  config_.webhook.max_age_ms, [this] { work_->job_workers->wake(); }});
    if (config_.webhook.secret.empty())
      spdlog::warn("webhooks: webhook.secret is not set; POST /webhooks/hubspot refuses every request");
  }
  const auto listen = config::parse_listen(config_.http.listen, "http.listen");
  http::ServerOptions opts;
  opts.host = listen.host;
  opts.port = listen.port;
  opts.io_threads = config_.http.io_threads;
  opts.max_body_bytes = static_cast<std::size_t>(config_.http.max_body_bytes);
  opts.max_header_bytes = static_cast<std::size_t>(config_.http.max_header_bytes);
  opts.read_timeout = std::chrono::milliseconds(config_.http.read_timeout_ms);
  opts.idle_timeout = std::chrono::milliseconds(config_.http.idle_timeout_ms);
  opts.write_timeout = std::chrono::milliseconds(config_.http.write_timeout_ms);
  opts.max_connections = connection_cap();
  server_ = std::make_unique<http::Server>(opts, router_, *workers_, components_->metrics());
  server_->start();
  spdlog::info("http: listening on {}", server_->address());
  work_->job_workers->start();
  if (work_->scheduler) work_->scheduler->start();
}

// Built before the routes (the API starts runs and wakes the workers); started once the server is up.
void Service::build_pipeline(const pipeline::ScheduleOptions& schedule) {
  auto& c = *components_;
  pipeline::WorkerOptions wo;
  wo.threads = config_.jobs.workers;
  wo.instance = instance_id_;
  wo.poll = std::chrono::milliseconds(config_.jobs.poll_interval_ms);
  wo.retry_base = std::chrono::milliseconds(config_.jobs.retry_base_ms);
  wo.retry_cap = std::chrono::milliseconds(config_.jobs.retry_cap_ms);
  work_->job_workers = std::make_unique<pipeline::JobWorkers>(c.jobs(), c.metrics(), wo);
  work_->job_workers->handle(pipeline::kProbeJob,
                             [&db = c.db()](store::JobContext& ctx) { return pipeline::run_probe(db, ctx); });
  if (config_.hubspot.token.empty()) {
    spdlog::warn("pipeline: hubspot.token is not set; no runs are scheduled and run jobs fail until it is");
    work_->job_workers->handle(pipeline::kPipelineJob, [](store::JobContext&) -> nlohmann::json {
      throw store::PermanentJobError("hubspot.token is not set on the replica that took this run");
    });
    return;
  }
  work_->sync_job = std::make_unique<pipeline::SyncJob>(
      c.db(), [&c] { return c.hubspot_client(); }, c.clock(), c.metrics(), config_, c.schedule().zone);
  work_->score_job =
      std::make_unique<pipeline::ScoreJob>(c.db(), c.scoring(), c.metrics(), config_.scoring, c.schedule().zone);
  std::vector<workflow::Participant*> workflows;
  if (c.alerts().enabled) {
    const auto clients = [&c] { return c.hubspot_client(); };
    work_->deliverer = std::make_unique<outbox::Deliverer>(c.db(), c.outbox(), c.metrics(), c.clock());
    work_->alerts = std::make_unique<alerts::Alerts>(c.db(), c.alerts(), c.workflow(), c.outbox(), clients,
                                                     c.metrics(), c.clock());
    work_->onboarding = std::make_unique<onboarding::Onboarding>(
        c.db(), c.onboarding(), c.workflow(), *work_->deliverer, clients, c.metrics(), c.clock(),
        [this] { work_->job_workers->wake(); });
    work_->plays =
        std::make_unique<plays::Plays>(c.plays(), c.workflow(), c.onboarding().won_stages, &c.metrics());
    work_->review = std::make_unique<review::QuarterlyReview>(c.db(), config_, c.scoring(), c.workflow(),
                                                              c.metrics(), c.kpis());
    workflows = {work_->alerts.get(), work_->onboarding.get(), work_->plays.get(), work_->review.get()};
    work_->job_workers->handle(onboarding::kEventsJob, [this](store::JobContext& ctx) {
      return work_->onboarding->process_events(ctx);
    });
    work_->job_workers->handle(onboarding::kOnboardingJob,
                               [this](store::JobContext& ctx) { return work_->onboarding->onboard(ctx); });
  } else {
    onboarding::set_enabled(c.db(), false);  // no write-back: nothing could be onboarded
  }
  pipeline::KpisStage kpis;
  if (config_.kpis.enabled) kpis = [&c](std::int32_t day) { return c.kpis().compute(day); };
  work_->pipeline = std::make_unique<pipeline::Pipeline>(
      c.db(), *work_->sync_job, *work_->score_job, std::move(workflows), work_->deliverer.get(),
      [&c] { return c.hubspot_client(); }, c.clock(), c.metrics(), std::move(kpis));
  work_->job_workers->handle(pipeline::kPipelineJob,
                             [this](store::JobContext& ctx) { return (*work_->pipeline)(ctx); });
  auto options = schedule;
  if (config_.usage.enabled && !config_.usage.segment.write_key.empty()) {
    auto settler = std::make_shared<pipeline::SegmentSettler>(
        c.db(), c.segment(), static_cast<std::size_t>(config_.usage.segment.settle_batch),
        std::chrono::milliseconds(config_.usage.segment.settle_interval_ms), c.metrics(),
        [&c] { return c.service_day(); });
    options.leader_chore = [settler] { (*settler)(); };
  }
  work_->scheduler = std::make_unique<pipeline::Scheduler>(c.db(), *work_->pipeline, c.jobs(), c.clock(),
                                                           c.metrics(), std::move(options));
}

// The connection cap, within what the process may open: raised to the hard limit first, it keeps room
// for the database pool, the embedded cluster's pipes, log files and the HubSpot clients.
std::size_t Service::connection_cap() const {
  constexpr std::uint64_t kReserved = 256;
  const std::uint64_t fds = process::raise_fd_limit();
  const auto wanted = static_cast<std::uint64_t>(config_.http.max_connections);
  if (fds > kReserved && wanted <= fds - kReserved) return wanted;
  const std::uint64_t cap = fds > 2 * kReserved ? fds - kReserved : std::max<std::uint64_t>(fds / 2, 1);
  spdlog::warn("http.max_connections {} exceeds what the open-file limit ({}) allows; using {}", wanted, fds,
               cap);
  return cap;
}

void Service::add_routes() {
  // Liveness and metrics are answered on the I/O threads: they touch no database and never wait
  // behind API work, so a stalled database or a full worker queue cannot fail a liveness probe.
  http::RouteOptions inline_route;
  inline_route.dispatch = http::RouteOptions::Dispatch::kInline;
  router_.add(
      "GET", "/healthz",
      [](const http::Request&) {
        return http::Response::json(200, {{"status", "ok"}, {"version", build::kVersion}});
      },
      inline_route);
  router_.add("GET", "/readyz", [this](const http::Request&) {
    const std::string reason = readiness();
    if (!reason.empty()) return http::Response::json(503, {{"status", "not_ready"}, {"reason", reason}});
    return http::Response::json(200, {{"status", "ready"}});
  });
  router_.add(
      "GET", "/metrics",
      [this](const http::Request&) {
        auto& metrics = components_->metrics();
        metrics.gauge("cshealthd_worker_queue_depth", "Tasks waiting for a worker thread")
            .set(static_cast<double>(workers_->queued()));
        if (components_->database_runtime().embedded()) {
          metrics
              .gauge("cshealthd_embedded_postgres_restarts",
                     "Times the embedded PostgreSQL was restarted after dying")
              .set(components_->database_runtime().embedded_restarts());
        }
        return http::Response::text(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
      },
      inline_route);
}

// The database check behind /readyz, at most once per kReadyCacheTtl and one at a time: probes arriving
// meanwhile get the last answer at once. A probe flood takes one connection, never the pool, and during
// a database outage (each check waiting out the connect timeout) probes do not pile up on the workers.
std::string Service::readiness() {
  constexpr auto kReadyCacheTtl = std::chrono::seconds(1);
  {
    std::lock_guard lock(ready_mutex_);
    const auto now = std::chrono::steady_clock::now();
    const bool fresh = ready_checked_ && now - *ready_checked_ < kReadyCacheTtl;
    if (fresh || (ready_checking_ && ready_checked_)) return ready_reason_;
    ready_checking_ = true;
  }
  std::string reason;
  try {
    reason = components_->db().with_connection(
        "readyz", [&](pqxx::connection& c) { return components_->migrator().pending_reason(c); });
  } catch (const store::StoreError& e) {
    reason = "database unreachable";
    spdlog::warn("readyz: {}", e.what());
  }
  std::lock_guard lock(ready_mutex_);
  ready_reason_ = reason;
  ready_checked_ = std::chrono::steady_clock::now();
  ready_checking_ = false;
  return reason;
}

// Runs started through the API score the day it is in the schedule's zone.
void Service::add_v1_routes(const core::TimeZone& zone) {
  auto& clock = components_->clock();
  api::add_v1_routes(router_, api::V1Deps{components_->db(),
                                          components_->scoring(),
                                          components_->metrics(),
                                          config_.admin.token,
                                          [zone, &clock] { return core::service_day(zone, clock.now_ms()); },
                                          components_->jobs(),
                                          work_->pipeline.get(),
                                          [this] { work_->job_workers->wake(); },
                                          &components_->alerts(),
                                          config_.writeback.locale,
                                          config_.kpis.enabled ? &components_->kpis() : nullptr,
                                          config_.dashboard.token,
                                          &zone,
                                          config_.usage.enabled,
                                          config_.usage.token,
                                          static_cast<std::size_t>(config_.usage.max_rows),
                                          config_.usage.csv,
                                          [&clock] { return clock.now_ms(); },
                                          &components_->segment(),
                                          config_.usage.segment.write_key});
}

void Service::register_instance() {
  components_->db().with_retry("register_instance", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO service_instances (instance_id, hostname, pid, version) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (instance_id) DO UPDATE SET last_seen_at = now()",
        instance_id_, hostname(), static_cast<int>(getpid()), std::string(build::kVersion));
    tx.commit();
  });
}

void Service::unregister_instance() {
  try {
    components_->db().with_connection("unregister_instance", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params("DELETE FROM service_instances WHERE instance_id = $1", instance_id_);
      tx.commit();
    });
  } catch (const store::StoreError& e) {
    spdlog::warn("could not unregister this instance: {}", e.what());
  }
}

// A handler or a job still runs past the deadline and uses the pool, the router, the scoring config, the
// pipeline. None of it may be freed under it: it is left allocated, and the caller ends the process
// without running destructors. The embedded cluster is still stopped in order (what still runs then
// sees a closed connection, an error it handles).
void Service::abandon() {
  abandoned_ = true;
  if (components_) components_->database_runtime().stop();
  (void)server_.release();
  (void)workers_.release();
  (void)work_.release();
  (void)components_.release();
}

bool Service::stop() {
  if (stopped_) return !abandoned_;
  stopped_ = true;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.http.shutdown_deadline_ms);
  const auto remaining = [&] {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
  };
  bool clean = true;
  if (server_) clean = server_->shutdown(remaining()) && clean;
  if (work_->scheduler) work_->scheduler->stop();  // hands the leadership over
  if (work_->job_workers && !work_->job_workers->stop(remaining())) {
    // A job still runs past the deadline: its lease went back (another replica resumes it).
    spdlog::warn("shutdown: a job is still running at the deadline; its lease was handed back");
    abandon();
    return false;
  }
  if (workers_ && !workers_->shutdown(remaining())) {
    spdlog::warn("shutdown: a request handler is still running at the deadline; leaving it to the exit");
    abandon();
    return false;
  }
  if (components_) {
    unregister_instance();
    components_->stop();
  }
  return clean;
}

}  // namespace cshealthd::app
