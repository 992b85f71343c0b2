#include "in_process.hpp"

#include "generator.hpp"

namespace cshealthd::sim {

SimOptions unlimited(const std::string& token) {
  SimOptions o;
  o.token = token;
  o.limits.burst = 0;
  o.limits.search_per_second = 0;
  o.limits.daily = 0;
  return o;
}

InProcessSimulator::InProcessSimulator(SimOptions options, int companies, std::uint64_t seed,
                                       EpochMs today_ms)
    : simulator_(std::make_unique<Simulator>(std::move(options), [=] {
        return generate({companies, seed, today_ms});
      })) {
  simulator_->add_routes(router_);
  http::ServerOptions so;
  so.max_body_bytes = 32u << 20;
  so.server_name = "hubspot-sim";
  server_ = std::make_unique<http::Server>(so, router_, workers_, metrics_);
  server_->start();
}

InProcessSimulator::~InProcessSimulator() {
  stop();
}

void InProcessSimulator::stop() {
  if (server_) server_->shutdown(std::chrono::seconds(1));
  workers_.shutdown();  // no handler may still be running when the simulator goes
}

}  // namespace cshealthd::sim
