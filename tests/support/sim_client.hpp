#pragma once
// A HubSpot client on the simulator, as the pg tests drive the sync and the deliverer with: its own
// connection, on a budget the caller shares, token "T", deterministic jitter.
#include <string>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/http/transport.hpp"
#include "cshealthd/hubspot/client.hpp"
#include "cshealthd/sync/runner.hpp"

namespace cshealthd::testing {

inline hubspot::ClientHandle sim_client(const std::string& base_url, hubspot::RateBudget& budget,
                                        Clock& clock, metrics::Registry& metrics, int max_attempts = 8) {
  http::TransportOptions to;
  to.base_url = base_url;
  hubspot::ClientOptions co;
  co.jitter_seed = 1;
  co.max_attempts = max_attempts;
  hubspot::ClientHandle h;
  h.transport = http::make_transport(to);
  h.client = std::make_unique<hubspot::HubSpotClient>(*h.transport, budget, clock, Secret("T"), metrics, co);
  return h;
}

}  // namespace cshealthd::testing
