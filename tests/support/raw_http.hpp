#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cshealthd::testing {

struct RawResponse {
  int status = 0;                              // 0: no (complete) response
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;

  // The header's value, or "" when absent (name in lower case).
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A plain blocking TCP connection to 127.0.0.1:port, so tests send exactly the bytes they mean
// (oversized headers, truncated requests) without an HTTP library between them and the server.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Reads one response (Content-Length framed). status 0 when the peer closed or timed out first.
  RawResponse read_response();
  // True when the server closed the connection (read returns 0) within the timeout.
  bool closed_by_peer();

 private:
  int fd_ = -1;
  std::string buffer_;
};

// One request on a fresh connection: "GET", "/healthz", body → response.
RawResponse http_request(std::uint16_t port, const std::string& method, const std::string& path,
                         const std::string& body = "", const std::vector<std::string>& headers = {});

}  // namespace cshealthd::testing
