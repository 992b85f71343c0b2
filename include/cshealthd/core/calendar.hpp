#pragma once
// Business days, local due times and the texts the workflows render: what alerts, onboarding and the
// plays share. Pure.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"

namespace cshealthd::core {

// `s` without leading and trailing spaces, tabs and line breaks.
std::string_view trim(std::string_view s);

// Business days: Monday to Friday except the calendar's holidays.
class BusinessCalendar {
 public:
  BusinessCalendar() = default;
  // One `YYYY-MM-DD name` per line; '#' starts a comment. Throws std::invalid_argument naming `source`
  // and the line.
  static BusinessCalendar parse(std::string_view text, std::string_view source);
  void add_holiday(std::int32_t day) { holidays_.insert(day); }
  bool is_business_day(std::int32_t day) const;
  // The n-th business day after `day` (n = 0: `day` itself when it is one, else the next).
  std::int32_t add_business_days(std::int32_t day, int n) const;
  // Business days in (from, to]; 0 when to <= from.
  int business_days_between(std::int32_t from, std::int32_t to) const;
  std::size_t holidays() const { return holidays_.size(); }

 private:
  std::set<std::int32_t> holidays_;
};

// Local `hour`:00 of `day` in `zone` (UTC when null), as epoch milliseconds.
EpochMs local_time_ms(std::int32_t day, int hour, const TimeZone* zone);

// Where a rendered text goes, and so how a substituted value is escaped there. The template itself is
// config and kept as written; the values come from the CRM and are hostile.
//   kPlain: a HubSpot property value (no markup).
//   kHtml:  HubSpot's task subject and body (rich text): & < > " ' as entities.
//   kSlack: a Slack message: & < > as Slack's entities, so `<!channel>` or `<url|text>` stay text.
enum class Markup { kPlain, kHtml, kSlack };
std::string escape(std::string_view value, Markup markup);

// "{name}" placeholders replaced from `vars`, each value escaped for `markup`; an unknown one is left as
// written, "{{" and "}}" are literal braces.
std::string render_template(std::string_view text, const std::map<std::string, std::string>& vars,
                            Markup markup);

}  // namespace cshealthd::core
