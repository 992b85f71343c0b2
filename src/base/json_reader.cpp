#include "cshealthd/base/json_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace cshealthd {
namespace {

using json = nlohmann::json;

bool continuation(unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
  return c >= lo && c <= hi;
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// True for the bytes a string can hold as they are: not the quote, the backslash, a control character
// or the start of a multi-byte sequence (checked on its own).
bool plain(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c != '"' && c != '\\' && c >= 0x20 && c < 0x80;
}

}  // namespace

JsonCursor::JsonCursor(std::string_view text)
    : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") p_ += 3;  // a UTF-8 BOM, as nlohmann skips it
}

void JsonCursor::fail(const char* what, const char* at) const {
  const auto offset = static_cast<std::size_t>((at ? at : p_) - begin_);
  throw json::parse_error::create(101, offset, "syntax error at byte " + std::to_string(offset) + ": " + what,
                                  nullptr);
}

JsonCursor::Kind JsonCursor::peek() {
  skip_space();
  if (p_ == end_) fail("unexpected end of input");
  switch (*p_) {
    case '{':
      return Kind::kObject;
    case '[':
      return Kind::kArray;
    case '"':
      return Kind::kString;
    case 't':
      return Kind::kTrue;
    case 'f':
      return Kind::kFalse;
    case 'n':
      return Kind::kNull;
    default:
      return Kind::kNumber;  // or nothing valid: number() says so
  }
}

bool JsonCursor::open(char bracket, char close) {
  skip_space();
  if (p_ == end_) fail("unexpected end of input");
  if (*p_ != bracket) fail(bracket == '{' ? "expected an object" : "expected an array");
  if (++depth_ > kMaxDepth) fail("nesting too deep");
  ++p_;
  skip_space();
  if (p_ != end_ && *p_ == close) {
    ++p_;
    --depth_;
    return false;
  }
  return true;
}

bool JsonCursor::more(char close) {
  skip_space();
  if (p_ == end_) fail("unexpected end of input");
  if (*p_ == ',') {
    ++p_;
    return true;
  }
  if (*p_ == close) {
    ++p_;
    --depth_;
    return false;
  }
  fail(close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

void JsonCursor::expect(char c, const char* what) {
  skip_space();
  if (p_ == end_ || *p_ != c) fail(what);
  ++p_;
}

std::string_view JsonCursor::key() {
  expect('"', "expected a member name");
  // HubSpot's keys are plain ASCII: a view into the text, unless one needs decoding.
  const char* run = p_;
  while (p_ != end_ && plain(*p_)) ++p_;
  std::string_view k;
  if (p_ != end_ && *p_ == '"') {
    k = std::string_view(run, static_cast<std::size_t>(p_ - run));
    ++p_;
  } else {
    key_.assign(run, static_cast<std::size_t>(p_ - run));
    decode(key_);
    k = key_;
  }
  expect(':', "expected ':'");
  return k;
}

void JsonCursor::string(std::string& out) {
  expect('"', "expected a string");
  out.clear();
  decode(out);
}

void JsonCursor::literal(std::string_view word) {
  skip_space();
  if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
    fail("invalid literal");
  p_ += word.size();
}

bool JsonCursor::boolean() {
  skip_space();
  if (p_ != end_ && *p_ == 't') {
    literal("true");
    return true;
  }
  if (p_ != end_ && *p_ == 'f') {
    literal("false");
    return false;
  }
  fail("expected true or false");
}

void JsonCursor::null() {
  literal("null");
}

// JSON's grammar exactly.
std::string_view JsonCursor::number() {
  skip_space();
  const char* start = p_;
  if (p_ != end_ && *p_ == '-') ++p_;
  if (p_ == end_ || !digit(*p_)) fail("invalid value");
  if (*p_ == '0') {
    ++p_;
  } else {
    while (p_ != end_ && digit(*p_)) ++p_;
  }
  if (p_ != end_ && *p_ == '.') {
    ++p_;
    if (p_ == end_ || !digit(*p_)) fail("invalid number");
    while (p_ != end_ && digit(*p_)) ++p_;
  }
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !digit(*p_)) fail("invalid number");
    while (p_ != end_ && digit(*p_)) ++p_;
  }
  return std::string_view(start, static_cast<std::size_t>(p_ - start));
}

std::string_view JsonCursor::skip() {
  const Kind kind = peek();  // leaves p_ at the value
  const char* start = p_;
  switch (kind) {
    case Kind::kObject:
      object([this](std::string_view) { skip(); });
      break;
    case Kind::kArray:
      array([this] { skip(); });
      break;
    case Kind::kString: {
      std::string scratch;
      ++p_;
      decode(scratch);
      break;
    }
    case Kind::kNumber:
      number();
      break;
    case Kind::kTrue:
    case Kind::kFalse:
      boolean();
      break;
    case Kind::kNull:
      null();
      break;
  }
  return std::string_view(start, static_cast<std::size_t>(p_ - start));
}

void JsonCursor::finish() {
  skip_space();
  if (p_ != end_) fail("unexpected content after the value");
}

