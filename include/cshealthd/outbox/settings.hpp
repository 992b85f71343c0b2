#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "cshealthd/base/secret.hpp"
#include "cshealthd/config/config.hpp"

namespace cshealthd::outbox {

// A HubSpot property a workflow writes: created at the portal's set-up when missing, checked when there.
struct PropertySpec {
  std::string name, label, type, field_type, description;
  std::vector<std::string> options;  // an enumeration's values
  bool or_enumeration = false;       // a string the portal may keep as an enumeration (values as options)
};

// The delivery half of write-back: how items reach HubSpot and Slack, and what the portal's set-up
// creates for the workflows (each workflow says what it writes; the app gathers them here).
struct Settings {
  std::chrono::milliseconds search_lag{30'000};
  int max_attempts = 8;
  std::string task_key_property, property_group;
  // Services records (onboarding): their key property; "" = none are made.
  std::string service_key_property;
  // Deals (the lifecycle plays): their key property; "" = none are made.
  std::string deal_key_property;
  Secret slack_webhook_url;
  std::vector<PropertySpec> company_properties;  // on companies
  std::vector<PropertySpec> service_properties;  // on 0-162 besides the key, when it has the object
};

// writeback.* (delivery), plays.deal_key_property and onboarding.service_key_property, with the
// properties the workflows write. ConfigError names the key.
Settings load_settings(const config::Config& config, std::vector<PropertySpec> company_properties,
                       std::vector<PropertySpec> service_properties);

}  // namespace cshealthd::outbox
