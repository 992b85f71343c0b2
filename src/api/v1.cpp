#include "cshealthd/api/v1.hpp"

#include "cshealthd/api/admin_auth.hpp"
#include "resource.hpp"

namespace cshealthd::api {

void add_v1_routes(http::Router& router, V1Deps deps) {
  const auto ctx = std::make_shared<Context>(std::move(deps));
  add_company_health_routes(router, ctx);
  add_score_routes(router, ctx);
  add_override_routes(router, ctx);
  add_run_routes(router, ctx);
  add_job_routes(router, ctx);
  add_writeback_routes(router, ctx);
  add_kpi_routes(router, ctx);
  add_backtest_routes(router, ctx);
  add_calibration_routes(router, ctx);
  add_usage_routes(router, ctx);
  add_segment_routes(router, ctx);
  // The API's description, for anyone holding the token.
  router.add(
      "GET", "/v1/openapi.yaml",
      [](const http::Request&) {
        return http::Response::text(200, embedded_api_docs().front().text, "application/yaml; charset=utf-8");
      },
      admin_route(ctx->deps.admin_token));
}

}  // namespace cshealthd::api
