#include "cshealthd/outbox/outbox_store.hpp"
#include "cshealthd/outbox/written_properties.hpp"

#include <spdlog/spdlog.h>

#include "cshealthd/store/copy_writer.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::outbox {
namespace {

using json = nlohmann::json;

constexpr const char* kColumns =
    "id, key, kind, state, company_id, run_id, payload::text, attempts, hubspot_id, error, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

// What the deliverer reads of a row.
constexpr const char* kPendingColumns = "id, key, company_id, payload::text, attempts, kind";

using store::optional_int;
using store::optional_text;

OutboxItem outbox_item(const pqxx::row& r) {
  OutboxItem o;
  o.id = r[0].as<std::int64_t>();
  o.key = r[1].as<std::string>();
  o.kind = r[2].as<std::string>();
  o.state = r[3].as<std::string>();
  o.company_id = optional_int(r[4]);
  o.run_id = optional_int(r[5]);
  o.payload = json::parse(r[6].as<std::string>());
  o.attempts = r[7].as<int>();
  o.hubspot_id = optional_text(r[8]);
  o.error = optional_text(r[9]);
  o.created_at = r[10].as<std::string>();
  o.updated_at = r[11].as<std::string>();
  return o;
}

}  // namespace

void OutboxStore::enqueue(pqxx::work& tx, const std::vector<Item>& items,
                          std::optional<std::int64_t> run_id) {
  if (items.empty()) return;
  // Kept for the connection, emptied at every commit; emptied here too for a second batch in one
  // transaction.
  tx.exec(
      "CREATE TEMP TABLE IF NOT EXISTS outbox_staging (key text, kind text, company_id bigint, run_id "
      "bigint, "
      "payload text) ON COMMIT DELETE ROWS");
  {
    store::CopyWriter copy(tx, "outbox_staging", {"key", "kind", "company_id", "run_id", "payload"});
    for (const auto& i : items) {
      copy.text(i.key).text(name_of(kind_of(i.intent)));
      if (i.company_id)
        copy.number(i.company_id);
      else
        copy.null();
      if (run_id)
        copy.number(*run_id);
      else
        copy.null();
      copy.text(encode(i).dump()).end_row();
    }
    copy.complete();
  }
  tx.exec(
      "INSERT INTO outbox (key, kind, company_id, run_id, payload) SELECT key, kind, company_id, run_id, "
      "payload::jsonb FROM outbox_staging ON CONFLICT (key) DO NOTHING");
  tx.exec("DELETE FROM outbox_staging");
}

std::vector<Pending> OutboxStore::fetch(const char* name, const std::string& sql,
                                        const std::vector<std::string>& params) {
  std::vector<std::pair<std::int64_t, std::string>> unreadable;
  auto readable = db_.with_retry(name, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, name);
    std::vector<Pending> out;
    unreadable.clear();
    for (const auto& r : tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params))) {
      Pending i;
      i.id = r[0].as<std::int64_t>();
      i.key = r[1].as<std::string>();
      i.company_id = r[2].is_null() ? 0 : r[2].as<std::int64_t>();
      i.attempts = r[4].as<int>();
      const auto kind = kind_named(r[5].as<std::string>());
      try {
        if (!kind) throw std::invalid_argument("unknown kind " + r[5].as<std::string>());
        i.intent = decode(*kind, json::parse(r[3].as<std::string>()));
      } catch (const std::exception& e) {
        // Never sent half-understood, and never left pending either (it would stand at the head of its
        // queue for ever): dead-lettered below, for an operator to look at.
        spdlog::error("outbox: item {} ({}) cannot be read: {}", i.id, i.key, e.what());
        unreadable.emplace_back(i.id, e.what());
        continue;
      }
      out.push_back(std::move(i));
    }
    return out;
  });
  for (const auto& [id, error] : unreadable) mark_dead({id}, "cannot be read by this version: " + error);
  return readable;
}

std::vector<Pending> OutboxStore::pending(Kind kind, std::size_t limit, bool with_sending) {
  return fetch("outbox_pending",
               std::string("SELECT ") + kPendingColumns + " FROM outbox WHERE kind = $1 AND state " +
                   (with_sending ? "IN ('pending', 'sending')" : "= 'pending'") + " ORDER BY id LIMIT $2",
               {name_of(kind), std::to_string(limit)});
}

