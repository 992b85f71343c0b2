#include "cshealthd/onboarding/onboarding.hpp"

#include "cshealthd/outbox/outbox_store.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::onboarding {
namespace {

using json = nlohmann::json;
using config::ConfigError;

constexpr std::size_t kEventsPerTransaction = 500;

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Template read_template(const YAML::Node& templates, const std::string& name, const std::string& where) {
  const auto t = templates[name];
  if (!t || !t.IsMap() || !t["subject"] || !t["body"])
    throw ConfigError(where + ": templates: no subject and body for " + name);
  Template out{t["subject"].as<std::string>(), t["body"].as<std::string>()};
  if (out.subject.empty()) throw ConfigError(where + ": templates: " + name + ": the subject is empty");
  return out;
}

store::JobSpec onboarding_job(std::int64_t deal, const std::string& source) {
  store::JobSpec spec;
  spec.kind = kOnboardingJob;
  spec.unique_key = "onboarding:" + std::to_string(deal);
  spec.payload = {{"deal_id", deal}, {"source", source}};
  spec.max_attempts = 8;  // a deal without its company yet is retried with backoff, then dead
  return spec;
}

std::string text_prop(const hubspot::Record& r, const std::string& name) {
  if (name.empty()) return {};
  const auto* v = r.property(name);
  return v && v->is_string() ? v->text : std::string();
}

std::vector<std::string> owner_teams(pqxx::transaction_base& tx, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT t->>'id' FROM crm_owners o, jsonb_array_elements(CASE jsonb_typeof(o.teams) WHEN 'array' "
           "THEN o.teams ELSE '[]' END) t WHERE o.id::text = $1 AND t->>'id' IS NOT NULL "
           "ORDER BY (t->>'primary') = 'true' DESC",
           id))
    out.push_back(r[0].as<std::string>());
  return out;
}

// The active owners a pool names (owner ids and team:<id>), in id order; archived ones never.
std::vector<std::string> pool_owners(pqxx::transaction_base& tx, const std::vector<std::string>& pool) {
  std::vector<std::int64_t> ids;
  std::vector<std::string> teams;
  for (const auto& p : pool) {
    if (p.rfind("team:", 0) == 0)
      teams.push_back(p.substr(5));
    else
      ids.push_back(std::stoll(p));
  }
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT id::text FROM crm_owners o WHERE NOT archived AND (id = ANY($1::bigint[]) OR EXISTS ("
           "SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(o.teams) WHEN 'array' THEN o.teams ELSE "
           "'[]' END) t WHERE t->>'id' = ANY($2::text[]))) ORDER BY id",
           store::bigint_array(ids), store::text_array(teams)))
    out.push_back(r[0].as<std::string>());
  return out;
}

bool owner_active(pqxx::transaction_base& tx, const std::string& id) {
  if (id.empty() || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      id.size() > 18)
    return false;
  const auto r = tx.exec_params("SELECT archived FROM crm_owners WHERE id = $1::bigint", id);
  return r.empty() || !r[0][0].as<bool>();  // not synced yet: taken as HubSpot gave it
}

// Chooses from `owners` by remaining capacity (`load_sql` counts each owner's customers of the
// segment), round-robin among equals; moves the pool's cursor.
std::optional<std::string> assign(pqxx::work& tx, const std::string& pool,
                                  const std::vector<std::string>& owners, const std::string& load_sql,
                                  const std::string& segment, int capacity) {
  std::map<std::string, int> load;
  for (const auto& r : tx.exec_params(load_sql, segment)) load[r[0].as<std::string>()] = r[1].as<int>();
  std::vector<core::Candidate> candidates;
  for (const auto& o : owners) candidates.push_back({o, load.count(o) ? load[o] : 0, capacity});
  const auto cursor = tx.exec_params("SELECT last_owner FROM assignment_cursors WHERE pool = $1", pool);
  const auto chosen =
      core::choose_owner(candidates, cursor.empty() ? std::string() : cursor[0][0].as<std::string>());
  if (!chosen) return std::nullopt;
  tx.exec_params(
      "INSERT INTO assignment_cursors (pool, last_owner) VALUES ($1, $2) ON CONFLICT (pool) DO UPDATE SET "
      "last_owner = EXCLUDED.last_owner, updated_at = now()",
      pool, *chosen);
  const auto it = std::find_if(candidates.begin(), candidates.end(),
                               [&](const core::Candidate& c) { return c.owner_id == *chosen; });
  if (it != candidates.end() && it->remaining() <= 0)
    spdlog::warn("onboarding: every owner of pool {} is at capacity ({}); {} takes one more", pool, capacity,
                 *chosen);
  return chosen;
}

