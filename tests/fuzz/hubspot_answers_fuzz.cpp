// HubSpot's answers as the client reads them: list/search/batch pages, association batches and paging.
// Any bytes end in a page, a parse error (retried) or a malformed answer (a typed error); never a crash,
// and a page's records answer lookups for every property they hold.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cshealthd/hubspot/records.hpp"
#include "fuzz_check.hpp"

using cshealthd::hubspot::MalformedAnswer;
using json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto page = cshealthd::hubspot::parse_page(text);
    for (auto& r : page.results) {
      for (const auto& [name, value] : r.properties) {
        const auto* found = r.property(name);
        FUZZ_CHECK(found != nullptr);
        FUZZ_CHECK(*found == value);
      }
      r.set("hs_object_id", {cshealthd::hubspot::Value::Kind::kString, r.id});
      FUZZ_CHECK(r.property("hs_object_id") != nullptr);
    }
  } catch (const json::parse_error&) {
  } catch (const MalformedAnswer&) {
  }
  try {
    const auto answer = cshealthd::hubspot::parse_associations(text);
    for (const auto& [from, to] : answer.links) FUZZ_CHECK(!from.empty());
  } catch (const json::parse_error&) {
  } catch (const MalformedAnswer&) {
  }
  try {
    const json doc = json::parse(text);
    if (doc.is_object() && doc.contains("paging")) (void)cshealthd::hubspot::next_cursor(&doc["paging"]);
  } catch (const json::exception&) {
  } catch (const MalformedAnswer&) {
  }
  return 0;
}
