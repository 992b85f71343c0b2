#pragma once
#include <string>
#include <utility>

namespace cshealthd {

// A credential read from the environment or a *_FILE path. It deliberately has no stream or fmt
// formatter, so that passing one to a log line or an error message does not compile; the value is
// reachable only through reveal(), which is easy to grep for.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

// `text` (a libpq connection string or URL, or a message that may quote one) with every password libpq
// accepts replaced by "***": URL userinfo, a `password=` URL parameter, a `password=` key/value pair.
std::string redact_passwords(const std::string& text);

}  // namespace cshealthd
