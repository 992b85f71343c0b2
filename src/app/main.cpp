// cshealthd: entry point. Parses the command line, loads config, wires the components of the chosen
// command and maps failures to exit codes (2 for configuration and usage errors, 1 for others).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/app/backtest_command.hpp"
#include "cshealthd/app/calibrate_command.hpp"
#include "cshealthd/app/components.hpp"
#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/app/kpis_command.hpp"
#include "cshealthd/app/run_command.hpp"
#include "cshealthd/app/score_command.hpp"
#include "cshealthd/app/service.hpp"
#include "cshealthd/app/sync_command.hpp"
#include "cshealthd/app/usage_command.hpp"
#include "cshealthd/app/writeback_command.hpp"
#include "cshealthd/base/log.hpp"
#include "cshealthd/base/process.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
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
  const auto writeback = cshealthd::alerts::load_settings(config);                 // and the alert rules
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

// The command line: every command's options, and the commands as parsed.
struct Cli {
  std::string config_path;
  bool status_only = false;
  bool full_sync = false;
  std::vector<std::string> sync_objects;
  bool sweep_now = false;
  cshealthd::app::ScoreOptions score_opts;
  std::int64_t score_company = 0;
  cshealthd::app::OverrideOptions ov;
  bool run_wait = false;
  bool run_catch_up = false;
  std::string run_as_of;
  cshealthd::app::PlanCommandOptions plan_opts;
  cshealthd::app::KpisOptions kpi_opts;
  cshealthd::app::BacktestCommandOptions backtest_opts;
  cshealthd::app::CalibrateCommandOptions calibrate_opts;
  std::string plays_file;
  cshealthd::app::SnoozeOptions snooze_opts;
  cshealthd::app::UsageOptions usage_opts;
  std::string jobs_state;
  int jobs_limit = 50;
  std::string check_file;
  CLI::App *serve = nullptr, *migrate = nullptr, *sync_cmd = nullptr, *score_cmd = nullptr,
           *override_cmd = nullptr, *run_cmd = nullptr, *plan_cmd = nullptr, *kpis_cmd = nullptr,
           *backtest_cmd = nullptr, *calibrate_cmd = nullptr, *plays_cmd = nullptr, *plays_check = nullptr,
           *snooze_cmd = nullptr, *usage_cmd = nullptr, *jobs_cmd = nullptr, *config_cmd = nullptr,
           *check = nullptr;
};

// backtest and calibrate: how well the score predicts churn, and better weights from history.
void add_validity_commands(CLI::App& app, Cli& c) {
  c.backtest_cmd = app.add_subcommand("backtest", "How well the score ranked the customers who churned");
  c.backtest_cmd->add_option("--config", c.config_path, "YAML config file");
  c.backtest_cmd->add_option("--from", c.backtest_opts.from, "first observation date (default: a year before --to)");
  c.backtest_cmd->add_option("--to", c.backtest_opts.to,
                             "last observation date (default: the last whose horizon has passed)");
  c.backtest_cmd->add_option("--every", c.backtest_opts.every, "days between observation dates (default 30)");
  c.backtest_cmd->add_option("--horizon", c.backtest_opts.horizon, "a churn within this many days counts (default 90)");
  c.backtest_cmd->add_option("--scorecard", c.backtest_opts.scorecard,
                             "a candidate scorecard file to evaluate in place of the deployed one of its name");
  c.backtest_cmd->add_flag("--json", c.backtest_opts.json, "the JSON report instead of the table");

  c.calibrate_cmd = app.add_subcommand(
      "calibrate", "Propose scorecard weights from past churn, judged out of time (never deploys them)");
  auto& cw = c.calibrate_opts.window;
  c.calibrate_cmd->add_option("--config", c.config_path, "YAML config file");
  c.calibrate_cmd->add_option("--from", cw.from, "first observation date (default: a year before --to)");
  c.calibrate_cmd->add_option("--to", cw.to, "last observation date (default: the last whose horizon has passed)");
  c.calibrate_cmd->add_option("--every", cw.every, "days between observation dates (default 30)");
  c.calibrate_cmd->add_option("--horizon", cw.horizon, "a churn within this many days counts (default 90)");
  c.calibrate_cmd->add_option("--card", c.calibrate_opts.card,
                              "the deployed scorecard to calibrate (default: the default segment's)");
  c.calibrate_cmd->add_option("--out", c.calibrate_opts.out,
                              "where to write the candidate scorecard (default: calibration-ID-CARD.yaml)");
  c.calibrate_cmd->add_option("--min-churns", c.calibrate_opts.min_churns,
                              "propose nothing with fewer churns after the training dates (default 30)");
  c.calibrate_cmd->add_flag("--json", cw.json, "the JSON report instead of the table");
  c.calibrate_cmd->add_option("--show", c.calibrate_opts.show,
                              "print a stored calibration (and write its candidate to --out: how it is deployed)");
}

