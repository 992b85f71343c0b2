#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/secret.hpp"
#include "cshealthd/core/segment.hpp"
#include "cshealthd/http/router.hpp"
#include "cshealthd/kpis/kpi_store.hpp"
#include "cshealthd/pipeline/pipeline.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/job_queue.hpp"

namespace cshealthd::api {

// What the /v1 API works on, built once by the service and passed down.
struct V1Deps {
  store::Database& db;
  const scoring::ScoringConfig& scoring;
  metrics::Registry& metrics;
  Secret admin_token;                   // empty: the /v1 API answers 503 (disabled)
  std::function<std::int32_t()> today;  // the service day (schedule zone): runs, overrides, the KPI reads
  store::JobQueue& jobs;
  pipeline::Pipeline* pipeline = nullptr;       // null without HubSpot: POST /v1/runs answers 503
  std::function<void()> wake_workers;           // work was just enqueued
  const alerts::Settings* writeback = nullptr;  // the alert rules (snoozes name one)
  std::string locale = "ja";                    // writeback.locale: the usage summary's language
  kpis::KpiStore* kpis = nullptr;               // the KPIs, lists and company pages (the dashboard's)
  Secret dashboard_token{};                     // reads what the dashboard shows, nothing else
  const core::TimeZone* zone = nullptr;         // schedule.time_zone: where the days scored end
  bool usage_enabled = true;                    // usage.enabled: POST /v1/usage and its quarantine
  Secret usage_token{};                         // writes usage, nothing else
  std::size_t usage_max_rows = 5'000;           // per request; more: 413
  std::map<std::string, std::string> usage_csv{};  // usage.csv: a CSV's header name per field
  std::function<std::int64_t()> now_ms{};          // the service's clock (when a Segment event arrived)
  const core::SegmentSettings* segment = nullptr;  // the Segment source; null: its routes answer 503
  Secret segment_write_key{};                      // usage.segment.write_key
};

// docs/openapi.yaml, compiled in and served at GET /v1/openapi.yaml.
struct ApiDocument {
  ApiDocument(std::string n, std::string t) : name(std::move(n)), text(std::move(t)) {}
  std::string name, text;
};
const std::vector<ApiDocument>& embedded_api_docs();

// The admin API under /v1 (bearer token, checked on the headers): each resource adds its own routes.
void add_v1_routes(http::Router& router, V1Deps deps);

}  // namespace cshealthd::api
