#include "cshealthd/http/json_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

namespace cshealthd::http {
namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 512;

class Reader {
 public:
  explicit Reader(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  json document() {
    if (end_ - p_ >= 3 && std::string_view(p_, 3) == "\xEF\xBB\xBF")
      p_ += 3;  // a UTF-8 BOM, as nlohmann skips it
    json value = parse_value(0);
    skip_space();
    if (p_ != end_) fail("unexpected content after the value");
    return value;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    const auto offset = static_cast<std::size_t>(p_ - begin_);
    throw json::parse_error::create(101, offset,
                                    "syntax error at byte " + std::to_string(offset) + ": " + what, nullptr);
  }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  json parse_value(int depth) {
    skip_space();
    if (p_ == end_) fail("unexpected end of input");
    switch (*p_) {
      case '{':
        return parse_object(depth + 1);
      case '[':
        return parse_array(depth + 1);
      case '"': {
        ++p_;
        std::string s;
        parse_string(s);
        return json(std::move(s));
      }
      case 't':
        literal("true");
        return json(true);
      case 'f':
        literal("false");
        return json(false);
      case 'n':
        literal("null");
        return json(nullptr);
      default:
        return parse_number();
    }
  }

  void literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      fail("invalid literal");
    p_ += word.size();
  }

  json parse_object(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    ++p_;  // '{'
    json value(json::value_t::object);
    auto& object = value.get_ref<json::object_t&>();
    skip_space();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return value;
    }
    std::string key;
    while (true) {
      skip_space();
      if (p_ == end_ || *p_ != '"') fail("expected a member name");
      ++p_;
      key.clear();
      parse_string(key);
      skip_space();
      if (p_ == end_ || *p_ != ':') fail("expected ':'");
      ++p_;
      // HubSpot's keys arrive in no particular order; the hint costs nothing when they are sorted. A
      // duplicate name finds its first value, which the last then replaces, as in nlohmann.
      object.emplace_hint(object.end(), key, nullptr)->second = parse_value(depth);
      skip_space();
      if (p_ == end_) fail("unexpected end of input");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return value;
      }
      fail("expected ',' or '}'");
    }
  }

  json parse_array(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    ++p_;  // '['
    json value(json::value_t::array);
    auto& array = value.get_ref<json::array_t&>();
    skip_space();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return value;
    }
    while (true) {
      array.push_back(parse_value(depth));
      skip_space();
      if (p_ == end_) fail("unexpected end of input");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return value;
      }
      fail("expected ',' or ']'");
    }
  }

  static bool continuation(unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return c >= lo && c <= hi;
  }

  // After the opening quote; appends the decoded text to `out` and leaves p_ after the closing quote.
  void parse_string(std::string& out) {
    while (true) {
      // Plain ASCII in bulk: the common case for every HubSpot value.
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
      }
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
  void utf8(std::string& out) {
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

  unsigned hex4() {
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

  void escape(std::string& out) {
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

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // JSON's grammar exactly; typed as nlohmann types them: non-negative integers unsigned, negative ones
  // signed, integers out of range and everything with a fraction or exponent as double.
  json parse_number() {
    const char* start = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || !digit(*p_)) fail("invalid value");
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    bool integral = true;
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || !digit(*p_)) fail("invalid number");
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) fail("invalid number");
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (integral) {
      if (negative) {
        std::int64_t v = 0;
        if (const auto r = std::from_chars(start, p_, v); r.ec == std::errc() && r.ptr == p_) return json(v);
      } else {
        std::uint64_t v = 0;
        if (const auto r = std::from_chars(start, p_, v); r.ec == std::errc() && r.ptr == p_) return json(v);
      }
    }
    double d = 0;
    if (const auto r = std::from_chars(start, p_, d); r.ec == std::errc() && r.ptr == p_) return json(d);
    // Out of double's range: strtod rounds what underflows to a denormal or zero, as nlohmann does; what
    // overflows nlohmann refuses (out_of_range 406), and so does this, as a parse error.
    const std::string token(start, p_);
    d = std::strtod(token.c_str(), nullptr);
    if (!std::isfinite(d)) {
      p_ = start;
      fail("number out of range");
    }
    return json(d);
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace

json read_json(std::string_view text) {
  return Reader(text).document();
}

}  // namespace cshealthd::http