void add_commands(CLI::App& app, Cli& c) {
  c.serve = app.add_subcommand("serve", "Run the service: HTTP API, webhooks and scheduled jobs");
  c.serve->add_option("--config", c.config_path, "YAML config file (default: defaults + environment)");

  c.migrate = app.add_subcommand("migrate", "Apply pending database migrations and exit");
  c.migrate->add_option("--config", c.config_path, "YAML config file");
  c.migrate->add_flag("--status", c.status_only,
                      "List migrations and whether each is applied; change nothing");

  c.sync_cmd = app.add_subcommand("sync", "Pull HubSpot into PostgreSQL once (incremental unless --full)");
  c.sync_cmd->add_option("--config", c.config_path, "YAML config file");
  c.sync_cmd->add_flag("--full", c.full_sync, "walk every record instead of the changes since the last sync");
  c.sync_cmd->add_option("--objects", c.sync_objects, "object types to sync (default: all)")->delimiter(',');
  c.sync_cmd->add_flag(
      "--sweep", c.sweep_now,
      "also run the id sweep now (records deleted or merged in HubSpot), whatever its interval");

  c.score_cmd = app.add_subcommand("score", "Score every company (or one) as of a day and store the results");
  c.score_cmd->add_option("--config", c.config_path, "YAML config file");
  c.score_cmd->add_option("--as-of", c.score_opts.as_of,
                          "the day to score, YYYY-MM-DD (default: today in schedule.time_zone)");
  c.score_cmd->add_option("--company", c.score_company, "one HubSpot company id");
  c.score_cmd->add_flag("--explain", c.score_opts.explain,
                        "print every result with its components, signals and reasons");
  c.score_cmd->add_flag("--json", c.score_opts.json, "JSON lines instead of tables");
  c.score_cmd->add_option("--backfill", c.score_opts.backfill,
                          "rescore this many days ending at --as-of (oldest first)");

  c.override_cmd = app.add_subcommand("override", "Set, revoke or list a company's manual score overrides");
  c.override_cmd->add_option("--config", c.config_path, "YAML config file");
  c.override_cmd->add_option("ACTION", c.ov.action, "set | revoke | list")
      ->required()
      ->check(CLI::IsMember({"set", "revoke", "list"}));
  c.override_cmd->add_option("--company", c.ov.company, "HubSpot company id")->required();
  c.override_cmd->add_option("--component", c.ov.component,
                             "a scorecard component (default: the whole score)");
  c.override_cmd->add_option("--value", c.ov.value, "the score (0-100) or the component's points");
  c.override_cmd->add_option("--reason", c.ov.reason, "why (shown in every explanation)");
  c.override_cmd->add_option("--expires", c.ov.expires, "last day it applies, YYYY-MM-DD");
  c.override_cmd->add_option("--author", c.ov.author, "who (default: $USER)");

  c.run_cmd =
      app.add_subcommand("run", "Queue a pipeline run (sync, then score) for the service to carry out");
  c.run_cmd->add_option("--config", c.config_path, "YAML config file");
  c.run_cmd->add_flag("--wait", c.run_wait, "follow the run to its end (exit 0 when it succeeded)");
  c.run_cmd->add_option("--as-of", c.run_as_of,
                        "the day it scores, YYYY-MM-DD (default: today in schedule.time_zone)");
  c.run_cmd->add_flag("--catch-up", c.run_catch_up,
                      "a lifecycle play having its first night creates the steps already under way");

  c.plan_cmd = app.add_subcommand(
      "plan", "What write-back would write, create, escalate and close in HubSpot for a scored day");
  c.plan_cmd->add_option("--config", c.config_path, "YAML config file");
  c.plan_cmd->add_option("--as-of", c.plan_opts.as_of, "the scored day, YYYY-MM-DD (default: the latest)");
  c.plan_cmd->add_flag("--dry-run", c.plan_opts.dry_run, "only print: no HubSpot call, nothing recorded");
  c.plan_cmd->add_flag("--json", c.plan_opts.json, "JSON instead of lines");
  c.plan_cmd->add_flag(
      "--plays", c.plan_opts.plays,
      "the lifecycle plays instead: what each would do that night and why (records nothing)");
  c.plan_cmd->add_flag("--catch-up", c.plan_opts.catch_up,
                       "with --plays: a play's first night as `run --catch-up` would plan it");

  c.kpis_cmd = app.add_subcommand("kpis", "The CS KPIs of a month (or its quarter) against their targets");
  c.kpis_cmd->add_option("--config", c.config_path, "YAML config file");
  c.kpis_cmd->add_option("--month", c.kpi_opts.month, "the month, YYYY-MM (default: last month)");
  c.kpis_cmd->add_flag("--quarter", c.kpi_opts.quarter, "the quarter the month is in");
  c.kpis_cmd->add_flag("--csv", c.kpi_opts.csv, "CSV (period,kpi,value,target,met,numerator,denominator)");
  c.kpis_cmd->add_flag("--json", c.kpi_opts.json, "JSON instead of lines");
  c.kpis_cmd->add_option("--segment", c.kpi_opts.segment, "one scoring segment");
  c.kpis_cmd->add_option("--owner", c.kpi_opts.owner, "one HubSpot owner (CSM) id");
  c.kpis_cmd->add_flag("--recompute", c.kpi_opts.recompute, "compute the period from the stored data now");
  c.kpis_cmd->add_flag("--rebuild", c.kpi_opts.rebuild,
                       "compute every month and quarter kpis.history_months back (after a score back-fill)");

  add_validity_commands(app, c);

  c.plays_cmd = app.add_subcommand("plays", "Lifecycle plays (renewal, expansion, QBR, win-back)");
  c.plays_cmd->require_subcommand(1);
  c.plays_check =
      c.plays_cmd->add_subcommand("check", "Validate a plays file (exit 2 naming file:line when invalid)");
  c.plays_check->add_option("FILE", c.plays_file, "the plays file")->required();

  c.snooze_cmd = app.add_subcommand("snooze", "Silence one alert rule at one company until a date");
  c.snooze_cmd->add_option("--config", c.config_path, "YAML config file");
  c.snooze_cmd->add_option("ACTION", c.snooze_opts.action, "set | revoke | list")
      ->required()
      ->check(CLI::IsMember({"set", "revoke", "list"}));
  c.snooze_cmd->add_option("--company", c.snooze_opts.company, "HubSpot company id")->required();
  c.snooze_cmd->add_option("--rule", c.snooze_opts.rule, "the alert rule (score_below_60, usage_drop, ...)");
  c.snooze_cmd->add_option("--until", c.snooze_opts.until, "the last day it is silenced, YYYY-MM-DD");
  c.snooze_cmd->add_option("--reason", c.snooze_opts.reason, "why (kept with the snooze)");
  c.snooze_cmd->add_option("--author", c.snooze_opts.author, "who (default: $USER)");

  c.usage_cmd =
      app.add_subcommand("usage", "Product usage from a CSV (import), or the CSV to fill in (template)");
  c.usage_cmd->add_option("--config", c.config_path, "YAML config file");
  c.usage_cmd->add_option("ACTION", c.usage_opts.action, "import | template")
      ->required()
      ->check(CLI::IsMember({"import", "template"}));
  c.usage_cmd->add_option("FILE", c.usage_opts.file, "import: the CSV file (- for standard input)");
  c.usage_cmd->add_flag("--dry-run", c.usage_opts.dry_run, "import: say what would be kept, keep nothing");
  c.usage_cmd->add_option("--date-column", c.usage_opts.date_column,
                          "import: the date column's header (default: usage.csv.date)");

  c.jobs_cmd = app.add_subcommand("jobs", "List the job queue, newest first");
  c.jobs_cmd->add_option("--config", c.config_path, "YAML config file");
  c.jobs_cmd->add_option("--state", c.jobs_state, "queued | running | failed | succeeded | dead")
      ->check(CLI::IsMember({"queued", "running", "failed", "succeeded", "dead"}));
  c.jobs_cmd->add_option("--limit", c.jobs_limit, "at most this many (1-1000)")->check(CLI::Range(1, 1000));

  c.config_cmd = app.add_subcommand("config", "Inspect configuration");
  c.config_cmd->require_subcommand(1);
  c.check =
      c.config_cmd->add_subcommand("check", "Validate a config file (exit 2 when invalid) and print it");
  c.check->add_option("FILE", c.check_file, "config file to c.check");
  c.check->add_option("--config", c.config_path, "config file to c.check (same as FILE)");
}

