#include "test_database.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/store/embedded_postgres.hpp"
#include "cshealthd/store/migrations.hpp"

namespace cshealthd::testing {
namespace {

struct Cluster {
  std::string prefix;  // conninfo without dbname
  std::unique_ptr<store::EmbeddedPostgres> own;
};

Cluster& cluster() {
  static Cluster c;
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* info_path = std::getenv("CSHEALTHD_TEST_PG_INFO")) {
      std::ifstream in(info_path);
      if (in) {
        c.prefix = nlohmann::json::parse(in).at("conninfo_prefix").get<std::string>();
        return;
      }
    }
    char tmpl[] = "/tmp/cshealthd-ownpg-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    store::EmbeddedOptions opts;
    opts.state_dir = tmpl;
    opts.fsync = false;
    opts.database = "postgres";
    c.own = std::make_unique<store::EmbeddedPostgres>(opts);
    c.own->start();
    const auto full = c.own->conninfo_for("postgres");
    c.prefix = full.substr(0, full.find(" dbname="));
    pqxx::connection conn(c.prefix + " dbname=postgres");
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE DATABASE cshealthd_template");
    store::Migrator(c.prefix + " dbname=cshealthd_template").migrate();
  });
  return c;
}

std::string unique_name() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return "t_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(rd() % 100000);
}

}  // namespace

std::string TestDatabase::admin_conninfo() {
  return cluster().prefix + " dbname=postgres";
}

TestDatabase::TestDatabase(bool migrated) : name_(unique_name()) {
  pqxx::connection c(admin_conninfo());
  pqxx::nontransaction tx(c);
  // CREATE DATABASE … TEMPLATE fails while another session is connected to the template, and
  // parallel tests clone it at the same time: retry briefly.
  for (int attempt = 0;; ++attempt) {
    try {
      tx.exec("CREATE DATABASE " + tx.quote_name(name_) + " TEMPLATE " +
              (migrated ? "cshealthd_template" : "template0"));
      break;
    } catch (const pqxx::sql_error& e) {
      if (attempt >= 50 || e.sqlstate() != "55006") throw;
      usleep(100'000);
    }
  }
  conninfo_ = cluster().prefix + " dbname=" + name_;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection c(admin_conninfo());
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
    // The cluster goes away at the end of the run anyway.
  }
}

void exec_sql(store::Database& db, const std::string& sql) {
  db.with_connection("test", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  });
}

std::string first_text(store::Database& db, const std::string& sql) {
  return db.with_connection("test", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? std::string("<null>") : r[0][0].as<std::string>();
  });
}

}  // namespace cshealthd::testing
