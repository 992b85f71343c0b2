// HubSpot's list, search and batch read answers read straight into records, checked against what a
// JSON tree of the same answer holds.
#include "cshealthd/hubspot/records.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cshealthd/http/transport.hpp"
#include "in_process.hpp"

namespace cshealthd::hubspot {
using http::HttpRequest;
using http::HttpResponse;
using http::make_transport;
using http::Transport;
using http::TransportError;
using http::TransportOptions;
namespace {

using json = nlohmann::json;

Value text(std::string t) {
  return {Value::Kind::kString, std::move(t)};
}

TEST(HubSpotRecords, ReadsAListPage) {
  const auto page = parse_page(R"({
    "results": [
      {"id": "101", "properties": {"name": "Acme \"Ltd\"", "cs_mrr": null, "hs_object_id": "101"},
       "propertiesWithHistory": {"cs_mrr": [
          {"value": "95.5", "timestamp": "2026-11-23T06:00:00.000Z", "sourceType": "INTEGRATION"},
          {"value": "90", "timestamp": "1700000000000"}]},
       "createdAt": "2024-09-07T09:00:00.000Z", "updatedAt": "2026-11-23T06:00:00.000Z", "archived": false,
       "associations": {"contacts": {"results": [{"id": "7", "type": "company_to_contact"}]}}},
      {"id": "102", "properties": {}, "archived": true, "archivedAt": "2026-01-01T00:00:00Z"}
    ],
    "paging": {"next": {"after": "103", "link": "https://api.hubapi.com/x?after=103"}}})");
  ASSERT_EQ(page.results.size(), 2u);
  EXPECT_EQ(page.next_after, "103");
  EXPECT_FALSE(page.total.has_value());
  const Record& a = page.results[0];
  EXPECT_EQ(a.id, "101");
  ASSERT_EQ(a.properties.size(), 3u);
  EXPECT_EQ(a.properties[0].first, "name");  // in the order sent
  EXPECT_EQ(*a.property("name"), text("Acme \"Ltd\""));
  EXPECT_EQ(a.property("cs_mrr")->kind, Value::Kind::kNull);
  EXPECT_EQ(a.property("missing"), nullptr);
  ASSERT_NE(a.history_of("cs_mrr"), nullptr);
  const auto& h = *a.history_of("cs_mrr");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].value, text("95.5"));
  EXPECT_EQ(h[0].timestamp, "2026-11-23T06:00:00.000Z");
  EXPECT_EQ(h[1].timestamp, "1700000000000");
  EXPECT_EQ(a.created_at, "2024-09-07T09:00:00.000Z");
  EXPECT_EQ(a.updated_at, "2026-11-23T06:00:00.000Z");
  EXPECT_FALSE(a.archived);
  EXPECT_EQ(a.archived_at, "");
  const Record& b = page.results[1];
  EXPECT_TRUE(b.properties.empty());
  EXPECT_TRUE(b.archived);
  EXPECT_EQ(b.archived_at, "2026-01-01T00:00:00Z");
  EXPECT_EQ(b.created_at, "");
}

TEST(HubSpotRecords, SearchTotalAndTheLastPage) {
  const auto page = parse_page(R"({"total": 12345, "results": []})");
  EXPECT_EQ(page.total, 12345);
  EXPECT_TRUE(page.results.empty());
  EXPECT_EQ(page.next_after, "");
}

// What HubSpot does not send but a reader must survive: values of other types kept as their JSON,
// duplicate names (the last wins, as in every JSON reader), numeric ids, odd members ignored.
TEST(HubSpotRecords, OddValuesAreKeptAsSent) {
  const auto page = parse_page(R"({"results": [{"id": 5, "properties": {
      "n": 12.50, "o": {"x": [1, "\u00e9"]}, "t": true, "dup": "first", "dup": "second"},
      "propertiesWithHistory": {"n": "not a list", "m": [1, {"value": 3}], "m": [{"value": "4"}]},
      "createdAt": null, "archived": "yes", "extra": {"deep": [[[]]]}}]})");
  ASSERT_EQ(page.results.size(), 1u);
  const Record& r = page.results[0];
  EXPECT_EQ(r.id, "5");
  EXPECT_EQ(*r.property("n"), (Value{Value::Kind::kJson, "12.50"}));
  EXPECT_EQ(*r.property("o"), (Value{Value::Kind::kJson, R"({"x": [1, "\u00e9"]})"}));
  EXPECT_EQ(*r.property("t"), (Value{Value::Kind::kJson, "true"}));
  EXPECT_EQ(*r.property("dup"), text("second"));
  EXPECT_EQ(r.properties.size(), 4u);
  ASSERT_NE(r.history_of("n"), nullptr);
  EXPECT_TRUE(r.history_of("n")->empty());
  ASSERT_EQ(r.history_of("m")->size(), 1u);  // the last "m"; its entry has no timestamp
  EXPECT_EQ(r.history_of("m")->at(0).value, text("4"));
  EXPECT_EQ(r.history_of("m")->at(0).timestamp, "");
  EXPECT_EQ(r.created_at, "");
  EXPECT_FALSE(r.archived);  // only true is true
}

