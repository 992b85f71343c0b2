// HubSpot's v3 webhook signature over whatever arrives: a forged or garbled signature never verifies,
// a stale or unreadable timestamp never does, and a correctly signed request always does.
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

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
  return 0;
}
