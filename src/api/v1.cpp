#include "cshealthd/api/v1.hpp"

#include "resource.hpp"

namespace cshealthd::api {

void add_v1_routes(http::Router& router, V1Deps deps) {
  const auto ctx = std::make_shared<Context>(std::move(deps));
  add_company_health_routes(router, ctx);
  add_score_routes(router, ctx);
  add_override_routes(router, ctx);
}

}  // namespace cshealthd::api