// JSON of the wrong shape is not a page: reading it again gives the same answer, so it is its own error,
// not a parse error (which the client retries). Text that is not JSON is a parse error whatever its shape.
TEST(HubSpotRecords, WrongShapesAreMalformedAndBrokenTextIsAParseError) {
  for (const char* body : {R"({"results": {"id": "1"}})", R"({"results": ["1"]})", R"({"paging": {}})",
                           R"([])", R"("results")"}) {
    SCOPED_TRACE(body);
    EXPECT_THROW(parse_page(body), MalformedAnswer);
  }
  for (const char* body : {R"({"results": {"id": "1"})", R"({"results": [}])", "", R"({"results": []} x)",
                           R"({"results": [{"id": "1", "properties": {"a": "\x"}}]})"}) {
    SCOPED_TRACE(body);
    EXPECT_THROW(parse_page(body), json::parse_error);
  }
}

// Every prefix of a real page is a parse error (the client retries it), never a shorter page.
TEST(HubSpotRecords, EveryTruncationOfAPageIsAParseError) {
  const std::string body =
      R"({"results":[{"id":"1","properties":{"a":"x","b":null},"propertiesWithHistory":{"a":[{"value":"x",)"
      R"("timestamp":"2026-01-01T00:00:00Z"}]},"archived":false}],"paging":{"next":{"after":"2"}}})";
  EXPECT_NO_THROW(parse_page(body));
  for (std::size_t n = 0; n < body.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_THROW(parse_page(body.substr(0, n)), json::parse_error);
  }
}

TEST(HubSpotRecords, AssociationsBatchAnswer) {
  const auto answer = parse_associations(R"({"status": "COMPLETE", "results": [
      {"from": {"id": "1"}, "to": [{"toObjectId": 11, "associationTypes": [{"typeId": 1}]},
                                   {"toObjectId": "12"}]},
      {"from": {"id": "2"}, "to": []}],
    "errors": [{"status": "error", "context": {"fromObjectId": ["3"]}}]})");
  const auto& links = answer.links;
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(answer.failed, (std::vector<std::string>{"3"}));
  EXPECT_EQ(links[0].first, "1");
  EXPECT_EQ(links[0].second, (std::vector<std::string>{"11", "12"}));
  EXPECT_EQ(links[1].first, "2");
  EXPECT_TRUE(links[1].second.empty());
  EXPECT_THROW(parse_associations(R"({"results": [{"to": []}]})"), MalformedAnswer);
  // An id HubSpot says has no associations has none (its stored links go); any other error leaves its
  // links unknown (kept).
  const auto mixed = parse_associations(R"({"results": [], "numErrors": 2, "errors": [
      {"category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
       "context": {"fromObjectId": ["4"]}},
      {"category": "INTERNAL_ERROR", "context": {"fromObjectId": ["5", 6]}},
      {"category": "odd", "context": "not an object"}, 7]})");
  ASSERT_EQ(mixed.links.size(), 1u);
  EXPECT_EQ(mixed.links[0].first, "4");
  EXPECT_TRUE(mixed.links[0].second.empty());
  EXPECT_EQ(mixed.failed, (std::vector<std::string>{"5", "6"}));
  EXPECT_THROW(parse_associations(R"({"results": [{"from": {"id": "1"}, "to": [)"), json::parse_error);
}

