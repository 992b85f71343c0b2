// Segment bodies from outside (Segment's or RudderStack's HTTP destination, an analytics library, anyone
// holding the write key): any bytes read without a crash, as a batch and as one event; either a clear
// refusal of the whole body or every event accounted for (kept or refused by its index, in order); every
// kept event names a user and what its type needs; and folding them in counts each one once at most.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cshealthd/core/segment.hpp"
#include "fuzz_check.hpp"

using namespace cshealthd::core;

namespace {

void check(std::string_view body, bool batch) {
  constexpr EpochMs kNow = 1'781'524'800'000;  // 2026-06-15T12:00:00Z
  SegmentParsed p;
  try {
    p = parse_segment(body, batch, kNow);
  } catch (const std::invalid_argument&) {
    return;
  }
  FUZZ_CHECK(p.events.size() + p.errors.size() == p.total);
  FUZZ_CHECK(batch || p.total == 1);
  for (std::size_t i = 0; i < p.events.size(); ++i) {
    const auto& e = p.events[i];
    FUZZ_CHECK(e.index < p.total);
    if (i > 0) FUZZ_CHECK(e.index > p.events[i - 1].index);
    FUZZ_CHECK(e.user.size() > 2 && e.user.size() <= 257);
    FUZZ_CHECK(e.message_id.size() <= 255 && e.group_id.size() <= 255);
    if (e.type == SegmentType::kGroup) FUZZ_CHECK(!e.group_id.empty());
    if (e.type == SegmentType::kTrack) FUZZ_CHECK(!e.event.empty() && e.event.size() <= 255);
  }
  for (const auto& [index, why] : p.errors) FUZZ_CHECK(index < p.total && !why.empty());
  SegmentSettings s;
  s.group_key = UsageKeyKind::kDomain;
  s.login_events = {"Signed In"};
  const auto a = aggregate_segment(p.events, {}, s, TimeZone::utc(), day_of(kNow));
  FUZZ_CHECK(a.counted + a.errors.size() <= p.events.size());
  for (const auto& [key, day] : a.days) {
    FUZZ_CHECK(key.second <= day_of(kNow) && key.second >= day_of(kNow) - s.max_age_days);
    FUZZ_CHECK(day.logins >= 0 && static_cast<std::size_t>(day.logins) <= p.events.size());
  }
  for (const auto& [user, group] : a.members) FUZZ_CHECK(!group.empty() && group.size() <= 255);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check(body, true);
  check(body, false);
  return 0;
}
