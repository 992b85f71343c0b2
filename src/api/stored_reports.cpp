// The shape every stored report shares (backtests, calibrations): GET /v1/<plural>?limit=N, the latest
// first, and GET /v1/<plural>/{id}, the whole report; read by the admin and the dashboard tokens.
#include "cshealthd/api/admin_auth.hpp"
#include "resource.hpp"

namespace cshealthd::api {

void add_stored_report_routes(http::Router& router, const std::shared_ptr<Context>& ctx, StoredReports reports) {
  const auto reader = reader_route(ctx->deps.admin_token, ctx->deps.dashboard_token);
  auto r = std::make_shared<const StoredReports>(std::move(reports));
  router.add("GET", "/v1/" + r->plural,
             id_handler(r->singular,
                        [ctx, r](const Request& req, std::int64_t) {
                          const auto limit = parse_int(req.query, "limit").value_or(20);
                          if (limit < 1 || limit > 200) throw BadRequest("limit: expected 1 to 200");
                          const auto list = ctx->deps.db.with_retry("api_" + r->plural, [&](pqxx::connection& c) {
                            pqxx::read_transaction tx(c, "api_" + r->plural);
                            return r->list(tx, static_cast<std::size_t>(limit));
                          });
                          return Response::json(200, {{r->plural, list}});
                        }),
             reader);
  router.add("GET", "/v1/" + r->plural + "/{id}",
             id_handler(r->singular,
                        [ctx, r](const Request&, std::int64_t id) {
                          const auto report = ctx->deps.db.with_retry("api_" + r->singular, [&](pqxx::connection& c) {
                            pqxx::read_transaction tx(c, "api_" + r->singular);
                            return r->get(tx, id);
                          });
                          if (!report)
                            return Response::error(404, r->singular + "_not_found",
                                                   "no " + r->singular + " " + std::to_string(id));
                          return Response::json(200, {{r->singular, *report}});
                        }),
             reader);
}

}  // namespace cshealthd::api
