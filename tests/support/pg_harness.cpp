// pg-harness: starts (or stops) the one PostgreSQL cluster a test run shares. ctest runs `start` as a
// fixture set-up and `stop` as its clean-up; tests find the cluster through the info file named by
// CSHEALTHD_TEST_PG_INFO and each creates its own database there.
//   pg-harness start --info FILE      initdb + start in a fresh temp dir, create the migrated template
//   pg-harness stop  --info FILE      stop that cluster and remove its directory
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/store/embedded_postgres.hpp"
#include "cshealthd/store/migrations.hpp"

namespace fs = std::filesystem;
using cshealthd::store::EmbeddedOptions;
using cshealthd::store::EmbeddedPostgres;

int start(const std::string& info_path) {
  char tmpl[] = "/tmp/cshealthd-testpg-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::cerr << "pg-harness: mkdtemp failed\n";
    return 1;
  }
  EmbeddedOptions opts;
  opts.state_dir = tmpl;
  opts.fsync = false;
  opts.die_with_parent = false;  // outlives this process; `stop` ends it
  opts.supervise = false;
  opts.database = "postgres";
  EmbeddedPostgres pg(opts);
  pg.start();

  {
    pqxx::connection c(pg.conninfo_for("postgres"));
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS cshealthd_template");
    tx.exec("CREATE DATABASE cshealthd_template");
  }
  cshealthd::store::Migrator(pg.conninfo_for("cshealthd_template")).migrate();

  nlohmann::json info = {
      {"state_dir", tmpl},
      {"data_dir", pg.data_dir().string()},
      {"conninfo_postgres", pg.conninfo_for("postgres")},
      {"conninfo_prefix",
       pg.conninfo_for("postgres").substr(0, pg.conninfo_for("postgres").find(" dbname="))}};
  fs::create_directories(fs::path(info_path).parent_path());
  std::ofstream(info_path) << info.dump(2) << "\n";
  std::cout << "pg-harness: cluster up in " << tmpl << "\n";
  return 0;
}

int stop(const std::string& info_path) {
  std::ifstream in(info_path);
  if (!in) {
    std::cout << "pg-harness: no info file; nothing to stop\n";
    return 0;
  }
  const auto info = nlohmann::json::parse(in);
  EmbeddedPostgres::stop_running(info.at("data_dir").get<std::string>(), std::chrono::seconds(20));
  fs::remove_all(info.at("state_dir").get<std::string>());
  fs::remove(info_path);
  std::cout << "pg-harness: cluster stopped\n";
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 4 || std::string(argv[2]) != "--info") {
    std::cerr << "usage: pg-harness start|stop --info FILE\n";
    return 2;
  }
  try {
    const std::string cmd = argv[1];
    if (cmd == "start") return start(argv[3]);
    if (cmd == "stop") return stop(argv[3]);
  } catch (const std::exception& e) {
    std::cerr << "pg-harness: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: pg-harness start|stop --info FILE\n";
  return 2;
}
