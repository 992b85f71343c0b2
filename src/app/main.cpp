// cshealthd: entry point. Parses the command line, loads config, wires the components of the chosen
// command and maps failures to exit codes (2 for configuration and usage errors, 1 for others).
#include <signal.h>

#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/app/service.hpp"
#include "cshealthd/app/sync_command.hpp"
#include "cshealthd/base/log.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/store/errors.hpp"
#include "cshealthd/store/migrations.hpp"
#include "version.hpp"

namespace {

using cshealthd::config::Config;

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;

Config load_config(const std::string& path) {
  std::optional<std::string> file;
  if (!path.empty()) file = path;
  return cshealthd::config::load(file, cshealthd::config::process_environment());
}

void init_logging(const Config& config) {
  cshealthd::log::Options opts;
  opts.level = spdlog::level::from_str(config.log.level);
  if (config.log.format == "json")
    opts.format = cshealthd::log::Format::kJson;
  else if (config.log.format == "text")
    opts.format = cshealthd::log::Format::kText;
  else
    opts.format =
        cshealthd::log::stderr_is_terminal() ? cshealthd::log::Format::kText : cshealthd::log::Format::kJson;
  cshealthd::log::init(opts);
}

// SIGTERM and SIGINT are blocked in every thread (threads inherit the mask) and taken by sigwait on the
// main thread, so no handler runs in an arbitrary thread.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int cmd_serve(const Config& config) {
  const sigset_t signals = block_stop_signals();
  cshealthd::app::Service service(config);
  service.start();
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; shutting down (deadline {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               config.http.shutdown_deadline_ms);
  const bool clean = service.stop();
  spdlog::info("stopped{}", clean ? "" : " (deadline reached with work still in flight)");
  return 0;
}

int cmd_migrate(const Config& config, bool status_only) {
  cshealthd::app::DatabaseRuntime db(config);
  cshealthd::store::Migrator migrator(db.conninfo());
  if (!status_only) {
    const auto report = migrator.migrate();
    for (const auto& name : report.applied) std::cout << "applied " << name << "\n";
    std::cout << report.applied.size() << " applied now, " << report.total << " in total\n";
    return 0;
  }
  for (const auto& s : migrator.status()) {
    std::cout << (s.applied ? "applied  " : "pending  ") << s.name << "\n";
  }
  return 0;
}

int cmd_config_check(const Config& config, const std::string& source) {
  std::cout << "config OK (" << (source.empty() ? "defaults + environment" : source) << ")\n"
            << cshealthd::config::describe(config);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cshealthd: customer-health scores for HubSpot portals"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cshealthd ") + cshealthd::build::kVersion + " (" +
                                        cshealthd::build::kGitSha + ")");

  std::string config_path;
  auto* serve = app.add_subcommand("serve", "Run the service: HTTP API, webhooks and scheduled jobs");
  serve->add_option("--config", config_path, "YAML config file (default: defaults + environment)");

  bool status_only = false;
  auto* migrate = app.add_subcommand("migrate", "Apply pending database migrations and exit");
  migrate->add_option("--config", config_path, "YAML config file");
  migrate->add_flag("--status", status_only, "List migrations and whether each is applied; change nothing");

  bool full_sync = false;
  std::vector<std::string> sync_objects;
  auto* sync_cmd =
      app.add_subcommand("sync", "Pull HubSpot into PostgreSQL once (incremental unless --full)");
  sync_cmd->add_option("--config", config_path, "YAML config file");
  sync_cmd->add_flag("--full", full_sync, "walk every record instead of the changes since the last sync");
  sync_cmd->add_option("--objects", sync_objects, "object types to sync (default: all)")->delimiter(',');

  auto* config_cmd = app.add_subcommand("config", "Inspect configuration");
  config_cmd->require_subcommand(1);
  std::string check_file;
  auto* check =
      config_cmd->add_subcommand("check", "Validate a config file (exit 2 when invalid) and print it");
  check->add_option("FILE", check_file, "config file to check");
  check->add_option("--config", config_path, "config file to check (same as FILE)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitConfig;
  }

  bool logging = false;
  try {
    if (check->parsed()) {
      const std::string file = check_file.empty() ? config_path : check_file;
      return cmd_config_check(load_config(file), file);
    }
    const Config config = load_config(config_path);
    init_logging(config);
    logging = true;
    if (serve->parsed()) return cmd_serve(config);
    if (migrate->parsed()) return cmd_migrate(config, status_only);
    if (sync_cmd->parsed()) return cshealthd::app::run_sync(config, full_sync, sync_objects);
  } catch (const cshealthd::config::ConfigError& e) {
    std::cerr << "cshealthd: configuration error: " << e.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& e) {
    if (logging)
      spdlog::critical("{}", e.what());
    else
      std::cerr << "cshealthd: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitFailure;
}
