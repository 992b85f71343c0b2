// GET /v1/backtests and /v1/backtests/{id}: the stored backtests (cshealthd backtest), the latest first,
// and one whole report. Read by the admin and the dashboard tokens (the score-quality figures).
#include "cshealthd/validity/backtest.hpp"
#include "resource.hpp"

namespace cshealthd::api {

void add_backtest_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  add_stored_report_routes(router, ctx, {"backtest", "backtests", &validity::BacktestStore::list,
                                         &validity::BacktestStore::get});
}

}  // namespace cshealthd::api
