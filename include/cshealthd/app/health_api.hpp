#pragma once
#include <cstdint>
#include <functional>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/router.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::app {

struct HealthApi {
  store::Database& db;
  const scoring::ScoringConfig& scoring;
  metrics::Registry& metrics;
  Secret admin_token;                   // empty: the /v1 API answers 503 (disabled)
  std::function<std::int32_t()> today;  // the current day (UTC), for override expiry and rescoring
};

// The admin API under /v1 (bearer token): health, history, score lists, overrides.
void add_health_routes(http::Router& router, HealthApi api);

}  // namespace cshealthd::app
