// GET /v1/backtests and /v1/backtests/{id}: the stored backtests (cshealthd backtest), the latest first,
// and one whole report. Read by the admin and the dashboard tokens (the score-quality figures).
#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/validity/backtest.hpp"
#include "resource.hpp"

namespace cshealthd::api {

void add_backtest_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto reader = reader_route(ctx->deps.admin_token, ctx->deps.dashboard_token);
  router.add("GET", "/v1/backtests",
             id_handler("backtest",
                        [ctx](const Request& r, std::int64_t) {
                          const auto limit = parse_int(r.query, "limit").value_or(20);
                          if (limit < 1 || limit > 200) throw BadRequest("limit: expected 1 to 200");
                          const auto list = ctx->deps.db.with_retry("api_backtests", [&](pqxx::connection& c) {
                            pqxx::read_transaction tx(c, "api_backtests");
                            return validity::BacktestStore::list(tx, static_cast<std::size_t>(limit));
                          });
                          return Response::json(200, {{"backtests", list}});
                        }),
             reader);
  router.add("GET", "/v1/backtests/{id}",
             id_handler("backtest",
                        [ctx](const Request&, std::int64_t id) {
                          const auto report = ctx->deps.db.with_retry("api_backtest", [&](pqxx::connection& c) {
                            pqxx::read_transaction tx(c, "api_backtest");
                            return validity::BacktestStore::get(tx, id);
                          });
                          if (!report)
                            return Response::error(404, "backtest_not_found", "no backtest " + std::to_string(id));
                          return Response::json(200, {{"backtest", *report}});
                        }),
             reader);
}

}  // namespace cshealthd::api
