#include "cshealthd/alerts/store.hpp"

#include "cshealthd/outbox/written_properties.hpp"

#include "cshealthd/core/time.hpp"

#include <set>

#include "cshealthd/store/copy_writer.hpp"
#include "cshealthd/store/sql_params.hpp"
#include "cshealthd/store/usage_store.hpp"

namespace cshealthd::alerts {
namespace {

using json = nlohmann::json;

using store::optional_text;

constexpr const char* kSnoozeColumns =
    "id, company_id, rule, until::text, reason, author, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), revoked_at IS NOT NULL, "
    "revoked_by";

StoredSnooze stored_snooze(const pqxx::row& r) {
  StoredSnooze s;
  s.id = r[0].as<std::int64_t>();
  s.company_id = r[1].as<std::int64_t>();
  s.rule = r[2].as<std::string>();
  s.until = r[3].as<std::string>();
  s.reason = r[4].as<std::string>();
  s.author = r[5].as<std::string>();
  s.created_at = r[6].as<std::string>();
  s.revoked = r[7].as<bool>();
  s.revoked_by = optional_text(r[8]);
  return s;
}

std::vector<std::string> string_list(const json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& x : j) {
    if (x.is_string()) out.push_back(x.get<std::string>());
  }
  return out;
}

}  // namespace

PlanInputs AlertStore::load(pqxx::transaction_base& tx, std::int32_t day, const workflow::Managers& managers,
                            const std::optional<std::vector<std::int64_t>>& only) {
  PlanInputs in;
  const std::string d = core::format_day(day);
  const std::string ids = only ? store::bigint_array(*only) : std::string("{}");
  const auto rows = tx.exec_params(
      "SELECT h.company_id, coalesce(c.name, ''), coalesce(c.owner_id, ''), coalesce(c.cs_stage, ''), "
      "h.score, "
      "h.coverage, h.status, h.reasons::text, h.signals::text, coalesce(w.written::text, '{}'), "
      "coalesce(o.teams::text, '[]'), h.churn_risk, h.expansion_likelihood "
      "FROM health_scores h JOIN companies c ON c.id = h.company_id AND NOT c.archived "
      "LEFT JOIN writeback_companies w ON w.company_id = h.company_id "
      "LEFT JOIN crm_owners o ON o.id::text = c.owner_id "
      "WHERE h.day = $1::date AND ($2 OR h.company_id = ANY($3::bigint[])) ORDER BY h.company_id",
      d, !only.has_value(), ids);
  in.companies.reserve(rows.size());
  for (const auto& r : rows) {
    core::PlanCompany c;
    c.id = r[0].as<std::int64_t>();
    c.name = r[1].as<std::string>();
    c.owner_id = r[2].as<std::string>();
    c.stage = r[3].as<std::string>();
    c.score = r[4].as<double>();
    c.coverage = r[5].as<double>();
    if (!r[11].is_null()) c.churn_risk = r[11].as<double>();
    if (!r[12].is_null()) c.expansion_likelihood = r[12].as<double>();
    c.status = r[6].as<std::string>();
    c.reasons = string_list(json::parse(r[7].as<std::string>()));
    for (const auto& s : json::parse(r[8].as<std::string>())) {
      if (s.is_object() && s.value("kind", "") == "churn")
        c.signals.push_back({s.value("name", ""), s.value("priority", ""), s.value("facts", "")});
    }
    const json written = json::parse(r[9].as<std::string>());
    for (const auto& [k, v] : written.items()) {
      if (v.is_string()) c.written[k] = v.get<std::string>();
    }
    c.manager_id = managers.manager_of_owner(c.owner_id, r[10].as<std::string>());
    in.companies.push_back(std::move(c));
  }
  // The usage summary written through: what was sent to cshealthd (the HubSpot properties are HubSpot's).
  const auto usage = store::UsageStore::summaries(tx, day, only);
  for (auto& c : in.companies) {
    const auto u = usage.find(c.id);
    if (u == usage.end()) continue;
    const auto& s = u->second;
    c.usage = {s.active_users, s.logins, s.seats, s.features, s.last_active_day};
  }
  for (const auto& r : tx.exec_params("SELECT company_id, rule, number, active, task_key, assignee, "
                                      "opened_on::text, cleared_since::text, "
                                      "task_open, escalated, closed, task_body FROM alert_episodes "
                                      "WHERE $1 OR company_id = ANY($2::bigint[])",
                                      !only.has_value(), ids)) {
    core::Episode e;
    e.company_id = r[0].as<std::int64_t>();
    e.rule = r[1].as<std::string>();
    e.number = r[2].as<int>();
    e.active = r[3].as<bool>();
    e.task_key = r[4].as<std::string>();
    e.assignee = r[5].as<std::string>();
    e.opened_day = core::parse_day(r[6].as<std::string>()).value_or(day);
    if (!r[7].is_null()) e.cleared_since = core::parse_day(r[7].as<std::string>());
    e.task_open = r[8].as<bool>();
    e.escalated = r[9].as<bool>();
    e.closed = r[10].as<bool>();
    e.task_body = r[11].as<std::string>();
    in.episodes.push_back(std::move(e));
  }
  for (const auto& r : tx.exec_params("SELECT company_id, rule, until::text FROM alert_snoozes WHERE "
                                      "revoked_at IS NULL AND until >= $1::date",
                                      d)) {
    in.snoozes.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(),
                          core::parse_day(r[2].as<std::string>()).value_or(0)});
  }
  for (const auto& r :
       tx.exec_params("SELECT assignee, tasks, digests FROM alert_task_days WHERE day = $1::date", d)) {
    in.created_today[r[0].as<std::string>()] = r[1].as<int>();
    in.digests_today[r[0].as<std::string>()] = r[2].as<int>();
  }
  return in;
}