std::string format_number(const std::string& text) {
  const auto d = core::parse_hubspot_number(text);
  return d ? core::format_decimal(*d) : (text.empty() ? "-" : text);
}

// What task and Slack templates fill in for an onboarding, from the deal as recorded (`deal` JSON: name,
// company_name, plan, mrr, seats, goals, kpis).
std::map<std::string, std::string> template_vars(const json& deal, std::int64_t company_id,
                                                 std::int64_t deal_id, const std::string& owner,
                                                 const std::string& start) {
  const auto field = [&](const char* key) { return deal.value(key, std::string()); };
  const auto or_dash = [](const std::string& v) { return v.empty() ? std::string("-") : v; };
  return {
      {"company", field("company_name").empty() ? "#" + std::to_string(company_id) : field("company_name")},
      {"company_id", std::to_string(company_id)},
      {"deal", field("name").empty() ? "#" + std::to_string(deal_id) : field("name")},
      {"deal_id", std::to_string(deal_id)},
      {"owner", owner},
      {"start", start},
      {"plan", or_dash(field("plan"))},
      {"mrr", format_number(field("mrr"))},
      {"seats", format_number(field("seats"))},
      {"goals", or_dash(field("goals"))},
      {"kpis", or_dash(field("kpis"))}};
}

}  // namespace

void parse_checklist(const std::string& text, const std::string& where, const std::string& locale,
                     Settings& s) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
  try {
    if (!root.IsMap() || !root["steps"] || !root["steps"].IsSequence() || !root["templates"])
      throw ConfigError(where + ": expected a `steps` list and a `templates` mapping");
    const auto templates = root["templates"][locale];
    if (!templates || !templates.IsMap())
      throw ConfigError(where + ": templates: no `" + locale + "` section (writeback.locale)");
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
      if (!seen.insert(step.id).second) throw ConfigError(where + ": steps: '" + step.id + "' appears twice");
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
      throw ConfigError(where + ": templates: " + locale + ": slack_started and slack_handover are required");
    s.slack_started = templates["slack_started"].as<std::string>();
    s.slack_handover = templates["slack_handover"].as<std::string>();
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": " + e.what());
  }
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
  // The churn reason and date feed the win-back play, not the scores: their changes need no refresh.
  for (const auto& [canonical, property] : company) {
    if (canonical != "churn_reason" && canonical != "churn_date") s.company_inputs.insert(property);
  }
  s.company_inputs.insert("hubspot_owner_id");
  // What the service writes itself comes back as webhooks too: never a reason to rescore.
  s.company_inputs.erase(config.writeback.stage_property);
  s.refresh_on_change = config.webhook.enabled && config.webhook.refresh_on_change;
  s.event_retention_days = config.webhook.retention_days;
  return s;
}

