#include "cshealthd/api/webhooks.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/core/onboarding.hpp"
#include "cshealthd/hubspot/signature.hpp"
#include "cshealthd/onboarding/onboarding.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::api {

std::string signed_uri(const std::string& public_url, const std::string* host, const std::string& target) {
  if (!public_url.empty()) {
    std::string base = public_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + target;
  }
  return "http://" + (host ? *host : std::string()) + target;
}

void add_webhook_routes(http::Router& router, WebhookDeps deps) {
  auto d = std::make_shared<WebhookDeps>(std::move(deps));
  router.add("POST", "/webhooks/hubspot", [d](const http::Request& req) {
    const auto count = [&](const char* outcome) {
      d->metrics
          .counter("cshealthd_webhook_requests_total", "Webhook requests by outcome", {{"outcome", outcome}})
          .inc();
    };
    if (req.body.size() > d->max_body_bytes) {
      count("too_large");
      return http::Response::error(
          413, "payload_too_large",
          "a webhook body holds at most " + std::to_string(d->max_body_bytes) + " bytes");
    }
    const std::string* sig = req.header("x-hubspot-signature-v3");
    const std::string* ts = req.header("x-hubspot-request-timestamp");
    const std::int64_t now_ms = d->clock.now_ms();
    const auto verdict =
        d->secret.empty()
            ? hubspot::Verdict::kMismatch
            : hubspot::verify_v3(d->secret.reveal(), req.method,
                                 signed_uri(d->public_url, req.header("host"), req.target), req.body,
                                 sig ? *sig : std::string(), ts ? *ts : std::string(), now_ms, d->max_age_ms);
    if (verdict == hubspot::Verdict::kStale) {
      count("stale");
      return http::Response::error(401, "stale_signature",
                                   "X-HubSpot-Request-Timestamp is more than " +
                                       std::to_string(d->max_age_ms / 1000) + " s away from now");
    }
    if (verdict != hubspot::Verdict::kValid) {
      count("bad_signature");
      return http::Response::error(401, "bad_signature",
                                   d->secret.empty() ? "webhook.secret is not set: no webhook can be verified"
                                                     : "missing or wrong X-HubSpot-Signature-v3");
    }
    std::vector<core::WebhookEvent> events;
    try {
      events = core::parse_webhook_events(req.body, d->max_events);
    } catch (const core::WebhookParseError& e) {
      count("malformed");
      return http::Response::error(400, "malformed_events", e.what());
    }
    onboarding::Stored stored;
    try {
      stored = onboarding::store_events(d->db, events);
    } catch (const std::exception& e) {
      count("store_failed");
      spdlog::error("webhooks: could not store {} event(s); HubSpot will retry: {}", events.size(), e.what());
      auto res = http::Response::error(503, "unavailable", "the events could not be stored; retry later");
      res.headers.emplace_back("Retry-After", "5");
      return res;
    }
    d->metrics
        .counter("cshealthd_webhook_events_total", "Webhook events by outcome", {{"outcome", "accepted"}})
        .inc(stored.accepted);
    d->metrics
        .counter("cshealthd_webhook_events_total", "Webhook events by outcome", {{"outcome", "duplicate"}})
        .inc(stored.duplicates);
    count(stored.accepted == 0 && !events.empty() ? "duplicate" : "accepted");
    if (stored.accepted > 0 && d->wake_workers) d->wake_workers();
    return http::Response::json(200, {{"accepted", stored.accepted}, {"duplicates", stored.duplicates}});
  });
}

}  // namespace cshealthd::api
