#include "cshealthd/store/migrations.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "cshealthd/store/database.hpp"
#include "cshealthd/store/errors.hpp"

namespace cshealthd::store {
namespace {

// "cshmigrt" as a 64-bit advisory lock key shared by every replica.
constexpr long long kMigrationLock = 0x6373686d69677274LL;

constexpr const char* kCreateTable = R"(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))";

[[noreturn]] void fail(const std::string& what) {
  throw StoreError(StoreError::Kind::kPermanent, what);
}

struct Applied {
  std::string name;
  std::string checksum;
};

std::map<int, Applied> read_applied(pqxx::transaction_base& tx) {
  std::map<int, Applied> out;
  const auto exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return out;
  for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version")) {
    out[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return out;
}

}  // namespace

std::string Migrator::checksum(const std::string& sql) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(sql.data(), sql.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

Migrator::Migrator(std::string conninfo, std::vector<MigrationSource> sources, MigratorOptions options)
    : conninfo_(with_connect_timeout(conninfo, options.connect_timeout_s)), options_(options) {
  for (auto& s : sources) {
    const int version = std::atoi(s.name.c_str());
    if (version <= 0) fail("migration " + s.name + ": the file name must start with its version number");
    migrations_.push_back({version, s.name, s.sql, checksum(s.sql)});
  }
  std::sort(migrations_.begin(), migrations_.end(), [](auto& a, auto& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < migrations_.size(); ++i) {
    if (migrations_[i].version == migrations_[i - 1].version) {
      fail("migrations " + migrations_[i - 1].name + " and " + migrations_[i].name + " share a version");
    }
  }
}

MigrationReport Migrator::migrate() {
  MigrationReport report;
  report.total = static_cast<int>(migrations_.size());
  try {
    pqxx::connection c(conninfo_);
    pqxx::nontransaction session(c);
    session.exec("SET statement_timeout = 0");  // a migration may rewrite a large table
    // ...but waiting for a lock (the migration lock, a table in use) is bounded.
    session.exec("SET lock_timeout = " + std::to_string(options_.lock_wait.count()));
    try {
      session.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")");
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "55P03") throw;
      fail("migrations: another process held the migration lock for over " +
           std::to_string(options_.lock_wait.count()) + " ms (a replica migrating, or stuck); try again");
    }
    // The lock is session-scoped: it is released when this connection closes, even on an exception.
    session.exec(kCreateTable);
    const auto applied = read_applied(session);
    for (const auto& [version, row] : applied) {
      const auto it = std::find_if(migrations_.begin(), migrations_.end(),
                                   [v = version](const Parsed& m) { return m.version == v; });
      if (it == migrations_.end()) {
        fail("database has migration " + row.name + " that this binary does not know; run a newer cshealthd");
      }
      if (it->checksum != row.checksum) {
        fail("migration " + it->name + " was edited after it was applied (checksum " +
             row.checksum.substr(0, 12) + " in the database, " + it->checksum.substr(0, 12) +
             " in this binary); add a new migration instead of editing an applied one");
      }
    }
    session.commit();
    for (const auto& m : migrations_) {
      if (applied.count(m.version)) continue;
      spdlog::info("migrations: applying {}", m.name);
      try {
        pqxx::work tx(c, "migrate");
        tx.exec(m.sql);
        tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                       m.version, m.name, m.checksum);
        tx.commit();
      } catch (const pqxx::sql_error& e) {
        fail("migration " + m.name + " failed: " + e.what());
      }
      report.applied.push_back(m.name);
    }
    pqxx::nontransaction unlock(c);
    unlock.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
  } catch (...) {
    rethrow_as_store_error("migrations");
  }
  return report;
}

std::vector<MigrationState> Migrator::status() {
  try {
    pqxx::connection c(conninfo_);
    return status(c);
  } catch (...) {
    rethrow_as_store_error("migrations status");
  }
}

std::vector<MigrationState> Migrator::status(pqxx::connection& c) const {
  std::map<int, Applied> applied;
  {
    pqxx::read_transaction tx(c);
    applied = read_applied(tx);
  }
  std::vector<MigrationState> out;
  for (const auto& m : migrations_) {
    const auto it = applied.find(m.version);
    out.push_back({m.version, m.name, m.checksum, it != applied.end() && it->second.checksum == m.checksum});
  }
  return out;
}

std::string Migrator::pending_reason(pqxx::connection& c) const {
  int pending = 0;
  for (const auto& s : status(c)) {
    if (!s.applied) ++pending;
  }
  return pending == 0 ? std::string() : std::to_string(pending) + " migration(s) not applied";
}

}  // namespace cshealthd::store
