#pragma once
#include <optional>
#include <string>

#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

// `cshealthd run [--wait] [--as-of DAY]`: queues a pipeline run for the service's replicas to carry out
// (through the database they share) and, with --wait, follows it to the end: a progress bar per stage on
// a terminal, a line per change otherwise; exit 0 when it succeeded.
// `catch_up`: a play having its first night creates the steps already under way (see plays.yaml).
int run_pipeline(const config::Config& config, bool wait, const std::string& as_of, bool catch_up = false);

// `cshealthd jobs [--state S] [--limit N]`: the queue, newest first.
int list_jobs(const config::Config& config, const std::optional<std::string>& state, int limit);

}  // namespace cshealthd::app
