#include "cshealthd/base/json_reader.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cshealthd/base/log.hpp"

namespace {

using cshealthd::read_json;
using json = nlohmann::json;

// read_json promises nlohmann's answer: the same value with the same number types, or a parse_error
// where nlohmann throws. Every case below is checked against nlohmann itself.
void expect_same_as_nlohmann(const std::string& text) {
  json expected;
  bool expected_ok = true;
  try {
    expected = json::parse(text);
  } catch (const json::exception&) {  // parse_error, or out_of_range for a number beyond double
    expected_ok = false;
  }
  if (!expected_ok) {
    EXPECT_THROW(read_json(text), json::parse_error) << "accepted: " << text;
    return;
  }
  json got;
  ASSERT_NO_THROW(got = read_json(text)) << text;
  EXPECT_EQ(got, expected) << text;
  // dump() tells an unsigned 5 from a signed 5 and prints doubles exactly.
  EXPECT_EQ(got.dump(), expected.dump()) << text;
  EXPECT_EQ(got.type(), expected.type()) << text;
  if (got.is_object() && !got.empty()) {
    EXPECT_EQ(got.begin()->type(), expected.begin()->type()) << text;
  }
}

TEST(JsonReader, ReadsAHubSpotPageExactly) {
  const std::string page =
      R"({"results":[{"id":"10000000001","properties":{"name":"Acme \"Ltd\" \\ Co","cs_mrr":null,)"
      R"("domain":"acme.example","hs_object_id":"10000000001"},"createdAt":"2024-09-07T09:00:00.000Z",)"
      R"("updatedAt":"2026-11-23T06:00:00.000Z","archived":false,"propertiesWithHistory":{"cs_mrr":[)"
      R"({"sourceType":"INTEGRATION","timestamp":"2026-11-23T06:00:00.000Z","value":"95.5"}]}}],)"
      R"("paging":{"next":{"after":"10000000051","link":"https://api.hubapi.com/x?after=10000000051"}}})";
  expect_same_as_nlohmann(page);
  const json parsed = read_json(page);
  EXPECT_EQ(parsed["results"][0]["properties"]["name"], "Acme \"Ltd\" \\ Co");
  EXPECT_TRUE(parsed["results"][0]["properties"]["cs_mrr"].is_null());
  EXPECT_EQ(parsed["paging"]["next"]["after"], "10000000051");
}

TEST(JsonReader, NumbersAreTypedAsNlohmannTypesThem) {
  for (const char* text : {"0",
                           "-0",
                           "5",
                           "-5",
                           "9223372036854775807",
                           "9223372036854775808",
                           "-9223372036854775808",
                           "-9223372036854775809",
                           "18446744073709551615",
                           "18446744073709551616",
                           "1.5",
                           "-1.5",
                           "1e3",
                           "1E+3",
                           "1e-3",
                           "0.1",
                           "2.2250738585072014e-308",
                           "4.9e-324",
                           "1e-400",
                           "1e400",
                           "-1e400",
                           "123456789012345678901234567890",
                           "[1,-2,3.0,4e0]"}) {
    SCOPED_TRACE(text);
    expect_same_as_nlohmann(text);
  }
  EXPECT_TRUE(read_json("5").is_number_unsigned());
  EXPECT_TRUE(read_json("-5").is_number_integer());
  EXPECT_FALSE(read_json("-5").is_number_unsigned());
  EXPECT_TRUE(read_json("18446744073709551616").is_number_float());
}