Stored store_events(store::Database& db, const std::vector<core::WebhookEvent>& events) {
  Stored out;
  if (events.empty()) return out;
  std::vector<std::string> keys, types, objects, names, values, raws;
  std::vector<std::int64_t> ids, at;
  std::vector<std::string> has_name, has_value;
  for (const auto& e : events) {
    keys.push_back(e.dedup_key());
    types.push_back(e.subscription_type);
    objects.push_back(e.object_type);
    ids.push_back(e.object_id);
    names.push_back(e.property_name.value_or(""));
    has_name.push_back(e.property_name ? "t" : "f");
    values.push_back(e.property_value.value_or(""));
    has_value.push_back(e.property_value ? "t" : "f");
    at.push_back(e.occurred_at_ms);
    raws.push_back(e.raw);
  }
  // Two tries at most: HubSpot waits 5 s for the answer, and retries a 5xx itself.
  db.with_retry(
      "webhook_store",
      [&](pqxx::connection& c) {
        pqxx::work tx(c, "webhook_store");
        const auto r = tx.exec_params(
            "WITH ins AS (INSERT INTO webhook_events (dedup_key, subscription_type, object_type, object_id, "
            "property_name, property_value, occurred_at_ms, event) "
            "SELECT k, st, ot, oid, CASE WHEN hn THEN pn END, CASE WHEN hv THEN pv END, oc, ev::jsonb FROM "
            "unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::text[], "
            "$8::boolean[], $9::bigint[], $10::text[]) AS u (k, st, ot, oid, pn, hn, pv, hv, oc, ev) "
            "ON CONFLICT (dedup_key) DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
            store::text_array(keys), store::text_array(types), store::text_array(objects),
            store::bigint_array(ids), store::text_array(names), store::text_array(has_name),
            store::text_array(values), store::text_array(has_value), store::bigint_array(at),
            store::text_array(raws));
        out.accepted = r[0][0].as<std::size_t>();
        out.duplicates = events.size() - out.accepted;
        if (out.accepted > 0) {
          // One waiting processor is enough: it takes every event stored before it runs.
          const auto waiting =
              tx.exec_params("SELECT 1 FROM jobs WHERE kind = $1 AND state IN ('queued', 'failed') LIMIT 1",
                             std::string(kEventsJob));
          if (waiting.empty()) {
            store::JobSpec spec;
            spec.kind = kEventsJob;
            spec.max_attempts = 10;
            store::JobQueue::enqueue(tx, spec);
          }
        }
        tx.commit();
      },
      2);
  return out;
}

void set_enabled(store::Database& db, bool enabled) {
  db.with_retry("onboarding_state", [&](pqxx::connection& c) {
    pqxx::work tx(c, "onboarding_state");
    // Turning onboarding on (again) starts the sync's safety net from now: deals won while it was off
    // are not onboarded after the fact. Off, the sync notes no stage changes (nothing would read them).
    tx.exec_params(
        "UPDATE onboarding_state SET since = CASE WHEN enabled THEN since ELSE now() END, enabled = $1",
        enabled);
    if (!enabled) tx.exec("DELETE FROM deal_stage_changes");
    tx.commit();
  });
}

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
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.wall_now().time_since_epoch()).count();
  return core::parse_day(core::local_date(wb_.zone, now_s)).value_or(0);
}

json Onboarding::process_events(store::JobContext& ctx) {
  std::size_t processed = 0, onboardings = 0, refreshes = 0, ignored = 0;
  for (;;) {
    if (ctx.stop.stop_requested()) throw store::JobInterrupted("stopping: events left for the next worker");
    std::vector<double> lags;
    const auto n = db_.with_retry("webhook_process", [&](pqxx::connection& c) {
      pqxx::work tx(c, "webhook_process");
      lags.clear();
      // One processor at a time: events of one object are handled in occurredAt order.
      tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd.webhook.events'))");
      const auto rows = tx.exec_params(
          "SELECT id, object_type, object_id, coalesce(property_name, ''), coalesce(property_value, ''), "
          "subscription_type, (extract(epoch FROM now()) * 1000)::bigint - occurred_at_ms FROM "
          "webhook_events "
          "WHERE processed_at IS NULL ORDER BY occurred_at_ms, id LIMIT $1",
          static_cast<std::int64_t>(kEventsPerTransaction));
      if (rows.empty()) return std::size_t{0};
      const auto won = store::CrmRepository::won_stages(tx, s_.won_stages);
      std::vector<std::int64_t> ids, refresh;
      std::vector<std::string> outcomes;
      std::size_t o = 0, r = 0, g = 0;
      for (const auto& row : rows) {
        const auto id = row[0].as<std::int64_t>();
        const auto type = row[1].as<std::string>();
        const auto object = row[2].as<std::int64_t>();
        const auto name = row[3].as<std::string>();
        const auto value = row[4].as<std::string>();
        const bool change = core::is_property_change(row[5].as<std::string>());
        std::string outcome = "ignored";
        if (s_.enabled && type == "deals" && change && name == "dealstage" && won.count(value)) {
          const auto job = store::JobQueue::enqueue(tx, onboarding_job(object, "webhook"));
          outcome = job ? "onboarding" : "onboarding_exists";
          if (job) ++o;
        } else if (type == "companies" && change && s_.company_inputs.count(name) && s_.refresh_on_change) {
          refresh.push_back(object);
          outcome = "refresh";
          ++r;
        } else {
          ++g;
        }
        ids.push_back(id);
        outcomes.push_back(outcome);
        lags.push_back(static_cast<double>(std::max<std::int64_t>(0, row[6].as<std::int64_t>())) / 1000.0);
      }
      tx.exec_params(
          "UPDATE webhook_events e SET processed_at = now(), outcome = u.o FROM unnest($1::bigint[], "
          "$2::text[]) "
          "AS u (id, o) WHERE e.id = u.id",
          store::bigint_array(ids), store::text_array(outcomes));
      if (!refresh.empty()) {
        std::sort(refresh.begin(), refresh.end());
        refresh.erase(std::unique(refresh.begin(), refresh.end()), refresh.end());
        tx.exec_params("INSERT INTO refresh_requests (company_id) SELECT unnest($1::bigint[])",
                       store::bigint_array(refresh));
      }
      tx.commit();
      onboardings += o;
      refreshes += r;
      ignored += g;
      return rows.size();
    });
    for (const double lag : lags)
      metrics_
          .histogram("cshealthd_webhook_event_lag_seconds",
                     "From an event's occurredAt to its processing (HubSpot's delay included)")
          .observe(lag);
    if (n == 0) break;
    processed += n;
  }
  if (onboardings > 0 && wake_) wake_();  // the onboarding jobs just queued
  db_.with_retry("webhook_prune", [&](pqxx::connection& c) {
    pqxx::work tx(c, "webhook_prune");
    tx.exec_params("DELETE FROM webhook_events WHERE processed_at < now() - $1::bigint * interval '1 day'",
                   static_cast<std::int64_t>(s_.event_retention_days));
    tx.commit();
  });
  if (processed)
    spdlog::info("webhooks: processed {} events: {} onboardings queued, {} refresh requests, {} ignored",
                 processed, onboardings, refreshes, ignored);
  return {{"processed", processed},
          {"onboardings", onboardings},
          {"refresh_requests", refreshes},
          {"ignored", ignored}};
}