// Runs the parsed command: its exit status.
int dispatch(Cli& c) {
  bool logging = false;
  try {
    if (c.plays_check->parsed()) return cshealthd::app::run_plays_check(c.plays_file);
    if (c.check->parsed()) {
      const std::string file = c.check_file.empty() ? c.config_path : c.check_file;
      return cmd_config_check(load_config(file), file);
    }
    const Config config = load_config(c.config_path);
    cshealthd::process::set_core_dumps(config.process.core_dumps);  // every command holds secrets
    init_logging(config);
    logging = true;
    if (c.serve->parsed()) return cmd_serve(config);
    if (c.migrate->parsed()) return cmd_migrate(config, c.status_only);
    if (c.sync_cmd->parsed())
      return cshealthd::app::run_sync(config, c.full_sync, c.sync_objects, c.sweep_now);
    if (c.score_cmd->parsed()) {
      if (c.score_cmd->count("--company")) c.score_opts.company = c.score_company;
      return cshealthd::app::run_score(config, c.score_opts);
    }
    if (c.run_cmd->parsed())
      return cshealthd::app::run_pipeline(config, c.run_wait, c.run_as_of, c.run_catch_up);
    if (c.plan_cmd->parsed()) return cshealthd::app::run_plan_command(config, c.plan_opts);
    if (c.kpis_cmd->parsed()) return cshealthd::app::run_kpis(config, c.kpi_opts);
    if (c.backtest_cmd->parsed()) return cshealthd::app::run_backtest(config, c.backtest_opts);
    if (c.calibrate_cmd->parsed()) return cshealthd::app::run_calibrate(config, c.calibrate_opts);
    if (c.snooze_cmd->parsed()) {
      if (c.snooze_opts.action != "list" && c.snooze_opts.rule.empty())
        throw cshealthd::config::ConfigError("snooze: --rule is required");
      if (c.snooze_opts.action == "set" && (c.snooze_opts.until.empty() || c.snooze_opts.reason.empty()))
        throw cshealthd::config::ConfigError("snooze set: --until and --reason are required");
      return cshealthd::app::run_snooze(config, c.snooze_opts);
    }
    if (c.usage_cmd->parsed()) {
      if (c.usage_opts.action == "import" && c.usage_opts.file.empty())
        throw cshealthd::config::ConfigError("usage import: FILE is required");
      return cshealthd::app::run_usage(config, c.usage_opts);
    }
    if (c.jobs_cmd->parsed()) {
      return cshealthd::app::list_jobs(
          config, c.jobs_state.empty() ? std::nullopt : std::optional(c.jobs_state), c.jobs_limit);
    }
    if (c.override_cmd->parsed()) {
      if (c.ov.action == "set" &&
          (!c.override_cmd->count("--value") || c.ov.reason.empty() || c.ov.expires.empty()))
        throw cshealthd::config::ConfigError("override set: --value, --reason and --expires are required");
      return cshealthd::app::run_override(config, c.ov);
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cshealthd: customer-health scores for HubSpot portals"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cshealthd ") + cshealthd::build::kVersion + " (" +
                                        cshealthd::build::kGitSha + ")");
  Cli cli;
  add_commands(app, cli);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitConfig;
  }
  return dispatch(cli);
}