// After the opening quote; appends the decoded text to `out` and leaves p_ after the closing quote.
void JsonCursor::decode(std::string& out) {
  while (true) {
    // Plain ASCII in bulk: the common case for every HubSpot value.
    const char* run = p_;
    while (p_ != end_ && plain(*p_)) ++p_;
    out.append(run, static_cast<std::size_t>(p_ - run));
    if (p_ == end_) fail("unterminated string");
    const auto c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      ++p_;
      return;
    }
    if (c < 0x20) fail("control character in a string");
    if (c == '\\') {
      escape(out);
      continue;
    }
    utf8(out);
  }
}

// One multi-byte UTF-8 sequence, checked as RFC 3629 (and nlohmann) require.
void JsonCursor::utf8(std::string& out) {
  const auto left = static_cast<std::size_t>(end_ - p_);
  const auto* u = reinterpret_cast<const unsigned char*>(p_);
  const unsigned char c = u[0];
  std::size_t n = 0;
  bool ok = false;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    ok = left >= 2 && continuation(u[1]);
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    ok = left >= 3 && continuation(u[1], lo, hi) && continuation(u[2]);
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    ok = left >= 4 && continuation(u[1], lo, hi) && continuation(u[2]) && continuation(u[3]);
  }
  if (!ok) fail("invalid UTF-8 in a string");
  out.append(p_, n);
  p_ += n;
}

unsigned JsonCursor::hex4() {
  if (end_ - p_ < 4) fail("truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = *p_++;
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v |= static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      v |= static_cast<unsigned>(c - 'A' + 10);
    } else {
      --p_;
      fail("invalid \\u escape");
    }
  }
  return v;
}

void JsonCursor::escape(std::string& out) {
  ++p_;  // '\'
  if (p_ == end_) fail("unterminated string");
  const char c = *p_++;
  switch (c) {
    case '"':
    case '\\':
    case '/':
      out += c;
      return;
    case 'b':
      out += '\b';
      return;
    case 'f':
      out += '\f';
      return;
    case 'n':
      out += '\n';
      return;
    case 'r':
      out += '\r';
      return;
    case 't':
      out += '\t';
      return;
    case 'u':
      break;
    default:
      --p_;
      fail("invalid escape");
  }
  std::uint32_t code = hex4();
  if (code >= 0xDC00 && code <= 0xDFFF) fail("lone low surrogate");
  if (code >= 0xD800 && code <= 0xDBFF) {
    if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("high surrogate without its low half");
    p_ += 2;
    const std::uint32_t low = hex4();
    if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate without its low half");
    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

namespace {

// A number typed as nlohmann types it: non-negative integers unsigned, negative ones signed, integers
// out of range and everything with a fraction or exponent as double.
json number_value(JsonCursor& in) {
  const std::string_view token = in.number();
  const char* first = token.data();
  const char* last = first + token.size();
  if (token.find_first_of(".eE") == std::string_view::npos) {
    if (token.front() == '-') {
      std::int64_t v = 0;
      if (const auto r = std::from_chars(first, last, v); r.ec == std::errc() && r.ptr == last)
        return json(v);
    } else {
      std::uint64_t v = 0;
      if (const auto r = std::from_chars(first, last, v); r.ec == std::errc() && r.ptr == last)
        return json(v);
    }
  }
  double d = 0;
  if (const auto r = std::from_chars(first, last, d); r.ec == std::errc() && r.ptr == last) return json(d);
  // Out of double's range: strtod rounds what underflows to a denormal or zero, as nlohmann does; what
  // overflows nlohmann refuses (out_of_range 406), and so does this, as a parse error.
  d = std::strtod(std::string(token).c_str(), nullptr);
  if (!std::isfinite(d)) in.fail("number out of range", first);
  return json(d);
}

json value(JsonCursor& in) {
  switch (in.peek()) {
    case JsonCursor::Kind::kObject: {
      json v(json::value_t::object);
      auto& object = v.get_ref<json::object_t&>();
      in.object([&](std::string_view key) {
        // The key is copied before the value is read (a nested key may reuse its buffer). HubSpot's keys
        // arrive in no particular order; the hint costs nothing when they are sorted. A duplicate name
        // finds its first value, which the last then replaces, as in nlohmann.
        const auto it = object.emplace_hint(object.end(), std::string(key), nullptr);
        it->second = value(in);
      });
      return v;
    }
    case JsonCursor::Kind::kArray: {
      json v(json::value_t::array);
      auto& array = v.get_ref<json::array_t&>();
      in.array([&] { array.push_back(value(in)); });
      return v;
    }
    case JsonCursor::Kind::kString: {
      std::string s;
      in.string(s);
      return json(std::move(s));
    }
    case JsonCursor::Kind::kTrue:
    case JsonCursor::Kind::kFalse:
      return json(in.boolean());
    case JsonCursor::Kind::kNull:
      in.null();
      return json(nullptr);
    case JsonCursor::Kind::kNumber:
      break;
  }
  return number_value(in);
}

}  // namespace

json read_json(std::string_view text) {
  JsonCursor in(text);
  json v = value(in);
  in.finish();
  return v;
}

}  // namespace cshealthd
