// GET /v1/companies/{id}/health, /v1/companies/{id}/health/history and /v1/companies/{id}/summary: a
// company's latest result, its daily history and its usage summary (what renewal and QBR tasks carry).
#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/plays/plays.hpp"
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
  // What the dashboard's company page reads: the dashboard token reads it too.
  const auto admin = reader_route(ctx->deps.admin_token, ctx->deps.dashboard_token);
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
               if (days < 1 || days > 3660) throw BadRequest("days: expected 1 to 3660");
               if (!ctx->store.company_exists(id)) return company_not_found(id);
               return Response::json(
                   200, {{"company_id", std::to_string(id)},
                         {"days", days},
                         {"history", history_json(ctx->store.history(id, static_cast<int>(days)))}});
             }),
             admin);
  router.add("GET", "/v1/companies/{id}/summary", company_handler([ctx](const Request& req, std::int64_t id) {
               std::int32_t day = service_day(*ctx);
               if (const auto it = req.query.find("as_of"); it != req.query.end()) {
                 const auto d = core::parse_day(it->second);
                 if (!d) throw BadRequest("as_of: expected a day, YYYY-MM-DD");
                 day = *d;
               }
               std::string locale = ctx->deps.locale;
               if (const auto it = req.query.find("locale"); it != req.query.end()) {
                 if (it->second != "en" && it->second != "ja") throw BadRequest("locale: expected en or ja");
                 locale = it->second;
               }
               const auto summary = ctx->deps.db.with_retry("company_summary", [&](pqxx::connection& c) {
                 pqxx::read_transaction tx(c, "company_summary");
                 return plays::load_summary(tx, id, day);
               });
               if (!summary) return company_not_found(id);
               json out = plays::summary_json(*summary, locale);
               out["company_id"] = std::to_string(id);
               return Response::json(200, out);
             }),
             admin);
}

}  // namespace cshealthd::api
