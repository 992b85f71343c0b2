#include "cshealthd/core/usage.hpp"

#include <array>
#include <cmath>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {

const char* name_of(UsageKeyKind k) {
  static constexpr std::array<const char*, 3> names{"id", "domain", "external_id"};
  return names[static_cast<std::size_t>(k)];
}

std::string normalise_domain(std::string_view d) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!d.empty() && blank(d.front())) d.remove_prefix(1);
  while (!d.empty() && blank(d.back())) d.remove_suffix(1);
  std::string s(d);
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const std::string_view scheme : {"https://", "http://"}) {
    if (s.rfind(scheme, 0) == 0) {
      s.erase(0, scheme.size());
      break;
    }
  }
  if (const auto slash = s.find_first_of("/?#"); slash != std::string::npos) s.erase(slash);
  if (s.rfind("www.", 0) == 0) s.erase(0, 4);
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::variant<UsageKey, std::string> usage_key(UsageKeyKind kind, std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (kind == UsageKeyKind::kId) {
    const bool digits =
        !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string_view::npos;
    const auto first = digits ? text.find_first_not_of('0') : std::string_view::npos;
    if (first == std::string_view::npos)
      return "company_id: expected a HubSpot company id (1 to 18 digits), got '" + std::string(text) + "'";
    return UsageKey{kind, std::string(text.substr(first))};
  }
  const std::string value = kind == UsageKeyKind::kDomain ? normalise_domain(text) : std::string(text);
  if (value.empty() || value.size() > 255)
    return std::string(name_of(kind)) + ": expected 1 to 255 characters";
  return UsageKey{kind, value};
}

bool usage_metric(Metric m) {
  return m != Metric::kMrr;
}

std::optional<std::string> usage_row_error(const UsageRow& row, std::int32_t today) {
  if (row.day > today)
    return "date " + format_day(row.day) + " is in the future (today is " + format_day(today) + ")";
  if (row.figures.empty()) return std::string("no figures: give at least one metric");
  std::optional<double> users, seats;
  for (const auto& [metric, value] : row.figures) {
    if (!usage_metric(metric)) return std::string(name_of(metric)) + ": not a usage metric";
    if (!std::isfinite(value)) return std::string(name_of(metric)) + ": not a finite number";
    if (value < 0) return std::string(name_of(metric)) + ": negative";
    if (value != std::floor(value)) return std::string(name_of(metric)) + ": not a whole number";
    if (value > 1e12) return std::string(name_of(metric)) + ": implausibly large";
    if (metric == Metric::kActiveUsers30d) users = value;
    if (metric == Metric::kLicensedSeats) seats = value;
  }
  if (users && seats && *users > *seats)
    return "active_users_30d (" + std::to_string(static_cast<long long>(*users)) +
           ") above licensed_seats (" + std::to_string(static_cast<long long>(*seats)) + ")";
  return std::nullopt;
}

}  // namespace cshealthd::core
