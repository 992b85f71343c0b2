// The CS lead's reads: GET /v1/kpis (and .csv, and one KPI's series), /v1/renewals, /v1/at-risk,
// /v1/churn-analysis, /v1/companies/{id}/page and /v1/dashboard (freshness, filters, targets). The admin
// token or the read-only dashboard token reads them.
#include <regex>

#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/time.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

std::optional<std::string> text_param(const Request& req, const std::string& key) {
  const auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return std::nullopt;
  if (it->second.size() > 100) throw BadRequest(key + ": at most 100 characters");
  return it->second;
}

std::optional<std::int32_t> day_param(const Request& req, const std::string& key) {
  const auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return std::nullopt;
  // A day, or a month (its first day for `from`, its last for `to`).
  if (const auto d = core::parse_day(it->second)) return d;
  if (const auto m = core::parse_month(it->second)) return key == "to" ? m->last : m->first;
  throw BadRequest(key + ": expected a day (YYYY-MM-DD) or a month (YYYY-MM)");
}

kpis::KpiQuery kpi_query(const Context& ctx, const Request& req) {
  kpis::KpiQuery q;
  if (const auto g = text_param(req, "granularity")) {
    const auto parsed = core::parse_granularity(*g);
    if (!parsed) throw BadRequest("granularity: expected month or quarter");
    q.granularity = *parsed;
  }
  q.to = day_param(req, "to").value_or(service_day(ctx));
  // Default: the last 12 months (4 quarters) up to `to`.
  const auto back = core::period_of(q.granularity, q.to);
  std::int32_t from = back.first;
  for (int i = 0; i < (q.granularity == core::Granularity::kMonth ? 11 : 3); ++i)
    from = core::period_of(q.granularity, from - 1).first;
  q.from = day_param(req, "from").value_or(from);
  if (q.from > q.to) throw BadRequest("from: must not be after to");
  if (core::periods_between(q.granularity, q.from, q.to, 1000).size() > 120)
    throw BadRequest("from: at most 120 periods at once");
  q.segment = text_param(req, "segment");
  q.owner = text_param(req, "owner");
  if (q.owner && !parse_id(*q.owner)) throw BadRequest("owner: expected a HubSpot owner id");
  return q;
}

kpis::ListQuery list_query(const Request& req, std::size_t default_limit) {
  kpis::ListQuery q;
  q.segment = text_param(req, "segment");
  q.owner = text_param(req, "owner");
  if (q.owner && !parse_id(*q.owner)) throw BadRequest("owner: expected a HubSpot owner id");
  if (const auto s = text_param(req, "sort")) {
    static const std::vector<std::string> kSorts = {"score", "delta", "mrr", "name", "owner"};
    if (std::find(kSorts.begin(), kSorts.end(), *s) == kSorts.end())
      throw BadRequest("sort: expected score, delta, mrr, name or owner");
    q.sort = *s;
  }
  if (const auto o = text_param(req, "order")) {
    if (*o != "asc" && *o != "desc") throw BadRequest("order: expected asc or desc");
    q.descending = *o == "desc";
  }
  const long long limit = parse_int(req.query, "limit").value_or(static_cast<long long>(default_limit));
  if (limit < 1 || limit > 1000) throw BadRequest("limit: expected 1 to 1000");
  const long long offset = parse_int(req.query, "offset").value_or(0);
  if (offset < 0 || offset > 1'000'000) throw BadRequest("offset: expected 0 to 1000000");
  q.limit = static_cast<std::size_t>(limit);
  q.offset = static_cast<std::size_t>(offset);
  return q;
}

json query_json(const kpis::KpiQuery& q) {
  return {{"granularity", core::granularity_name(q.granularity)},
          {"from", core::format_day(q.from)},
          {"to", core::format_day(q.to)},
          {"segment", q.segment ? json(*q.segment) : json(nullptr)},
          {"owner", q.owner ? json(*q.owner) : json(nullptr)}};
}

Response unavailable() {
  return Response::error(503, "kpis_disabled", "the KPIs are not available on this service");
}

}  // namespace

