// Closed Won → an onboarding: the deal and company read, an owner assigned, the stage, checklist,
// Services record and Slack note recorded through the outbox in one transaction.
#include <algorithm>
#include <charconv>
#include <map>
#include "cshealthd/outbox/outbox_store.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "internal.hpp"
#include "onboarding_store.hpp"

namespace cshealthd::onboarding {
using namespace detail;

Onboarding::Onboarding(store::Database& db, const Settings& settings, const workflow::Context& workflow,
                       outbox::Deliverer& deliverer, hubspot::ClientFactory clients,
                       metrics::Registry& metrics, Clock& clock, std::function<void()> wake)
    : db_(db),
      s_(settings),
      wb_(workflow),
      deliverer_(deliverer),
      clients_(std::move(clients)),
      metrics_(metrics),
      clock_(clock),
      wake_(std::move(wake)) {
  set_enabled(db_, s_.enabled);
}

std::int32_t Onboarding::today() const {
  return core::service_day(wb_.zone, clock_.now_ms());
}

json Onboarding::onboard(store::JobContext& ctx) {
  const auto deal_id = ctx.job.payload.value("deal_id", std::int64_t{0});
  const auto source = ctx.job.payload.value("source", std::string("webhook"));
  if (deal_id <= 0) throw store::PermanentJobError("onboarding job without a deal_id");
  if (!s_.enabled) throw store::PermanentJobError("onboarding is off (onboarding.enabled)");
  const bool recorded = db_.with_retry("onboarding_exists", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "onboarding_exists");
    return OnboardingStore::exists(tx, deal_id);
  });
  json result = {{"deal_id", deal_id}, {"source", source}};
  if (!recorded) {
    auto handle = clients_();
    auto& client = *handle.client;
    const auto& wb = wb_;
    const std::string id = std::to_string(deal_id);
    std::vector<std::string> props = {"dealname", "dealstage", "pipeline",
                                      "amount",   "closedate", "hubspot_owner_id"};
    for (const auto* p : {&s_.plan_property, &s_.mrr_property, &s_.seats_property,
                          &s_.contract_start_property, &s_.goals_property, &s_.kpis_property})
      if (!p->empty()) props.push_back(*p);
    const auto deals = client.batch_read("deals", {id}, props);
    if (deals.empty())
      throw store::PermanentJobError("deal " + id + " is not in HubSpot (deleted or merged)");
    const auto& deal = deals.front();
    Won w;
    w.deal_id = deal_id;
    w.deal_name = text_prop(deal, "dealname");
    w.stage = text_prop(deal, "dealstage");
    w.deal_owner = text_prop(deal, "hubspot_owner_id");
    w.plan = text_prop(deal, s_.plan_property);
    w.mrr = text_prop(deal, s_.mrr_property);
    w.seats = text_prop(deal, s_.seats_property);
    w.contract_start = text_prop(deal, s_.contract_start_property);
    w.goals = text_prop(deal, s_.goals_property);
    w.kpis = text_prop(deal, s_.kpis_property);
    w.amount = text_prop(deal, "amount");
    const auto won = db_.with_retry("onboarding_won_stages", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c, "onboarding_won_stages");
      return store::CrmRepository::won_stages(tx, s_.won_stages);
    });
    if (!won.count(w.stage)) {
      // Won, then moved back before this ran: not a customer (yet). The key stays taken: a deal won
      // again later is an operator's call (POST /v1/jobs/{id}/retry on this job).
      spdlog::warn("onboarding: deal {} is in stage '{}' now, not a won one; no onboarding", id, w.stage);
      result["skipped"] = "deal is in stage '" + w.stage + "', not a won one";
      return result;
    }
    const auto links = client.associations("deals", "companies", {id});
    std::vector<std::int64_t> companies;
    if (const auto it = links.links.find(id); it != links.links.end()) {
      for (const auto& c : it->second) {
        std::int64_t n = 0;
        if (std::from_chars(c.data(), c.data() + c.size(), n).ec == std::errc() && n > 0)
          companies.push_back(n);
      }
    }
    if (companies.empty())
      throw std::runtime_error("deal " + id + " has no associated company (yet): retried with backoff");
    w.company_id = *std::min_element(companies.begin(), companies.end());
    const std::string company_id = std::to_string(w.company_id);
    std::vector<std::string> cprops = {"name", "hubspot_owner_id", wb.stage_property};
    for (const auto* p : {&s_.company_plan_property, &s_.company_mrr_property})
      if (!p->empty()) cprops.push_back(*p);
    const auto found = client.batch_read("companies", {company_id}, cprops);
    if (found.empty())
      throw std::runtime_error("company " + company_id + " of deal " + id +
                               " is not in HubSpot: retried with backoff");
    w.company_name = text_prop(found.front(), "name");
    w.company_owner = text_prop(found.front(), "hubspot_owner_id");
    w.company_stage = text_prop(found.front(), wb.stage_property);
    if (w.plan.empty()) w.plan = text_prop(found.front(), s_.company_plan_property);
    if (w.mrr.empty()) w.mrr = text_prop(found.front(), s_.company_mrr_property);
    if (w.mrr.empty()) w.mrr = w.amount;
    result.update(record(w, source));
    if (result.contains("skipped")) return result;
  }
  try {
    auto handle = clients_();
    const auto report = deliverer_.run(*handle.client, ctx.stop);
    result["delivered"] = {{"tasks_created", report.tasks_created}, {"calls", report.calls}};
  } catch (const std::exception& e) {
    // The outbox holds the items: whoever delivers next (the running deliverer, the next run) sends them.
    spdlog::warn("onboarding: deal {}: delivery left to the next deliverer: {}", deal_id, e.what());
    result["delivered"] = false;
  }
  return result;
}

