#pragma once
#include <string>

#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

struct KpisOptions {
  std::string month;     // YYYY-MM; empty: last month (the monthly CS report's)
  bool quarter = false;  // the quarter the month is in instead
  bool csv = false, json = false;
  bool recompute = false;  // compute the period now even when a run kept it
  bool rebuild = false;    // compute every period kpis.history_months back (after a score back-fill)
  std::string segment, owner;
};

// `cshealthd kpis --month 2026-10 [--csv|--json]`: the month's KPIs against their targets, with the MRR
// movements and customers behind them. A month no nightly run kept is computed now from the stored data.
int run_kpis(const config::Config& config, const KpisOptions& options);

}  // namespace cshealthd::app
