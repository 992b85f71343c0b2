// The onboarding section and its checklist file, checked; the properties onboarding writes.
#include <fstream>
#include <regex>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>
#include "cshealthd/workflow/context.hpp"
#include "cshealthd/workflow/template_file.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/sql_params.hpp"
#include "internal.hpp"

namespace cshealthd::onboarding {

namespace {

using config::ConfigError;
using config::split_list;

Template read_template(const YAML::Node& templates, const std::string& name, const std::string& where) {
  const auto t = templates[name];
  if (!t || !t.IsMap() || !t["subject"] || !t["body"])
    throw ConfigError(where + ": templates: no subject and body for " + name);
  Template out{t["subject"].as<std::string>(), t["body"].as<std::string>()};
  if (out.subject.empty()) throw ConfigError(where + ": templates: " + name + ": the subject is empty");
  return out;
}

}  // namespace

void parse_checklist(const std::string& text, const std::string& where, const std::string& locale,
                     Settings& s) {
  workflow::read_template_file(
      text, where, locale, "steps", workflow::Section::kList,
      [&](const YAML::Node& root, const YAML::Node& templates) {
        static const std::regex kId("^[a-z][a-z0-9_]{0,39}$");
        std::set<std::string> seen;
        s.steps.clear();
        for (const auto& n : root["steps"]) {
          if (!n.IsMap() || !n["id"] || !n["due_business_days"])
            throw ConfigError(where + ": steps: each step needs an id and due_business_days");
          core::ChecklistStep step;
          step.id = n["id"].as<std::string>();
          if (!std::regex_match(step.id, kId))
            throw ConfigError(where + ": steps: '" + step.id + "' is not an id ([a-z][a-z0-9_]*)");
          if (!seen.insert(step.id).second)
            throw ConfigError(where + ": steps: '" + step.id + "' appears twice");
          step.due_days = n["due_business_days"].as<int>();
          if (step.due_days < 0 || step.due_days > 250)
            throw ConfigError(where + ": steps: " + step.id + ": due_business_days must be 0-250");
          const auto t = read_template(templates, step.id, where);
          step.subject = t.subject;
          step.body = t.body;
          s.steps.push_back(std::move(step));
        }
        if (s.steps.empty()) throw ConfigError(where + ": steps: at least one step is needed");
        if (s.steps.size() > 50) throw ConfigError(where + ": steps: at most 50 steps");
        s.overdue = read_template(templates, "overdue", where);
        s.escalation = read_template(templates, "escalation", where);
        s.handover = read_template(templates, "handover", where);
        if (!templates["slack_started"] || !templates["slack_handover"])
          throw ConfigError(where + ": templates: " + locale +
                            ": slack_started and slack_handover are required");
        s.slack_started = templates["slack_started"].as<std::string>();
        s.slack_handover = templates["slack_handover"].as<std::string>();
      });
}

std::vector<outbox::PropertySpec> service_properties() {
  const char* copied = "cshealthd: copied from the won deal";
  return {
      {kServicePlan, "Plan", "string", "text", copied, {}, true},
      {kServiceMrr, "MRR", "number", "number", copied, {}},
      {kServiceSeats, "Licensed seats", "number", "number", copied, {}},
      {kServiceContractStart, "Contract start", "date", "date", copied, {}},
      {kServiceOnboardingStart,
       "Onboarding start",
       "date",
       "date",
       "cshealthd: the day the deal was won",
       {}},
      {kServiceOnboardingTarget,
       "Onboarding target",
       "date",
       "date",
       "cshealthd: onboarding complete by",
       {}},
  };
}

std::vector<outbox::PropertySpec> company_properties(const config::Config& config) {
  if (!config.onboarding.enabled) return {};
  return {{config.onboarding.owner_property,
           "Onboarding owner",
           "string",
           "text",
           "cshealthd: the owner id of who onboards this customer",
           {}}};
}

Settings load_settings(const config::Config& config) {
  const auto& o = config.onboarding;
  Settings s;
  s.enabled = o.enabled && config.writeback.enabled;
  const std::string where = o.checklist_file.empty() ? "onboarding.checklist_file (shipped onboarding.yaml)"
                                                     : "onboarding.checklist_file: " + o.checklist_file;
  parse_checklist(o.checklist_file.empty()
                      ? workflow::shipped_file("onboarding.yaml")
                      : workflow::read_config_file("onboarding.checklist_file", o.checklist_file),
                  where, config.writeback.locale, s);
  s.pool = split_list(o.pool);
  s.csm_pool = split_list(o.csm_pool);
  s.high_touch_capacity = o.high_touch_capacity;
  s.tech_touch_capacity = o.tech_touch_capacity;
  s.csm_high_touch_capacity = o.csm_high_touch_capacity;
  s.csm_tech_touch_capacity = o.csm_tech_touch_capacity;
  s.high_touch_min_mrr = static_cast<double>(o.high_touch_min_mrr);
  for (const auto& p : split_list(o.high_touch_plans)) s.high_touch_plans.insert(p);
  for (const auto& w : split_list(o.won_stages)) s.won_stages.insert(w);
  s.escalate_after_days = o.escalate_after_days;
  s.owner_property = o.owner_property;
  s.services = o.services;
  s.plan_property = o.plan_property;
  s.mrr_property = o.mrr_property;
  s.seats_property = o.seats_property;
  s.contract_start_property = o.contract_start_property;
  s.goals_property = o.goals_property;
  s.kpis_property = o.kpis_property;
  const auto& company = config.mapping.company;
  if (const auto it = company.find("plan"); it != company.end()) s.company_plan_property = it->second;
  if (const auto it = company.find("mrr"); it != company.end()) s.company_mrr_property = it->second;
  // The churn reason and date feed the win-back play, not the scores: their changes need no refresh. An
  // input not mapped (the external id, by default) has no property to watch.
  for (const auto& [canonical, property] : company) {
    if (canonical != "churn_reason" && canonical != "churn_date" && !property.empty())
      s.company_inputs.insert(property);
  }
  s.company_inputs.insert("hubspot_owner_id");
  // What the service writes itself comes back as webhooks too: never a reason to rescore.
  s.company_inputs.erase(config.writeback.stage_property);
  s.refresh_on_change = config.webhook.enabled && config.webhook.refresh_on_change;
  s.event_retention_days = config.webhook.retention_days;
  return s;
}

}  // namespace cshealthd::onboarding