json Onboarding::record(const Won& w, const std::string& source) {
  const auto& wb = wb_;
  const std::string segment = segment_of(s_, w);
  const std::int32_t start = today();
  return db_.with_retry("onboarding_record", [&](pqxx::connection& c) -> json {
    pqxx::work tx(c, "onboarding_record");
    // Assignments one at a time (across replicas): loads are read and changed together.
    OnboardingStore::lock_assignments(tx);
    if (OnboardingStore::exists(tx, w.deal_id)) return json::object();
    if (const auto active = OnboardingStore::under_way(tx, w.company_id)) {
      spdlog::info("onboarding: deal {}: company {} is already in onboarding (deal {})", w.deal_id,
                   w.company_id, *active);
      return {{"skipped", "company already in onboarding (deal " + std::to_string(*active) + ")"}};
    }
    if (w.company_stage == "active" || w.company_stage == "at_risk") {
      spdlog::info(
          "onboarding: deal {}: company {} is an existing customer (cs_stage {}): an expansion, not an "
          "onboarding",
          w.deal_id, w.company_id, w.company_stage);
      return {{"skipped", "company is an existing customer (cs_stage " + w.company_stage + ")"}};
    }
    std::vector<std::string> owners = pool_owners(tx, s_.pool);
    if (s_.pool.empty()) {
      // No pool configured: the deal's owner onboards, else the company's.
      for (const auto* o : {&w.deal_owner, &w.company_owner}) {
        if (owner_active(tx, *o)) {
          owners = {*o};
          break;
        }
      }
    }
    if (owners.empty())
      throw std::runtime_error(s_.pool.empty() ? "neither the deal nor the company has an active owner, and "
                                                 "onboarding.pool is not set"
                                               : "no active owner in onboarding.pool");
    const int cap = segment == "high_touch" ? s_.high_touch_capacity : s_.tech_touch_capacity;
    const auto owner =
        assign(tx, "onboarding:" + segment, owners, OnboardingStore::onboarding_load(tx, segment), cap);
    const json deal = {
        {"name", w.deal_name}, {"company_name", w.company_name},     {"plan", w.plan},   {"mrr", w.mrr},
        {"seats", w.seats},    {"contract_start", w.contract_start}, {"goals", w.goals}, {"kpis", w.kpis},
        {"amount", w.amount},  {"deal_owner", w.deal_owner}};
    const std::string owner_label = store::CrmRepository::owner_name(tx, *owner);
    auto vars = template_vars(deal, w.company_id, w.deal_id, owner_label, core::format_day(start));
    std::vector<outbox::Item> out;
    std::map<std::string, std::string> props = {{wb.stage_property, "onboarding"}};
    if (!s_.owner_property.empty()) props[s_.owner_property] = *owner;
    out.push_back(
        {"onboarding:" + std::to_string(w.deal_id) + ":stage", w.company_id, outbox::PropertyUpdate{props}});
    std::vector<OnboardingStore::NewStep> steps;
    std::int32_t target = start;
    for (std::size_t i = 0; i < s_.steps.size(); ++i) {
      const auto& step = s_.steps[i];
      const std::int32_t due = wb.calendar.add_business_days(start, step.due_days);
      target = std::max(target, due);
      const std::string key = "onboarding:" + std::to_string(w.deal_id) + ":" + step.id;
      vars["due"] = core::format_day(due);
      out.push_back({key, w.company_id,
                     outbox::Task{core::render_template(step.subject, vars, core::Markup::kHtml),
                                  core::render_template(step.body, vars, core::Markup::kHtml), *owner,
                                  i == 0 ? "HIGH" : "MEDIUM", "onboarding:" + step.id, due, wb.due_ms(due),
                                  w.deal_id}});
      steps.push_back({step.id, key, core::format_day(due)});
    }
    OnboardingStore::start(
        tx, {w.deal_id, w.company_id, source, segment, *owner, core::format_day(start), deal.dump()}, steps);
    if (wb.slack) {
      vars["due"] = steps.front().due_day;
      out.push_back(
          {"slack:onboarding:" + std::to_string(w.deal_id), w.company_id,
           outbox::SlackMessage{core::render_template(s_.slack_started, vars, core::Markup::kSlack)}});
    }
    if (s_.services) {
      std::map<std::string, std::string> sp = {{"hs_name", vars["company"] + " / " + vars["deal"]},
                                               {kServiceOnboardingStart, std::to_string(day_ms(start))},
                                               {kServiceOnboardingTarget, std::to_string(day_ms(target))}};
      if (!w.plan.empty()) sp[kServicePlan] = w.plan;
      if (core::parse_hubspot_number(w.mrr)) sp[kServiceMrr] = w.mrr;
      if (core::parse_hubspot_number(w.seats)) sp[kServiceSeats] = w.seats;
      if (const auto t = core::parse_hubspot_timestamp(w.contract_start))
        sp[kServiceContractStart] = std::to_string(day_ms(core::day_of(*t)));
      out.push_back({"onboarding:" + std::to_string(w.deal_id) + ":service", w.company_id,
                     outbox::ServiceRecord{sp, w.deal_id}});
    }
    outbox::OutboxStore::enqueue(tx, out, std::nullopt);
    tx.commit();
    metrics_
        .counter("cshealthd_onboardings_started_total",
                 "Onboardings started, by the path that found the won deal", {{"path", source}})
        .inc();
    spdlog::info("onboarding: deal {} won ({}): company {} ({}) onboarded by owner {}, {} steps, target {}",
                 w.deal_id, source, w.company_id, segment, *owner, s_.steps.size(), core::format_day(target));
    return {{"company_id", w.company_id},
            {"owner_id", *owner},
            {"segment", segment},
            {"started_on", core::format_day(start)},
            {"target", core::format_day(target)}};
  });
}

