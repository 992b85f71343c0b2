#pragma once
// The simulated HubSpot portal: object records with property history, property definitions,
// associations, owners and pipelines. Every object type goes through the same code; a table
// (object_types()) holds what differs between them.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cshealthd::sim {

using EpochMs = std::int64_t;

struct TypeInfo {
  std::string name;                        // "companies"
  std::string type_id;                     // "0-2"
  std::string singular;                    // "company" (association type names: "contact_to_company")
  std::string modified_prop;               // "hs_lastmodifieddate" ("lastmodifieddate" for contacts)
  bool read_only = false;                  // feedback_submissions
  std::vector<std::string> default_props;  // returned when a request names none
};
const std::vector<TypeInfo>& object_types();
// By name ("companies"), type id ("0-2") or singular; nullptr when unknown.
const TypeInfo* find_type(const std::string& name_or_id);

// HUBSPOT_DEFINED association type id from one type to another, and its inverse (0 when none).
int association_type_id(const std::string& from, const std::string& to);

struct HistoryEntry {
  std::string value;
  EpochMs timestamp = 0;
  std::string source_type;  // INTEGRATION, CRM_UI, IMPORT, CALCULATED
};

// Property names are interned: a portal holds millions of values but only a few hundred names.
const std::string* intern(const std::string& name);

struct Record {
  std::uint64_t id = 0;
  std::vector<std::pair<const std::string*, std::string>> props;
  // Only properties whose value has changed keep an explicit history (oldest first); a value set once,
  // at creation, has the one-entry history history_of() makes up. This halves a large portal's memory.
  std::vector<std::pair<const std::string*, std::vector<HistoryEntry>>> history;
  EpochMs created = 0;
  EpochMs updated = 0;
  bool archived = false;
  EpochMs archived_at = 0;

  const std::string* get(const std::string& name) const;
  // Sets (or clears, with "") a value and records it in the property's history.
  void set(const std::string& name, const std::string& value, EpochMs ts, const std::string& source);
  std::vector<HistoryEntry> history_of(const std::string& name) const;
  // The explicit history of a property whose value has changed, or nullptr.
  const std::vector<HistoryEntry>* stored_history(const std::string& name) const;
};

struct PropertyOption {
  std::string label, value;
};

struct PropertyDef {
  std::string name, label, type, field_type, group;
  std::vector<PropertyOption> options;
  bool unique = false;
  bool read_only = false;  // calculated by HubSpot (hs_object_id, createdate, …)
  nlohmann::json to_json() const;
};

struct Association {
  std::uint64_t to_id;
  int type_id;
};

struct ObjectStore {
  const TypeInfo* info = nullptr;
  std::map<std::uint64_t, Record> records;  // ordered: list paging walks ids
  std::map<std::string, PropertyDef> props;
  std::map<std::string, nlohmann::json> groups;
  std::uint64_t next_id = 1;
};

class Portal {
 public:
  Portal();

  ObjectStore& store(const TypeInfo& t) { return stores_.at(t.name); }
  const ObjectStore& store(const TypeInfo& t) const { return stores_.at(t.name); }

  // Creates a record with API semantics: hs_object_id, createdate and the modified property are set.
  Record& create(const TypeInfo& t, const std::vector<std::pair<std::string, std::string>>& props,
                 EpochMs now, const std::string& source = "INTEGRATION");
  // Applies property changes; returns the names whose value changed.
  std::vector<std::string> update(const TypeInfo& t, Record& r,
                                  const std::vector<std::pair<std::string, std::string>>& props, EpochMs now,
                                  const std::string& source = "INTEGRATION");
  void archive(const TypeInfo& t, Record& r, EpochMs now);
  // Gone for good (a GDPR delete, a purge): the record and its associations vanish from every list,
  // the archive included. False when there is no such record.
  bool remove(const TypeInfo& t, std::uint64_t id);
  // HubSpot's merge: `merged` vanishes into `primary`, which lists it in hs_merged_object_ids and is
  // what reading the old id returns from then on. False when either is missing or they are the same.
  bool merge(const TypeInfo& t, std::uint64_t primary, std::uint64_t merged, EpochMs now);
  // The record a merged-away id now lives on (following merges of merges), or nullopt.
  std::optional<std::uint64_t> merged_into(const TypeInfo& t, std::uint64_t id) const;

  void associate(const TypeInfo& from, std::uint64_t from_id, const TypeInfo& to, std::uint64_t to_id,
                 int type_id = 0);
  const std::vector<Association>* associations(const TypeInfo& from, std::uint64_t from_id,
                                               const TypeInfo& to) const;

  void add_property(const TypeInfo& t, PropertyDef def);
  // A record with a given id (loading a saved portal); ids created later continue after it.
  Record& insert(const TypeInfo& t, std::uint64_t id);
  nlohmann::json owners = nlohmann::json::array();
  nlohmann::json pipelines = nlohmann::json::object();  // object type -> [pipeline]

  std::size_t record_count() const;

 private:
  void drop_associations(const TypeInfo& t, std::uint64_t id);

  std::map<std::string, ObjectStore> stores_;
  std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> merged_into_;  // (type, old id) -> new
  // (from type, to type) -> from id -> associations
  std::map<std::pair<std::string, std::string>, std::unordered_map<std::uint64_t, std::vector<Association>>>
      assoc_;
};

// The default deal pipelines (a default one with `closedwon`, and a second with opaque stage ids).
nlohmann::json default_pipelines();

// A portal saved by `--state-out` (or GET /__sim/objects for every type), loaded back.
std::unique_ptr<Portal> load_portal(const nlohmann::json& state);

}  // namespace cshealthd::sim
