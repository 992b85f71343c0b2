#include "cshealthd/base/log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace cshealthd::log {
namespace {

thread_local std::string t_context;

void append_timestamp(std::string& out, std::chrono::system_clock::time_point tp) {
  const auto since = tp.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  const std::time_t t = secs.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  out += buf;
}

// One JSON object per line: ts, level, logger, ctx (request/job id, when set), msg.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(msg.payload.size() + 96);
    line += "{\"ts\":\"";
    append_timestamp(line, msg.time);
    line += "\",\"level\":\"";
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"logger\":\"";
    append_json_escaped(line, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    line += '"';
    if (!t_context.empty()) {
      line += ",\"ctx\":\"";
      append_json_escaped(line, t_context);
      line += '"';
    }
    line += ",\"msg\":\"";
    append_json_escaped(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += "\"}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    append_timestamp(line, msg.time);
    line += ' ';
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += ' ';
    if (!t_context.empty()) {
      line += '[';
      line += t_context;
      line += "] ";
    }
    line.append(msg.payload.data(), msg.payload.size());
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextFormatter>(); }
};

}  // namespace

void init(const Options& options) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (options.format == Format::kJson) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_formatter(std::make_unique<TextFormatter>());
  }
  auto logger = std::make_shared<spdlog::logger>("cshealthd", sink);
  logger->set_level(options.level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

ContextScope::ContextScope(std::string id) : previous_(std::move(t_context)) {
  t_context = std::move(id);
}
ContextScope::~ContextScope() {
  t_context = std::move(previous_);
}

const std::string& current_context() {
  return t_context;
}

std::string new_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t v = rng();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kHex[v & 0xF];
    v >>= 4;
  }
  return id;
}

namespace {

// The length of the well-formed UTF-8 sequence starting text[i] (a byte >= 0x80), or 0 when it is not
// one (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short).
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > text.size() || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  // Runs that need no escaping (nearly all text) are appended whole: this writes every property of
  // every synced record, and the simulator's pages, so one character at a time showed in profiles.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (c != '"' && c != '\\' && u >= 0x20 && u < 0x80) continue;
    if (u >= 0x80) {
      if (const std::size_t n = utf8_sequence(text, i)) {
        i += n - 1;  // well-formed: part of the run
        continue;
      }
      out.append(text.data() + run, i - run);
      run = i + 1;
      out += "\ufffd";  // not UTF-8 (a raw byte from a request, say): the output stays valid JSON
      continue;
    }
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {  // another control character
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
        out += buf;
      }
    }
  }
  out.append(text.data() + run, text.size() - run);
}

}  // namespace cshealthd::log
