#pragma once
#include <string>
#include <vector>

#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

// `cshealthd sync [--full] [--objects a,b] [--sweep]`: pulls HubSpot into PostgreSQL once and prints a
// summary. An empty `objects` means every type of the default mapping; `sweep_now` runs the id sweep
// (records deleted or merged in HubSpot) whatever sync.sweep_interval_ms says.
int run_sync(const config::Config& config, bool full, const std::vector<std::string>& objects,
             bool sweep_now = false);

}  // namespace cshealthd::app
