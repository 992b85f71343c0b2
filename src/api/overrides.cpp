// PUT and DELETE /v1/companies/{id}/override, GET /v1/companies/{id}/overrides: manual overrides of a
// company's score or of one component, audited; a change rescores the company for today at once.
#include <spdlog/spdlog.h>

#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/batch.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

// Rescores one company for today, so a changed override shows at once.
json rescore(Context& ctx, std::int64_t id) {
  scoring::BatchScorer scorer(ctx.deps.db, ctx.deps.scoring, ctx.deps.metrics);
  scoring::BatchOptions o;
  o.as_of_day = ctx.deps.today();
  o.zone = ctx.deps.zone;
  o.company = id;
  o.threads = 1;
  o.trigger = "api";
  o.keep_results = true;
  const auto report = scorer.run(o);
  return report.results.empty() ? json(nullptr) : report.results.front();
}

Response put_override(Context& ctx, const Request& req, std::int64_t id) {
  const json body = json::parse(req.body);
  if (!body.is_object()) throw BadRequest("request body: expected a JSON object");
  for (const auto& [key, _] : body.items()) {
    if (key != "component" && key != "value" && key != "reason" && key != "expires_on" && key != "author")
      throw BadRequest("unknown field '" + key + "'");
  }
  if (!body.contains("value") || !body["value"].is_number()) throw BadRequest("value: required, a number");
  if (!body.contains("reason") || !body["reason"].is_string()) throw BadRequest("reason: required, a string");
  if (!body.contains("expires_on") || !body["expires_on"].is_string())
    throw BadRequest("expires_on: required, a date YYYY-MM-DD");
  if (!ctx.store.company_exists(id)) return company_not_found(id);
  scoring::OverrideRequest r;
  r.company_id = id;
  if (body.contains("component") && !body["component"].is_null() && !body["component"].is_string())
    throw BadRequest("component: expected a component name, or null for the whole score");
  if (body.contains("author") && !body["author"].is_string()) throw BadRequest("author: expected a string");
  r.component =
      body.contains("component") && body["component"].is_string() ? body["component"].get<std::string>() : "";
  r.value = body["value"].get<double>();
  r.reason = body["reason"].get<std::string>();
  r.author = body.value("author", "admin-api");
  const auto expires = core::parse_day(body["expires_on"].get<std::string>());
  if (!expires) throw BadRequest("expires_on: expected a date YYYY-MM-DD");
  r.expires_day = *expires;
  const json saved = to_json(ctx.store.set_override(r, ctx.deps.today()));
  spdlog::info("override set on company {} ({}): {} until {} by {}", id,
               r.component.empty() ? "score" : r.component, r.value, body["expires_on"].get<std::string>(),
               r.author);
  return Response::json(200, {{"override", saved}, {"health", rescore(ctx, id)}});
}

Response delete_override(Context& ctx, const Request& req, std::int64_t id) {
  const auto it = req.query.find("component");
  const std::string component = it == req.query.end() ? "" : it->second;
  if (!ctx.store.company_exists(id)) return company_not_found(id);
  const std::string actor = req.query.count("actor") ? req.query.at("actor") : "admin-api";
  if (!ctx.store.revoke_override(id, component, actor)) {
    return Response::error(404, "no_override",
                           "company " + std::to_string(id) + " has no live override of " +
                               (component.empty() ? "its score" : "'" + component + "'"));
  }
  return Response::json(200, {{"revoked", true}, {"health", rescore(ctx, id)}});
}

}  // namespace

void add_override_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto admin = admin_route(ctx->deps.admin_token);
  router.add("PUT", "/v1/companies/{id}/override",
             company_handler([ctx](const Request& r, std::int64_t id) { return put_override(*ctx, r, id); }),
             admin);
  router.add(
      "DELETE", "/v1/companies/{id}/override",
      company_handler([ctx](const Request& r, std::int64_t id) { return delete_override(*ctx, r, id); }),
      admin);
  router.add("GET", "/v1/companies/{id}/overrides", company_handler([ctx](const Request&, std::int64_t id) {
               if (!ctx->store.company_exists(id)) return company_not_found(id);
               return Response::json(200, {{"company_id", std::to_string(id)},
                                           {"overrides", to_json(ctx->store.overrides(id))}});
             }),
             reader_route(ctx->deps.admin_token, ctx->deps.dashboard_token));
}

}  // namespace cshealthd::api
