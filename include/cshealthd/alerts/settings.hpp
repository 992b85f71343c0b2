#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/alerts.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/outbox/settings.hpp"

namespace cshealthd::alerts {

// The writeback section, with the files it names read and checked: an invalid one is a ConfigError
// naming the key (and the file's line).
struct Settings {
  bool enabled = true;
  core::PlanConfig plan;
};

// The company properties the alerts write (the outputs), for the portal's set-up.
std::vector<outbox::PropertySpec> output_properties(const core::PlanConfig& plan);

// An alerts file (rules and templates) into `plan`, with the templates of `locale`. ConfigError names
// `where` and what is wrong.
void parse_alerts(const std::string& text, const std::string& where, const std::string& locale,
                  core::PlanConfig& plan);

Settings load_settings(const config::Config& config);

}  // namespace cshealthd::alerts
