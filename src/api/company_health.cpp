// GET /v1/companies/{id}/health and /v1/companies/{id}/health/history: a company's latest result and
// its daily history.
#include "cshealthd/api/admin_auth.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

json history_json(const std::vector<scoring::HistoryEntry>& days) {
  json out = json::array();
  for (const auto& d : days) out.push_back(to_json(d));
  return out;
}

}  // namespace

void add_company_health_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto admin = admin_route(ctx->deps.admin_token);
  router.add("GET", "/v1/companies/{id}/health", company_handler([ctx](const Request&, std::int64_t id) {
               if (auto r = ctx->store.latest(id)) return Response::json(200, to_json(*r));
               if (!ctx->store.company_exists(id)) return company_not_found(id);
               return Response::error(
                   404, "not_scored",
                   "company " + std::to_string(id) + " has no score yet (run `cshealthd score`)");
             }),
             admin);
  router.add("GET", "/v1/companies/{id}/health/history",
             company_handler([ctx](const Request& req, std::int64_t id) {
               const long long days = parse_int(req.query, "days").value_or(30);
               if (days < 1 || days > 3660) throw scoring::InvalidRequest("days: expected 1 to 3660");
               if (!ctx->store.company_exists(id)) return company_not_found(id);
               return Response::json(
                   200, {{"company_id", std::to_string(id)},
                         {"days", days},
                         {"history", history_json(ctx->store.history(id, static_cast<int>(days)))}});
             }),
             admin);
}

}  // namespace cshealthd::api
