#pragma once
#include <string>
#include <vector>

#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

// `cshealthd sync [--full] [--objects a,b]`: pulls HubSpot into PostgreSQL once and prints a summary.
// An empty `objects` means every type of the default mapping.
int run_sync(const config::Config& config, bool full, const std::vector<std::string>& objects);

}  // namespace cshealthd::app