TEST(JsonReader, RejectsWhatTheGrammarRejects) {
  for (const char* text : {"",
                           " ",
                           "{",
                           "}",
                           "[",
                           "[1,]",
                           "{\"a\":1,}",
                           "{\"a\" 1}",
                           "{a:1}",
                           "{\"a\":}",
                           "01",
                           "-",
                           "1.",
                           ".5",
                           "1e",
                           "1e+",
                           "+1",
                           "--1",
                           "0x10",
                           "NaN",
                           "Infinity",
                           "tru",
                           "nul",
                           "falsey",
                           "\"abc",
                           "\"a\\x\"",
                           "\"\\u12\"",
                           "\"\\u12G4\"",
                           "\"\\ud800\"",
                           "\"\\udc00\"",
                           "\"\\ud800\\u0041\"",
                           "\"tab\there\"",
                           "[1] 2",
                           "{\"a\":1}}",
                           "'a'",
                           "[1 2]",
                           "{\"a\":1 \"b\":2}"}) {
    SCOPED_TRACE(text);
    expect_same_as_nlohmann(text);
    EXPECT_THROW(read_json(text), json::parse_error);
  }
}

TEST(JsonReader, StringsEscapesAndUtf8) {
  for (const std::string text :
       {R"("plain")", R"("\"\\\/\b\f\n\r\t")", R"("\u0000x")", R"("\u00e9\u4e2d\ud83d\ude00")", R"("\u00E9")",
        "\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"", "\"\xc3\"", "\"\xc0\x80\"", "\"\xe0\x80\x80\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\x80\"",
        "\xef\xbb\xbf{\"bom\":1}", "\xef\xbb{}", " \t\r\n[ \t\r\n] \t\r\n"}) {
    SCOPED_TRACE(text);
    expect_same_as_nlohmann(text);
  }
  EXPECT_EQ(read_json(R"("\ud83d\ude00")").get<std::string>(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(read_json(R"("\u0000x")").get<std::string>(), std::string("\0x", 2));
}

TEST(JsonReader, DuplicateNamesKeepTheLastValue) {
  expect_same_as_nlohmann(R"({"a":1,"b":2,"a":3})");
  EXPECT_EQ(read_json(R"({"a":1,"b":2,"a":3})")["a"], 3);
}

TEST(JsonReader, DeepNestingIsAnErrorNotACrash) {
  EXPECT_NO_THROW(read_json(std::string(500, '[') + std::string(500, ']')));
  EXPECT_THROW(read_json(std::string(100000, '[') + std::string(100000, ']')), json::parse_error);
  EXPECT_THROW(read_json(std::string(100000, '[')), json::parse_error);
}

TEST(JsonReader, ErrorsCarryTheByteOffset) {
  try {
    read_json(R"({"a": tru})");
    FAIL() << "accepted";
  } catch (const json::parse_error& e) {
    EXPECT_EQ(e.id, 101);
    EXPECT_EQ(e.byte, 6u);
  }
}

// A truncated or corrupted HubSpot answer must be refused exactly where nlohmann refuses it, since
// the client retries unparseable bodies: every prefix of a page, and pages with single bytes changed.
TEST(JsonReader, TruncatedAndCorruptedPagesMatchNlohmann) {
  const json page = {{"results",
                      {{{"id", "7"},
                        {"properties", {{"name", "Ünïcode ✓ 😀"}, {"amount", "12.50"}, {"empty", nullptr}}},
                        {"archived", false},
                        {"n", {1, -2, 3.25, 1e300, true}}}}},
                     {"paging", {{"next", {{"after", "8"}}}}}};
  const std::string text = page.dump(2);
  for (std::size_t n = 0; n <= text.size(); ++n) {
    SCOPED_TRACE(n);
    expect_same_as_nlohmann(text.substr(0, n));
  }
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\",:\\ 0123456789.eE+-tfnu\x80\xc3\xff\x01";
  for (int i = 0; i < 3000; ++i) {
    std::string bad = text;
    const auto at = std::uniform_int_distribution<std::size_t>(0, bad.size() - 1)(rng);
    bad[at] = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    SCOPED_TRACE(bad);
    expect_same_as_nlohmann(bad);
  }
}

// The writers (the sync's properties, the simulator's pages, the log) escape with append_json_escaped:
// whatever it writes must read back as the text it was given.
TEST(JsonReader, TextTheEscaperWritesReadsBackExactly) {
  std::vector<std::string> texts = {"",
                                    "plain",
                                    "\"quoted\"",
                                    "back\\slash",
                                    "tab\tnew\nline\rret",
                                    "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80",
                                    std::string("nul\0in", 6)};
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
  texts.push_back(controls);
  texts.push_back("a" + controls + "b\"c\\d" + controls);
  for (const auto& text : texts) {
    std::string doc = "\"";
    cshealthd::log::append_json_escaped(doc, text);
    doc += '"';
    SCOPED_TRACE(doc);
    EXPECT_EQ(read_json(doc).get<std::string>(), text);
    EXPECT_EQ(json::parse(doc).get<std::string>(), text);
  }
  std::string out = "kept:";
  cshealthd::log::append_json_escaped(out, "x\"y");
  EXPECT_EQ(out, "kept:x\\\"y");  // appends, never replaces
}

}  // namespace

