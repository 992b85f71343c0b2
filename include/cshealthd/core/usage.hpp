#pragma once
// Product usage sent to cshealthd from outside HubSpot (the push API; the CSV import and the Segment
// source build the same rows): how a row names its company, which metrics it may carry, and what makes a
// row wrong. Pure: the store matches and keeps the rows, the API and the importers parse them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cshealthd/core/health.hpp"

namespace cshealthd::core {

// How a usage row names its company: its HubSpot id, its domain (normalised), or the external id held in
// the company property mapped as mapping.company.external_id.
enum class UsageKeyKind : std::uint8_t { kId, kDomain, kExternalId };
const char* name_of(UsageKeyKind k);  // "id", "domain", "external_id"

struct UsageKey {
  UsageKeyKind kind = UsageKeyKind::kId;
  std::string value;  // an id's digits, a normalised domain, an external id as given
  bool operator<(const UsageKey& o) const { return std::pair(kind, value) < std::pair(o.kind, o.value); }
};

// A domain as a company is found by it: blanks trimmed, ASCII lower case, no "http(s)://", no leading
// "www.", no path, no trailing dot. ("https://WWW.Acme.example./pricing" -> "acme.example").
std::string normalise_domain(std::string_view domain);

// A company key as a row gives it (trimmed of blanks): an id of 1 to 18 digits, not 0 (kept without
// leading zeros); a domain, normalised; an external id as given; either of 1 to 255 characters. The key,
// or why not ("company_id: expected ...").
std::variant<UsageKey, std::string> usage_key(UsageKeyKind kind, std::string_view text);

// The metrics usage may carry: the product's figures (not MRR, which is billing).
bool usage_metric(Metric m);

// One row: a company's figures on one day.
struct UsageRow {
  UsageKey key;
  std::int32_t day = 0;
  std::vector<std::pair<Metric, double>> figures;
};

// Why a row's figures cannot be kept, or nullopt: a day after `today` (the service's day), a negative or
// non-finite figure, a count that is not a whole number, or more active users than licensed seats.
std::optional<std::string> usage_row_error(const UsageRow& row, std::int32_t today);

}  // namespace cshealthd::core
