#pragma once
#include <cstdint>
#include <functional>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/router.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::api {

// What the /v1 API works on, built once by the service and passed down.
struct V1Deps {
  store::Database& db;
  const scoring::ScoringConfig& scoring;
  metrics::Registry& metrics;
  Secret admin_token;                   // empty: the /v1 API answers 503 (disabled)
  std::function<std::int32_t()> today;  // the current day (UTC), for override expiry and rescoring
};

// The admin API under /v1 (bearer token, checked on the headers): each resource adds its own routes.
void add_v1_routes(http::Router& router, V1Deps deps);

}  // namespace cshealthd::api
