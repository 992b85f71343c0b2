#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cshealthd::core {

// Milliseconds since the Unix epoch, UTC. Pure conversions: nothing here reads a clock.
using EpochMs = std::int64_t;

// "2024-01-15T10:00:00.000Z"
std::string format_iso8601(EpochMs ms);
// "2024-01-15"
std::string format_date(EpochMs ms);

// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fff…]]" with "Z" or "±HH:MM" (or none, read as UTC).
// Rejects impossible dates (2024-02-30), trailing garbage, and what PostgreSQL cannot store: year 0,
// offsets beyond ±15:59, instants outside years 1–9999.
std::optional<EpochMs> parse_iso8601(std::string_view text);

// A HubSpot timestamp value: epoch milliseconds as digits, or ISO 8601; within years 1–9999.
std::optional<EpochMs> parse_hubspot_timestamp(std::string_view text);
// A HubSpot number value (properties are text): the whole text a finite decimal; "nan", "inf", other
// text and trailing characters are not numbers. (Beside the timestamps: HubSpot's values as text.)
std::optional<double> parse_hubspot_number(std::string_view text);

// Days since 1970-01-01 for a civil date, and back (proleptic Gregorian).
std::int64_t days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d);

inline constexpr EpochMs kMsPerDay = 86'400'000;

// Days since 1970-01-01 (UTC): the unit of daily snapshots, scores and due dates.
std::int32_t day_of(EpochMs ms);
EpochMs start_of_day(std::int32_t day);
std::string format_day(std::int32_t day);                     // "2026-06-15"
std::optional<std::int32_t> parse_day(const std::string& s);  // nullopt unless a real YYYY-MM-DD

}  // namespace cshealthd::core
