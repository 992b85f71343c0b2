// GET /v1/jobs?state=&limit= and POST /v1/jobs/{id}/retry: the queue as operators see it.
#include "cshealthd/api/admin_auth.hpp"
#include "resource.hpp"

namespace cshealthd::api {
namespace {

json job_json(const store::Job& j) {
  return {{"id", j.id},
          {"kind", j.kind},
          {"state", j.state},
          {"unique_key", j.unique_key ? json(*j.unique_key) : json(nullptr)},
          {"run_id", j.run_id ? json(*j.run_id) : json(nullptr)},
          {"attempt", j.attempt},
          {"max_attempts", j.max_attempts},
          {"takeovers", j.takeovers},
          {"error", j.error.empty() ? json(nullptr) : json(j.error)},
          {"checkpoint", j.checkpoint},
          {"created_at", time_or_null(j.created_ms)},
          {"started_at", time_or_null(j.started_ms)},
          {"finished_at", time_or_null(j.finished_ms)},
          {"run_after", time_or_null(j.run_after_ms)}};
}

}  // namespace

void add_job_routes(http::Router& router, const std::shared_ptr<Context>& ctx) {
  const auto admin = admin_route(ctx->deps.admin_token);
  router.add("GET", "/v1/jobs",
             id_handler("job",
                        [ctx](const Request& r, std::int64_t) {
                          std::optional<std::string> state;
                          if (const auto it = r.query.find("state"); it != r.query.end()) {
                            static const std::vector<std::string> kStates{"queued", "running", "failed",
                                                                          "succeeded", "dead"};
                            if (std::find(kStates.begin(), kStates.end(), it->second) == kStates.end())
                              throw BadRequest("state: expected queued|running|failed|succeeded|dead");
                            state = it->second;
                          }
                          const auto limit = parse_int(r.query, "limit").value_or(50);
                          if (limit < 1 || limit > 1000) throw BadRequest("limit: expected 1 to 1000");
                          json jobs = json::array();
                          for (const auto& j : ctx->deps.jobs.list(state, static_cast<int>(limit)))
                            jobs.push_back(job_json(j));
                          return Response::json(200, {{"jobs", jobs}});
                        }),
             admin);
  router.add("POST", "/v1/jobs/{id}/retry",
             id_handler("job",
                        [ctx](const Request&, std::int64_t id) {
                          const auto job = ctx->deps.jobs.get(id);
                          if (!job)
                            return Response::error(404, "job_not_found", "no job " + std::to_string(id));
                          const auto queued = ctx->deps.jobs.retry(id);
                          if (!queued) {
                            return Response::error(409, "job_not_retryable",
                                                   "job " + std::to_string(id) + " is " + job->state +
                                                       "; only failed or dead jobs are retried");
                          }
                          if (ctx->deps.wake_workers) ctx->deps.wake_workers();
                          return Response::json(200, {{"job", job_json(*queued)}});
                        }),
             admin);
}

}  // namespace cshealthd::api