std::vector<Pending> OutboxStore::pending_properties(std::size_t companies, std::int64_t after_company) {
  return fetch(
      "outbox_properties",
      std::string("SELECT ") + kPendingColumns +
          " FROM outbox WHERE kind = 'properties' AND state = 'pending' AND company_id IN (SELECT "
          "DISTINCT company_id FROM outbox WHERE kind = 'properties' AND state = 'pending' AND company_id > "
          "$2::bigint ORDER BY 1 LIMIT $1) ORDER BY id",
      {std::to_string(companies), std::to_string(after_company)});
}

std::vector<Pending> OutboxStore::in_doubt(Kind kind, std::chrono::milliseconds lag, std::size_t limit) {
  return fetch("outbox_in_doubt",
               std::string("SELECT ") + kPendingColumns +
                   " FROM outbox WHERE kind = $1 AND state = 'sending' AND sent_at <= now() - $2::bigint * "
                   "interval '1 millisecond' ORDER BY id LIMIT $3",
               {name_of(kind), std::to_string(lag.count()), std::to_string(limit)});
}

std::optional<std::int64_t> OutboxStore::in_doubt_wait_ms(std::chrono::milliseconds lag, bool tasks,
                                                          bool records) {
  return db_.with_retry("outbox_in_doubt_wait", [&](pqxx::connection& c) -> std::optional<std::int64_t> {
    pqxx::read_transaction tx(c, "outbox_in_doubt_wait");
    const auto r = tx.exec_params1(
        "SELECT (extract(epoch FROM min(sent_at) - now()) * 1000)::bigint + $1 FROM outbox "
        "WHERE state = 'sending' AND ((kind = 'task' AND $2) OR (kind = 'record' AND $3) OR kind = 'deal')",
        static_cast<std::int64_t>(lag.count()), tasks, records);
    if (r[0].is_null()) return std::nullopt;
    return r[0].as<std::int64_t>();
  });
}

std::vector<ReadyClose> OutboxStore::ready_closes(std::size_t limit) {
  return db_.with_retry("outbox_closes", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "outbox_closes");
    std::vector<ReadyClose> out;
    for (const auto& r : tx.exec_params(
             "SELECT o.id, t.state = 'dead', coalesce(t.hubspot_id, ''), coalesce(o.payload->>'body', '') "
             "FROM "
             "outbox o JOIN outbox t ON t.key = o.payload->>'task_key' WHERE o.kind = 'task_close' AND "
             "o.state = 'pending' AND t.state IN ('done', 'dead') ORDER BY o.id LIMIT $1",
             static_cast<std::int64_t>(limit)))
      out.push_back(
          {r[0].as<std::int64_t>(), r[1].as<bool>(), r[2].as<std::string>(), r[3].as<std::string>()});
    return out;
  });
}

std::vector<Pending> OutboxStore::slack_due(std::size_t limit) {
  return fetch(
      "outbox_slack",
      std::string("SELECT ") + kPendingColumns +
          " FROM outbox WHERE kind = 'slack' AND state = 'pending' AND (sent_at IS NULL OR sent_at < "
          "now() - least(power(2, attempts), 300) * interval '1 second') ORDER BY id LIMIT $1",
      {std::to_string(limit)});
}

void OutboxStore::mark_done(const std::vector<std::int64_t>& ids,
                            const std::map<std::int64_t, std::string>& hubspot_ids, const std::string& note) {
  if (ids.empty()) return;
  std::vector<std::string> hs;
  for (const auto id : ids) {
    const auto h = hubspot_ids.find(id);
    hs.push_back(h == hubspot_ids.end() ? std::string() : h->second);
  }
  db_.with_retry("outbox_done", [&](pqxx::connection& c) {
    pqxx::work tx(c, "outbox_done");
    tx.exec_params(
        "UPDATE outbox o SET state = 'done', hubspot_id = coalesce(nullif(d.hubspot_id, ''), o.hubspot_id), "
        "done_at = now(), updated_at = now(), error = $3 "
        "FROM unnest($1::bigint[], $2::text[]) AS d (id, hubspot_id) WHERE o.id = d.id",
        store::bigint_array(ids), store::text_array(hs),
        store::nullable(note.empty() ? std::optional<std::string>() : std::optional<std::string>(note)));
    tx.commit();
  });
}

