#pragma once
#include <functional>
#include <memory>

#include "cshealthd/http/transport.hpp"
#include "cshealthd/hubspot/client.hpp"

namespace cshealthd::hubspot {

// One HubSpot client with the connection it owns: a client is one connection, so each worker gets one.
struct ClientHandle {
  std::unique_ptr<http::Transport> transport;
  std::unique_ptr<HubSpotClient> client;
};
// Makes a client on the process's one rate budget; what the sync, the outbox and onboarding are given.
using ClientFactory = std::function<ClientHandle()>;

}  // namespace cshealthd::hubspot
