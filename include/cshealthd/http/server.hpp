#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/worker_pool.hpp"
#include "cshealthd/http/router.hpp"

namespace cshealthd::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the OS picks one; see Server::port()
  int io_threads = 2;
  std::size_t max_body_bytes = 1 << 20;    // larger: 413
  std::size_t max_header_bytes = 8 << 10;  // larger: 431
  // From a request's first byte until its header and body are read: one deadline, not one per read,
  // so a client trickling a byte at a time is dropped when it passes.
  std::chrono::milliseconds read_timeout{15'000};
  std::chrono::milliseconds idle_timeout{60'000};  // a connection waiting for its (next) request
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_connections = 10'000;  // past it, new connections are closed at once
  int overload_retry_after_s = 1;        // Retry-After of the 503 sent when the worker queue is full
  std::string server_name = "cshealthd";
};

// An asynchronous HTTP/1.1 server (Boost.Beast). I/O threads only parse and write; handlers run on the
// worker pool (inline routes on the I/O thread). Counts requests by route pattern, method and status.
// Nothing a client sends can throw out of an I/O thread: a failure closes that one connection.
class Server {
 public:
  Server(ServerOptions options, const Router& router, WorkerPool& workers, metrics::Registry& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // binds and listens; throws std::runtime_error when it cannot
  std::uint16_t port() const;
  std::string address() const;  // "127.0.0.1:PORT"

  // Stops accepting, closes idle keep-alive connections and lets requests in flight finish. Returns
  // false if connections remained at the deadline (they are then closed).
  bool shutdown(std::chrono::milliseconds deadline);

  struct Impl;  // shared with connections, which may finish after shutdown() returns

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace cshealthd::http
