#pragma once
#include <cstdint>
#include <string>

#include "cshealthd/app/backtest_command.hpp"
#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

struct CalibrateCommandOptions {
  BacktestCommandOptions window;  // --from, --to, --every, --horizon, --json
  std::string card;               // the deployed scorecard to calibrate (default: the default segment's)
  std::string out;                // where the candidate goes (default: calibration-ID-CARD.yaml)
  int min_churns = 30;
  std::int64_t show = 0;          // a stored calibration to print (and its candidate to write to --out)
};

// `cshealthd calibrate [--from D1] [--to D2] [--every 30] [--horizon 90] [--card NAME] [--out FILE]
// [--min-churns 30] [--json]`: fits the churn model on the earlier dates, judges it on the later ones,
// prints the weights and why with the out-of-time figures side by side, writes the candidate scorecard
// (never deploys it) and stores the calibration. Exit 0 when it proposed weights, 1 when it refused
// (the reason printed), 2 for bad options. With --show ID: the stored calibration ID, its candidate
// written to --out when given (how a proposal is deployed: --out into scoring.scorecards_dir).
int run_calibrate(const config::Config& config, const CalibrateCommandOptions& options);

}  // namespace cshealthd::app
