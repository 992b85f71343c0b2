#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace cshealthd::hubspot {

// HubSpot request signatures (webhooks and workflow webhook actions). Pure functions: the caller
// supplies the current time, so verification is exact in tests.

// v3: Base64(HMAC-SHA256(client_secret, method + uri + body + timestamp)), where `uri` is the full
// URL with %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B decoded first.
std::string signature_v3(std::string_view secret, std::string_view method, std::string_view uri,
                         std::string_view body, std::string_view timestamp_ms);
// v2: hex SHA-256(secret + method + uri + body). v1: hex SHA-256(secret + body).
std::string signature_v2(std::string_view secret, std::string_view method, std::string_view uri,
                         std::string_view body);
std::string signature_v1(std::string_view secret, std::string_view body);

// The URI as HubSpot signs it in v3.
std::string decode_uri_for_v3(std::string_view uri);

enum class Verdict { kValid, kMissing, kStale, kMismatch };
std::string_view to_string(Verdict v);

// Checks X-HubSpot-Signature-v3 / X-HubSpot-Request-Timestamp: stale when the timestamp is more than
// `max_age_ms` away from `now_ms` (HubSpot: 300,000), compared in constant time.
Verdict verify_v3(std::string_view secret, std::string_view method, std::string_view uri,
                  std::string_view body, std::string_view signature, std::string_view timestamp_ms,
                  std::int64_t now_ms, std::int64_t max_age_ms = 300'000);

bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cshealthd::hubspot
