#pragma once
#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cshealthd::core {

// Seconds since the Unix epoch, UTC.
using EpochSeconds = std::int64_t;

// A time zone as the tz database describes it: the offsets in force between transitions, and the
// POSIX rule that continues them past the last one. Parsed from TZif bytes (RFC 8536): reading the
// file is the caller's business, so this stays pure.
class TimeZone {
 public:
  static TimeZone utc();
  // Throws std::invalid_argument when `bytes` is not a TZif file version 2 or later.
  static TimeZone from_tzif(const std::string& name, std::string_view bytes);

  const std::string& name() const { return name_; }
  int offset_at(EpochSeconds t) const;  // seconds east of UTC in force at t

  struct Rule;  // the POSIX TZ footer ("EST5EDT,M3.2.0,M11.1.0")

 private:
  std::string name_;
  std::vector<EpochSeconds> transitions_;
  std::vector<int> offsets_;  // offsets_[i] is in force from transitions_[i]
  int initial_offset_ = 0;    // before the first transition
  std::optional<std::string> footer_;
};

// Is `text` a POSIX TZ rule this parser understands? Exposed for tests.
std::optional<int> posix_tz_offset(std::string_view rule, EpochSeconds t);

// A cron expression: five fields (minute hour day-of-month month day-of-week) with lists, ranges,
// steps and month/day names, or one of @yearly @monthly @weekly @daily @midnight @hourly. As in Vixie
// cron, when both day fields are restricted a day matching either one matches.
struct CronSpec {
  std::bitset<60> minute;
  std::bitset<24> hour;
  std::bitset<32> day_of_month;  // 1..31
  std::bitset<13> month;         // 1..12
  std::bitset<7> day_of_week;    // 0 = Sunday
  bool dom_restricted = false, dow_restricted = false;
  std::string text;
};

// Throws std::invalid_argument naming the field that is wrong.
CronSpec parse_cron(std::string_view text);

// The first occurrence strictly after `after`, and the last at or before `at`, in zone `zone`: local
// times that a clock change skips do not occur; those it repeats occur once per UTC minute they name.
// nullopt when the expression never matches within five years (0 0 30 2 *).
std::optional<EpochSeconds> next_occurrence(const CronSpec& cron, const TimeZone& zone, EpochSeconds after);
std::optional<EpochSeconds> last_occurrence(const CronSpec& cron, const TimeZone& zone, EpochSeconds at);

// The local calendar date ("2026-12-02") of an instant in a zone.
std::string local_date(const TimeZone& zone, EpochSeconds t);
// "Today" as the service has it: the day `now` falls on in the schedule's zone. The one definition the
// runs, the API, the CLI, overrides and onboarding use.
std::int32_t service_day(const TimeZone& zone, std::int64_t now_ms);
// "2026-12-02T02:00:00+09:00"
std::string format_local(const TimeZone& zone, EpochSeconds t);

// Exponential backoff with full jitter: uniformly random in [0, min(cap, base · 2^(attempt-1))),
// `unit` being a uniform draw in [0, 1) that the caller supplies (so tests are exact).
std::int64_t retry_delay_ms(int attempt, std::int64_t base_ms, std::int64_t cap_ms, double unit);

}  // namespace cshealthd::core
