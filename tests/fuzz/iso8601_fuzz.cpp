// Dates from HubSpot: whatever parses lies in years 1-9999 (what PostgreSQL stores) and formats back to
// text that parses to the same instant.
#include <cstdint>
#include <string_view>

#include "cshealthd/core/time.hpp"
#include "fuzz_check.hpp"

using namespace cshealthd::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto parsed : {parse_iso8601(text), parse_hubspot_timestamp(text)}) {
    if (!parsed) continue;
    const std::string formatted = format_iso8601(*parsed);
    FUZZ_CHECK(formatted.size() == 24);  // four-digit years only
    FUZZ_CHECK(formatted.substr(0, 4) != "0000");
    FUZZ_CHECK(parse_iso8601(formatted) == parsed);
  }
  return 0;
}
