#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace cshealthd::store {

struct MigrationSource {
  std::string name;  // "0001_init.sql": the leading number is the version
  std::string sql;
};

// The files of migrations/, compiled into the binary.
const std::vector<MigrationSource>& embedded_migrations();

struct MigrationState {
  int version;
  std::string name;
  std::string checksum;  // sha256 of the SQL text, hex
  bool applied;
};

struct MigrationReport {
  std::vector<std::string> applied;  // names applied by this call, in order
  int total = 0;
};

struct MigratorOptions {
  int connect_timeout_s = 10;
  // How long to wait for the migration lock (another replica migrating) or for a table a migration
  // alters; past it the run fails with a message saying what it waited for.
  std::chrono::milliseconds lock_wait{120'000};
};

// Applies numbered SQL files, each in its own transaction, recording version, name and checksum in
// schema_migrations. Holds a PostgreSQL advisory lock meanwhile, so replicas that start together
// apply each migration once. Refuses to run when an applied migration's text has changed or the
// database has a migration this binary does not know.
class Migrator {
 public:
  explicit Migrator(std::string conninfo, std::vector<MigrationSource> sources = embedded_migrations(),
                    MigratorOptions options = {});

  MigrationReport migrate();
  std::vector<MigrationState> status();
  std::vector<MigrationState> status(pqxx::connection& c) const;
  // Empty when every migration is applied with a matching checksum, else why not (for /readyz).
  std::string pending_reason(pqxx::connection& c) const;

  static std::string checksum(const std::string& sql);

 private:
  struct Parsed {
    int version;
    std::string name;
    std::string sql;
    std::string checksum;
  };
  std::string conninfo_;
  MigratorOptions options_;
  std::vector<Parsed> migrations_;
};

}  // namespace cshealthd::store
