#pragma once
#include <cstdint>
#include <string>

#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

struct PlanCommandOptions {
  std::string as_of;  // YYYY-MM-DD; empty: the latest day scored
  bool dry_run = false;
  bool json = false;
  bool plays = false;  // the lifecycle plays instead: what each would do tonight and why (never recorded)
  bool catch_up = false;  // with plays: a play's first night as `run --catch-up` would plan it
};
// `cshealthd plan`: what write-back would write, create, escalate and close for a scored day. With
// --dry-run it only prints (no HubSpot call, nothing changed); without, it records the plan in the outbox
// and delivers it.
int run_plan_command(const config::Config& config, const PlanCommandOptions& options);

// `cshealthd plays check FILE`: validates a plays file in both locales (ConfigError names file:line) and
// lists its plays.
int run_plays_check(const std::string& file);

struct SnoozeOptions {
  std::string action;  // set | revoke | list
  std::int64_t company = 0;
  std::string rule, until, reason, author;
};
int run_snooze(const config::Config& config, const SnoozeOptions& options);

}  // namespace cshealthd::app
