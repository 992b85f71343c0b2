#include "cshealthd/app/backtest_command.hpp"

#include <iostream>
#include <stdexcept>

#include "cshealthd/app/components.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/validity/backtest.hpp"

namespace cshealthd::app {

validity::BacktestOptions backtest_window(const config::Config& config, Components& c,
                                          const BacktestCommandOptions& o) {
  // Usage errors first: exit 2 before any work.
  auto day = [](const std::string& text, const char* option) {
    const auto d = core::parse_day(text);
    if (!d) throw config::ConfigError(std::string(option) + ": expected YYYY-MM-DD, got '" + text + "'");
    return *d;
  };
  validity::BacktestOptions bo;
  bo.today = c.service_day();
  bo.every = o.every;
  bo.horizon = o.horizon;
  bo.to = o.to.empty() ? bo.today - 1 - o.horizon : day(o.to, "--to");
  bo.from = o.from.empty() ? bo.to - 360 : day(o.from, "--from");
  bo.scorecard = o.scorecard.empty() ? "deployed" : o.scorecard;
  bo.zone = &c.schedule().zone;
  bo.threads = config.scoring.threads;
  bo.chunk = static_cast<std::size_t>(config.scoring.chunk_size);
  try {
    validity::observation_days(bo);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("backtest: ") + e.what());
  }
  return bo;
}

int run_backtest(const config::Config& config, const BacktestCommandOptions& o) {
  std::optional<scoring::ScoringConfig> candidate;
  if (!o.scorecard.empty()) candidate = scoring::load_scoring_with_candidate(config, o.scorecard);
  Components c(config);
  const auto bo = backtest_window(config, c, o);
  // The churns the nightly KPI computation records, up to date: the outcomes.
  c.kpis().compute(bo.today);
  validity::Backtester backtester(c.db(), candidate ? *candidate : c.scoring(), c.metrics(), c.kpis());
  const auto run = backtester.run(bo);
  if (o.json) {
    std::cout << run.report.dump(2) << "\n";
  } else {
    std::cout << validity::format_table(run.report);
  }
  return 0;
}

}  // namespace cshealthd::app