json Onboarding::plan(pqxx::work& tx, const workflow::PlanDay& day) {
  return {{"onboarding", plan_progress(tx, day.day)}};
}

json Onboarding::from_sync() {
  std::size_t queued = 0, seen = 0;
  db_.with_retry("onboarding_from_sync", [&](pqxx::connection& c) {
    pqxx::work tx(c, "onboarding_from_sync");
    queued = 0;
    const auto rows = OnboardingStore::take_stage_changes(tx);
    seen = rows.size();
    if (rows.empty() || !s_.enabled) {
      tx.commit();
      return;
    }
    const auto won = store::CrmRepository::won_stages(tx, s_.won_stages);
    std::set<std::int64_t> deals;
    for (const auto& r : rows) {
      if (!won.count(r.stage)) continue;
      // A deal first seen already won counts only when it was won after onboarding began to run.
      if (r.first_seen && !r.won_after_start) continue;
      deals.insert(r.deal_id);
    }
    for (const auto deal : deals) {
      if (store::JobQueue::enqueue(tx, onboarding_job(deal, "sync"))) ++queued;
    }
    tx.commit();
  });
  if (queued) {
    spdlog::info("onboarding: the sync found {} won deal(s) not yet onboarded", queued);
    if (wake_) wake_();
  }
  return {{"stage_changes", seen}, {"onboardings_queued", queued}};
}

// Hand-over: to a CSM by capacity (csm_pool), else the company's owner keeps it (else who onboarded it).

}  // namespace cshealthd::onboarding
