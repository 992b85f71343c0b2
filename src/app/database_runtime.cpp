#include "cshealthd/app/database_runtime.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/base/system_clock.hpp"
#include "cshealthd/core/health.hpp"
#include "cshealthd/store/migrations.hpp"

namespace cshealthd::app {

DatabaseRuntime::DatabaseRuntime(const config::Config& config)
    : shutdown_timeout_ms_(config.http.shutdown_deadline_ms) {
  if (!config.database.url.empty()) {
    conninfo_ = config.database.url.reveal();
    spdlog::info("database: using {}", redacted());
    return;
  }
  store::EmbeddedOptions opts;
  opts.state_dir = config.state_dir;
  opts.bin_dir = config.database.embedded.bin_dir;
  opts.port = config.database.embedded.port;
  opts.fsync = config.database.embedded.fsync;
  opts.startup_timeout = std::chrono::milliseconds(config.database.embedded.startup_timeout_ms);
  opts.run_as = config.database.embedded.run_as;
  embedded_ = std::make_unique<store::EmbeddedPostgres>(opts);
  embedded_->start();
  conninfo_ = embedded_->conninfo();
  spdlog::info("database: embedded cluster in {}", embedded_->data_dir().string());
}

DatabaseRuntime::~DatabaseRuntime() {
  stop();
}

void DatabaseRuntime::stop() {
  if (embedded_) embedded_->stop(std::chrono::milliseconds(std::max(shutdown_timeout_ms_, 1000)));
}

std::string DatabaseRuntime::redacted() const {
  return config::redact_database_url(conninfo_);
}

store::MigratorOptions migrator_options(const config::Config& config) {
  return {config.database.connect_timeout_s,
          std::chrono::milliseconds(config.database.migration_lock_wait_ms)};
}

}  // namespace cshealthd::app