void AlertStore::record(pqxx::work& tx, const core::Plan& plan, std::optional<std::int64_t> run_id,
                        std::int32_t day, bool slack) {
  // Property updates are keyed by the planning transaction: each plan's are its own.
  const std::string txid = "t" + tx.exec("SELECT txid_current()")[0][0].as<std::string>();
  std::vector<outbox::Item> items;
  items.reserve(plan.properties.size() + plan.tasks.size() * (slack ? 2 : 1) + plan.closes.size());
  for (const auto& p : plan.properties)
    items.push_back({"props:" + std::to_string(p.company_id) + ":" + txid, p.company_id,
                     outbox::PropertyUpdate{p.properties}});
  for (const auto& t : plan.tasks) {
    outbox::Task task{t.subject, t.body, t.owner_id, t.priority, t.rule, t.due_day, t.due_ms, 0};
    items.push_back({t.key, t.company_id, std::move(task)});
    if (slack && t.slack)
      items.push_back({"slack:" + t.key, t.company_id, outbox::SlackMessage{t.slack_text}});
  }
  for (const auto& c : plan.closes)
    items.push_back({"close:" + c.task_key, c.company_id, outbox::TaskClose{c.task_key, c.body, c.rule}});
  outbox::OutboxStore::enqueue(tx, items, run_id);
  outbox::WrittenProperties::replace(tx, plan.written);
  if (!plan.episodes.empty()) {
    // A plan changes many episodes at once (the first run opens one per alert): COPY, then one upsert.
    tx.exec(
        "CREATE TEMP TABLE wb_episodes (company_id bigint, rule text, number integer, active boolean, "
        "task_key text, "
        "assignee text, opened_on date, cleared_since date, task_open boolean, escalated boolean, closed "
        "boolean, "
        "task_body text) ON COMMIT DROP");
    {
      store::CopyWriter copy(tx, "wb_episodes",
                             {"company_id", "rule", "number", "active", "task_key", "assignee", "opened_on",
                              "cleared_since", "task_open", "escalated", "closed", "task_body"});
      for (const auto& e : plan.episodes) {
        copy.number(e.company_id)
            .text(e.rule)
            .number(std::int64_t{e.number})
            .boolean(e.active)
            .text(e.task_key)
            .text(e.assignee)
            .text(core::format_day(e.opened_day));
        if (e.cleared_since)
          copy.text(core::format_day(*e.cleared_since));
        else
          copy.null();
        copy.boolean(e.task_open).boolean(e.escalated).boolean(e.closed).text(e.task_body).end_row();
      }
      copy.complete();
    }
    tx.exec(
        "INSERT INTO alert_episodes (company_id, rule, number, active, task_key, assignee, opened_on, "
        "cleared_since, "
        "task_open, escalated, closed, task_body) SELECT company_id, rule, number, active, task_key, "
        "assignee, "
        "opened_on, cleared_since, task_open, escalated, closed, task_body FROM wb_episodes "
        "ON CONFLICT (company_id, rule) DO UPDATE SET number = EXCLUDED.number, active = EXCLUDED.active, "
        "task_key = EXCLUDED.task_key, assignee = EXCLUDED.assignee, opened_on = EXCLUDED.opened_on, "
        "cleared_since = EXCLUDED.cleared_since, task_open = EXCLUDED.task_open, escalated = "
        "EXCLUDED.escalated, "
        "closed = EXCLUDED.closed, task_body = EXCLUDED.task_body, updated_at = now()");
  }
  std::map<std::string, std::pair<int, int>> per_assignee;
  for (const auto& t : plan.tasks) {
    auto& n = per_assignee[t.owner_id];
    (t.rule == "digest" ? n.second : n.first) += 1;
  }
  for (const auto& [who, n] : per_assignee) {
    tx.exec_params(
        "INSERT INTO alert_task_days (assignee, day, tasks, digests) VALUES ($1, $2::date, $3, $4) "
        "ON CONFLICT (assignee, day) DO UPDATE SET tasks = alert_task_days.tasks + EXCLUDED.tasks, "
        "digests = alert_task_days.digests + EXCLUDED.digests",
        who, core::format_day(day), n.first, n.second);
  }
}

