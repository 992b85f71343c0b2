#include "cshealthd/core/schedule.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {
namespace {

constexpr EpochSeconds kDay = 86'400;

// ---- TZif ------------------------------------------------------------------------------------------

class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  std::string_view take(std::size_t n) {
    if (n > b_.size() - pos_) throw std::invalid_argument("TZif: truncated");
    const auto s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::int64_t be(std::size_t n) {
    const auto s = take(n);
    std::uint64_t v = 0;
    for (const char c : s) v = (v << 8) | static_cast<unsigned char>(c);
    if (n == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::int64_t>(v);
  }
  std::string_view rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

struct Counts {
  std::int64_t isut, isstd, leap, time, type, chars;
};

Counts header(Bytes& in) {
  if (in.take(4) != "TZif") throw std::invalid_argument("TZif: bad magic");
  in.take(16);  // version and reserved
  Counts c{in.be(4), in.be(4), in.be(4), in.be(4), in.be(4), in.be(4)};
  if (c.isut < 0 || c.isstd < 0 || c.leap < 0 || c.time < 0 || c.type <= 0 || c.chars < 0 || c.type > 256 ||
      c.time > 100'000) {
    throw std::invalid_argument("TZif: bad counts");
  }
  return c;
}

// ---- POSIX TZ rules ------------------------------------------------------------------------------

struct PosixDate {
  char kind = 'M';  // M (month.week.day), J (1..365, no Feb 29), 'n' (0..365)
  int month = 0, week = 0, day = 0;
  int seconds = 7200;  // local time of the change, default 02:00
};

class RuleParser {
 public:
  explicit RuleParser(std::string_view s) : s_(s) {}
  bool done() const { return p_ == s_.size(); }
  char peek() const { return done() ? '\0' : s_[p_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++p_;
    return true;
  }
  bool name() {
    if (eat('<')) {
      const auto close = s_.find('>', p_);
      if (close == std::string_view::npos) return false;
      p_ = close + 1;
      return true;
    }
    const auto start = p_;
    while (!done() && ((peek() >= 'A' && peek() <= 'Z') || (peek() >= 'a' && peek() <= 'z'))) ++p_;
    return p_ - start >= 3;
  }
  std::optional<int> number(int max) {
    int v = 0;
    const auto [ptr, ec] = std::from_chars(s_.data() + p_, s_.data() + s_.size(), v);
    if (ec != std::errc() || v < 0 || v > max) return std::nullopt;
    p_ = static_cast<std::size_t>(ptr - s_.data());
    return v;
  }
  // [+-]hh[:mm[:ss]] in seconds
  std::optional<int> duration(int max_hours) {
    int sign = 1;
    if (eat('-'))
      sign = -1;
    else
      eat('+');
    const auto h = number(max_hours);
    if (!h) return std::nullopt;
    int total = *h * 3600;
    if (eat(':')) {
      const auto m = number(59);
      if (!m) return std::nullopt;
      total += *m * 60;
      if (eat(':')) {
        const auto s = number(59);
        if (!s) return std::nullopt;
        total += *s;
      }
    }
    return sign * total;
  }
  std::optional<PosixDate> date() {
    PosixDate d;
    if (eat('M')) {
      const auto m = number(12), w = eat('.') ? number(5) : std::nullopt,
                 dd = eat('.') ? number(6) : std::nullopt;
      if (!m || !w || !dd || *m < 1 || *w < 1) return std::nullopt;
      d.month = *m, d.week = *w, d.day = *dd;
    } else if (eat('J')) {
      const auto n = number(365);
      if (!n || *n < 1) return std::nullopt;
      d.kind = 'J', d.day = *n;
    } else {
      const auto n = number(365);
      if (!n) return std::nullopt;
      d.kind = 'n', d.day = *n;
    }
    if (eat('/')) {
      const auto t = duration(167);
      if (!t) return std::nullopt;
      d.seconds = *t;
    }
    return d;
  }

 private:
  std::string_view s_;
  std::size_t p_ = 0;
};

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Local (wall) seconds since the epoch at which `d` happens in `year`, ignoring the offset.
EpochSeconds local_change(const PosixDate& d, int year) {
  std::int64_t day = 0;
  if (d.kind == 'J') {
    day = days_from_civil(year, 1, 1) + d.day - 1;
    if (leap(year) && d.day >= 60) ++day;
  } else if (d.kind == 'n') {
    day = days_from_civil(year, 1, 1) + d.day;
  } else {
    const std::int64_t first = days_from_civil(year, static_cast<unsigned>(d.month), 1);
    const int first_wd = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
    day = first + (d.day - first_wd + 7) % 7 + 7 * (d.week - 1);
    static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int month_days =
        kDays[static_cast<std::size_t>(d.month - 1)] + (d.month == 2 && leap(year) ? 1 : 0);
    while (day >= first + month_days) day -= 7;  // week 5: the last such day
  }
  return day * kDay + d.seconds;
}

int year_of(EpochSeconds local) {
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(local >= 0 ? local / kDay : (local - kDay + 1) / kDay, y, m, d);
  return y;
}

EpochSeconds floor_div(EpochSeconds a, EpochSeconds b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

}  // namespace

std::optional<int> posix_tz_offset(std::string_view rule, EpochSeconds t) {
  RuleParser p(rule);
  if (!p.name()) return std::nullopt;
  const auto std_west = p.duration(24);
  if (!std_west) return std::nullopt;
  const int std_off = -*std_west;
  if (p.done()) return std_off;
  if (!p.name()) return std::nullopt;
  int dst_off = std_off + 3600;
  if (p.peek() != ',') {
    const auto dst_west = p.duration(24);
    if (!dst_west) return std::nullopt;
    dst_off = -*dst_west;
  }
  if (!p.eat(',')) return std::nullopt;
  const auto start = p.date();
  if (!start || !p.eat(',')) return std::nullopt;
  const auto end = p.date();
  if (!end || !p.done()) return std::nullopt;
  const int year = year_of(t + std_off);
  // The start is given in standard local time, the end in daylight local time.
  const EpochSeconds s = local_change(*start, year) - std_off;
  const EpochSeconds e = local_change(*end, year) - dst_off;
  const bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
  return dst ? dst_off : std_off;
}

TimeZone TimeZone::utc() {
  TimeZone z;
  z.name_ = "UTC";
  return z;
}

TimeZone TimeZone::from_tzif(const std::string& name, std::string_view bytes) {
  Bytes in(bytes);
  const Counts v1 = header(in);
  if (bytes.size() < 5 || bytes[4] < '2') throw std::invalid_argument("TZif: version 1 has no 64-bit data");
  in.take(static_cast<std::size_t>(v1.time * 5 + v1.type * 6 + v1.chars + v1.leap * 8 + v1.isstd + v1.isut));
  const Counts c = header(in);
  TimeZone z;
  z.name_ = name;
  std::vector<std::int64_t> times(static_cast<std::size_t>(c.time));
  for (auto& t : times) t = in.be(8);
  std::vector<std::size_t> index(static_cast<std::size_t>(c.time));
  for (auto& i : index) {
    i = static_cast<unsigned char>(in.take(1)[0]);
    if (i >= static_cast<std::size_t>(c.type)) throw std::invalid_argument("TZif: bad type index");
  }
  std::vector<int> type_off(static_cast<std::size_t>(c.type));
  std::vector<bool> type_dst(static_cast<std::size_t>(c.type));
  for (std::size_t i = 0; i < type_off.size(); ++i) {
    type_off[i] = static_cast<int>(in.be(4));
    type_dst[i] = in.take(1)[0] != 0;
    in.take(1);
    if (type_off[i] < -25 * 3600 || type_off[i] > 26 * 3600) throw std::invalid_argument("TZif: bad offset");
  }
  in.take(static_cast<std::size_t>(c.chars + c.leap * 12 + c.isstd + c.isut));
  for (std::size_t i = 1; i < times.size(); ++i) {
    if (times[i] <= times[i - 1]) throw std::invalid_argument("TZif: transitions out of order");
  }
  z.transitions_ = std::move(times);
  for (const auto i : index) z.offsets_.push_back(type_off[i]);
  z.initial_offset_ = type_off[0];
  for (std::size_t i = 0; i < type_dst.size(); ++i) {
    if (!type_dst[i]) {
      z.initial_offset_ = type_off[i];
      break;
    }
  }
  const auto rest = in.rest();
  if (rest.size() >= 2 && rest.front() == '\n') {
    const auto end = rest.find('\n', 1);
    if (end != std::string_view::npos && end > 1) {
      const std::string footer(rest.substr(1, end - 1));
      if (!posix_tz_offset(footer, 0))
        throw std::invalid_argument("TZif: unsupported TZ rule '" + footer + "'");
      z.footer_ = footer;
    }
  }
  return z;
}

int TimeZone::offset_at(EpochSeconds t) const {
  if (transitions_.empty() || t >= transitions_.back()) {
    if (footer_) return *posix_tz_offset(*footer_, t);
    return transitions_.empty() ? initial_offset_ : offsets_.back();
  }
  if (t < transitions_.front()) return initial_offset_;
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  return offsets_[static_cast<std::size_t>(it - transitions_.begin() - 1)];
}

// ---- cron ----------------------------------------------------------------------------------------

namespace {

struct Field {
  const char* name;
  int lo, hi;
  std::vector<std::string_view> names;  // names[i] stands for lo + i
};

std::optional<int> field_value(std::string_view s, const Field& f) {
  for (std::size_t i = 0; i < f.names.size(); ++i) {
    if (s.size() == 3 &&
        std::equal(s.begin(), s.end(), f.names[i].begin(), [](char a, char b) { return (a | 0x20) == b; })) {
      return f.lo + static_cast<int>(i);
    }
  }
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Sets the bits of one field ("1-5/2,10,*/15"); returns false when the field is not restricted ("*").
template <std::size_t N>
bool parse_field(std::string_view text, const Field& f, std::bitset<N>& bits, int hi_alias = -1) {
  auto bad = [&](const std::string& why) {
    throw std::invalid_argument(std::string("cron ") + f.name + " field '" + std::string(text) + "': " + why);
  };
  if (text.empty()) bad("empty");
  bool restricted = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::string_view range = item;
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const auto s = field_value(item.substr(slash + 1), Field{f.name, 1, f.hi, {}});
      if (!s || *s < 1 || *s > f.hi) bad("bad step");
      step = *s;
    }
    int lo = f.lo, hi = f.hi;
    if (range == "*") {
      if (step != 1) restricted = true;
    } else {
      restricted = true;
      const auto dash = range.find('-');
      const auto a = field_value(range.substr(0, dash), f);
      if (!a) bad("'" + std::string(range) + "' is not a value");
      lo = hi = *a;
      if (dash != std::string_view::npos) {
        const auto b = field_value(range.substr(dash + 1), f);
        if (!b) bad("'" + std::string(range) + "' is not a range");
        hi = *b;
      } else if (step != 1) {
        hi = f.hi;  // "5/15": from 5 on
      }
      const int max = hi_alias >= 0 ? hi_alias : f.hi;
      if (lo < f.lo || hi > max || lo > hi)
        bad("out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
    }
    for (int v = lo; v <= hi; v += step)
      bits.set(static_cast<std::size_t>(hi_alias >= 0 && v == hi_alias ? 0 : v));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return restricted;
}

struct Local {
  int year;
  unsigned month, day;
  int hour, minute, weekday;
  EpochSeconds seconds_of_day;
};

Local local_of(const TimeZone& zone, EpochSeconds t) {
  const EpochSeconds local = t + zone.offset_at(t);
  const EpochSeconds day = floor_div(local, kDay);
  Local l{};
  civil_from_days(day, l.year, l.month, l.day);
  l.seconds_of_day = local - day * kDay;
  l.hour = static_cast<int>(l.seconds_of_day / 3600);
  l.minute = static_cast<int>(l.seconds_of_day % 3600 / 60);
  l.weekday = static_cast<int>(((day % 7) + 11) % 7);
  return l;
}

bool day_matches(const CronSpec& c, const Local& l) {
  if (!c.month.test(l.month)) return false;
  const bool dom = c.day_of_month.test(l.day), dow = c.day_of_week.test(static_cast<std::size_t>(l.weekday));
  if (c.dom_restricted && c.dow_restricted) return dom || dow;
  return dom && dow;
}

constexpr EpochSeconds kHorizon = 5 * 366 * kDay;

}  // namespace

CronSpec parse_cron(std::string_view text) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kMacros{
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  CronSpec c;
  c.text = std::string(text);
  std::string_view body = text;
  for (const auto& [macro, expansion] : kMacros) {
    if (text == macro) body = expansion;
  }
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    const auto start = i;
    while (i < body.size() && body[i] != ' ' && body[i] != '\t') ++i;
    if (i > start) fields.push_back(body.substr(start, i - start));
  }
  if (fields.size() != 5) {
    throw std::invalid_argument("cron expression '" + std::string(text) + "': expected 5 fields, got " +
                                std::to_string(fields.size()));
  }
  parse_field(fields[0], {"minute", 0, 59, {}}, c.minute);
  parse_field(fields[1], {"hour", 0, 23, {}}, c.hour);
  c.dom_restricted = parse_field(fields[2], {"day-of-month", 1, 31, {}}, c.day_of_month);
  parse_field(
      fields[3],
      {"month", 1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
      c.month);
  c.dow_restricted = parse_field(
      fields[4], {"day-of-week", 0, 6, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}, c.day_of_week, 7);
  return c;
}

// Both walk wall-clock minutes: an offset need not be whole minutes (local mean time was +9:18:59 in
// Tokyo), so each step first lands on a local :00 second.
std::optional<EpochSeconds> next_occurrence(const CronSpec& c, const TimeZone& zone, EpochSeconds after) {
  EpochSeconds t = after + 1;
  const EpochSeconds end = t + kHorizon;
  while (t < end) {
    const Local l = local_of(zone, t);
    if (const auto second = l.seconds_of_day % 60; second != 0) {
      t += 60 - second;
    } else if (!day_matches(c, l)) {
      t += kDay - l.seconds_of_day;  // the next local midnight
    } else if (!c.hour.test(static_cast<std::size_t>(l.hour))) {
      t += 3600 - l.seconds_of_day % 3600;
    } else if (!c.minute.test(static_cast<std::size_t>(l.minute))) {
      t += 60;
    } else {
      return t;
    }
  }
  return std::nullopt;
}

std::optional<EpochSeconds> last_occurrence(const CronSpec& c, const TimeZone& zone, EpochSeconds at) {
  EpochSeconds t = at;
  const EpochSeconds end = t - kHorizon;
  while (t > end) {
    const Local l = local_of(zone, t);
    if (const auto second = l.seconds_of_day % 60; second != 0) {
      t -= second;
    } else if (!day_matches(c, l)) {
      t -= l.seconds_of_day + 60;  // 23:59 of the previous local day
    } else if (!c.hour.test(static_cast<std::size_t>(l.hour))) {
      t -= l.seconds_of_day % 3600 + 60;
    } else if (!c.minute.test(static_cast<std::size_t>(l.minute))) {
      t -= 60;
    } else {
      return t;
    }
  }
  return std::nullopt;
}

std::string local_date(const TimeZone& zone, EpochSeconds t) {
  const Local l = local_of(zone, t);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", l.year, l.month, l.day);
  return buf;
}

std::int32_t service_day(const TimeZone& zone, std::int64_t now_ms) {
  const Local l = local_of(zone, now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000);
  return static_cast<std::int32_t>(days_from_civil(l.year, l.month, l.day));
}

std::string format_local(const TimeZone& zone, EpochSeconds t) {
  const Local l = local_of(zone, t);
  const int off = zone.offset_at(t), a = off < 0 ? -off : off;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", l.year, l.month, l.day, l.hour,
                l.minute, static_cast<int>(l.seconds_of_day % 60), off < 0 ? '-' : '+', a / 3600,
                a % 3600 / 60);
  return buf;
}

std::int64_t retry_delay_ms(int attempt, std::int64_t base_ms, std::int64_t cap_ms, double unit) {
  const int doublings = std::clamp(attempt - 1, 0, 40);
  double ceiling = static_cast<double>(base_ms) * std::ldexp(1.0, doublings);
  ceiling = std::min(ceiling, static_cast<double>(cap_ms));
  const double u = std::clamp(unit, 0.0, 1.0);
  return std::min(cap_ms, static_cast<std::int64_t>(ceiling * u));
}

}  // namespace cshealthd::core
