#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "cshealthd/config/config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/embedded_postgres.hpp"
#include "cshealthd/store/migrations.hpp"

namespace cshealthd::app {

// The PostgreSQL this process uses: the server named by database.url, or (when none is configured)
// the embedded cluster in <state_dir>/pg, started here and stopped with this object.
class DatabaseRuntime {
 public:
  explicit DatabaseRuntime(const config::Config& config);
  ~DatabaseRuntime();
  DatabaseRuntime(const DatabaseRuntime&) = delete;
  DatabaseRuntime& operator=(const DatabaseRuntime&) = delete;

  const std::string& conninfo() const { return conninfo_; }
  std::string redacted() const;  // for logs
  bool embedded() const { return embedded_ != nullptr; }
  int embedded_restarts() const { return embedded_ ? embedded_->restarts() : 0; }
  void stop();

 private:
  std::unique_ptr<store::EmbeddedPostgres> embedded_;
  std::string conninfo_;
  int shutdown_timeout_ms_;
};

// The migrator for this config's database: its connect timeout and lock wait.
store::MigratorOptions migrator_options(const config::Config& config);

}  // namespace cshealthd::app