using cshealthd::JsonCursor;

// The pull reader walks what it is told to and skips the rest, checking all of it.
TEST(JsonCursor, ReadsWhatItIsToldToAndSkipsTheRest) {
  JsonCursor in(R"( {"a": [1, "x\"y", {"k\u0065y": null}], "b": true, "c": -2.5e3, "d": "caf\u00e9"} )");
  std::vector<std::string> keys, skipped;
  std::string d;
  double c = 0;
  bool b = false;
  in.object([&](std::string_view key) {
    keys.emplace_back(key);
    if (key == "a") {
      skipped.emplace_back(in.skip());
    } else if (key == "b") {
      b = in.boolean();
    } else if (key == "c") {
      EXPECT_EQ(in.peek(), JsonCursor::Kind::kNumber);
      c = std::stod(std::string(in.number()));
    } else {
      in.string(d);
    }
  });
  in.finish();
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(skipped, (std::vector<std::string>{R"([1, "x\"y", {"k\u0065y": null}])"}));
  EXPECT_TRUE(b);
  EXPECT_EQ(c, -2500);
  EXPECT_EQ(d, "caf\xc3\xa9");
}

// A key that needed decoding lives in the cursor's buffer: it stays valid until the value is read, and
// nested keys that need decoding too do not disturb what the caller copied.
TEST(JsonCursor, EscapedKeysAtEveryLevel) {
  JsonCursor in(R"({"\u0061":{"\u0062":1,"plain":2},"\u0063":[]})");
  std::vector<std::string> seen;
  std::function<void()> walk = [&] {
    if (in.peek() == JsonCursor::Kind::kObject) {
      in.object([&](std::string_view key) {
        seen.emplace_back(key);
        walk();
      });
    } else {
      seen.emplace_back(in.skip());
    }
  };
  walk();
  in.finish();
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "1", "plain", "2", "c", "[]"}));
}

TEST(JsonCursor, WrongKindsAndTrailingTextAreParseErrors) {
  auto fails = [](const std::string& text, const std::function<void(JsonCursor&)>& read) {
    JsonCursor in(text);
    EXPECT_THROW(
        {
          read(in);
          in.finish();
        },
        json::parse_error)
        << text;
  };
  fails("[1]", [](JsonCursor& in) { in.object([&](std::string_view) { in.skip(); }); });
  fails("{}", [](JsonCursor& in) { in.array([&] { in.skip(); }); });
  fails("1", [](JsonCursor& in) {
    std::string s;
    in.string(s);
  });
  fails("null", [](JsonCursor& in) { in.boolean(); });
  fails("\"1\"", [](JsonCursor& in) { in.number(); });
  fails("true false", [](JsonCursor& in) { in.boolean(); });
  fails("{\"a\":[1,2}", [](JsonCursor& in) { in.skip(); });
  fails("", [](JsonCursor& in) { in.peek(); });
  fails(std::string(600, '[') + std::string(600, ']'), [](JsonCursor& in) { in.skip(); });
  const std::string deep = std::string(512, '[') + std::string(512, ']');
  JsonCursor ok(deep);
  EXPECT_NO_THROW(ok.skip());
}