void OutboxStore::mark_dead(const std::vector<std::int64_t>& ids, const std::string& error) {
  if (ids.empty()) return;
  db_.with_retry("outbox_dead", [&](pqxx::connection& c) {
    pqxx::work tx(c, "outbox_dead");
    const auto rows = tx.exec_params(
        "UPDATE outbox SET state = 'dead', error = $2, updated_at = now() WHERE id = ANY($1::bigint[]) "
        "RETURNING company_id, kind, payload::text",
        store::bigint_array(ids), error);
    for (const auto& r : rows) {
      if (r[0].is_null() || r[1].as<std::string>() != name_of(Kind::kProperties)) continue;
      std::vector<std::string> properties;
      const json payload = json::parse(r[2].as<std::string>(), nullptr, false);
      if (!payload.is_object() || !payload.contains("properties") || !payload["properties"].is_object())
        continue;
      for (const auto& [k, v] : payload["properties"].items()) properties.push_back(k);
      WrittenProperties::forget(tx, r[0].as<std::int64_t>(), properties);
    }
    tx.commit();
  });
}

void OutboxStore::update(const char* name, const std::string& set, const std::vector<std::int64_t>& ids,
                         const std::string& also) {
  if (ids.empty()) return;
  db_.with_retry(name, [&](pqxx::connection& c) {
    pqxx::work tx(c, name);
    tx.exec_params("UPDATE outbox SET " + set + ", updated_at = now() WHERE id = ANY($1::bigint[])" + also,
                   store::bigint_array(ids));
    tx.commit();
  });
}

void OutboxStore::mark_sending(const std::vector<std::int64_t>& ids) {
  update("outbox_sending", "state = 'sending', attempts = attempts + 1, sent_at = now()", ids);
}

void OutboxStore::back_to_pending(const std::vector<std::int64_t>& ids) {
  update("outbox_pending", "state = 'pending', attempts = greatest(attempts - 1, 0)", ids,
         " AND state = 'sending'");
}

void OutboxStore::recreate(const std::vector<std::int64_t>& ids) {
  update("outbox_recreate", "state = 'pending'", ids);
}

void OutboxStore::failed_attempt(std::int64_t id, const std::string& error) {
  db_.with_retry("outbox_slack_retry", [&](pqxx::connection& c) {
    pqxx::work tx(c, "outbox_slack_retry");
    tx.exec_params(
        "UPDATE outbox SET attempts = attempts + 1, sent_at = now(), error = $2, updated_at = now() WHERE id "
        "= $1",
        id, error);
    tx.commit();
  });
}

std::vector<OutboxItem> OutboxStore::list(const std::optional<std::string>& state, std::size_t limit,
                                          std::int64_t before) {
  return db_.with_retry("outbox_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "outbox_list");
    std::vector<OutboxItem> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kColumns +
                                            " FROM outbox WHERE ($1::text IS NULL OR state = $1) AND id < $2 "
                                            "ORDER BY id DESC LIMIT $3",
                                        store::nullable(state), before, static_cast<std::int64_t>(limit)))
      out.push_back(outbox_item(r));
    return out;
  });
}

std::optional<OutboxItem> OutboxStore::get(std::int64_t id) {
  return db_.with_retry("outbox_get", [&](pqxx::connection& c) -> std::optional<OutboxItem> {
    pqxx::read_transaction tx(c, "outbox_get");
    const auto r = tx.exec_params(std::string("SELECT ") + kColumns + " FROM outbox WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return outbox_item(r[0]);
  });
}

std::optional<OutboxItem> OutboxStore::retry(std::int64_t id) {
  return db_.with_retry("outbox_retry", [&](pqxx::connection& c) -> std::optional<OutboxItem> {
    pqxx::work tx(c, "outbox_retry");
    const auto r =
        tx.exec_params(std::string("UPDATE outbox SET state = 'pending', attempts = 0, error = NULL, "
                                   "updated_at = now() WHERE id = $1 AND state = 'dead' RETURNING ") +
                           kColumns,
                       id);
    if (r.empty()) return std::nullopt;
    tx.commit();
    return outbox_item(r[0]);
  });
}

std::map<std::string, std::int64_t> OutboxStore::counts() {
  return db_.with_retry("outbox_counts", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "outbox_counts");
    std::map<std::string, std::int64_t> out{{"pending", 0}, {"sending", 0}, {"done", 0}, {"dead", 0}};
    for (const auto& r : tx.exec("SELECT state, count(*) FROM outbox GROUP BY 1"))
      out[r[0].as<std::string>()] = r[1].as<std::int64_t>();
    return out;
  });
}

}  // namespace cshealthd::outbox
