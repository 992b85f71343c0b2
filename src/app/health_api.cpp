#include "cshealthd/app/health_api.hpp"

#include "cshealthd/app/admin_auth.hpp"
#include "cshealthd/core/time.hpp"

#include <charconv>
#include <memory>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/scoring/health_store.hpp"

namespace cshealthd::app {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

std::optional<std::int64_t> parse_id(const std::string& s) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || s.size() > 18 || ec != std::errc() || p != s.data() + s.size() || v <= 0)
    return std::nullopt;
  return v;
}

std::optional<long long> parse_int(const std::map<std::string, std::string>& q, const std::string& key) {
  const auto it = q.find(key);
  if (it == q.end()) return std::nullopt;
  long long v = 0;
  const auto& s = it->second;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    throw scoring::InvalidRequest(key + ": expected an integer");
  return v;
}

struct Api {
  HealthApi deps;
  scoring::HealthStore store;
  Api(HealthApi d) : deps(std::move(d)), store(deps.db, deps.scoring) {}

  // Wraps a handler: a valid company id where the route has one, and errors as JSON. The admin token
  // is checked before this runs (admin_route), on the headers.
  http::Handler guarded(std::function<Response(const Request&, std::int64_t)> f) {
    return [this, f](const Request& req) {
      std::int64_t id = 0;
      if (const auto it = req.params.find("id"); it != req.params.end()) {
        const auto parsed = parse_id(it->second);
        if (!parsed)
          return Response::error(400, "bad_company_id", "company id must be a HubSpot company id (digits)");
        id = *parsed;
      }
      try {
        return f(req, id);
      } catch (const scoring::InvalidRequest& e) {
        return Response::error(400, "invalid_request", e.what());
      } catch (const json::parse_error& e) {
        // Not JSON, or not UTF-8: named by position, never echoed.
        return Response::error(400, "invalid_json",
                               "request body is not valid JSON (UTF-8) at byte " + std::to_string(e.byte));
      } catch (const json::exception& e) {
        return Response::error(400, "invalid_request", std::string("request body: ") + e.what());
      }
    };
  }

  Response not_found(std::int64_t id) {
    return Response::error(404, "company_not_found",
                           "no company " + std::to_string(id) + " (not synced from HubSpot)");
  }

  // Rescores one company for today, so a changed override shows at once.
  json rescore(std::int64_t id) {
    scoring::BatchScorer scorer(deps.db, deps.scoring, deps.metrics);
    scoring::BatchOptions o;
    o.as_of_day = deps.today();
    o.company = id;
    o.threads = 1;
    o.trigger = "api";
    o.keep_results = true;
    const auto report = scorer.run(o);
    return report.results.empty() ? json(nullptr) : report.results.front();
  }

  Response health(const Request&, std::int64_t id) {
    if (auto r = store.latest(id)) return Response::json(200, *r);
    if (!store.company_exists(id)) return not_found(id);
    return Response::error(404, "not_scored",
                           "company " + std::to_string(id) + " has no score yet (run `cshealthd score`)");
  }

  Response history(const Request& req, std::int64_t id) {
    const long long days = parse_int(req.query, "days").value_or(30);
    if (days < 1 || days > 3660) throw scoring::InvalidRequest("days: expected 1 to 3660");
    if (!store.company_exists(id)) return not_found(id);
    return Response::json(200, {{"company_id", std::to_string(id)},
                                {"days", days},
                                {"history", store.history(id, static_cast<int>(days))}});
  }

  Response scores(const Request& req, std::int64_t) {
    scoring::ScoreListQuery q;
    if (auto it = req.query.find("status"); it != req.query.end()) {
      static const std::vector<std::string> kStatuses = {"green", "yellow", "orange", "red", "unknown"};
      if (std::find(kStatuses.begin(), kStatuses.end(), it->second) == kStatuses.end())
        throw scoring::InvalidRequest("status: expected green, yellow, orange, red or unknown");
      q.status = it->second;
    }
    if (auto it = req.query.find("segment"); it != req.query.end()) q.segment = it->second;
    if (auto it = req.query.find("as_of"); it != req.query.end()) {
      q.day = core::parse_day(it->second);
      if (!q.day) throw scoring::InvalidRequest("as_of: expected a date YYYY-MM-DD");
    }
    const long long limit = parse_int(req.query, "limit").value_or(100);
    if (limit < 1 || limit > 1000) throw scoring::InvalidRequest("limit: expected 1 to 1000");
    q.limit = static_cast<std::size_t>(limit);
    if (auto it = req.query.find("after"); it != req.query.end()) {
      const auto after = parse_id(it->second);
      if (!after) throw scoring::InvalidRequest("after: expected a company id");
      q.after = *after;
    }
    return Response::json(200, store.list(q));
  }

