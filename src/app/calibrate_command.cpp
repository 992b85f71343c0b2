#include "cshealthd/app/calibrate_command.hpp"

#include <fstream>
#include <iostream>
#include <stdexcept>

#include "cshealthd/app/components.hpp"
#include "cshealthd/validity/calibration.hpp"

namespace cshealthd::app {

namespace {

void write_candidate(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::trunc);
  file << text;
  file.close();
  if (!file) throw std::runtime_error("calibrate: cannot write the candidate to '" + path + "'");
}

int show(Components& c, const CalibrateCommandOptions& o) {
  const auto report = c.db().with_retry("calibration_show", [&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn, "calibration_show");
    return validity::CalibrationStore::get(tx, o.show);
  });
  if (!report) throw config::ConfigError("--show: no calibration " + std::to_string(o.show));
  if (!o.out.empty()) {
    if (!(*report)["candidate"].is_string())
      throw config::ConfigError("--show: calibration " + std::to_string(o.show) + " proposed nothing to write");
    write_candidate(o.out, (*report)["candidate"].get<std::string>());
  }
  if (o.window.json) {
    std::cout << report->dump(2) << "\n";
  } else {
    std::cout << validity::format_calibration(*report);
    if (!o.out.empty()) std::cout << "\ncandidate written to " << o.out << "\n";
  }
  return 0;
}

}  // namespace

int run_calibrate(const config::Config& config, const CalibrateCommandOptions& o) {
  if (o.min_churns < 1) throw config::ConfigError("--min-churns: expected at least 1");
  Components c(config);
  if (o.show != 0) return show(c, o);
  validity::CalibrateOptions co;
  co.window = backtest_window(config, c, o.window);
  co.window.trigger = "cli";
  co.scorecard = o.card;
  co.min_churns = o.min_churns;
  try {
    validity::split_out_of_time(validity::observation_days(co.window), co.window.horizon, co.validation_share);
    if (!o.card.empty() && !c.scoring().find(o.card))
      throw std::invalid_argument("--card: no deployed scorecard is named '" + o.card + "'");
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("calibrate: ") + e.what());
  }
  // The churns the nightly KPI computation records, up to date: the outcomes.
  c.kpis().compute(co.window.today);
  validity::Calibrator calibrator(c.db(), config, c.scoring(), c.metrics(), c.kpis());
  auto run = calibrator.run(co);
  if (run.proposed) {
    const std::string path = o.out.empty() ? "calibration-" + std::to_string(run.id) + "-" +
                                                 run.report["scorecard"].get<std::string>() + ".yaml"
                                           : o.out;
    write_candidate(path, run.candidate);
    run.report["candidate_file"] = path;
  }
  if (o.window.json) {
    std::cout << run.report.dump(2) << "\n";
  } else {
    std::cout << validity::format_calibration(run.report);
    if (run.proposed)
      std::cout << "\ncandidate written to " << run.report["candidate_file"].get<std::string>()
                << " (not deployed): judge it with `cshealthd backtest --scorecard "
                << run.report["candidate_file"].get<std::string>()
                << "`, deploy it by putting it in scoring.scorecards_dir in place of the deployed file\n";
  }
  return run.proposed ? 0 : 1;
}

}  // namespace cshealthd::app
