// POST /webhooks/hubspot over whatever arrives: HubSpot's v3 signature (a forged or garbled signature
// never verifies, a stale or unreadable timestamp never does, a correctly signed request always does),
// then the body's parser: it either refuses with WebhookParseError or gives at most the batch limit of
// events, each with a positive object id, an occurredAt and a de-duplication key that is a function of
// the event alone.
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "cshealthd/core/onboarding.hpp"
#include "cshealthd/hubspot/signature.hpp"
#include "fuzz_check.hpp"

using namespace cshealthd::hubspot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // secret \0 method \0 uri \0 body \0 signature \0 timestamp
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (parts.size() < 5) {
    const auto nul = input.find('\0', start);
    if (nul == std::string::npos) break;
    parts.push_back(input.substr(start, nul - start));
    start = nul + 1;
  }
  parts.push_back(input.substr(std::min(start, input.size())));
  parts.resize(6);
  const auto& [secret, method, uri, body, signature, timestamp] =
      std::tie(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]);
  constexpr std::int64_t kNow = 1'790'000'000'000;
  (void)decode_uri_for_v3(uri);
  const auto verdict = verify_v3(secret, method, uri, body, signature, timestamp, kNow);
  if (verdict == Verdict::kValid) {
    FUZZ_CHECK(signature == signature_v3(secret, method, uri, body, timestamp));
  }
  const std::string now = std::to_string(kNow - 1000);
  FUZZ_CHECK(verify_v3(secret, method, uri, body, signature_v3(secret, method, uri, body, now), now, kNow) ==
             Verdict::kValid);
  const std::string stale = std::to_string(kNow - 300'001);
  FUZZ_CHECK(verify_v3(secret, method, uri, body, signature_v3(secret, method, uri, body, stale), stale,
                       kNow) == Verdict::kStale);
  try {
    const auto events = cshealthd::core::parse_webhook_events(body, 100);
    FUZZ_CHECK(events.size() <= 100);
    for (const auto& e : events) {
      FUZZ_CHECK(e.object_id > 0);
      FUZZ_CHECK(e.occurred_at_ms > 0);
      FUZZ_CHECK(!e.subscription_type.empty() && !e.event_id.empty());
      // The stored form of an event reads back as the same event.
      const auto again = cshealthd::core::parse_webhook_events("[" + e.raw + "]", 1);
      FUZZ_CHECK(again.size() == 1 && again[0].dedup_key() == e.dedup_key());
    }
  } catch (const cshealthd::core::WebhookParseError&) {
  }
  return 0;
}