std::vector<AlertStore::OpenTask> AlertStore::open_tasks() {
  return db_.with_retry("writeback_open_tasks", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "writeback_open_tasks");
    std::vector<OpenTask> out;
    for (const auto& r :
         tx.exec("SELECT t.task_key, o.hubspot_id, t.checked_ms FROM ("
                 "SELECT task_key, task_checked_ms AS checked_ms FROM alert_episodes WHERE task_open AND "
                 "task_key "
                 "<> '' "
                 "UNION ALL SELECT task_key, checked_ms FROM onboarding_steps WHERE NOT completed) t "
                 "JOIN outbox o ON o.key = t.task_key WHERE o.state = 'done' AND o.hubspot_id IS NOT NULL "
                 "ORDER BY t.checked_ms, t.task_key"))
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>()});
    return out;
  });
}

void AlertStore::set_task_open(const std::map<std::string, bool>& open_by_key,
                               const std::vector<std::string>& read_by_id, std::int64_t ms) {
  std::vector<std::string> closed;
  for (const auto& [key, open] : open_by_key) {
    if (!open) closed.push_back(key);
  }
  if (closed.empty() && read_by_id.empty()) return;
  db_.with_retry("writeback_task_status", [&](pqxx::connection& c) {
    pqxx::work tx(c, "writeback_task_status");
    if (!closed.empty())
      tx.exec_params(
          "UPDATE alert_episodes SET task_open = false, updated_at = now() WHERE task_key = ANY($1::text[])",
          store::text_array(closed));
    if (!closed.empty()) {
      tx.exec_params("UPDATE onboarding_steps SET completed = true WHERE task_key = ANY($1::text[])",
                     store::text_array(closed));
      // The day it was first seen completed: the KPIs' onboarding days and acted-on alerts.
      tx.exec_params(
          "INSERT INTO task_completions (task_key, completed_on) SELECT k, $2::date FROM unnest($1::text[]) "
          "k "
          "ON CONFLICT (task_key) DO NOTHING",
          store::text_array(closed), core::format_day(core::day_of(ms)));
    }
    if (!read_by_id.empty()) {
      tx.exec_params("UPDATE alert_episodes SET task_checked_ms = $2 WHERE task_key = ANY($1::text[])",
                     store::text_array(read_by_id), ms);
      tx.exec_params("UPDATE onboarding_steps SET checked_ms = $2 WHERE task_key = ANY($1::text[])",
                     store::text_array(read_by_id), ms);
    }
    tx.commit();
  });
}

