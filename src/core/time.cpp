#include "cshealthd/core/time.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace cshealthd::core {

// Howard Hinnant's civil calendar algorithms.
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe) + static_cast<int>(era) * 400 + (m <= 2);
}

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

unsigned days_in_month(int y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly n digits at text[pos].
bool digits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

namespace {

// Writes v as `width` decimal digits (zero-padded) at out.
void put_digits(char* out, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

std::string format_iso8601(EpochMs ms) {
  const std::int64_t days = floor_div(ms, kMsPerDay);
  const auto rem = static_cast<unsigned>(ms - days * kMsPerDay);
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999) {  // outside what four digits hold: the slow, general way
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", y, m, d, rem / 3'600'000,
                  rem / 60'000 % 60, rem / 1000 % 60, rem % 1000);
    return buf;
  }
  // Called for every timestamp a sync reads: no printf.
  std::string out = "0000-00-00T00:00:00.000Z";
  put_digits(&out[0], static_cast<unsigned>(y), 4);
  put_digits(&out[5], m, 2);
  put_digits(&out[8], d, 2);
  put_digits(&out[11], rem / 3'600'000, 2);
  put_digits(&out[14], rem / 60'000 % 60, 2);
  put_digits(&out[17], rem / 1000 % 60, 2);
  put_digits(&out[20], rem % 1000, 3);
  return out;
}

std::string format_date(EpochMs ms) {
  return format_iso8601(ms).substr(0, 10);
}

// The instants every time this service stores must lie in: years 1 to 9999. PostgreSQL refuses year
// 0 and five-digit years in ISO text, and one such value in a page would fail the page's write on every
// retry, so a time outside is malformed wherever it appears.
static bool storable_time(EpochMs ms) {
  static const EpochMs kFirst = days_from_civil(1, 1, 1) * kMsPerDay;
  static const EpochMs kLast = days_from_civil(10000, 1, 1) * kMsPerDay - 1;
  return ms >= kFirst && ms <= kLast;
}

static std::optional<EpochMs> parse_iso8601_unchecked(std::string_view t);

std::optional<EpochMs> parse_iso8601(std::string_view t) {
  const auto ms = parse_iso8601_unchecked(t);
  if (!ms || !storable_time(*ms)) return std::nullopt;
  return ms;
}

static std::optional<EpochMs> parse_iso8601_unchecked(std::string_view t) {
  int y, mo, d;
  if (!digits(t, 0, 4, y) || t.size() < 10 || t[4] != '-' || !digits(t, 5, 2, mo) || t[7] != '-' ||
      !digits(t, 8, 2, d) || y == 0) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, static_cast<unsigned>(mo))) {
    return std::nullopt;
  }
  EpochMs ms = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * kMsPerDay;
  if (t.size() == 10) return ms;
  if (t[10] != 'T' && t[10] != ' ') return std::nullopt;
  int h, mi, s = 0;
  if (!digits(t, 11, 2, h) || t.size() < 16 || t[13] != ':' || !digits(t, 14, 2, mi)) return std::nullopt;
  std::size_t pos = 16;
  if (pos < t.size() && t[pos] == ':') {
    if (!digits(t, pos + 1, 2, s)) return std::nullopt;
    pos += 3;
  }
  if (h > 23 || mi > 59 || s > 60) return std::nullopt;
  ms += (h * 3600 + mi * 60 + s) * 1000LL;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int frac = 0, scale = 100, n = 0;
    while (pos < t.size() && std::isdigit(static_cast<unsigned char>(t[pos]))) {
      if (n < 3) frac += (t[pos] - '0') * scale;
      scale /= 10;
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    ms += frac;
  }
  if (pos == t.size()) return ms;
  if (t[pos] == 'Z' && pos + 1 == t.size()) return ms;
  if ((t[pos] == '+' || t[pos] == '-') && t.size() == pos + 6 && t[pos + 3] == ':') {
    int oh, om;
    // PostgreSQL takes offsets up to 15:59.
    if (!digits(t, pos + 1, 2, oh) || !digits(t, pos + 4, 2, om) || oh > 15 || om > 59) return std::nullopt;
    const EpochMs offset = (oh * 60 + om) * 60'000LL;
    return t[pos] == '+' ? ms - offset : ms + offset;
  }
  return std::nullopt;
}

std::int32_t day_of(EpochMs ms) {
  return static_cast<std::int32_t>(ms >= 0 ? ms / kMsPerDay : -((-ms + kMsPerDay - 1) / kMsPerDay));
}

EpochMs start_of_day(std::int32_t day) {
  return static_cast<EpochMs>(day) * kMsPerDay;
}

std::string format_day(std::int32_t day) {
  return format_date(start_of_day(day));
}

std::optional<std::int32_t> parse_day(const std::string& s) {
  if (s.size() != 10) return std::nullopt;
  const auto ms = parse_iso8601(s + "T00:00:00Z");
  if (!ms || format_date(*ms) != s) return std::nullopt;
  return day_of(*ms);
}

std::optional<double> parse_hubspot_number(std::string_view text) {
  double d = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<EpochMs> parse_hubspot_timestamp(std::string_view text) {
  if (!text.empty() && text.size() <= 15 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    EpochMs v = 0;
    for (const char c : text) v = v * 10 + (c - '0');
    if (!storable_time(v)) return std::nullopt;
    return v;
  }
  return parse_iso8601(text);
}

}  // namespace cshealthd::core
