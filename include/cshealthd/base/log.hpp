#pragma once
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace cshealthd::log {

enum class Format { kJson, kText };

struct Options {
  Format format = Format::kJson;
  spdlog::level::level_enum level = spdlog::level::info;
};

// Installs the process-wide default logger (stderr). Called once from main before anything logs.
void init(const Options& options);

// True when stderr is a terminal: the default format is text there and JSON lines elsewhere.
bool stderr_is_terminal();

// The id of the request or job the current thread works for; it appears in every log line the thread
// writes while the scope lives. Scopes nest: the inner id wins until it ends.
class ContextScope {
 public:
  explicit ContextScope(std::string id);
  ~ContextScope();
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  std::string previous_;
};

const std::string& current_context();

// A fresh random id (16 hex characters) for a request or a job.
std::string new_id();

// Appends `text` to `out` escaped for a JSON string literal (without quotes). Bytes that are not
// well-formed UTF-8 become U+FFFD, so the result is always valid JSON.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace cshealthd::log
