#include "cshealthd/core/calendar.hpp"

#include <stdexcept>

namespace cshealthd::core {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Local `hour`:00 of `day` in `zone`, as epoch milliseconds.
EpochMs local_time_ms(std::int32_t day, int hour, const TimeZone* zone) {
  const EpochSeconds local = static_cast<EpochSeconds>(day) * 86'400 + hour * 3'600;
  if (!zone) return local * 1000;
  // The offset in force at the instant: guess with the local time, correct once (a DST change at
  // exactly that hour is the only case a second pass would move).
  int offset = zone->offset_at(local);
  offset = zone->offset_at(local - offset);
  return (local - offset) * 1000;
}

// ---- Calendar -------------------------------------------------------------------------------------

BusinessCalendar BusinessCalendar::parse(std::string_view text, std::string_view source) {
  BusinessCalendar cal;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const auto day = parse_day(std::string(line.substr(0, 10)));
    if (!day || (line.size() > 10 && line[10] != ' ' && line[10] != '\t')) {
      throw std::invalid_argument(std::string(source) + ":" + std::to_string(line_no) +
                                  ": expected 'YYYY-MM-DD name', got '" + std::string(line.substr(0, 40)) +
                                  "'");
    }
    cal.holidays_.insert(*day);
  }
  return cal;
}

bool BusinessCalendar::is_business_day(std::int32_t day) const {
  const int dow = ((day % 7) + 7 + 4) % 7;  // 1970-01-01 was a Thursday; 0 = Sunday
  return dow != 0 && dow != 6 && !holidays_.count(day);
}

std::int32_t BusinessCalendar::add_business_days(std::int32_t day, int n) const {
  std::int32_t d = day;
  if (n <= 0) {
    while (!is_business_day(d)) ++d;
    return d;
  }
  while (n > 0) {
    ++d;
    if (is_business_day(d)) --n;
  }
  return d;
}

int BusinessCalendar::business_days_between(std::int32_t from, std::int32_t to) const {
  int n = 0;
  // Bounded: an episode older than ten years counts as ten years.
  for (std::int32_t d = std::max(from, to - 3660) + 1; d <= to; ++d) n += is_business_day(d) ? 1 : 0;
  return n;
}

// ---- Templates ------------------------------------------------------------------------------------

std::string escape(std::string_view value, Markup markup) {
  if (markup == Markup::kPlain) return std::string(value);
  std::string out;
  out.reserve(value.size() + 16);
  for (const char ch : value) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += markup == Markup::kHtml ? "&quot;" : "\"";
        break;
      case '\'':
        out += markup == Markup::kHtml ? "&#39;" : "'";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string render_template(std::string_view text, const std::map<std::string, std::string>& vars,
                            Markup markup) {
  std::string out;
  out.reserve(text.size() + 64);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if ((ch == '{' || ch == '}') && i + 1 < text.size() && text[i + 1] == ch) {
      out += ch;
      ++i;
      continue;
    }
    if (ch == '{') {
      const auto close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        const auto it = vars.find(std::string(text.substr(i + 1, close - i - 1)));
        if (it != vars.end()) {
          out += escape(it->second, markup);
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

}  // namespace cshealthd::core
