#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/router.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::api {

struct WebhookDeps {
  store::Database& db;
  metrics::Registry& metrics;
  Clock& clock;
  Secret secret;           // the app's client secret; empty: every request is refused (401)
  std::string public_url;  // https://cs.example.com (no trailing slash); empty: http://<Host>
  std::size_t max_body_bytes = 262'144;
  std::size_t max_events = 100;
  std::int64_t max_age_ms = 300'000;
  std::function<void()> wake_workers;  // events were stored: their processing job may be waiting
};

// POST /webhooks/hubspot: HubSpot's signed event batches. The v3 signature is checked on the raw bytes
// before anything is parsed (401, nothing stored, when it is missing, wrong or stale); a malformed body
// is a 400, an oversized one a 413; the events are stored durably, de-duplicated, before the 200 (a 503
// when they could not be, so HubSpot retries).
void add_webhook_routes(http::Router& router, WebhookDeps deps);

// The URI HubSpot signed: the public base URL and the request target, or, without a public URL,
// http://<Host><target>.
std::string signed_uri(const std::string& public_url, const std::string* host, const std::string& target);

}  // namespace cshealthd::api