// A deal and its company as read from HubSpot for an onboarding.
struct Won {
  std::int64_t deal_id = 0, company_id = 0;
  std::string deal_name, stage, deal_owner, company_name, company_owner, company_stage;
  std::string plan, mrr, seats, contract_start, goals, kpis, amount;
};

namespace {

std::string segment_of(const Settings& s, const Won& w) {
  const auto mrr = core::parse_hubspot_number(w.mrr);
  if ((mrr && *mrr >= s.high_touch_min_mrr) || s.high_touch_plans.count(w.plan)) return "high_touch";
  return "tech_touch";
}

core::EpochMs day_ms(std::int32_t day) {
  return core::start_of_day(day);  // HubSpot date properties: midnight UTC
}

}  // namespace

json Onboarding::onboard(store::JobContext& ctx) {
  const auto deal_id = ctx.job.payload.value("deal_id", std::int64_t{0});
  const auto source = ctx.job.payload.value("source", std::string("webhook"));
  if (deal_id <= 0) throw store::PermanentJobError("onboarding job without a deal_id");
  if (!s_.enabled) throw store::PermanentJobError("onboarding is off (onboarding.enabled)");
  const bool recorded = db_.with_retry("onboarding_exists", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "onboarding_exists");
    return !tx.exec_params("SELECT 1 FROM onboardings WHERE deal_id = $1", deal_id).empty();
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
    tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd.onboarding.assign'))");
    if (!tx.exec_params("SELECT 1 FROM onboardings WHERE deal_id = $1", w.deal_id).empty())
      return json::object();
    const auto active = tx.exec_params(
        "SELECT deal_id FROM onboardings WHERE company_id = $1 AND state = 'onboarding'", w.company_id);
    if (!active.empty()) {
      spdlog::info("onboarding: deal {}: company {} is already in onboarding (deal {})", w.deal_id,
                   w.company_id, active[0][0].as<std::int64_t>());
      return {{"skipped", "company already in onboarding (deal " + active[0][0].as<std::string>() + ")"}};
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
        assign(tx, "onboarding:" + segment, owners,
               "SELECT owner_id, count(*) FROM onboardings WHERE state = 'onboarding' AND segment = $1 "
               "GROUP BY owner_id",
               segment, cap);
    const json deal = {
        {"name", w.deal_name}, {"company_name", w.company_name},     {"plan", w.plan},   {"mrr", w.mrr},
        {"seats", w.seats},    {"contract_start", w.contract_start}, {"goals", w.goals}, {"kpis", w.kpis},
        {"amount", w.amount},  {"deal_owner", w.deal_owner}};
    tx.exec_params(
        "INSERT INTO onboardings (deal_id, company_id, source, state, segment, owner_id, started_on, deal) "
        "VALUES ($1, $2, $3, 'onboarding', $4, $5, $6::date, $7::jsonb)",
        w.deal_id, w.company_id, source, segment, *owner, core::format_day(start), deal.dump());
    const std::string owner_label = store::CrmRepository::owner_name(tx, *owner);
    auto vars = template_vars(deal, w.company_id, w.deal_id, owner_label, core::format_day(start));
    std::vector<outbox::Item> out;
    std::map<std::string, std::string> props = {{wb.stage_property, "onboarding"}};
    if (!s_.owner_property.empty()) props[s_.owner_property] = *owner;
    out.push_back(
        {"onboarding:" + std::to_string(w.deal_id) + ":stage", w.company_id, outbox::PropertyUpdate{props}});
    std::vector<std::string> keys, steps, dues;
    std::vector<std::int64_t> positions;
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
      keys.push_back(key);
      steps.push_back(step.id);
      dues.push_back(core::format_day(due));
      positions.push_back(static_cast<std::int64_t>(i));
    }
    tx.exec_params(
        "INSERT INTO onboarding_steps (deal_id, step, position, task_key, due_day) SELECT $1, s, p, k, "
        "d::date "
        "FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) AS u (s, p, k, d)",
        w.deal_id, store::text_array(steps), store::bigint_array(positions), store::text_array(keys),
        store::text_array(dues));
    if (wb.slack) {
      vars["due"] = dues.front();
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
    const auto rows = tx.exec(
        "DELETE FROM deal_stage_changes d USING onboarding_state s WHERE true "
        "RETURNING d.deal_id, d.stage, d.first_seen, coalesce(d.won_after >= s.since, false)");
    seen = rows.size();
    if (rows.empty() || !s_.enabled) {
      tx.commit();
      return;
    }
    const auto won = store::CrmRepository::won_stages(tx, s_.won_stages);
    std::set<std::int64_t> deals;
    for (const auto& r : rows) {
      if (!won.count(r[1].as<std::string>())) continue;
      // A deal first seen already won counts only when it was won after onboarding began to run.
      if (r[2].as<bool>() && !r[3].as<bool>()) continue;
      deals.insert(r[0].as<std::int64_t>());
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
      // Hand-over: to a CSM by capacity (csm_pool), else the company's owner keeps it.
      std::string csm;
      if (!s_.csm_pool.empty()) {
        const int cap = row.segment == "high_touch" ? s_.csm_high_touch_capacity : s_.csm_tech_touch_capacity;
        const auto chosen =
            assign(tx, "csm:" + row.segment, pool_owners(tx, s_.csm_pool),
                   "WITH held AS (SELECT id AS company_id, owner_id, CASE WHEN coalesce(mrr, 0) >= " +
                       std::to_string(s_.high_touch_min_mrr) + " OR plan = ANY(" +
                       tx.quote(store::text_array(std::vector<std::string>(s_.high_touch_plans.begin(),
                                                                           s_.high_touch_plans.end()))) +
                       "::text[]) THEN 'high_touch' ELSE 'tech_touch' END AS segment FROM companies WHERE "
                       "NOT archived AND "
                       "owner_id IS NOT NULL UNION SELECT company_id, csm_id, segment FROM onboardings WHERE "
                       "csm_id IS NOT "
                       "NULL) SELECT owner_id, count(DISTINCT company_id) FROM held WHERE segment = $1 GROUP "
                       "BY owner_id",
                   row.segment, cap);
        if (chosen) csm = *chosen;
      }
      if (csm.empty()) {
        const auto r =
            tx.exec_params("SELECT coalesce(owner_id, '') FROM companies WHERE id = $1", row.company);
        csm = r.empty() || r[0][0].as<std::string>().empty() ? row.owner : r[0][0].as<std::string>();
      }
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