  Response put_override(const Request& req, std::int64_t id) {
    const json body = json::parse(req.body);
    if (!body.is_object()) throw scoring::InvalidRequest("request body: expected a JSON object");
    for (const auto& [key, _] : body.items()) {
      if (key != "component" && key != "value" && key != "reason" && key != "expires_on" && key != "author")
        throw scoring::InvalidRequest("unknown field '" + key + "'");
    }
    if (!body.contains("value") || !body["value"].is_number())
      throw scoring::InvalidRequest("value: required, a number");
    if (!body.contains("reason") || !body["reason"].is_string())
      throw scoring::InvalidRequest("reason: required, a string");
    if (!body.contains("expires_on") || !body["expires_on"].is_string())
      throw scoring::InvalidRequest("expires_on: required, a date YYYY-MM-DD");
    if (!store.company_exists(id)) return not_found(id);
    scoring::OverrideRequest r;
    r.company_id = id;
    if (body.contains("component") && !body["component"].is_null() && !body["component"].is_string())
      throw scoring::InvalidRequest("component: expected a component name, or null for the whole score");
    if (body.contains("author") && !body["author"].is_string())
      throw scoring::InvalidRequest("author: expected a string");
    r.component = body.contains("component") && body["component"].is_string()
                      ? body["component"].get<std::string>()
                      : "";
    r.value = body["value"].get<double>();
    r.reason = body["reason"].get<std::string>();
    r.author = body.value("author", "admin-api");
    const auto expires = core::parse_day(body["expires_on"].get<std::string>());
    if (!expires) throw scoring::InvalidRequest("expires_on: expected a date YYYY-MM-DD");
    r.expires_day = *expires;
    const json saved = store.set_override(r, deps.today());
    spdlog::info("override set on company {} ({}): {} until {} by {}", id,
                 r.component.empty() ? "score" : r.component, r.value, body["expires_on"].get<std::string>(),
                 r.author);
    return Response::json(200, {{"override", saved}, {"health", rescore(id)}});
  }

  Response delete_override(const Request& req, std::int64_t id) {
    const auto it = req.query.find("component");
    const std::string component = it == req.query.end() ? "" : it->second;
    if (!store.company_exists(id)) return not_found(id);
    const std::string actor = req.query.count("actor") ? req.query.at("actor") : "admin-api";
    if (!store.revoke_override(id, component, actor)) {
      return Response::error(404, "no_override",
                             "company " + std::to_string(id) + " has no live override of " +
                                 (component.empty() ? "its score" : "'" + component + "'"));
    }
    return Response::json(200, {{"revoked", true}, {"health", rescore(id)}});
  }

  Response list_overrides(const Request&, std::int64_t id) {
    if (!store.company_exists(id)) return not_found(id);
    return Response::json(200, {{"company_id", std::to_string(id)}, {"overrides", store.overrides(id)}});
  }
};

}  // namespace

void add_health_routes(http::Router& router, HealthApi deps) {
  auto api = std::make_shared<Api>(std::move(deps));
  auto bind = [api](Response (Api::*m)(const Request&, std::int64_t)) {
    return api->guarded([api, m](const Request& r, std::int64_t id) { return ((*api).*m)(r, id); });
  };
  const auto admin = admin_route(api->deps.admin_token);
  router.add("GET", "/v1/companies/{id}/health", bind(&Api::health), admin);
  router.add("GET", "/v1/companies/{id}/health/history", bind(&Api::history), admin);
  router.add("GET", "/v1/scores", bind(&Api::scores), admin);
  router.add("PUT", "/v1/companies/{id}/override", bind(&Api::put_override), admin);
  router.add("DELETE", "/v1/companies/{id}/override", bind(&Api::delete_override), admin);
  router.add("GET", "/v1/companies/{id}/overrides", bind(&Api::list_overrides), admin);
}

}  // namespace cshealthd::app
