#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/writeback.hpp"
#include "cshealthd/outbox/settings.hpp"

namespace cshealthd::writeback {

struct EmbeddedFile {
  std::string name, text;
};
// The shipped config/writeback files (alert rules and templates, holidays), compiled in.
const std::vector<EmbeddedFile>& embedded_writeback_files();
// A shipped file by name (logic_error when it is not compiled in), and a file the config names (ConfigError
// naming `key` when it cannot be read).
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

// The writeback section, with the files it names read and checked: an invalid one is a ConfigError
// naming the key (and the file's line).
struct Settings {
  bool enabled = true;
  core::PlanConfig plan;
  core::BusinessCalendar calendar;
  core::TimeZone zone = core::TimeZone::utc();
  Managers managers;
  bool slack = false;  // a Slack channel is configured: rules marked for it post there too
  // Set when onboarding runs: the company property naming the onboarding owner, and the key property of
  // the Services records it creates (empty: no service records).
  std::string onboarding_owner_property, service_key_property;
};

// The company properties the alerts write (the outputs), for the portal's set-up.
std::vector<outbox::PropertySpec> output_properties(const core::PlanConfig& plan);

// An alerts file (rules and templates) into `plan`, with the templates of `locale`. ConfigError names
// `where` and what is wrong.
void parse_alerts(const std::string& text, const std::string& where, const std::string& locale,
                  core::PlanConfig& plan);

// `zone`: schedule.time_zone, for due dates.
Settings load_settings(const config::Config& config, const core::TimeZone& zone);

}  // namespace cshealthd::writeback
