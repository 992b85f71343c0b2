// POST /v1/usage: product usage pushed from outside HubSpot (a batch of daily figures per company), kept
// durably before the answer, each row checked on its own; GET /v1/usage/quarantine: the figures whose
// company no synced company matches yet.
#include <spdlog/spdlog.h>

#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/core/usage.hpp"
#include "cshealthd/store/usage_import.hpp"
#include "cshealthd/store/usage_store.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

// One row of the body: exactly one of company_id, domain, external_id; a date; one or more usage metrics
// by their canonical names. Throws BadRequest with the row's problem.
core::UsageRow parse_row(const json& j) {
  if (!j.is_object()) throw BadRequest("expected an object");
  core::UsageRow row;
  int keys = 0;
  std::optional<std::int32_t> day;
  for (const auto& [name, value] : j.items()) {
    if (name == "company_id" || name == "domain" || name == "external_id") {
      const auto kind = name == "company_id" ? core::UsageKeyKind::kId
                        : name == "domain"   ? core::UsageKeyKind::kDomain
                                             : core::UsageKeyKind::kExternalId;
      const std::string text = kind == core::UsageKeyKind::kId && value.is_number_unsigned()
                                   ? std::to_string(value.get<std::uint64_t>())
                               : value.is_string() ? value.get<std::string>()
                                                   : std::string();
      auto key = core::usage_key(kind, text);
      if (const auto* error = std::get_if<std::string>(&key)) throw BadRequest(*error);
      row.key = std::get<core::UsageKey>(std::move(key));
      ++keys;
    } else if (name == "date") {
      if (value.is_string()) day = core::parse_day(value.get<std::string>());
      if (!day) throw BadRequest("date: expected a date YYYY-MM-DD");
    } else if (const auto metric = core::metric_from_name(name); metric && core::usage_metric(*metric)) {
      if (!value.is_number()) throw BadRequest(name + ": expected a number");
      row.figures.emplace_back(*metric, value.get<double>());
    } else {
      throw BadRequest("unknown field '" + name +
                       "' (usage metrics: active_users_30d, logins_30d, licensed_seats, features_used)");
    }
  }
  if (keys != 1) throw BadRequest("name the company by exactly one of company_id, domain, external_id");
  if (!day) throw BadRequest("date: required, a date YYYY-MM-DD");
  row.day = *day;
  return row;
}

Response post_usage(Context& ctx, const Request& req) {
  auto& m = ctx.deps.metrics;
  const auto count = [&](const char* outcome, std::size_t n) {
    m.counter("cshealthd_usage_rows_total", "Usage rows received, by outcome", {{"outcome", outcome}})
        .inc(static_cast<double>(n));
  };
  const json body = json::parse(req.body);
  if (!body.is_object() || !body.contains("rows") || !body["rows"].is_array())
    throw BadRequest("request body: expected {\"rows\": [...]}");
  for (const auto& [key, _] : body.items())
    if (key != "rows") throw BadRequest("unknown field '" + key + "'");
  const auto& rows = body["rows"];
  if (rows.size() > ctx.deps.usage_max_rows) {
    count("too_many", rows.size());
    return Response::error(413, "too_many_rows",
                           std::to_string(rows.size()) + " rows: at most " +
                               std::to_string(ctx.deps.usage_max_rows) + " per request (usage.max_rows)");
  }
  const std::int32_t today = ctx.deps.today();
  std::vector<core::UsageRow> good;
  json rejected = json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    try {
      auto row = parse_row(rows[i]);
      if (const auto error = core::usage_row_error(row, today)) throw BadRequest(*error);
      good.push_back(std::move(row));
    } catch (const BadRequest& e) {
      rejected.push_back({{"index", i}, {"error", e.what()}});
    }
  }
  count("rejected", rejected.size());
  const auto stored = ctx.deps.db.with_retry("usage_put", [&](pqxx::connection& c) {
    pqxx::work tx(c, "usage_put");
    auto r = store::UsageStore::put(tx, good, core::MetricSource::kPush);
    tx.commit();
    return r;
  });
  count("stored", good.size());
  m.counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went", {{"to", "usage"}})
      .inc(static_cast<double>(stored.figures));
  m.counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went", {{"to", "quarantine"}})
      .inc(static_cast<double>(stored.quarantined));
  if (!stored.companies.empty() && ctx.deps.wake_workers) ctx.deps.wake_workers();
  spdlog::info("usage: {} rows kept ({} figures, {} quarantined), {} rejected, {} companies to refresh",
               good.size(), stored.figures, stored.quarantined, rejected.size(), stored.companies.size());
  const json out = {{"rows", rows.size()},
                    {"accepted", good.size()},
                    {"figures", stored.figures},
                    {"quarantined", stored.quarantined},
                    {"companies", stored.companies.size()},
                    {"rejected", rejected}};
  // Every row wrong: nothing was kept, and the client should hear it as an error.
  return Response::json(good.empty() && !rows.empty() ? 422 : 200, out);
}

