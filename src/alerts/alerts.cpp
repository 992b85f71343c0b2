#include "cshealthd/alerts/alerts.hpp"

#include <spdlog/spdlog.h>

namespace cshealthd::alerts {

using json = nlohmann::json;

Alerts::Alerts(store::Database& db, const Settings& settings, const workflow::Context& context,
               const outbox::Settings& outbox, hubspot::ClientFactory clients, metrics::Registry& metrics,
               Clock& clock)
    : db_(db),
      settings_(settings),
      ctx_(context),
      outbox_(outbox),
      clients_(std::move(clients)),
      metrics_(metrics),
      clock_(clock),
      store_(db) {}

namespace {

// The open alert tasks' status. Few open: all read by id. Past that, a search for the alert tasks changed
// since the last read (less this overlap, for clocks and HubSpot's search lag) finds completions at a
// call per 200 changes, and a share of the open tasks, the longest unread first, is read by id so that
// each is read about daily: only a read by id sees a task deleted in HubSpot.
constexpr std::size_t kReadByIdUpTo = 100;
constexpr std::int64_t kSearchOverlapMs = 10 * 60 * 1000;
constexpr std::size_t kSearchCap = 10'000;  // HubSpot's: past it, read everything by id
constexpr std::int64_t kDayMs = 86'400'000;

}  // namespace

std::size_t Alerts::refresh_task_status(hubspot::HubSpotClient& client) {
  const auto open = store_.open_tasks();
  if (open.empty()) return 0;
  const std::int64_t started = clock_.now_ms();
  std::map<std::string, std::string> key_of;  // HubSpot id -> alert key
  for (const auto& t : open) key_of[t.hubspot_id] = t.key;
  std::map<std::string, bool> status;
  const auto last = store_.tasks_checked_ms();
  bool searched = false;
  if (open.size() > kReadByIdUpTo && last) {
    const std::string& key_prop = outbox_.task_key_property;
    json body = {
        {"filterGroups",
         json::array({{{"filters", json::array({{{"propertyName", key_prop}, {"operator", "HAS_PROPERTY"}},
                                                {{"propertyName", "hs_lastmodifieddate"},
                                                 {"operator", "GTE"},
                                                 {"value", std::to_string(*last - kSearchOverlapMs)}}})}}})},
        {"properties", json::array({key_prop, "hs_task_status"})},
        {"sorts", json::array({{{"propertyName", "hs_lastmodifieddate"}, {"direction", "ASCENDING"}}})},
        {"limit", 200}};
    std::size_t seen = 0;
    searched = true;
    for (std::string after;;) {
      if (!after.empty()) body["after"] = after;
      const auto page = client.search("tasks", body);
      for (const auto& r : page.results) {
        const auto it = key_of.find(r.id);
        if (it == key_of.end()) continue;
        const auto* st = r.property("hs_task_status");
        status[it->second] = !st || st->text != "COMPLETED";
      }
      seen += page.results.size();
      if (page.next_after.empty()) break;
      if (seen >= kSearchCap) {
        searched = false;  // too many changes for one search
        status.clear();
        break;
      }
      after = page.next_after;
    }
  }
  std::size_t by_id = open.size();
  if (searched) {
    const auto elapsed = std::max<std::int64_t>(0, started - *last);
    const auto share =
        static_cast<std::size_t>((static_cast<double>(open.size()) * static_cast<double>(elapsed)) /
                                 static_cast<double>(kDayMs)) +
        1;
    by_id = std::clamp(share, kReadByIdUpTo, open.size());
  }
  std::vector<std::string> read;
  for (std::size_t i = 0; i < by_id; i += 100) {
    std::vector<std::string> ids;
    for (std::size_t j = i; j < std::min(by_id, i + 100); ++j) {
      ids.push_back(open[j].hubspot_id);
      read.push_back(open[j].key);
      status[open[j].key] = false;  // a task deleted in HubSpot is not open
    }
    for (const auto& r : client.batch_read("tasks", ids, {"hs_task_status"})) {
      const auto it = key_of.find(r.id);
      if (it == key_of.end()) continue;
      const auto* st = r.property("hs_task_status");
      status[it->second] = !st || st->text != "COMPLETED";
    }
  }
  store_.set_task_open(status, read, started);
  store_.set_tasks_checked_ms(started);
  return open.size();
}

void Alerts::prepare(const workflow::PlanDay&) {
  auto handle = clients_();
  open_tasks_checked_ = refresh_task_status(*handle.client);
}

json Alerts::plan(pqxx::work& tx, const workflow::PlanDay& day) {
  auto result = plan_in(tx, day.day, day.only, day.run_id, false);
  result.open_tasks_checked = open_tasks_checked_;
  return plan_json(result.plan, false);
}

PlanResult Alerts::plan(std::int32_t day, const std::optional<std::vector<std::int64_t>>& only,
                        std::optional<std::int64_t> run_id, bool dry_run, bool check_tasks) {
  std::size_t checked = 0;
  if (check_tasks) {
    auto handle = clients_();
    checked = refresh_task_status(*handle.client);
  }
  PlanResult result;
  db_.with_retry("writeback_plan", [&](pqxx::connection& c) {
    pqxx::work tx(c, "writeback_plan");
    workflow::lock_planning(tx);
    result = plan_in(tx, day, only, run_id, dry_run);
    if (!dry_run) tx.commit();  // a dry run rolls back: it changes nothing
  });
  result.open_tasks_checked = checked;
  return result;
}

PlanResult Alerts::plan_in(pqxx::work& tx, std::int32_t day,
                           const std::optional<std::vector<std::int64_t>>& only,
                           std::optional<std::int64_t> run_id, bool dry_run) {
  PlanResult result;
  const core::EpochMs now_ms = clock_.now_ms();
  const auto in = AlertStore::load(tx, day, ctx_.managers, only);
  core::PlanContext ctx;
  ctx.day = day;
  ctx.now_ms = now_ms;
  ctx.calendar = &ctx_.calendar;
  ctx.zone = &ctx_.zone;
  ctx.created_today = in.created_today;
  ctx.digests_today = in.digests_today;
  core::Planner planner(settings_.plan);
  result.plan = planner.plan(ctx, in.companies, in.episodes, in.snoozes);
  result.companies = in.companies.size();
  if (!dry_run) AlertStore::record(tx, result.plan, run_id, day, ctx_.slack);
  const auto& n = result.plan.counts;
  spdlog::info(
      "writeback: planned {} companies for {}: {} property updates, {} tasks ({} alerts, {} digested, {} "
      "escalations), {} closes, {} snoozed{}",
      result.companies, core::format_day(day), result.plan.properties.size(), result.plan.tasks.size(),
      n.alerts, n.digested, n.escalations, n.closes, n.snoozed, dry_run ? " (dry run)" : "");
  return result;
}

json plan_json(const core::Plan& plan, bool with_intents) {
  const auto& n = plan.counts;
  json out = {{"property_updates", plan.properties.size()},
              {"tasks", plan.tasks.size()},
              {"closes", plan.closes.size()},
              {"alerts", n.alerts},
              {"digested", n.digested},
              {"escalations", n.escalations},
              {"snoozed", n.snoozed},
              {"rearmed", n.rearmed},
              {"unchanged_companies", n.unchanged_companies}};
  if (!with_intents) return out;
  json props = json::array(), tasks = json::array(), closes = json::array();
  for (const auto& p : plan.properties)
    props.push_back({{"company_id", p.company_id}, {"properties", p.properties}});
  for (const auto& t : plan.tasks)
    tasks.push_back({{"key", t.key},
                     {"company_id", t.company_id},
                     {"rule", t.rule},
                     {"owner_id", t.owner_id},
                     {"priority", t.priority},
                     {"due", core::format_day(t.due_day)},
                     {"subject", t.subject},
                     {"body", t.body}});
  for (const auto& c : plan.closes)
    closes.push_back({{"task_key", c.task_key}, {"company_id", c.company_id}, {"rule", c.rule}});
  out["intents"] = {{"properties", props}, {"tasks", tasks}, {"closes", closes}};
  return out;
}

}  // namespace cshealthd::alerts
