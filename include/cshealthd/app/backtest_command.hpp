#pragma once
#include <string>

#include "cshealthd/config/config.hpp"
#include "cshealthd/validity/backtest.hpp"

namespace cshealthd::app {

class Components;

struct BacktestCommandOptions {
  std::string from, to;   // YYYY-MM-DD; defaults: the last date whose horizon has passed, a year before it
  int every = 30, horizon = 90;
  std::string scorecard;  // a candidate scorecard file, evaluated instead of the deployed one of its name
  bool json = false;
};

// `cshealthd backtest [--from D1] [--to D2] [--every 30] [--horizon 90] [--scorecard FILE] [--json]`:
// rescores each observation date from stored history (point in time), labels it with the churns the
// KPIs recorded (brought up to date first), prints the table (or the JSON report) and stores it.
int run_backtest(const config::Config& config, const BacktestCommandOptions& options);

// The observation window the options name (defaults: a year of monthly dates ending at the last one
// whose horizon has passed). config::ConfigError (exit 2) for options that cannot be answered.
validity::BacktestOptions backtest_window(const config::Config& config, Components& c,
                                          const BacktestCommandOptions& options);

}  // namespace cshealthd::app