// POST /v1/usage.csv: the same CSV `cshealthd usage import` reads, as the request body.
Response post_usage_csv(Context& ctx, const Request& req) {
  const auto it = req.query.find("dry_run");
  const bool dry_run = it != req.query.end() && (it->second == "true" || it->second == "1");
  if (it != req.query.end() && !dry_run && it->second != "false" && it->second != "0")
    throw BadRequest("dry_run: expected true or false");
  const auto r = store::import_usage_csv(ctx.deps.db, req.body, ctx.deps.usage_csv, ctx.deps.today(),
                                         core::MetricSource::kCsv, dry_run);
  auto& m = ctx.deps.metrics;
  if (!dry_run) {
    m.counter("cshealthd_usage_rows_total", "Usage rows received, by outcome", {{"outcome", "stored"}})
        .inc(static_cast<double>(r.read.rows));
    m.counter("cshealthd_usage_rows_total", "Usage rows received, by outcome", {{"outcome", "rejected"}})
        .inc(static_cast<double>(r.read.error_count));
    m.counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went", {{"to", "usage"}})
        .inc(static_cast<double>(r.figures));
    m.counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went",
              {{"to", "quarantine"}})
        .inc(static_cast<double>(r.quarantined));
    if (r.companies > 0 && ctx.deps.wake_workers) ctx.deps.wake_workers();
  }
  json errors = json::array();
  for (const auto& e : r.read.errors) errors.push_back({{"line", e.line}, {"error", e.reason}});
  const json out = {{"dry_run", dry_run},   {"records", r.read.records},        {"accepted", r.read.rows},
                    {"figures", r.figures}, {"quarantined", r.quarantined},     {"companies", r.companies},
                    {"errors", errors},     {"error_count", r.read.error_count}};
  if (r.read.fatal && r.read.rows == 0) return Response::json(400, out);
  return Response::json(r.read.rows == 0 && r.read.error_count > 0 ? 422 : 200, out);
}

Response get_quarantine(Context& ctx, const Request& req) {
  const auto limit = parse_int(req.query, "limit").value_or(100);
  if (limit < 1 || limit > 1000) throw BadRequest("limit: expected 1 to 1000");
  return ctx.deps.db.with_retry("usage_quarantine", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "usage_quarantine");
    json items = json::array();
    for (const auto& q : store::UsageStore::quarantine(tx, static_cast<std::size_t>(limit))) {
      items.push_back({{"key_kind", q.key_kind},
                       {"key", q.key},
                       {"metric", q.metric},
                       {"date", q.day},
                       {"value", q.value},
                       {"source", q.source},
                       {"reason", q.reason},
                       {"received_at", q.received_at}});
    }
    return Response::json(200, {{"size", store::UsageStore::quarantine_size(tx)}, {"items", items}});
  });
}

}  // namespace

void add_usage_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  if (!ctx->deps.usage_enabled) return;
  router.add("POST", "/v1/usage",
             company_handler([ctx](const Request& r, std::int64_t) { return post_usage(*ctx, r); }),
             usage_route(ctx->deps.admin_token, ctx->deps.usage_token));
  router.add("POST", "/v1/usage.csv",
             company_handler([ctx](const Request& r, std::int64_t) { return post_usage_csv(*ctx, r); }),
             usage_route(ctx->deps.admin_token, ctx->deps.usage_token));
  router.add("GET", "/v1/usage/quarantine",
             company_handler([ctx](const Request& r, std::int64_t) { return get_quarantine(*ctx, r); }),
             admin_route(ctx->deps.admin_token));
}

}  // namespace cshealthd::api
