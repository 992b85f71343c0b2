#pragma once
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cshealthd::http {

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
};

// The request never got a complete answer: connection refused or reset, timeout, truncated body, TLS
// failure. Whether a write was applied is unknown.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One kept-alive connection to one origin. Not thread-safe: one per worker.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual HttpResponse send(const HttpRequest& request) = 0;
};

struct TransportOptions {
  std::string base_url;  // https://api.hubapi.com, or http://127.0.0.1:PORT (loopback only)
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::string ca_file;  // empty: the system's trust store
};

// HTTPS with certificate and host-name verification and SNI; plain HTTP is accepted only for loopback
// hosts (the simulator, tests). Throws std::invalid_argument for any other base URL.
std::unique_ptr<Transport> make_transport(const TransportOptions& options);

}  // namespace cshealthd::http
