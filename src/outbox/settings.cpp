#include "cshealthd/outbox/settings.hpp"

#include <set>

namespace cshealthd::outbox {

Settings load_settings(const config::Config& config, std::vector<PropertySpec> company_properties,
                       std::vector<PropertySpec> service_properties) {
  const auto& w = config.writeback;
  Settings s;
  s.search_lag = std::chrono::milliseconds(w.search_lag_ms);
  s.max_attempts = w.max_attempts;
  s.task_key_property = w.task_key_property;
  s.property_group = w.property_group;
  s.slack_webhook_url = w.slack_webhook_url;
  if (config.plays.enabled) s.deal_key_property = config.plays.deal_key_property;
  if (config.onboarding.enabled && config.onboarding.services) {
    s.service_key_property = config.onboarding.service_key_property;
    s.service_properties = std::move(service_properties);
  }
  std::set<std::string> names;
  for (const auto& p : company_properties) {
    if (!names.insert(p.name).second)
      throw config::ConfigError("writeback.properties: two outputs name the company property " + p.name);
  }
  s.company_properties = std::move(company_properties);
  return s;
}

}  // namespace cshealthd::outbox