// The simulator's pages (HubSpot's shape) read into the same records a JSON tree of them holds.
TEST(HubSpotRecords, SimulatorPagesMatchTheirJsonTree) {
  sim::InProcessSimulator s(sim::unlimited("t"), 60, 3);
  TransportOptions o;
  o.base_url = s.base_url();
  auto transport = make_transport(o);
  HttpRequest req;
  req.method = "GET";
  req.target =
      "/crm/v3/objects/companies?limit=50&properties=name,cs_mrr,cs_plan&propertiesWithHistory=cs_mrr";
  req.headers = {{"Authorization", "Bearer t"}};
  const auto res = transport->send(req);
  ASSERT_EQ(res.status, 200);
  const auto page = parse_page(res.body);
  const json tree = json::parse(res.body);
  ASSERT_EQ(page.results.size(), tree["results"].size());
  ASSERT_EQ(page.results.size(), 50u);
  EXPECT_EQ(page.next_after, tree["paging"]["next"]["after"]);
  for (std::size_t i = 0; i < page.results.size(); ++i) {
    const Record& r = page.results[i];
    const json& t = tree["results"][i];
    EXPECT_EQ(r.id, t["id"]);
    EXPECT_EQ(r.created_at, t["createdAt"]);
    EXPECT_EQ(r.updated_at, t["updatedAt"]);
    ASSERT_EQ(r.properties.size(), t["properties"].size());
    for (const auto& [name, v] : r.properties) {
      const json& tv = t["properties"][name];
      EXPECT_EQ(v, tv.is_null() ? Value{} : text(tv.get<std::string>())) << name;
    }
    const auto* h = r.history_of("cs_mrr");
    ASSERT_NE(h, nullptr);
    ASSERT_EQ(h->size(), t["propertiesWithHistory"]["cs_mrr"].size());
    for (std::size_t k = 0; k < h->size(); ++k) {
      EXPECT_EQ((*h)[k].value.text, t["propertiesWithHistory"]["cs_mrr"][k]["value"]);
      EXPECT_EQ((*h)[k].timestamp, t["propertiesWithHistory"]["cs_mrr"][k]["timestamp"]);
    }
  }
}

// A `paging` that names no next page, or a next page without a cursor, would read as the last page and
// end a walk early: malformed, by text and by document alike.
TEST(HubSpotRecords, PagingMustNameItsNextPage) {
  const auto page = [](const std::string& paging) { return R"({"results": [], "paging": )" + paging + "}"; };
  EXPECT_EQ(parse_page(page(R"({"next": {"after": "7", "link": "x"}})")).next_after, "7");
  EXPECT_EQ(parse_page(page(R"({"prev": {"before": "3"}})")).next_after, "");  // the last page
  EXPECT_EQ(parse_page(page("null")).next_after, "");
  for (const std::string bad : {"{}", R"({"next": {}})", R"({"next": {"after": ""}})", R"({"next": null})",
                                R"({"next": {"link": "?after=7"}})", "[]", "\"next\""}) {
    EXPECT_THROW(parse_page(page(bad)), MalformedAnswer) << bad;
    const json doc = json::parse(bad);
    EXPECT_THROW(next_cursor(&doc), MalformedAnswer) << bad;
  }
  EXPECT_EQ(next_cursor(nullptr), "");
  const json ok = json::parse(R"({"next": {"after": 500}})");
  EXPECT_EQ(next_cursor(&ok), "500");
}

// Lookups stay right past the size at which they go through an index, through duplicates and after the
// properties are reordered.
TEST(HubSpotRecords, PropertyLookupWithManyProperties) {
  Record r;
  for (int i = 0; i < 5000; ++i) r.set("p" + std::to_string(i), {Value::Kind::kString, std::to_string(i)});
  r.set("p17", {Value::Kind::kString, "again"});
  ASSERT_EQ(r.properties.size(), 5000u);
  EXPECT_EQ(r.property("p17")->text, "again");
  EXPECT_EQ(r.property("p4999")->text, "4999");
  EXPECT_EQ(r.property("p5000"), nullptr);
  std::reverse(r.properties.begin(), r.properties.end());
  r.reindex();
  EXPECT_EQ(r.property("p0")->text, "0");
  EXPECT_EQ(r.property("p17")->text, "again");
  // A page of one record with 20,000 properties reads (and a duplicate name keeps its last value).
  std::string body = R"({"results": [{"id": "1", "properties": {)";
  for (int i = 0; i < 20000; ++i)
    body += (i ? "," : "") + std::string("\"q") + std::to_string(i) + "\": \"v\"";
  body += R"(, "q5": "last"}}]})";
  const auto big = parse_page(body);
  ASSERT_EQ(big.results.size(), 1u);
  EXPECT_EQ(big.results[0].properties.size(), 20000u);
  EXPECT_EQ(big.results[0].property("q5")->text, "last");
  EXPECT_EQ(big.results[0].property("q19999")->text, "v");
}

}  // namespace
}  // namespace cshealthd::hubspot
