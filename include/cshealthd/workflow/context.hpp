#pragma once
// What the three workflows (alerts, onboarding, the lifecycle plays) share, read once from the config:
// the business calendar and zone that date their tasks, who managers are, the due hour, the stage
// property, whether a Slack channel is configured, the locale; and the files shipped for them.
#include <map>
#include <string>
#include <vector>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/calendar.hpp"
#include "cshealthd/core/schedule.hpp"

namespace cshealthd::workflow {

struct EmbeddedFile {
  std::string name, text;
};
// The shipped config/writeback files (alert rules and templates, the onboarding checklist, holidays),
// compiled in.
const std::vector<EmbeddedFile>& embedded_files();
// A shipped file by name (logic_error when it is not compiled in), and a file the config names
// (ConfigError naming `key` when it cannot be read).
std::string shipped_file(const std::string& name);
std::string read_config_file(const std::string& key, const std::string& path);

// Who escalations go to: by owner, else by the owner's (primary) team, else the default.
struct Managers {
  std::map<std::string, std::string> by_owner, by_team;
  std::string fallback;
  std::string manager_of(const std::string& owner, const std::vector<std::string>& teams) const;
  // The same for an owner as the sync stores it: `teams_json` is crm_owners.teams ([{id, primary}], the
  // primary team counts first); no owner: the default.
  std::string manager_of_owner(const std::string& owner, const std::string& teams_json) const;
};

struct Context {
  core::BusinessCalendar calendar;
  core::TimeZone zone = core::TimeZone::utc();  // schedule.time_zone: due dates are local
  Managers managers;
  int due_hour = 9;                         // tasks are due at this local hour
  std::string stage_property = "cs_stage";  // the CS stage the workflows move
  bool slack = false;                       // a Slack channel is configured
  std::string locale = "ja";                // writeback.locale: the texts' language
  // Local `due_hour`:00 of `day`, as epoch milliseconds (a task's hs_timestamp).
  core::EpochMs due_ms(std::int32_t day) const { return core::local_time_ms(day, due_hour, &zone); }
};

// writeback.{holidays_file,managers,due_hour,stage_property,slack_webhook_url,locale} and the zone
// (schedule.time_zone, parsed by the caller). ConfigError names the key.
Context load_context(const config::Config& config, const core::TimeZone& zone);

}  // namespace cshealthd::workflow
