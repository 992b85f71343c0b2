#pragma once
#include <memory>
#include <stdexcept>
#include <string>

#include "cshealthd/base/secret.hpp"
#include "cshealthd/http/transport.hpp"

namespace cshealthd::outbox {

// A Slack incoming webhook: one kept-alive connection to its origin. The URL is a secret (its path is
// the credential): it never appears in an error or a log line.
class SlackClient {
 public:
  explicit SlackClient(Secret webhook_url);
  // Posts `text` (already escaped for Slack). Throws std::runtime_error with Slack's answer, or with the
  // transport's failure, the URL's path masked.
  void post(const std::string& text);

 private:
  Secret url_;
  std::string target_;
  std::unique_ptr<http::Transport> transport_;
};

}  // namespace cshealthd::outbox
