// Every plan: overdue steps alerted and escalated, and hand-overs to a CSM of completed onboardings.
#include <algorithm>
#include <map>
#include "cshealthd/outbox/outbox_store.hpp"
#include "cshealthd/outbox/written_properties.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "internal.hpp"
#include "onboarding_store.hpp"

namespace cshealthd::onboarding {
using namespace detail;

std::string Onboarding::handover_csm(pqxx::work& tx, const std::string& segment, std::int64_t company,
                                     const std::string& owner) const {
  std::string csm;
  if (!s_.csm_pool.empty()) {
    const int cap = segment == "high_touch" ? s_.csm_high_touch_capacity : s_.csm_tech_touch_capacity;
    const auto chosen =
        assign(tx, "csm:" + segment, pool_owners(tx, s_.csm_pool),
               OnboardingStore::customer_load(tx, segment, s_.high_touch_min_mrr, s_.high_touch_plans), cap);
    if (chosen) csm = *chosen;
  }
  if (csm.empty()) {
    csm = store::CrmRepository::company_owner(tx, company);
    if (csm.empty()) csm = owner;
  }
  return csm;
}

json Onboarding::plan_progress(pqxx::work& tx, std::int32_t day) {
  if (!s_.enabled) return json::object();
  const auto& wb = wb_;
  const auto open = OnboardingStore::open(tx);
  std::vector<outbox::Item> out;
  std::size_t overdue = 0, escalated = 0, handed = 0;
  for (const auto& row : open) {
    const std::int64_t deal_id = row.deal_id;
    // Texts only for the onboardings that act today: most runs read nothing more.
    const bool complete = core::onboarding_complete(row.steps);
    const auto actions = complete
                             ? std::vector<core::StepAction>()
                             : core::onboarding_actions(row.steps, day, wb.calendar, s_.escalate_after_days);
    if (!complete && actions.empty()) continue;
    auto vars = template_vars(json::parse(row.deal_json), row.company_id, deal_id,
                              store::CrmRepository::owner_name(tx, row.owner_id), row.started_on);
    const std::string prefix = "onboarding:" + std::to_string(deal_id) + ":";
    const auto due_ms = [&](int business_days) {
      return wb.due_ms(wb.calendar.add_business_days(day, business_days));
    };
    if (complete) {
      const std::string csm = handover_csm(tx, row.segment, row.company_id, row.owner_id);
      vars["csm"] = store::CrmRepository::owner_name(tx, csm);
      vars["completed"] = core::format_day(day);
      std::map<std::string, std::string> props = {{wb.stage_property, "active"}};
      if (!s_.csm_pool.empty()) props["hubspot_owner_id"] = csm;
      out.push_back({prefix + "handover:stage", row.company_id, outbox::PropertyUpdate{props}});
      out.push_back(outbox::Item{
          prefix + "handover", row.company_id,
          outbox::Task{core::render_template(s_.handover.subject, vars, core::Markup::kHtml),
                       core::render_template(s_.handover.body, vars, core::Markup::kHtml), csm, "HIGH",
                       "onboarding:handover", wb.calendar.add_business_days(day, 2), due_ms(2), deal_id}});
      if (wb.slack)
        out.push_back(outbox::Item{
            "slack:" + prefix + "handover", row.company_id,
            outbox::SlackMessage{core::render_template(s_.slack_handover, vars, core::Markup::kSlack)}});
      OnboardingStore::hand_over(tx, deal_id, csm, day);
      // What the plan compares with: the stage is written now.
      outbox::WrittenProperties::merge(tx, row.company_id, {{wb.stage_property, "active"}});
      ++handed;
      continue;
    }
    for (const auto& a : actions) {
      const auto st = std::find_if(row.steps.begin(), row.steps.end(),
                                   [&](const core::StepState& x) { return x.step == a.step; });
      vars["step"] = a.step;
      vars["due"] = core::format_day(st->due_day);
      vars["days_late"] = std::to_string(a.business_days_late);
      const bool escalate = a.kind == core::StepAction::Kind::kEscalate;
      const std::string assignee =
          escalate ? wb.managers.manager_of(row.owner_id, store::CrmRepository::owner_teams(tx, row.owner_id))
                   : row.owner_id;
      const auto& t = escalate ? s_.escalation : s_.overdue;
      out.push_back(outbox::Item{prefix + a.step + (escalate ? ":overdue:escalation" : ":overdue"),
                                 row.company_id,
                                 outbox::Task{core::render_template(t.subject, vars, core::Markup::kHtml),
                                              core::render_template(t.body, vars, core::Markup::kHtml),
                                              assignee.empty() ? row.owner_id : assignee, "HIGH",
                                              escalate ? "onboarding:escalation" : "onboarding:overdue",
                                              wb.calendar.add_business_days(day, 1), due_ms(1), deal_id}});
      if (escalate) {
        OnboardingStore::mark_escalated(tx, deal_id, a.step);
        ++escalated;
      } else {
        OnboardingStore::mark_overdue(tx, deal_id, a.step, day);
        ++overdue;
      }
    }
  }
  outbox::OutboxStore::enqueue(tx, out, std::nullopt);
  if (overdue)
    metrics_.counter("cshealthd_onboarding_alerts_total", "Onboarding alerts", {{"kind", "overdue"}})
        .inc(overdue);
  if (escalated)
    metrics_.counter("cshealthd_onboarding_alerts_total", "Onboarding alerts", {{"kind", "escalation"}})
        .inc(escalated);
  if (handed)
    metrics_.counter("cshealthd_onboarding_handovers_total", "Customers handed over to a CSM").inc(handed);
  return {
      {"onboarding", open.size()}, {"overdue", overdue}, {"escalations", escalated}, {"handed_over", handed}};
}

}  // namespace cshealthd::onboarding
