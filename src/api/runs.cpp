// POST /v1/runs (start a pipeline run now), GET /v1/runs/{id} (its stages, progress and summary),
// GET /v1/runs?limit= (the latest first).
#include "cshealthd/api/admin_auth.hpp"
#include "cshealthd/core/time.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

json run_json(const store::Run& r) {
  return {{"id", r.id},
          {"kind", r.kind},
          {"trigger", r.trigger},
          {"state", r.state},
          {"as_of", r.as_of},
          {"scheduled_for", time_or_null(r.scheduled_for_ms)},
          {"stages", r.stages},
          {"summary", r.summary},
          {"error", r.error.empty() ? json(nullptr) : json(r.error)},
          {"created_at", time_or_null(r.created_ms)},
          {"started_at", time_or_null(r.started_ms)},
          {"finished_at", time_or_null(r.finished_ms)},
          {"job_id", r.job_id ? json(*r.job_id) : json(nullptr)}};
}

Response post_run(Context& ctx, const Request& req) {
  if (ctx.deps.pipeline == nullptr)
    return Response::error(503, "hubspot_not_configured", "runs need hubspot.token; this service has none");
  store::RunRequest r;
  r.kind = "manual";
  r.trigger = "api";
  r.as_of = core::format_day(ctx.deps.today());
  if (!req.body.empty()) {
    const json body = json::parse(req.body);
    if (!body.is_object()) throw BadRequest("request body: expected a JSON object");
    for (const auto& [key, value] : body.items()) {
      if (key == "catch_up") {
        if (!value.is_boolean()) throw BadRequest("catch_up: expected true or false");
        r.catch_up = value.get<bool>();
        continue;
      }
      if (key != "as_of") throw BadRequest("unknown field '" + key + "'");
      if (!value.is_string() || !core::parse_day(value.get<std::string>()))
        throw BadRequest("as_of: expected a date YYYY-MM-DD");
      r.as_of = value.get<std::string>();
    }
  }
  store::RunStore runs(ctx.deps.db);
  if (const auto active = runs.active()) {
    Response res = Response::error(409, "run_active", "a run is already queued or under way");
    res.body = json{
        {"error", "run_active"},
        {"message", "a run is already queued or under way"},
        {"active_run",
         *active}}.dump();
    return res;
  }
  const auto id = ctx.deps.pipeline->start(r);
  if (!id) return Response::error(409, "run_active", "a run with this key exists");
  if (ctx.deps.wake_workers) ctx.deps.wake_workers();
  Response res = Response::json(202, {{"run", run_json(*runs.get(*id))}});
  res.headers.emplace_back("Location", "/v1/runs/" + std::to_string(*id));
  return res;
}

}  // namespace

void add_run_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto admin = admin_route(ctx->deps.admin_token);
  router.add("POST", "/v1/runs",
             id_handler("run", [ctx](const Request& r, std::int64_t) { return post_run(*ctx, r); }), admin);
  router.add("GET", "/v1/runs",
             id_handler("run",
                        [ctx](const Request& r, std::int64_t) {
                          const auto limit = parse_int(r.query, "limit").value_or(20);
                          if (limit < 1 || limit > 500) throw BadRequest("limit: expected 1 to 500");
                          json runs = json::array();
                          for (const auto& run : store::RunStore(ctx->deps.db).list(static_cast<int>(limit)))
                            runs.push_back(run_json(run));
                          return Response::json(200, {{"runs", runs}});
                        }),
             admin);
  router.add("GET", "/v1/runs/{id}",
             id_handler("run",
                        [ctx](const Request&, std::int64_t id) {
                          const auto run = store::RunStore(ctx->deps.db).get(id);
                          if (!run)
                            return Response::error(404, "run_not_found", "no run " + std::to_string(id));
                          return Response::json(200, {{"run", run_json(*run)}});
                        }),
             admin);
}

}  // namespace cshealthd::api
