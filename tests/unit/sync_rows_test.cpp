// What a HubSpot record is stored as: typed fields, malformed values nulled and noted, snapshot rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cshealthd/sync/syncer.hpp"

namespace cshealthd::sync {
namespace {

using json = nlohmann::json;
using hubspot::Record;
using hubspot::Value;

ObjectSpec spec() {
  ObjectSpec s;
  s.type = "companies";
  s.properties = {{"name", ValueKind::kText, "name"},
                  {"cs_mrr", ValueKind::kNumber, "mrr"},
                  {"cs_renewal_date", ValueKind::kTimestamp, "renewal_date"},
                  {"cs_key", ValueKind::kBool, "key_person"},
                  {"firstname", ValueKind::kText, ""}};
  s.snapshot_fields = {"mrr"};
  return s;
}

Record record(const std::string& id = "42") {
  Record r;
  r.id = id;
  r.created_at = "2024-09-07T09:00:00.000Z";
  r.updated_at = "2026-11-23T06:00:00Z";
  return r;
}

Value text(std::string t) {
  return {Value::Kind::kString, std::move(t)};
}

struct Stored {
  json properties, fields;
  std::vector<Rejection> rejected;
};

// One property through record_row: what is stored in properties and fields, and what was rejected.
Stored store_one(const std::string& name, Value v) {
  auto r = record();
  r.set(name, std::move(v));
  std::vector<Rejection> rejected;
  const auto row = record_row(spec(), r, false, rejected);
  EXPECT_TRUE(row.has_value());
  return {json::parse(row->properties_json), json::parse(row->fields_json), rejected};
}

// Each kind at its boundaries: the typed field it gives, or null and a rejection.
TEST(SyncRows, ValuesAreTypedOrRejectedAtTheirBoundaries) {
  struct Case {
    std::string property, value;
    json field;  // null: rejected
  };
  const std::vector<Case> cases = {
      {"cs_mrr", "0", 0.0},
      {"cs_mrr", "-1.5", -1.5},
      {"cs_mrr", "1e3", 1000.0},
      {"cs_mrr", "0.1", 0.1},
      {"cs_mrr", "1.7976931348623157e308", 1.7976931348623157e308},
      {"cs_mrr", "1e400", nullptr},
      {"cs_mrr", "nan", nullptr},
      {"cs_mrr", "inf", nullptr},
      {"cs_mrr", "lots", nullptr},
      {"cs_mrr", " 1", nullptr},
      {"cs_mrr", "1 ", nullptr},
      {"cs_mrr", "0x10", nullptr},
      {"cs_mrr", "1,000", nullptr},
      {"cs_renewal_date", "2024-02-29", "2024-02-29T00:00:00.000Z"},
      {"cs_renewal_date", "2023-02-29", nullptr},
      {"cs_renewal_date", "2024-02-30", nullptr},
      {"cs_renewal_date", "2026-11-23T23:59:59Z", "2026-11-23T23:59:59.000Z"},
      {"cs_renewal_date", "2026-11-23T24:00:00Z", nullptr},
      {"cs_renewal_date", "1700000000000", "2023-11-14T22:13:20.000Z"},
      {"cs_renewal_date", "soon", nullptr},
      // What PostgreSQL cannot store: year 0, an offset past 15:59, a five-digit year.
      {"cs_renewal_date", "0000-06-01", nullptr},
      {"cs_renewal_date", "0001-01-01", "0001-01-01T00:00:00.000Z"},
      {"cs_renewal_date", "2026-01-01T00:00:00+15:59", "2025-12-31T08:01:00.000Z"},
      {"cs_renewal_date", "2026-01-01T00:00:00+16:00", nullptr},
      {"cs_renewal_date", "253402300799999", "9999-12-31T23:59:59.999Z"},
      {"cs_renewal_date", "253402300800000", nullptr},
      {"cs_key", "true", true},
      {"cs_key", "false", false},
      {"cs_key", "TRUE", nullptr},
      {"cs_key", "1", nullptr},
      {"name", "Caf\xc3\xa9 \"Q\" \\ \t\x01", "Caf\xc3\xa9 \"Q\" \\ \t\x01"},
      {"name", std::string("A\0B", 3), nullptr},  // jsonb cannot hold a NUL
  };
  const std::map<std::string, std::string> field_of = {
      {"cs_mrr", "mrr"}, {"cs_renewal_date", "renewal_date"}, {"cs_key", "key_person"}, {"name", "name"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.property + " = '" + c.value + "'");
    const auto s = store_one(c.property, text(c.value));
    if (c.field.is_null()) {
      EXPECT_TRUE(s.properties[c.property].is_null());
      EXPECT_FALSE(s.fields.contains(field_of.at(c.property)));
      ASSERT_EQ(s.rejected.size(), 1u);
      EXPECT_EQ(s.rejected[0].property, c.property);
      EXPECT_EQ(s.rejected[0].value, c.value);
    } else {
      EXPECT_EQ(s.properties[c.property], c.value);  // the raw value, as sent
      EXPECT_EQ(s.fields[field_of.at(c.property)], c.field);
      EXPECT_TRUE(s.rejected.empty());
    }
  }
}

TEST(SyncRows, EmptyNullAndUnmappedValuesAreNotRejections) {
  auto r = record();
  r.set("cs_mrr", text(""));
  r.set("cs_key", Value{});
  r.set("firstname", text("Ann"));  // stored raw, no canonical field
  r.set("hs_object_id", text("42"));
  std::vector<Rejection> rejected;
  const auto row = record_row(spec(), r, false, rejected);
  ASSERT_TRUE(row);
  EXPECT_TRUE(rejected.empty());
  EXPECT_EQ(json::parse(row->properties_json),
            json({{"cs_mrr", ""}, {"cs_key", nullptr}, {"firstname", "Ann"}, {"hs_object_id", "42"}}));
  EXPECT_EQ(json::parse(row->fields_json), json::object());
}

// Keys are written in jsonb's own order (shorter first, then bytewise), which PostgreSQL then only checks.
TEST(SyncRows, KeysAreWrittenInJsonbOrder) {
  auto r = record();
  for (const char* name : {"firstname", "cs_mrr", "name", "cs_key", "cs_renewal_date", "b", "a"})
    r.set(name, text(std::string(name) == "cs_mrr" ? "1" : std::string(name) == "cs_key" ? "true" : "x"));
  std::vector<Rejection> rejected;
  const auto row = record_row(spec(), r, false, rejected);
  ASSERT_TRUE(row);
  EXPECT_EQ(
      row->properties_json,
      R"({"a":"x","b":"x","name":"x","cs_key":"true","cs_mrr":"1","firstname":"x","cs_renewal_date":null})");
  EXPECT_EQ(row->fields_json, R"({"mrr":1,"name":"x","key_person":true})");
  ASSERT_EQ(rejected.size(), 1u);  // "x" is no date
}

// Values of other types than text are stored as sent, unless jsonb could not hold them.
TEST(SyncRows, NonTextValuesAreStoredAsSent) {
  auto s = store_one("score", Value{Value::Kind::kJson, R"({"a": [1, 2.50]})"});
  EXPECT_EQ(s.properties["score"], json::parse(R"({"a": [1, 2.50]})"));
  EXPECT_TRUE(s.rejected.empty());
  s = store_one("score", Value{Value::Kind::kJson, R"(["\u0000"])"});
  EXPECT_TRUE(s.properties["score"].is_null());
  EXPECT_EQ(s.rejected.size(), 1u);
  // Found by the JSON fuzz target: numbers beyond what jsonb's numeric (and a double) holds.
  for (const char* huge : {"18446744036E8547758674407", "[1e400]", "{\"a\": -1E999999}"}) {
    s = store_one("score", Value{Value::Kind::kJson, huge});
    EXPECT_TRUE(s.properties["score"].is_null()) << huge;
    EXPECT_EQ(s.rejected.size(), 1u) << huge;
  }
  s = store_one("score", Value{Value::Kind::kJson, "1.7976931348623157e308"});
  EXPECT_TRUE(s.rejected.empty());
  // A number where a figure is mapped is not a string figure: stored as sent, no typed field.
  s = store_one("cs_mrr", Value{Value::Kind::kJson, "12"});
  EXPECT_EQ(s.properties["cs_mrr"], 12);
  EXPECT_FALSE(s.fields.contains("mrr"));
}

TEST(SyncRows, RecordTimesAndIds) {
  std::vector<Rejection> rejected;
  auto r = record("not-a-number");
  EXPECT_FALSE(record_row(spec(), r, false, rejected));
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].property, "id");
  for (const char* id : {"", "12x", "99999999999999999999", "1.5"}) {
    rejected.clear();
    r = record(id);
    EXPECT_FALSE(record_row(spec(), r, false, rejected)) << id;
  }
  rejected.clear();
  r = record("9007199254740993");
  r.created_at = "2024-02-30T00:00:00Z";
  r.updated_at = "";
  r.archived_at = "2026-01-01T00:00:00.000Z";
  r.archived = true;
  const auto row = record_row(spec(), r, false, rejected);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->id, 9007199254740993);
  EXPECT_EQ(row->created_at, "");  // null, and noted
  EXPECT_EQ(row->updated_at, "");  // missing: null, not a rejection
  EXPECT_EQ(row->archived_at, "2026-01-01T00:00:00.000Z");
  EXPECT_TRUE(row->archived);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].property, "createdAt");
  // Times PostgreSQL refuses are malformed there too: a page holding one would never commit.
  rejected.clear();
  r = record();
  r.created_at = "0000-01-01T00:00:00Z";
  r.updated_at = "2026-01-01T00:00:00+18:00";
  r.archived_at = "10000-01-01T00:00:00Z";
  const auto odd = record_row(spec(), r, false, rejected);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->created_at, "");
  EXPECT_EQ(odd->updated_at, "");
  EXPECT_EQ(odd->archived_at, "");
  ASSERT_EQ(rejected.size(), 3u);
  // Records read from the archive are archived whatever they say.
  rejected.clear();
  r = record();
  EXPECT_TRUE(record_row(spec(), r, true, rejected)->archived);
}

