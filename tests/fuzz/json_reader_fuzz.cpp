// The JSON reader every HubSpot answer goes through: for any bytes it agrees with nlohmann (the same
// document, or both refuse), except that it refuses nesting deeper than 512 and any raw NUL byte
// (nlohmann reads a NUL as the end of its input; JSON has no place for one); JsonCursor skipping a
// document never fails where read_json succeeds, and succeeds where both refuse only for a number's range.
#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cshealthd/base/json_reader.hpp"
#include "fuzz_check.hpp"

namespace {

using json = nlohmann::json;

int depth(const json& j) {
  int deepest = 0;
  if (j.is_structured()) {
    for (const auto& child : j) deepest = std::max(deepest, depth(child));
    return deepest + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<json> ours, theirs;
  try {
    ours = cshealthd::read_json(text);
  } catch (const json::parse_error&) {
  }
  try {
    theirs = json::parse(text);
  } catch (const json::parse_error&) {
  } catch (const json::out_of_range&) {  // a number beyond double: ours refuses it as a parse error
  }
  if (text.find('\0') != std::string_view::npos) {
    FUZZ_CHECK(!ours.has_value());
  } else if (ours) {
    FUZZ_CHECK(theirs.has_value());
    FUZZ_CHECK(*ours == *theirs);
  } else if (theirs) {
    FUZZ_CHECK(depth(*theirs) > 512);
  }
  try {
    cshealthd::JsonCursor in(text);
    in.skip();
    in.finish();
    // Skipping checks the grammar, not a number's range: where read_json refuses a number beyond
    // double's range, nlohmann does too.
    FUZZ_CHECK(ours.has_value() || !theirs.has_value());
  } catch (const json::parse_error&) {
    FUZZ_CHECK(!ours.has_value());
  }
  return 0;
}
