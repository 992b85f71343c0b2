#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cshealthd::hubspot {

// A property value as HubSpot sent it. HubSpot sends every value as a string or null; anything else
// (a number, an object) is kept as its JSON text, so it is stored as it came.
struct Value {
  enum class Kind : std::uint8_t { kNull, kString, kJson };
  Kind kind = Kind::kNull;
  std::string text;  // the string (kString) or the JSON text (kJson)

  bool is_string() const { return kind == Kind::kString; }
  bool operator==(const Value& o) const { return kind == o.kind && text == o.text; }
};

struct HistoryEntry {
  Value value;
  std::string timestamp;  // as HubSpot sent it; "" when missing or not a string
};

// One CRM record of a list, search or batch read answer, read straight from the text: a page of 50
// companies with history is ~190 KB, and building a JSON tree for it, then taking it apart, cost more
// than everything else the client did with the page.
struct Record {
  std::string id;  // as HubSpot sent it (numeric text); "" when missing or not a string
  // In the order sent, names unique: of duplicate names the last value is kept, as JSON readers do.
  std::vector<std::pair<std::string, Value>> properties;
  std::vector<std::pair<std::string, std::vector<HistoryEntry>>> history;  // propertiesWithHistory
  // As sent; "" when missing or not a string.
  std::string created_at, updated_at, archived_at;
  bool archived = false;

  // O(1): beyond a few properties lookups go through an index, so a record with thousands of properties
  // (a hostile or odd answer) costs linear time to read, not quadratic.
  const Value* property(std::string_view name) const;
  Value* property(std::string_view name);
  // Sets a property, replacing the value of one already present.
  void set(std::string name, Value value);
  const std::vector<HistoryEntry>* history_of(std::string_view name) const;
  // After `properties` is reordered or edited directly (not through set()).
  void reindex();

 private:
  static constexpr std::size_t kIndexFrom = 32;  // below this a scan is as quick as hashing
  std::optional<std::size_t> find(std::string_view name) const;
  // hash(name) -> position in `properties`; empty while there are fewer than kIndexFrom.
  std::unordered_multimap<std::size_t, std::size_t> index_;
};

// An answer that is JSON but not of the shape its call promises (results that are not a list, a result
// that is not an object). Not transient: reading it again gives the same answer.
class MalformedAnswer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Page {
  std::vector<Record> results;
  std::string next_after;             // "" on the last page
  std::optional<std::int64_t> total;  // search only
};

// The cursor of the next page from an answer's `paging` (null when absent), "" on the last page; throws
// MalformedAnswer when `paging` is present but names no next page and no previous one, or its `next`
// has no cursor. parse_page() applies the same rule to the text it reads.
std::string next_cursor(const nlohmann::json* paging);

// The answer of a list, search or batch read call. Throws nlohmann::json::parse_error on text that is
// not JSON (a truncated answer: the client retries it) and MalformedAnswer on JSON of the wrong shape.
Page parse_page(std::string_view body);

// An associations batch read answer (v4).
struct AssociationsAnswer {
  // from-id -> to-ids, in the order sent. An id HubSpot reports as having none is listed with no to-ids.
  std::vector<std::pair<std::string, std::vector<std::string>>> links;
  // Ids HubSpot reported an error for other than "no associations": what they link to is unknown, so
  // their stored links must be kept.
  std::vector<std::string> failed;
};
AssociationsAnswer parse_associations(std::string_view body);

}  // namespace cshealthd::hubspot