// History oldest first (HubSpot sends it newest first) under backfill, today's value under sync; what is
// not a figure or has no readable time is left out.
TEST(SyncRows, SnapshotRowsFromHistoryAndToday) {
  auto r = record("7");
  r.set("cs_mrr", text("120"));
  r.history.push_back({"cs_mrr",
                       {{text("120"), "2026-11-23T06:00:00Z"},
                        {text("110"), "2026-11-20T23:59:59.999Z"},
                        {text("lots"), "2026-11-19T00:00:00Z"},
                        {text("100"), "yesterday"},
                        {Value{}, "2026-11-18T00:00:00Z"},
                        {text("90"), "1763424000000"}}});
  std::vector<store::SnapshotRow> rows;
  snapshot_rows(spec(), r, "2026-11-23", rows);
  std::vector<std::string> got;
  for (const auto& s : rows) {
    EXPECT_EQ(s.company_id, 7);
    EXPECT_EQ(s.field, "mrr");
    got.push_back(s.day + " " + std::to_string(static_cast<int>(std::get<double>(s.value))) + " " + s.source);
  }
  EXPECT_THAT(got, ::testing::ElementsAre("2025-11-18 90 backfill", "2026-11-20 110 backfill",
                                          "2026-11-23 120 backfill", "2026-11-23 120 sync"));
  rows.clear();
  r.id = "x";
  snapshot_rows(spec(), r, "2026-11-23", rows);
  EXPECT_TRUE(rows.empty());
}

