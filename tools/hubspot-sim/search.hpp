#pragma once
// CRM search: filter groups (AND within a group, OR across groups), one sort, offset paging with
// HubSpot's limits (5 groups, 6 filters per group, 18 in all, limit ≤ 200, 10,000 results per query).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "portal.hpp"

namespace cshealthd::sim {

struct Filter {
  std::string property, op, value, high_value;
  std::vector<std::string> values;
};

struct SearchQuery {
  std::vector<std::vector<Filter>> groups;
  std::string sort_property;
  bool descending = false;
  std::string text;
  std::vector<std::string> properties;
  int limit = 10;
  std::size_t after = 0;
};

// Parses and validates a search body; on error returns the message for a 400.
std::optional<std::string> parse_search(const nlohmann::json& body, SearchQuery& out);

bool matches(const Record& r, const Filter& f);
bool matches(const Record& r, const SearchQuery& q);

// Matching records in result order. Records updated after `visible_through` are not yet indexed
// (HubSpot's search lag).
std::vector<const Record*> run_search(const ObjectStore& s, const SearchQuery& q, EpochMs visible_through);

inline constexpr std::size_t kSearchResultCap = 10'000;

}  // namespace cshealthd::sim
