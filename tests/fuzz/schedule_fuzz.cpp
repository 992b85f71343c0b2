// The schedule's inputs: a cron expression from config and a TZif file from the system. Input whose first
// byte is 'T' is read as a zone (with a cron after it when one parses), anything else as a cron
// expression. What parses gives occurrences that match, in order, and never loops.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cshealthd/core/schedule.hpp"
#include "fuzz_check.hpp"

using namespace cshealthd::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  TimeZone zone = TimeZone::utc();
  std::string_view cron_text = text;
  if (!text.empty() && text.front() == 'T') {
    try {
      zone = TimeZone::from_tzif("fuzz", text);
    } catch (const std::invalid_argument&) {
      return 0;
    }
    cron_text = "*/7 3 * * mon-fri";
  }
  CronSpec cron;
  try {
    cron = parse_cron(cron_text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  for (const EpochSeconds at : {EpochSeconds{0}, EpochSeconds{1'796'000'000}, EpochSeconds{-2'000'000'000}}) {
    const int offset = zone.offset_at(at);
    FUZZ_CHECK(offset >= -26 * 3600 && offset <= 26 * 3600);
    const auto next = next_occurrence(cron, zone, at);
    if (next) {
      FUZZ_CHECK(*next > at);
      FUZZ_CHECK(((*next + zone.offset_at(*next)) % 60 + 60) % 60 == 0);  // on a wall-clock minute
      const auto again = last_occurrence(cron, zone, *next);
      FUZZ_CHECK(again && *again == *next);  // the occurrence is one at or before itself
    }
    (void)local_date(zone, at);
  }
  return 0;
}