// Dates are kept as epoch milliseconds and texts as they are, so a past day is scored on the renewal date
// and stage it had; a date or text cleared in HubSpot is recorded as null (the day must not keep the old
// one), while an unreadable value is left out.
TEST(SyncRows, SnapshotRowsKeepDatesAndTextsAndTheirClearing) {
  auto s = spec();
  s.properties.push_back({"cs_stage", ValueKind::kText, "cs_stage"});
  s.snapshot_fields = {"renewal_date", "cs_stage"};
  auto r = record("7");
  r.set("cs_renewal_date", text("2027-03-01"));
  r.set("cs_stage", text(""));
  r.history.push_back({"cs_renewal_date",
                       {{text("2027-03-01"), "2026-03-02T10:00:00Z"},
                        {text("not a date"), "2026-02-01T00:00:00Z"},
                        {text("2026-03-01"), "2025-03-01T00:00:00Z"}}});
  r.history.push_back({"cs_stage",
                       {{text(""), "2026-11-01T00:00:00Z"},
                        {text("churned"), "2026-10-01T00:00:00Z"},
                        {text(std::string("bad\0", 4)), "2026-09-01T00:00:00Z"}}});
  std::vector<store::SnapshotRow> rows;
  snapshot_rows(s, r, "2026-11-23", rows);
  std::vector<std::string> got;
  for (const auto& row : rows) {
    std::string v = std::holds_alternative<double>(row.value)        ? std::to_string(std::get<double>(row.value))
                    : std::holds_alternative<std::string>(row.value) ? std::get<std::string>(row.value)
                                                                     : "null";
    got.push_back(row.day + " " + row.field + " " + v + " " + row.source);
  }
  EXPECT_THAT(got, ::testing::ElementsAre("2025-03-01 renewal_date 1772323200000.000000 backfill",
                                          "2026-03-02 renewal_date 1803859200000.000000 backfill",
                                          "2026-11-23 renewal_date 1803859200000.000000 sync",
                                          "2026-10-01 cs_stage churned backfill",
                                          "2026-11-01 cs_stage null backfill", "2026-11-23 cs_stage null sync"));
}

