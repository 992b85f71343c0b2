#include "cshealthd/alerts/settings.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "cshealthd/core/health.hpp"
#include "cshealthd/workflow/context.hpp"
#include "cshealthd/workflow/template_file.hpp"

namespace cshealthd::alerts {
namespace {

using config::ConfigError;

// Reads one rule of the alerts file; `where` names it in errors.
core::AlertRule read_rule(const std::string& name, const YAML::Node& n, const YAML::Node& templates,
                          const std::string& where) {
  static const std::set<std::string> kKeys = {
      "below", "signal", "assignee", "priority", "due_business_days", "follow_through", "slack"};
  if (!n.IsMap()) throw ConfigError(where + ": rule " + name + " must be a mapping");
  for (const auto& kv : n) {
    const auto key = kv.first.as<std::string>();
    if (!kKeys.count(key)) throw ConfigError(where + ": rule " + name + ": unknown key '" + key + "'");
  }
  core::AlertRule r;
  r.name = name;
  if (n["below"]) {
    r.below = n["below"].as<double>();
    if (*r.below <= 0 || *r.below > 100)
      throw ConfigError(where + ": rule " + name + ": below must be in (0, 100]");
  }
  if (n["signal"] && n["signal"].as<std::string>() != name)
    throw ConfigError(where + ": rule " + name + ": a signal rule is named after its signal");
  if (n["signal"]) {
    const auto& names = core::signal_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw ConfigError(where + ": rule " + name + ": unknown signal '" + name + "'");
  }
  const std::string assignee = n["assignee"] ? n["assignee"].as<std::string>() : "owner";
  if (assignee != "owner" && assignee != "manager")
    throw ConfigError(where + ": rule " + name + ": assignee must be owner or manager");
  r.assignee = assignee == "manager" ? core::Assignee::kManager : core::Assignee::kOwner;
  r.priority = n["priority"] ? n["priority"].as<std::string>() : "MEDIUM";
  if (r.priority != "HIGH" && r.priority != "MEDIUM" && r.priority != "LOW")
    throw ConfigError(where + ": rule " + name + ": priority must be HIGH, MEDIUM or LOW");
  r.due_business_days = n["due_business_days"] ? n["due_business_days"].as<int>() : 3;
  if (r.due_business_days < 0 || r.due_business_days > 60)
    throw ConfigError(where + ": rule " + name + ": due_business_days must be 0-60");
  r.follow_through = n["follow_through"] ? n["follow_through"].as<bool>() : false;
  r.slack = n["slack"] ? n["slack"].as<bool>() : false;
  const auto t = templates[name];
  if (!t || !t.IsMap() || !t["subject"] || !t["body"])
    throw ConfigError(where + ": templates: no subject and body for " + name);
  r.subject = t["subject"].as<std::string>();
  r.body = t["body"].as<std::string>();
  if (r.subject.empty()) throw ConfigError(where + ": templates: " + name + ": the subject is empty");
  return r;
}

}  // namespace

void parse_alerts(const std::string& text, const std::string& where, const std::string& locale,
                  core::PlanConfig& plan) {
  workflow::read_template_file(
      text, where, locale, "rules", workflow::Section::kMap,
      [&](const YAML::Node& root, const YAML::Node& templates) {
        for (const auto& kv : root["rules"]) {
          const auto name = kv.first.as<std::string>();
          auto rule = read_rule(name, kv.second, templates, where);
          if (name == "escalation")
            plan.escalation = rule;
          else if (name == "digest")
            plan.digest = rule;
          else
            plan.rules.push_back(std::move(rule));
        }
        if (plan.escalation.subject.empty() || plan.digest.subject.empty())
          throw ConfigError(where + ": rules: `escalation` and `digest` are required");
        if (!templates["close_note"])
          throw ConfigError(where + ": templates: " + locale + ": close_note is missing");
        plan.close_note = templates["close_note"].as<std::string>();
      });
}

std::vector<outbox::PropertySpec> output_properties(const core::PlanConfig& p) {
  std::vector<outbox::PropertySpec> out = {
      {p.score_property, "Health score", "number", "number", "cshealthd: 0-100", {}},
      {p.status_property,
       "Health status",
       "enumeration",
       "select",
       "cshealthd: the score's band",
       {"green", "yellow", "orange", "red", "unknown"}},
      {p.reasons_property,
       "Health reasons",
       "string",
       "textarea",
       "cshealthd: the top reasons, worst first",
       {}},
      {p.coverage_property,
       "Health data coverage",
       "number",
       "number",
       "cshealthd: share of weight with data (0-1)",
       {}},
      {p.updated_property,
       "Health updated at",
       "datetime",
       "date",
       "cshealthd: when these values last changed",
       {}},
      {p.stage_property,
       "CS stage",
       "enumeration",
       "select",
       "onboarding / active / at_risk / churned",
       {"onboarding", "active", "at_risk", "churned"}},
  };
  if (!p.churn_risk_property.empty())
    out.push_back({p.churn_risk_property, "Churn risk", "number", "number",
                   "cshealthd: probability of churn within the calibration's horizon, %", {}});
  const auto& u = p.usage_properties;
  const std::array<std::pair<const std::string*, const char*>, 4> counts{
      {{&u.active_users, "Active users (30 days)"},
       {&u.logins, "Logins (30 days)"},
       {&u.seat_utilisation, "Seat utilisation, %"},
       {&u.features, "Key features used (30 days)"}}};
  for (const auto& [name, label] : counts)
    if (!name->empty())
      out.push_back({*name, label, "number", "number", "cshealthd: product usage sent to cshealthd", {}});
  if (!u.last_active.empty())
    out.push_back({u.last_active,
                   "Last active",
                   "date",
                   "date",
                   "cshealthd: the last day one of the company's users was active (Segment source)",
                   {}});
  if (!p.expansion_likelihood_property.empty())
    out.push_back({p.expansion_likelihood_property, "Expansion likelihood", "number", "number",
                   "cshealthd: probability of an expansion (MRR up, an upsell won) within the calibration's horizon, %",
                   {}});
  return out;
}

Settings load_settings(const config::Config& config) {
  const auto& w = config.writeback;
  Settings s;
  s.enabled = w.enabled;
  auto& p = s.plan;
  const std::string alerts_where = w.alerts_file.empty() ? "writeback.alerts_file (shipped alerts.yaml)"
                                                         : "writeback.alerts_file: " + w.alerts_file;
  parse_alerts(w.alerts_file.empty() ? workflow::shipped_file("alerts.yaml")
                                     : workflow::read_config_file("writeback.alerts_file", w.alerts_file),
               alerts_where, w.locale, p);
  p.hysteresis = w.hysteresis;
  p.signal_rearm_days = w.signal_rearm_days;
  p.auto_close = w.auto_close;
  p.auto_close_days = w.auto_close_days;
  p.follow_through_days = w.follow_through_days;
  p.daily_cap = w.daily_cap;
  p.due_hour = w.due_hour;
  p.reasons = w.reasons;
  p.score_property = w.score_property;
  p.status_property = w.status_property;
  p.reasons_property = w.reasons_property;
  p.coverage_property = w.coverage_property;
  p.updated_property = w.updated_property;
  p.stage_property = w.stage_property;
  p.churn_risk_property = w.churn_risk_property;
  p.expansion_likelihood_property = w.expansion_likelihood_property;
  if (config.usage.enabled)  // nothing to write through otherwise
    p.usage_properties = {w.usage_active_users_property, w.usage_logins_property,
                          w.usage_seat_utilisation_property, w.usage_features_property,
                          w.usage_last_active_property};
  std::vector<std::string> outputs = {p.score_property,    p.status_property,  p.reasons_property,
                                      p.coverage_property, p.updated_property, p.stage_property};
  const auto& u = p.usage_properties;
  const std::string* optional_outputs[] = {&p.churn_risk_property, &p.expansion_likelihood_property,
                                           &u.active_users,        &u.logins,
                                           &u.seat_utilisation,    &u.features,
                                           &u.last_active};
  for (const std::string* optional : optional_outputs)
    if (!optional->empty()) outputs.push_back(*optional);
  const std::set<std::string> names(outputs.begin(), outputs.end());
  if (names.size() != outputs.size())
    throw ConfigError("writeback.properties: two outputs name the same property");
  if (config.onboarding.enabled && names.count(config.onboarding.owner_property))
    throw ConfigError("onboarding.owner_property: names a property writeback.properties already writes");
  return s;
}

}  // namespace cshealthd::alerts