std::optional<std::int64_t> AlertStore::tasks_checked_ms() {
  return db_.with_retry("writeback_task_checks", [&](pqxx::connection& c) -> std::optional<std::int64_t> {
    pqxx::read_transaction tx(c, "writeback_task_checks");
    const auto r = tx.exec("SELECT checked_ms FROM writeback_task_checks WHERE portal = 'default'");
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::int64_t>();
  });
}

void AlertStore::set_tasks_checked_ms(std::int64_t ms) {
  db_.with_retry("writeback_task_checks_set", [&](pqxx::connection& c) {
    pqxx::work tx(c, "writeback_task_checks_set");
    tx.exec_params(
        "INSERT INTO writeback_task_checks (portal, checked_ms) VALUES ('default', $1) "
        "ON CONFLICT (portal) DO UPDATE SET checked_ms = EXCLUDED.checked_ms",
        ms);
    tx.commit();
  });
}

StoredSnooze AlertStore::snooze(std::int64_t company_id, const std::string& rule, const std::string& until,
                                const std::string& reason, const std::string& author,
                                const std::vector<std::string>& rules, std::int32_t today) {
  if (std::find(rules.begin(), rules.end(), rule) == rules.end()) {
    std::string known;
    for (const auto& r : rules) known += (known.empty() ? "" : ", ") + r;
    throw InvalidSnooze("unknown rule '" + rule + "' (rules: " + known + ")");
  }
  const auto day = core::parse_day(until);
  if (!day) throw InvalidSnooze("until must be a date (YYYY-MM-DD), got '" + until + "'");
  if (*day < today) throw InvalidSnooze("until " + until + " is in the past");
  if (reason.empty()) throw InvalidSnooze("a snooze needs a reason");
  return db_.with_retry("snooze_set", [&](pqxx::connection& c) {
    pqxx::work tx(c, "snooze_set");
    tx.exec_params(
        "UPDATE alert_snoozes SET revoked_at = now(), revoked_by = $3 WHERE company_id = $1 AND rule = $2 "
        "AND revoked_at IS NULL",
        company_id, rule, author);
    const auto r =
        tx.exec_params1(std::string("INSERT INTO alert_snoozes (company_id, rule, until, reason, author) "
                                    "VALUES ($1, $2, $3::date, $4, $5) RETURNING ") +
                            kSnoozeColumns,
                        company_id, rule, until, reason, author);
    tx.commit();
    return stored_snooze(r);
  });
}

std::vector<StoredSnooze> AlertStore::snoozes(std::int64_t company_id) {
  return db_.with_retry("snooze_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "snooze_list");
    std::vector<StoredSnooze> out;
    for (const auto& r :
         tx.exec_params(std::string("SELECT ") + kSnoozeColumns +
                            " FROM alert_snoozes WHERE company_id = $1 ORDER BY id DESC LIMIT 200",
                        company_id))
      out.push_back(stored_snooze(r));
    return out;
  });
}

bool AlertStore::unsnooze(std::int64_t company_id, const std::string& rule, const std::string& actor) {
  return db_.with_retry("snooze_revoke", [&](pqxx::connection& c) {
    pqxx::work tx(c, "snooze_revoke");
    const auto r = tx.exec_params(
        "UPDATE alert_snoozes SET revoked_at = now(), revoked_by = $3 WHERE company_id = $1 AND rule = $2 "
        "AND revoked_at IS NULL RETURNING id",
        company_id, rule, actor);
    tx.commit();
    return !r.empty();
  });
}

}  // namespace cshealthd::alerts
