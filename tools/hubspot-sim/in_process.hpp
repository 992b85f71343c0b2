#pragma once
// A simulator served on 127.0.0.1 (a port the OS picks) inside this process, for tests and benchmarks.
// It owns the order things must stop in: the server first, then the handler threads, and only then
// the simulator and routes they call.
#include <cstdint>
#include <memory>
#include <string>

#include "api.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/worker_pool.hpp"
#include "cshealthd/http/server.hpp"

namespace cshealthd::sim {

// Options with every rate limit off and the given token.
SimOptions unlimited(const std::string& token);

class InProcessSimulator {
 public:
  // A generated portal of `companies` (deterministic from `seed`; "today" is `today_ms`).
  InProcessSimulator(SimOptions options, int companies, std::uint64_t seed,
                     EpochMs today_ms = 1'790'000'000'000);
  ~InProcessSimulator();
  InProcessSimulator(const InProcessSimulator&) = delete;
  InProcessSimulator& operator=(const InProcessSimulator&) = delete;

  std::uint16_t port() const { return server_->port(); }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  Simulator& simulator() { return *simulator_; }
  void stop();

 private:
  http::Router router_;
  WorkerPool workers_{4, "sim"};
  metrics::Registry metrics_;
  std::unique_ptr<Simulator> simulator_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace cshealthd::sim