// Owners and pipelines whose fields the store could not cast are skipped, each for its first problem.
TEST(SyncRows, ReferenceEntriesAreCheckedFieldByField) {
  const json owner = {{"id", "101"},
                      {"email", "a@b.c"},
                      {"firstName", "A"},
                      {"lastName", "B"},
                      {"userId", 7},
                      {"archived", false},
                      {"teams", json::array({{{"id", "1"}}})}};
  EXPECT_EQ(owner_problem(owner), "");
  EXPECT_EQ(owner_problem({{"id", 101}}), "");  // an integer id, nothing else: fine
  const std::vector<std::pair<json, std::string>> owners = {
      {json::array(), "entry"},
      {{{"id", "abc"}}, "id"},
      {{{"id", "99999999999999999999"}}, "id"},
      {{{"id", "101"}, {"userId", "7"}}, "userId"},
      {{{"id", "101"}, {"userId", 18446744073709551615ull}}, "userId"},
      {{{"id", "101"}, {"userId", 1.5}}, "userId"},
      {{{"id", "101"}, {"email", 5}}, "email"},
      {{{"id", "101"}, {"archived", "yes"}}, "archived"},
      {{{"id", "101"}, {"teams", "sales"}}, "teams"},
      {{{"id", "101"}, {"teams", json::array({1})}}, "teams"},
  };
  for (const auto& [entry, field] : owners) {
    const auto problem = owner_problem(entry);
    EXPECT_EQ(problem.substr(0, problem.find(':')), field) << entry.dump();
  }
  EXPECT_EQ(owner_problem({{"id", "101"}, {"userId", nullptr}, {"email", nullptr}}), "");

  EXPECT_EQ(pipeline_problem(
                {{"id", "default"}, {"label", "Sales"}, {"displayOrder", 0}, {"stages", json::array()}}),
            "");
  const std::vector<std::pair<json, std::string>> pipelines = {
      {{{"id", ""}}, "id"},
      {{{"id", 5}}, "id"},
      {{{"id", "p"}, {"label", 3}}, "label"},
      {{{"id", "p"}, {"displayOrder", "first"}}, "displayOrder"},
      {{{"id", "p"}, {"displayOrder", 2147483648ll}}, "displayOrder"},
      {{{"id", "p"}, {"displayOrder", 1.5}}, "displayOrder"},
      {{{"id", "p"}, {"archived", 1}}, "archived"},
      {{{"id", "p"}, {"stages", json::object()}}, "stages"},
  };
  for (const auto& [entry, field] : pipelines) {
    const auto problem = pipeline_problem(entry);
    EXPECT_EQ(problem.substr(0, problem.find(':')), field) << entry.dump();
  }
  EXPECT_EQ(pipeline_problem({{"id", "p"}, {"displayOrder", 2147483647}}), "");
}

}  // namespace
}  // namespace cshealthd::sync
