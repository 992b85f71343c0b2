#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace cshealthd::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // http://host:port/path?query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{5'000};  // for the whole exchange
};

struct ClientResponse {
  int status = 0;     // 0: no response (see error)
  std::string error;  // connect/read failure or timeout
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const;
};

// One blocking HTTP/1.1 exchange on a fresh connection, with a deadline. Plain http:// only.
ClientResponse fetch(const ClientRequest& request);

}  // namespace cshealthd::http
