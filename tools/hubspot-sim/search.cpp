#include "search.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "cshealthd/core/time.hpp"

namespace cshealthd::sim {
namespace {

const std::vector<std::string> kOperators = {"EQ",
                                             "NEQ",
                                             "LT",
                                             "LTE",
                                             "GT",
                                             "GTE",
                                             "BETWEEN",
                                             "IN",
                                             "NOT_IN",
                                             "HAS_PROPERTY",
                                             "NOT_HAS_PROPERTY",
                                             "CONTAINS_TOKEN",
                                             "NOT_CONTAINS_TOKEN"};

// Numbers, epoch milliseconds and ISO dates compare as numbers; everything else as text.
std::optional<double> as_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && ptr == s.data() + s.size()) return v;
  if (auto ms = core::parse_iso8601(s)) return static_cast<double>(*ms);
  return std::nullopt;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int compare(const std::string& a, const std::string& b) {
  const auto x = as_number(a), y = as_number(b);
  if (x && y) return *x < *y ? -1 : (*x > *y ? 1 : 0);
  const auto la = lower(a), lb = lower(b);
  return la < lb ? -1 : (la > lb ? 1 : 0);
}

bool contains_token(const std::string& text, const std::string& token) {
  const std::string t = lower(text), k = lower(token);
  if (k.find('*') != std::string::npos) {
    std::string bare;
    for (char c : k) {
      if (c != '*') bare += c;
    }
    return t.find(bare) != std::string::npos;
  }
  std::size_t start = 0;
  while (start <= t.size()) {
    std::size_t end = start;
    while (end < t.size() && std::isalnum(static_cast<unsigned char>(t[end]))) ++end;
    if (t.compare(start, end - start, k) == 0 && end - start == k.size()) return true;
    start = end + 1;
  }
  return false;
}

std::string scalar(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<long long>());
  if (j.is_number()) return j.dump();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return {};
}

}  // namespace

std::optional<std::string> parse_search(const nlohmann::json& body, SearchQuery& q) {
  if (!body.is_object()) return "Invalid input JSON: expected an object";
  std::size_t total = 0;
  if (body.contains("filterGroups")) {
    const auto& groups = body["filterGroups"];
    if (!groups.is_array()) return "filterGroups must be an array";
    if (groups.size() > 5) return "Too many filter groups: at most 5 are allowed";
    for (const auto& g : groups) {
      std::vector<Filter> filters;
      const auto& fs = g.value("filters", nlohmann::json::array());
      if (fs.size() > 6) return "Too many filters in a group: at most 6 are allowed";
      total += fs.size();
      for (const auto& f : fs) {
        Filter filter;
        filter.property = f.value("propertyName", "");
        filter.op = f.value("operator", "EQ");
        if (filter.property.empty()) return "filter is missing propertyName";
        if (std::find(kOperators.begin(), kOperators.end(), filter.op) == kOperators.end()) {
          return "Unknown operator " + filter.op;
        }
        if (f.contains("value")) filter.value = scalar(f["value"]);
        if (f.contains("highValue")) filter.high_value = scalar(f["highValue"]);
        if (f.contains("values")) {
          for (const auto& v : f["values"]) filter.values.push_back(scalar(v));
        }
        filters.push_back(std::move(filter));
      }
      q.groups.push_back(std::move(filters));
    }
  }
  if (total > 18) return "Too many filters: at most 18 are allowed across all groups";
  if (body.contains("sorts") && !body["sorts"].empty()) {
    if (body["sorts"].size() > 1) return "Only one sort is allowed";
    const auto& s = body["sorts"][0];
    if (s.is_string()) {  // the spec also allows "-prop" / "prop"
      std::string v = s.get<std::string>();
      q.descending = !v.empty() && v[0] == '-';
      q.sort_property = q.descending ? v.substr(1) : v;
    } else {
      q.sort_property = s.value("propertyName", "");
      q.descending = s.value("direction", "ASCENDING") == "DESCENDING";
    }
  }
  q.text = body.value("query", "");
  if (body.contains("properties")) {
    for (const auto& p : body["properties"]) q.properties.push_back(p.get<std::string>());
  }
  if (body.contains("limit")) {
    q.limit = body["limit"].is_string() ? std::atoi(body["limit"].get<std::string>().c_str())
                                        : body["limit"].get<int>();
  }
  if (q.limit < 1 || q.limit > 200) return "limit must be between 1 and 200";
  if (body.contains("after")) {
    const std::string a = scalar(body["after"]);
    if (!a.empty()) q.after = static_cast<std::size_t>(std::stoull(a));
  }
  if (q.after + static_cast<std::size_t>(q.limit) > kSearchResultCap) {
    return "Paging past " + std::to_string(kSearchResultCap) + " results is not supported; narrow the query";
  }
  return std::nullopt;
}

bool matches(const Record& r, const Filter& f) {
  const std::string* v = r.get(f.property);
  const std::string value = v ? *v : std::string();
  const bool has = !value.empty();
  if (f.op == "HAS_PROPERTY") return has;
  if (f.op == "NOT_HAS_PROPERTY") return !has;
  if (f.op == "NEQ") return !has || compare(value, f.value) != 0;
  if (f.op == "NOT_IN") {
    return std::none_of(f.values.begin(), f.values.end(),
                        [&](const std::string& x) { return compare(value, x) == 0; });
  }
  if (f.op == "NOT_CONTAINS_TOKEN") return !contains_token(value, f.value);
  if (!has) return false;
  if (f.op == "EQ") return compare(value, f.value) == 0;
  if (f.op == "LT") return compare(value, f.value) < 0;
  if (f.op == "LTE") return compare(value, f.value) <= 0;
  if (f.op == "GT") return compare(value, f.value) > 0;
  if (f.op == "GTE") return compare(value, f.value) >= 0;
  if (f.op == "BETWEEN") return compare(value, f.value) >= 0 && compare(value, f.high_value) <= 0;
  if (f.op == "IN") {
    return std::any_of(f.values.begin(), f.values.end(),
                       [&](const std::string& x) { return compare(value, x) == 0; });
  }
  if (f.op == "CONTAINS_TOKEN") return contains_token(value, f.value);
  return false;
}

bool matches(const Record& r, const SearchQuery& q) {
  if (!q.text.empty()) {
    const bool hit = std::any_of(r.props.begin(), r.props.end(), [&](const auto& p) {
      return lower(p.second).find(lower(q.text)) != std::string::npos;
    });
    if (!hit) return false;
  }
  if (q.groups.empty()) return true;
  return std::any_of(q.groups.begin(), q.groups.end(), [&](const std::vector<Filter>& g) {
    return std::all_of(g.begin(), g.end(), [&](const Filter& f) { return matches(r, f); });
  });
}

std::vector<const Record*> run_search(const ObjectStore& s, const SearchQuery& q, EpochMs visible_through) {
  std::vector<const Record*> out;
  for (const auto& [id, r] : s.records) {
    if (r.archived || r.updated > visible_through) continue;
    if (matches(r, q)) out.push_back(&r);
  }
  if (!q.sort_property.empty()) {
    std::stable_sort(out.begin(), out.end(), [&](const Record* a, const Record* b) {
      const std::string* va = a->get(q.sort_property);
      const std::string* vb = b->get(q.sort_property);
      const int c = compare(va ? *va : std::string(), vb ? *vb : std::string());
      if (c != 0) return q.descending ? c > 0 : c < 0;
      return a->id < b->id;
    });
  }
  return out;
}

}  // namespace cshealthd::sim
