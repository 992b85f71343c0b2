// Every plan: overdue steps alerted and escalated, and hand-overs to a CSM of completed onboardings.
#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>
#include "cshealthd/outbox/outbox_store.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/sql_params.hpp"
#include "internal.hpp"

namespace cshealthd::onboarding {
using namespace detail;

std::string Onboarding::handover_csm(pqxx::work& tx, const std::string& segment, std::int64_t company,
                                     const std::string& owner) const {
  std::string csm;
  if (!s_.csm_pool.empty()) {
    const int cap = segment == "high_touch" ? s_.csm_high_touch_capacity : s_.csm_tech_touch_capacity;
    const auto chosen =
        assign(tx, "csm:" + segment, pool_owners(tx, s_.csm_pool),
               "WITH held AS (SELECT id AS company_id, owner_id, CASE WHEN coalesce(mrr, 0) >= " +
                   std::to_string(s_.high_touch_min_mrr) + " OR plan = ANY(" +
                   tx.quote(store::text_array(
                       std::vector<std::string>(s_.high_touch_plans.begin(), s_.high_touch_plans.end()))) +
                   "::text[]) THEN 'high_touch' ELSE 'tech_touch' END AS segment FROM companies WHERE "
                   "NOT archived AND "
                   "owner_id IS NOT NULL UNION SELECT company_id, csm_id, segment FROM onboardings WHERE "
                   "csm_id IS NOT "
                   "NULL) SELECT owner_id, count(DISTINCT company_id) FROM held WHERE segment = $1 GROUP "
                   "BY owner_id",
               segment, cap);
    if (chosen) csm = *chosen;
  }
  if (csm.empty()) {
    const auto r = tx.exec_params("SELECT coalesce(owner_id, '') FROM companies WHERE id = $1", company);
    csm = r.empty() || r[0][0].as<std::string>().empty() ? owner : r[0][0].as<std::string>();
  }
  return csm;
}

json Onboarding::plan_progress(pqxx::work& tx, std::int32_t day) {
  if (!s_.enabled) return json::object();
  const auto& wb = wb_;
  struct Row {
    std::int64_t company = 0;
    std::string owner, segment, started;
    json deal;
    std::vector<core::StepState> steps;
  };
  std::map<std::int64_t, Row> open;
  for (const auto& r : tx.exec(
           "SELECT o.deal_id, o.company_id, o.owner_id, o.segment, o.deal::text, o.started_on::text, s.step, "
           "s.due_day::text, s.completed, s.overdue_on::text, s.escalated FROM onboardings o JOIN "
           "onboarding_steps s "
           "USING (deal_id) WHERE o.state = 'onboarding' ORDER BY o.deal_id, s.position")) {
    auto& row = open[r[0].as<std::int64_t>()];
    row.company = r[1].as<std::int64_t>();
    row.owner = r[2].as<std::string>();
    row.segment = r[3].as<std::string>();
    if (row.deal.is_null()) row.deal = json::parse(r[4].as<std::string>());
    row.started = r[5].as<std::string>();
    core::StepState st;
    st.step = r[6].as<std::string>();
    st.due_day = core::parse_day(r[7].as<std::string>()).value_or(0);
    st.completed = r[8].as<bool>();
    if (!r[9].is_null()) st.overdue_on = core::parse_day(r[9].as<std::string>());
    st.escalated = r[10].as<bool>();
    row.steps.push_back(std::move(st));
  }
  std::vector<outbox::Item> out;
  std::size_t overdue = 0, escalated = 0, handed = 0;
  for (const auto& [deal_id, row] : open) {
    // Texts only for the onboardings that act today: most runs read nothing more.
    const bool complete = core::onboarding_complete(row.steps);
    const auto actions = complete
                             ? std::vector<core::StepAction>()
                             : core::onboarding_actions(row.steps, day, wb.calendar, s_.escalate_after_days);
    if (!complete && actions.empty()) continue;
    auto vars = template_vars(row.deal, row.company, deal_id, store::CrmRepository::owner_name(tx, row.owner),
                              row.started);
    const std::string prefix = "onboarding:" + std::to_string(deal_id) + ":";
    const auto due_ms = [&](int business_days) {
      return wb.due_ms(wb.calendar.add_business_days(day, business_days));
    };
    if (complete) {
      const std::string csm = handover_csm(tx, row.segment, row.company, row.owner);
      vars["csm"] = store::CrmRepository::owner_name(tx, csm);
      vars["completed"] = core::format_day(day);
      std::map<std::string, std::string> props = {{wb.stage_property, "active"}};
      if (!s_.csm_pool.empty()) props["hubspot_owner_id"] = csm;
      out.push_back({prefix + "handover:stage", row.company, outbox::PropertyUpdate{props}});
      out.push_back(outbox::Item{
          prefix + "handover", row.company,
          outbox::Task{core::render_template(s_.handover.subject, vars, core::Markup::kHtml),
                       core::render_template(s_.handover.body, vars, core::Markup::kHtml), csm, "HIGH",
                       "onboarding:handover", wb.calendar.add_business_days(day, 2), due_ms(2), deal_id}});
      if (wb.slack)
        out.push_back(outbox::Item{
            "slack:" + prefix + "handover", row.company,
            outbox::SlackMessage{core::render_template(s_.slack_handover, vars, core::Markup::kSlack)}});
      tx.exec_params(
          "UPDATE onboardings SET state = 'handed_over', csm_id = $2, completed_on = $3::date, "
          "handed_over_at = now() "
          "WHERE deal_id = $1",
          deal_id, csm, core::format_day(day));
      // What the plan compares with: the stage is written now.
      tx.exec_params(
          "INSERT INTO writeback_companies (company_id, written) VALUES ($1, jsonb_build_object($2::text, "
          "'active')) "
          "ON CONFLICT (company_id) DO UPDATE SET written = writeback_companies.written || EXCLUDED.written, "
          "updated_at = now()",
          row.company, wb.stage_property);
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
          escalate ? wb.managers.manager_of(row.owner, owner_teams(tx, row.owner)) : row.owner;
      const auto& t = escalate ? s_.escalation : s_.overdue;
      out.push_back(outbox::Item{prefix + a.step + (escalate ? ":overdue:escalation" : ":overdue"),
                                 row.company,
                                 outbox::Task{core::render_template(t.subject, vars, core::Markup::kHtml),
                                              core::render_template(t.body, vars, core::Markup::kHtml),
                                              assignee.empty() ? row.owner : assignee, "HIGH",
                                              escalate ? "onboarding:escalation" : "onboarding:overdue",
                                              wb.calendar.add_business_days(day, 1), due_ms(1), deal_id}});
      if (escalate) {
        tx.exec_params("UPDATE onboarding_steps SET escalated = true WHERE deal_id = $1 AND step = $2",
                       deal_id, a.step);
        ++escalated;
      } else {
        tx.exec_params("UPDATE onboarding_steps SET overdue_on = $3::date WHERE deal_id = $1 AND step = $2",
                       deal_id, a.step, core::format_day(day));
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
