#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cshealthd {

// A pull reader over one JSON document: the caller walks the values it expects and skips the rest, so
// a typed result (a page of HubSpot records) is built without a document tree in between. It checks
// what nlohmann::json::parse checks (the grammar, UTF-8, escapes and surrogates), reading the text in
// bulk, and throws nlohmann::json::parse_error (id 101, with the byte offset) on anything nlohmann would
// reject. Nesting deeper than 512 is rejected too. A UTF-8 BOM before the document is skipped.
//
//   JsonCursor in(text);
//   in.object([&](std::string_view key) { key == "id" ? in.string(id) : in.skip(); });
//   in.finish();
class JsonCursor {
 public:
  enum class Kind { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };

  explicit JsonCursor(std::string_view text);  // reads `text` in place: it must outlive the cursor
  explicit JsonCursor(const char* text) : JsonCursor(std::string_view(text)) {}
  explicit JsonCursor(std::string&&) = delete;  // a temporary would not

  // The kind of the next value. At the end of the input this fails: a value was expected.
  Kind peek();
  // Reads an object, calling member(key) for each member; member reads or skips its value exactly once.
  // `key` stays valid until member reads into a nested object.
  template <typename Member>
  void object(Member&& member);
  // Reads an array, calling element() for each element, which reads or skips it exactly once.
  template <typename Element>
  void array(Element&& element);
  void string(std::string& out);  // decoded; replaces what `out` held
  std::string_view number();      // the number's text, as JSON's grammar has it
  bool boolean();
  void null();
  // Skips the next value, checking it as any other, and returns its text.
  std::string_view skip();
  // After the document: only whitespace may follow.
  void finish();

  // Fails at `at` (a position in the text; the current one by default).
  [[noreturn]] void fail(const char* what, const char* at = nullptr) const;

 private:
  static constexpr int kMaxDepth = 512;

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  // Consumes the opening bracket; false (and the closing one consumed too) when the container is empty.
  bool open(char bracket, char close);
  // After a member or element: true when a ',' follows, false when the container closes.
  bool more(char close);
  std::string_view key();
  void expect(char c, const char* what);
  void literal(std::string_view word);
  void decode(std::string& out);  // after the opening quote, through the closing one
  void utf8(std::string& out);
  void escape(std::string& out);
  unsigned hex4();

  const char* begin_;
  const char* p_;
  const char* end_;
  int depth_ = 0;
  std::string key_;  // a key that needed decoding
};

template <typename Member>
void JsonCursor::object(Member&& member) {
  if (!open('{', '}')) return;
  do {
    const std::string_view k = key();
    member(k);
  } while (more('}'));
}

template <typename Element>
void JsonCursor::array(Element&& element) {
  if (!open('[', ']')) return;
  do {
    element();
  } while (more(']'));
}

// Parses a JSON document into nlohmann::json, like nlohmann::json::parse and with the same result
// (numbers as it types them, the last of duplicate keys, UTF-8 checked), about twice as fast: the
// reader above takes the text in bulk instead of one character at a time through an input adapter.
// Throws parse_error on anything nlohmann would reject (a number beyond double's range, which nlohmann
// refuses with out_of_range 406, included) and on nesting deeper than 512.
nlohmann::json read_json(std::string_view text);

}  // namespace cshealthd
