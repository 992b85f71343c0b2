#include "cshealthd/app/service.hpp"

#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cshealthd/app/health_api.hpp"
#include "cshealthd/app/score_command.hpp"
#include "cshealthd/base/log.hpp"
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
  metrics_
      .gauge("cshealthd_build_info", "Build of the running binary",
             {{"version", build::kVersion}, {"git_sha", build::kGitSha}})
      .set(1);
  metrics_.gauge("cshealthd_start_time_seconds", "When this process started (Unix time)")
      .set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());

  // Scorecards first: an invalid one is a config error (exit 2) before anything starts.
  scoring_ = std::make_unique<scoring::ScoringConfig>(load_scoring_config(config_));
  database_runtime_ = std::make_unique<DatabaseRuntime>(config_);
  migrator_ = std::make_unique<store::Migrator>(database_runtime_->conninfo());
  if (config_.database.migrate_on_start) {
    const auto report = migrator_->migrate();
    spdlog::info("migrations: {} applied now, {} in total", report.applied.size(), report.total);
  }
  db_ = std::make_unique<store::Database>(
      database_runtime_->conninfo(),
      store::PoolOptions{config_.database.pool_size, config_.database.statement_timeout_ms,
                         config_.database.connect_timeout_s, std::chrono::milliseconds(30'000)});
  register_instance();

  workers_ = std::make_unique<WorkerPool>(config_.http.worker_threads, "http-workers");
  add_routes();
  add_v1_routes();
  const auto listen = config::parse_listen(config_.http.listen, "http.listen");
  http::ServerOptions opts;
  opts.host = listen.host;
  opts.port = listen.port;
  opts.io_threads = config_.http.io_threads;
  opts.max_body_bytes = static_cast<std::size_t>(config_.http.max_body_bytes);
  opts.max_header_bytes = static_cast<std::size_t>(config_.http.max_header_bytes);
  opts.read_timeout = std::chrono::milliseconds(config_.http.read_timeout_ms);
  opts.write_timeout = std::chrono::milliseconds(config_.http.write_timeout_ms);
  server_ = std::make_unique<http::Server>(opts, router_, *workers_, metrics_);
  server_->start();
  spdlog::info("http: listening on {}", server_->address());
}

void Service::add_routes() {
  router_.add("GET", "/healthz", [](const http::Request&) {
    return http::Response::json(200, {{"status", "ok"}, {"version", build::kVersion}});
  });
  router_.add("GET", "/readyz", [this](const http::Request&) {
    std::string reason;
    try {
      reason =
          db_->with_connection("readyz", [&](pqxx::connection& c) { return migrator_->pending_reason(c); });
    } catch (const store::StoreError& e) {
      reason = "database unreachable";
      spdlog::warn("readyz: {}", e.what());
    }
    if (!reason.empty()) return http::Response::json(503, {{"status", "not_ready"}, {"reason", reason}});
    return http::Response::json(200, {{"status", "ready"}});
  });
  router_.add("GET", "/metrics", [this](const http::Request&) {
    metrics_.gauge("cshealthd_worker_queue_depth", "Tasks waiting for a worker thread")
        .set(static_cast<double>(workers_->queued()));
    if (database_runtime_->embedded()) {
      metrics_
          .gauge("cshealthd_embedded_postgres_restarts",
                 "Times the embedded PostgreSQL was restarted after dying")
          .set(database_runtime_->embedded_restarts());
    }
    return http::Response::text(200, metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

void Service::add_v1_routes() {
  HealthApi api{*db_, *scoring_, metrics_, config_.admin.token, today_utc};
  add_health_routes(router_, std::move(api));
}

void Service::register_instance() {
  db_->with_retry("register_instance", [&](pqxx::connection& c) {
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
    db_->with_connection("unregister_instance", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params("DELETE FROM service_instances WHERE instance_id = $1", instance_id_);
      tx.commit();
    });
  } catch (const store::StoreError& e) {
    spdlog::warn("could not unregister this instance: {}", e.what());
  }
}

bool Service::stop() {
  if (stopped_) return true;
  stopped_ = true;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.http.shutdown_deadline_ms);
  const auto remaining = [&] {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
  };
  bool clean = true;
  if (server_) clean = server_->shutdown(remaining()) && clean;
  if (workers_) clean = workers_->shutdown(remaining()) && clean;
  if (db_) {
    unregister_instance();
    db_.reset();
  }
  if (database_runtime_) database_runtime_->stop();
  return clean;
}

}  // namespace cshealthd::app
