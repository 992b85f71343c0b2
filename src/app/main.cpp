// cshealthd: entry point. Parses the command line, loads config, wires the components of the chosen
// command and maps failures to exit codes (2 for configuration and usage errors, 1 for others).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "cshealthd/app/components.hpp"
#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/app/kpis_command.hpp"
#include "cshealthd/app/run_command.hpp"
#include "cshealthd/app/score_command.hpp"
#include "cshealthd/app/service.hpp"
#include "cshealthd/app/sync_command.hpp"
#include "cshealthd/app/writeback_command.hpp"
#include "cshealthd/base/log.hpp"
#include "cshealthd/base/process.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/errors.hpp"
#include "cshealthd/store/migrations.hpp"
#include "cshealthd/writeback/settings.hpp"
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
  if (service.abandoned()) {
    // A handler still runs and uses what the service owns: end here, without destructors under it.
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(0);
  }
  return 0;
}

int cmd_migrate(const Config& config, bool status_only) {
  cshealthd::app::ComponentOptions options;
  options.pool_size = 1;
  options.migrate = false;  // this command says when
  options.scoring = false;
  cshealthd::app::Components components(config, options);
  auto& migrator = components.migrator();
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
  const auto scoring = cshealthd::scoring::load_scoring_config(config);  // scorecards are config too
  const auto schedule = cshealthd::app::load_schedule_options(config);   // so are the cron and the zone
  const auto workflow = cshealthd::workflow::load_context(config, schedule.zone);  // holidays, managers
  const auto writeback = cshealthd::writeback::load_settings(config);              // and the alert rules
  std::cout << "config OK (" << (source.empty() ? "defaults + environment" : source) << ")\n"
            << cshealthd::config::describe(config) << "scorecards:";
  for (const auto& c : scoring.scorecards) std::cout << " " << c.name;
  std::cout << " (default segment " << scoring.segments.default_name << " -> "
            << scoring.segments.default_scorecard << ")\n"
            << "schedule: nightly '" << schedule.nightly.text << "' in " << schedule.zone.name() << "\n"
            << "writeback: " << (writeback.enabled ? "on" : "off") << ", " << writeback.plan.rules.size()
            << " alert rules, " << workflow.calendar.holidays() << " holidays\n";
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
  bool sweep_now = false;
  sync_cmd->add_flag(
      "--sweep", sweep_now,
      "also run the id sweep now (records deleted or merged in HubSpot), whatever its interval");

  cshealthd::app::ScoreOptions score_opts;
  std::int64_t score_company = 0;
  auto* score_cmd =
      app.add_subcommand("score", "Score every company (or one) as of a day and store the results");
  score_cmd->add_option("--config", config_path, "YAML config file");
  score_cmd->add_option("--as-of", score_opts.as_of, "the day to score, YYYY-MM-DD (default: today, UTC)");
  score_cmd->add_option("--company", score_company, "one HubSpot company id");
  score_cmd->add_flag("--explain", score_opts.explain,
                      "print every result with its components, signals and reasons");
  score_cmd->add_flag("--json", score_opts.json, "JSON lines instead of tables");
  score_cmd->add_option("--backfill", score_opts.backfill,
                        "rescore this many days ending at --as-of (oldest first)");

  cshealthd::app::OverrideOptions ov;
  auto* override_cmd =
      app.add_subcommand("override", "Set, revoke or list a company's manual score overrides");
  override_cmd->add_option("--config", config_path, "YAML config file");
  override_cmd->add_option("ACTION", ov.action, "set | revoke | list")
      ->required()
      ->check(CLI::IsMember({"set", "revoke", "list"}));
  override_cmd->add_option("--company", ov.company, "HubSpot company id")->required();
  override_cmd->add_option("--component", ov.component, "a scorecard component (default: the whole score)");
  override_cmd->add_option("--value", ov.value, "the score (0-100) or the component's points");
  override_cmd->add_option("--reason", ov.reason, "why (shown in every explanation)");
  override_cmd->add_option("--expires", ov.expires, "last day it applies, YYYY-MM-DD");
  override_cmd->add_option("--author", ov.author, "who (default: $USER)");

  bool run_wait = false;
  std::string run_as_of;
  auto* run_cmd =
      app.add_subcommand("run", "Queue a pipeline run (sync, then score) for the service to carry out");
  run_cmd->add_option("--config", config_path, "YAML config file");
  run_cmd->add_flag("--wait", run_wait, "follow the run to its end (exit 0 when it succeeded)");
  run_cmd->add_option("--as-of", run_as_of,
                      "the day it scores, YYYY-MM-DD (default: today in schedule.time_zone)");

  cshealthd::app::PlanCommandOptions plan_opts;
  auto* plan_cmd = app.add_subcommand(
      "plan", "What write-back would write, create, escalate and close in HubSpot for a scored day");
  plan_cmd->add_option("--config", config_path, "YAML config file");
  plan_cmd->add_option("--as-of", plan_opts.as_of, "the scored day, YYYY-MM-DD (default: the latest)");
  plan_cmd->add_flag("--dry-run", plan_opts.dry_run, "only print: no HubSpot call, nothing recorded");
  plan_cmd->add_flag("--json", plan_opts.json, "JSON instead of lines");
  plan_cmd->add_flag("--plays", plan_opts.plays,
                     "the lifecycle plays instead: what each would do that night and why (records nothing)");

  cshealthd::app::KpisOptions kpi_opts;
  auto* kpis_cmd =
      app.add_subcommand("kpis", "The CS KPIs of a month (or its quarter) against their targets");
  kpis_cmd->add_option("--config", config_path, "YAML config file");
  kpis_cmd->add_option("--month", kpi_opts.month, "the month, YYYY-MM (default: last month)");
  kpis_cmd->add_flag("--quarter", kpi_opts.quarter, "the quarter the month is in");
  kpis_cmd->add_flag("--csv", kpi_opts.csv, "CSV (period,kpi,value,target,met,numerator,denominator)");
  kpis_cmd->add_flag("--json", kpi_opts.json, "JSON instead of lines");
  kpis_cmd->add_option("--segment", kpi_opts.segment, "one scoring segment");
  kpis_cmd->add_option("--owner", kpi_opts.owner, "one HubSpot owner (CSM) id");
  kpis_cmd->add_flag("--recompute", kpi_opts.recompute, "compute the period from the stored data now");
  kpis_cmd->add_flag("--rebuild", kpi_opts.rebuild,
                     "compute every month and quarter kpis.history_months back (after a score back-fill)");

  auto* plays_cmd = app.add_subcommand("plays", "Lifecycle plays (renewal, expansion, QBR, win-back)");
  plays_cmd->require_subcommand(1);
  std::string plays_file;
  auto* plays_check =
      plays_cmd->add_subcommand("check", "Validate a plays file (exit 2 naming file:line when invalid)");
  plays_check->add_option("FILE", plays_file, "the plays file")->required();

  cshealthd::app::SnoozeOptions snooze_opts;
  auto* snooze_cmd = app.add_subcommand("snooze", "Silence one alert rule at one company until a date");
  snooze_cmd->add_option("--config", config_path, "YAML config file");
  snooze_cmd->add_option("ACTION", snooze_opts.action, "set | revoke | list")
      ->required()
      ->check(CLI::IsMember({"set", "revoke", "list"}));
  snooze_cmd->add_option("--company", snooze_opts.company, "HubSpot company id")->required();
  snooze_cmd->add_option("--rule", snooze_opts.rule, "the alert rule (score_below_60, usage_drop, ...)");
  snooze_cmd->add_option("--until", snooze_opts.until, "the last day it is silenced, YYYY-MM-DD");
  snooze_cmd->add_option("--reason", snooze_opts.reason, "why (kept with the snooze)");
  snooze_cmd->add_option("--author", snooze_opts.author, "who (default: $USER)");

  std::string jobs_state;
  int jobs_limit = 50;
  auto* jobs_cmd = app.add_subcommand("jobs", "List the job queue, newest first");
  jobs_cmd->add_option("--config", config_path, "YAML config file");
  jobs_cmd->add_option("--state", jobs_state, "queued | running | failed | succeeded | dead")
      ->check(CLI::IsMember({"queued", "running", "failed", "succeeded", "dead"}));
  jobs_cmd->add_option("--limit", jobs_limit, "at most this many (1-1000)")->check(CLI::Range(1, 1000));

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
    if (plays_check->parsed()) return cshealthd::app::run_plays_check(plays_file);
    if (check->parsed()) {
      const std::string file = check_file.empty() ? config_path : check_file;
      return cmd_config_check(load_config(file), file);
    }
    const Config config = load_config(config_path);
    cshealthd::process::set_core_dumps(config.process.core_dumps);  // every command holds secrets
    init_logging(config);
    logging = true;
    if (serve->parsed()) return cmd_serve(config);
    if (migrate->parsed()) return cmd_migrate(config, status_only);
    if (sync_cmd->parsed()) return cshealthd::app::run_sync(config, full_sync, sync_objects, sweep_now);
    if (score_cmd->parsed()) {
      if (score_cmd->count("--company")) score_opts.company = score_company;
      return cshealthd::app::run_score(config, score_opts);
    }
    if (run_cmd->parsed()) return cshealthd::app::run_pipeline(config, run_wait, run_as_of);
    if (plan_cmd->parsed()) return cshealthd::app::run_plan_command(config, plan_opts);
    if (kpis_cmd->parsed()) return cshealthd::app::run_kpis(config, kpi_opts);
    if (snooze_cmd->parsed()) {
      if (snooze_opts.action != "list" && snooze_opts.rule.empty())
        throw cshealthd::config::ConfigError("snooze: --rule is required");
      if (snooze_opts.action == "set" && (snooze_opts.until.empty() || snooze_opts.reason.empty()))
        throw cshealthd::config::ConfigError("snooze set: --until and --reason are required");
      return cshealthd::app::run_snooze(config, snooze_opts);
    }
    if (jobs_cmd->parsed()) {
      return cshealthd::app::list_jobs(config, jobs_state.empty() ? std::nullopt : std::optional(jobs_state),
                                       jobs_limit);
    }
    if (override_cmd->parsed()) {
      if (ov.action == "set" && (!override_cmd->count("--value") || ov.reason.empty() || ov.expires.empty()))
        throw cshealthd::config::ConfigError("override set: --value, --reason and --expires are required");
      return cshealthd::app::run_override(config, ov);
    }
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