void add_kpi_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto reader = reader_route(ctx->deps.admin_token, ctx->deps.dashboard_token);
  router.add("GET", "/v1/kpis", company_handler([ctx](const Request& req, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               const auto q = kpi_query(*ctx, req);
               json periods = json::array();
               for (const auto& p : ctx->deps.kpis->kpis(q)) periods.push_back(kpis::to_json(p));
               json out = query_json(q);
               out["periods"] = periods;
               out["freshness"] = ctx->deps.kpis->freshness();
               return Response::json(200, out);
             }),
             reader);
  router.add("GET", "/v1/kpis.csv", company_handler([ctx](const Request& req, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               auto r = Response::text(200, kpis::to_csv(ctx->deps.kpis->kpis(kpi_query(*ctx, req))),
                                       "text/csv; charset=utf-8");
               r.headers.emplace_back("Content-Disposition", "attachment; filename=\"cshealthd-kpis.csv\"");
               return r;
             }),
             reader);
  router.add("GET", "/v1/kpis/{name}/series", company_handler([ctx](const Request& req, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               const auto& name = req.params.at("name");
               const auto& names = core::kpi_names();
               if (std::find(names.begin(), names.end(), name) == names.end())
                 return Response::error(404, "unknown_kpi", "no KPI named '" + name.substr(0, 64) + "'");
               const auto q = kpi_query(*ctx, req);
               json points = json::array();
               for (const auto& p : ctx->deps.kpis->kpis(q)) {
                 for (const auto& v : p.values) {
                   if (v.name != name) continue;
                   json point = core::to_json(v);
                   point.erase("name");
                   point["period"] = p.period.label();
                   point["computed"] = p.computed;
                   points.push_back(point);
                 }
               }
               json out = query_json(q);
               out["name"] = name;
               out["series"] = points;
               return Response::json(200, out);
             }),
             reader);
  router.add("GET", "/v1/renewals", company_handler([ctx](const Request& req, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               const long long within = parse_int(req.query, "within_days").value_or(90);
               if (within < 0 || within > 730) throw BadRequest("within_days: expected 0 to 730");
               const auto day = service_day(*ctx);
               json out = ctx->deps.kpis->renewals(day, static_cast<int>(within), list_query(req, 200));
               out["today"] = core::format_day(day);
               return Response::json(200, out);
             }),
             reader);
  router.add("GET", "/v1/at-risk", company_handler([ctx](const Request& req, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               return Response::json(200, ctx->deps.kpis->at_risk(list_query(req, 200)));
             }),
             reader);
  router.add("GET", "/v1/churn-analysis", company_handler([ctx](const Request& req, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               const auto to = day_param(req, "to").value_or(service_day(*ctx));
               const auto from = day_param(req, "from").value_or(to - 364);
               if (from > to) throw BadRequest("from: must not be after to");
               if (to - from > 3660) throw BadRequest("from: at most 10 years before to");
               const long long limit = parse_int(req.query, "limit").value_or(100);
               if (limit < 1 || limit > 500) throw BadRequest("limit: expected 1 to 500");
               return Response::json(
                   200, ctx->deps.kpis->churn_analysis(from, to, static_cast<std::size_t>(limit)));
             }),
             reader);
  router.add("GET", "/v1/companies/{id}/page", company_handler([ctx](const Request& req, std::int64_t id) {
               if (!ctx->deps.kpis) return unavailable();
               const long long days = parse_int(req.query, "days").value_or(180);
               if (days < 1 || days > 3660) throw BadRequest("days: expected 1 to 3660");
               auto page = ctx->deps.kpis->company_page(id, static_cast<int>(days));
               if (!page) return company_not_found(id);
               return Response::json(200, *page);
             }),
             reader);
  router.add("GET", "/v1/dashboard", company_handler([ctx](const Request&, std::int64_t) {
               if (!ctx->deps.kpis) return unavailable();
               const auto& t = ctx->deps.kpis->settings().targets;
               json out = ctx->deps.kpis->dimensions();
               out["freshness"] = ctx->deps.kpis->freshness();
               out["today"] = core::format_day(service_day(*ctx));
               out["locale"] = ctx->deps.locale;
               out["kpis"] = core::kpi_names();
               out["targets"] = {{"grr", t.grr},
                                 {"nrr", t.nrr},
                                 {"churn_rate", t.churn_rate},
                                 {"nps", t.nps},
                                 {"onboarding_completion", t.onboarding_completion},
                                 {"green_share", t.green_share},
                                 {"expansion_rate", t.expansion_rate}};
               return Response::json(200, out);
             }),
             reader);
}

}  // namespace cshealthd::api
