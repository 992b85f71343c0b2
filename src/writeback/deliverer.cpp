#include "cshealthd/writeback/deliverer.hpp"

#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "cshealthd/store/session_lock.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::writeback {
namespace {

using json = nlohmann::json;
using hubspot::ApiError;

constexpr std::size_t kBatch = 100;

struct Item {
  std::int64_t id = 0;
  std::string key;
  std::int64_t company_id = 0;
  json payload;
  int attempts = 0;
};

std::vector<std::int64_t> ids_of(const std::vector<Item>& items) {
  std::vector<std::int64_t> out;
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

// HubSpot's words for the log and the dead letter: short, and never the token (HubSpot never echoes it).
std::string words(const std::exception& e) {
  std::string w = e.what();
  if (w.size() > 1000) w.resize(1000);
  return w;
}

// Ids a 207 answer names as failed ({"errors":[{"context":{"ids":[...]}}]}); empty when it names none.
std::set<std::string> failed_ids(const json& answer) {
  std::set<std::string> out;
  if (!answer.is_object() || !answer.contains("errors") || !answer["errors"].is_array()) return out;
  for (const auto& e : answer["errors"]) {
    if (!e.is_object() || !e.contains("context") || !e["context"].is_object()) continue;
    const auto& ctx = e["context"];
    if (ctx.contains("ids") && ctx["ids"].is_array()) {
      for (const auto& id : ctx["ids"]) out.insert(id.is_string() ? id.get<std::string>() : id.dump());
    }
  }
  return out;
}

bool partial(const json& answer) {
  return answer.is_object() &&
         (answer.value("numErrors", 0) > 0 ||
          (answer.contains("errors") && answer["errors"].is_array() && !answer["errors"].empty()));
}

class Run {
 public:
  Run(store::Database& db, const Settings& s, metrics::Registry& metrics, Clock& clock,
      hubspot::HubSpotClient& client, std::stop_token stop, DeliveryReport& report)
      : db_(db), s_(s), metrics_(metrics), clock_(clock), client_(client), stop_(stop), report_(report) {}

  void operator()(PortalSetup setup) {
    mode_ = setup.tasks;
    services_ = setup.services;
    for (;;) {
      if (stop_.stop_requested()) {
        report_.interrupted = true;
        return;
      }
      if (properties_page() || tasks_batch() || records_batch() || deals_batch() || reconcile(tasks()) ||
          reconcile(records()) || reconcile(deals()) || closes_batch() || slack_batch())
        continue;
      // Creates in doubt wait for the search lag before they are looked for.
      const auto wait = in_doubt_wait_ms();
      if (!wait) return;
      clock_.sleep_for(std::chrono::milliseconds(std::clamp<std::int64_t>(*wait, 20, 1000)));
    }
  }

 private:
  // ---- outbox rows ----
  std::vector<Item> fetch(const std::string& name, const std::string& sql, const std::string& param = {}) {
    return db_.with_retry(name, [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c, name);
      std::vector<Item> out;
      const auto rows = param.empty() ? tx.exec(sql) : tx.exec_params(sql, param);
      for (const auto& r : rows) {
        Item i;
        i.id = r[0].as<std::int64_t>();
        i.key = r[1].as<std::string>();
        i.company_id = r[2].is_null() ? 0 : r[2].as<std::int64_t>();
        i.payload = json::parse(r[3].as<std::string>());
        i.attempts = r[4].as<int>();
        out.push_back(std::move(i));
      }
      return out;
    });
  }

  // Items done, with the HubSpot id of those that have one, in one statement.
  void mark_done(const std::vector<std::int64_t>& ids,
                 const std::map<std::int64_t, std::string>& hubspot_ids = {}, const std::string& note = {}) {
    if (ids.empty()) return;
    std::vector<std::string> hs;
    for (const auto id : ids) {
      const auto h = hubspot_ids.find(id);
      hs.push_back(h == hubspot_ids.end() ? std::string() : h->second);
    }
    db_.with_retry("outbox_done", [&](pqxx::connection& c) {
      pqxx::work tx(c, "outbox_done");
      tx.exec_params(
          "UPDATE outbox o SET state = 'done', hubspot_id = coalesce(nullif(d.hubspot_id, ''), "
          "o.hubspot_id), "
          "done_at = now(), updated_at = now(), error = $3 "
          "FROM unnest($1::bigint[], $2::text[]) AS d (id, hubspot_id) WHERE o.id = d.id",
          store::bigint_array(ids), store::text_array(hs),
          store::nullable(note.empty() ? std::optional<std::string>() : std::optional<std::string>(note)));
      tx.commit();
    });
  }

  // One state change of items (`set`: the SET list; `also`: a further condition), in its own transaction.
  void update_items(const char* name, const std::string& set, const std::vector<std::int64_t>& ids,
                    const std::string& also = {}) {
    if (ids.empty()) return;
    db_.with_retry(name, [&](pqxx::connection& c) {
      pqxx::work tx(c, name);
      tx.exec_params("UPDATE outbox SET " + set + ", updated_at = now() WHERE id = ANY($1::bigint[])" + also,
                     store::bigint_array(ids));
      tx.commit();
    });
  }

  void mark_dead(const std::vector<std::int64_t>& ids, const std::string& error, const std::string& kind) {
    if (ids.empty()) return;
    db_.with_retry("outbox_dead", [&](pqxx::connection& c) {
      pqxx::work tx(c, "outbox_dead");
      const auto rows = tx.exec_params(
          "UPDATE outbox SET state = 'dead', error = $2, updated_at = now() WHERE id = ANY($1::bigint[]) "
          "RETURNING company_id, payload::text",
          store::bigint_array(ids), error);
      if (kind == "properties") {
        // What never reached HubSpot is not written: the next plan plans it again.
        for (const auto& r : rows) {
          std::vector<std::string> keys;
          const json props = json::parse(r[1].as<std::string>()).value("properties", json::object());
          for (const auto& [k, v] : props.items()) keys.push_back(k);
          tx.exec_params(
              "UPDATE writeback_companies SET written = written - $2::text[] WHERE company_id = $1",
              r[0].as<std::int64_t>(), store::text_array(keys));
        }
      }
      tx.commit();
    });
    report_.dead += ids.size();
    metrics_.counter("cshealthd_writeback_dead_total", "Outbox items dead-lettered", {{"kind", kind}})
        .inc(ids.size());
    spdlog::error("writeback: {} {} item(s) dead-lettered: {}", ids.size(), kind, error);
  }

  void count(const char* kind, const char* outcome, std::uint64_t n) {
    if (n)
      metrics_
          .counter("cshealthd_writeback_items_total", "Outbox items delivered",
                   {{"kind", kind}, {"outcome", outcome}})
          .inc(n);
  }

  // ---- properties ----
  bool properties_page() {
    // Every pending update of the next 100 companies.
    const auto items =
        fetch("outbox_properties",
              "SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = "
              "'properties' AND state = 'pending' AND company_id IN (SELECT DISTINCT company_id FROM "
              "outbox WHERE kind = 'properties' AND state = 'pending' ORDER BY 1 LIMIT $1) ORDER BY id",
              std::to_string(kBatch));
    if (items.empty()) return false;
    // Several pending updates of one company (runs that planned while HubSpot was down) go as one: the
    // later value of a property wins, as it would have had they gone in order.
    std::map<std::int64_t, std::pair<json, std::vector<std::int64_t>>> merged;
    for (const auto& i : items) {
      auto& m = merged[i.company_id];
      if (m.first.is_null()) m.first = json::object();
      const json props = i.payload.value("properties", json::object());
      for (const auto& [k, v] : props.items()) m.first[k] = v;
      m.second.push_back(i.id);
    }
    std::vector<std::pair<std::int64_t, std::pair<json, std::vector<std::int64_t>>>> list(merged.begin(),
                                                                                          merged.end());
    send_properties(list);
    return true;
  }

  using Update = std::pair<std::int64_t, std::pair<json, std::vector<std::int64_t>>>;
  void send_properties(const std::vector<Update>& updates) {
    json inputs = json::array();
    for (const auto& [company, u] : updates)
      inputs.push_back({{"id", std::to_string(company)}, {"properties", u.first}});
    auto all_ids = [](const std::vector<Update>& us) {
      std::vector<std::int64_t> out;
      for (const auto& u : us) out.insert(out.end(), u.second.second.begin(), u.second.second.end());
      return out;
    };
    json answer;
    try {
      answer = client_.call("companies.batch_update", "POST",
                            client_.paths().objects("companies") + "/batch/update", {{"inputs", inputs}});
    } catch (const ApiError& e) {
      if (e.kind() != ApiError::Kind::kRejected && e.kind() != ApiError::Kind::kNotFound) throw;
      if (std::string(e.what()).find("PROPERTY_DOESNT_EXIST") != std::string::npos) {
        // Someone deleted an output property: every input would fail alike. Set the portal up again on the
        // next attempt instead of dead-lettering every company.
        forget_setup();
        throw;
      }
      split_properties(updates, words(e));
      return;
    }
    if (partial(answer)) {
      const auto failed = failed_ids(answer);
      if (failed.empty()) {
        split_properties(updates, answer.dump().substr(0, 1000));
        return;
      }
      std::vector<std::int64_t> ok, bad;
      std::uint64_t written = 0;
      for (const auto& [company, u] : updates) {
        const bool refused = failed.count(std::to_string(company)) > 0;
        auto& into = refused ? bad : ok;
        into.insert(into.end(), u.second.begin(), u.second.end());
        written += refused ? 0 : 1;
      }
      mark_done(ok);
      std::string why = "HubSpot: ";
      for (const auto& e : answer["errors"]) {
        if (e.is_object()) why += e.value("message", "") + " ";
      }
      mark_dead(bad, why, "properties");
      report_.companies += written;
      count("properties", "written", written);
      return;
    }
    mark_done(all_ids(updates));
    report_.companies += updates.size();
    count("properties", "written", updates.size());
  }

  void forget_setup() {
    db_.with_retry("writeback_setup_forget", [&](pqxx::connection& c) {
      pqxx::work tx(c, "writeback_setup_forget");
      tx.exec("DELETE FROM writeback_setup");
      tx.commit();
    });
  }

  // A rejected batch is not atomic either way: halve it until the bad input stands alone.
  void split_properties(const std::vector<Update>& updates, const std::string& why) {
    if (updates.size() == 1) {
      std::vector<std::int64_t> ids = updates[0].second.second;
      mark_dead(ids, why, "properties");
      return;
    }
    const auto mid = updates.begin() + static_cast<std::ptrdiff_t>(updates.size() / 2);
    send_properties(std::vector<Update>(updates.begin(), mid));
    send_properties(std::vector<Update>(mid, updates.end()));
  }

  // ---- records made exactly once: tasks, and the Services records of onboarding ----
  // What differs between them is names: the outbox kind, the object, the key property and the
  // association to the company.
  struct Target {
    const char* kind;
    std::string object, key_property;
    int company_association;  // HUBSPOT_DEFINED type id, object → company
  };
  Target tasks() const { return {"task", "tasks", s_.task_key_property, 192}; }
  Target records() const { return {"record", "0-162", s_.service_key_property, 792}; }
  Target deals() const { return {"deal", "deals", s_.deal_key_property, 5}; }  // deal → company (primary)

  json properties_of(const Target& t, const Item& i, bool first_send) const {
    if (std::string_view(t.kind) == "task") return task_properties(i, first_send);
    json props = i.payload.value("properties", json::object());
    props[t.key_property] = i.key;
    return props;
  }

  // ---- tasks ----
  json task_properties(const Item& i, bool first_send) const {
    const auto& p = i.payload;
    json props = {{"hs_task_subject", p.value("subject", "")},
                  {"hs_task_body", p.value("body", "")},
                  {"hs_task_priority", p.value("priority", "MEDIUM")},
                  {"hs_task_type", "TODO"},
                  {"hs_timestamp", std::to_string(p.value("due_ms", std::int64_t{0}))},
                  {s_.task_key_property, i.key}};
    if (!p.value("owner_id", "").empty()) props["hubspot_owner_id"] = p.value("owner_id", "");
    // Only a first send sets the status: a repeat must not reopen a task a CSM completed meanwhile.
    if (first_send) props["hs_task_status"] = "NOT_STARTED";
    return props;
  }

  bool tasks_batch() {
    auto items =
        fetch("outbox_tasks",
              mode_ == TaskMode::kUpsert
                  ? "SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = 'task' AND "
                    "state IN ('pending', 'sending') ORDER BY id LIMIT 100"
                  : "SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = 'task' AND "
                    "state = 'pending' ORDER BY id LIMIT 100");
    if (items.empty()) return false;
    if (mode_ == TaskMode::kUpsert)
      upsert_tasks(items);
    else
      create(tasks(), items);
    return true;
  }

  // Services records: always by a create whose unknown outcome is settled by a search (HubSpot does not
  // say whether the object may have a unique property). Where the portal has no Services object there is
  // nothing to make.
  bool records_batch() {
    const auto items = fetch("outbox_records",
                             "SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = "
                             "'record' AND state = 'pending' ORDER BY id LIMIT 100");
    if (items.empty()) return false;
    if (!services_) {
      mark_done(ids_of(items), {}, "this portal has no Services object");
      return true;
    }
    create(records(), items);
    return true;
  }

  // Deals of the lifecycle plays: like Services records, by a create settled by a search.
  bool deals_batch() {
    const auto items = fetch("outbox_deals",
                             "SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = "
                             "'deal' AND state = 'pending' ORDER BY id LIMIT 100");
    if (items.empty()) return false;
    create(deals(), items);
    return true;
  }

  void mark_sending(const std::vector<Item>& items) {
    update_items("outbox_sending", "state = 'sending', attempts = attempts + 1, sent_at = now()",
                 ids_of(items));
  }

  // The ids of the tasks an answer lists, by their key property.
  std::map<std::string, std::string> ids_by_key(const json& answer, const std::string& key_property,
                                                std::uint64_t* created, std::uint64_t* existing) {
    std::map<std::string, std::string> out;
    if (!answer.is_object() || !answer.contains("results") || !answer["results"].is_array()) return out;
    for (const auto& r : answer["results"]) {
      if (!r.is_object() || !r.contains("properties") || !r["properties"].is_object()) continue;
      const auto& props = r["properties"];
      if (!props.contains(key_property) || !props[key_property].is_string()) continue;
      out[props[key_property].get<std::string>()] = r.value("id", "");
      if (r.contains("new") && r["new"].is_boolean() && !r["new"].get<bool>()) {
        if (existing) ++*existing;
      } else if (created) {
        ++*created;
      }
    }
    return out;
  }

  void record_tasks(const std::vector<Item>& items, const std::map<std::string, std::string>& by_key) {
    std::map<std::int64_t, std::string> ids;
    std::vector<std::int64_t> done;
    for (const auto& i : items) {
      const auto it = by_key.find(i.key);
      if (it == by_key.end() || it->second.empty()) continue;
      ids[i.id] = it->second;
      done.push_back(i.id);
    }
    mark_done(done, ids);
  }

  void upsert_tasks(const std::vector<Item>& items) {
    mark_sending(items);
    json inputs = json::array();
    for (const auto& i : items)
      inputs.push_back({{"idProperty", s_.task_key_property},
                        {"id", i.key},
                        {"properties", task_properties(i, i.attempts == 0)}});
    json answer;
    try {
      answer = client_.call("tasks.batch_upsert", "POST", client_.paths().objects("tasks") + "/batch/upsert",
                            {{"inputs", inputs}});
    } catch (const ApiError& e) {
      if (e.kind() != ApiError::Kind::kRejected) throw;
      split_tasks(items, words(e));
      return;
    }
    std::uint64_t created = 0, existing = 0;
    const auto by_key = ids_by_key(answer, s_.task_key_property, &created, &existing);
    associate(tasks(), items, by_key, true);
    record_tasks(items, by_key);
    // An answer that left an input out (it should not) must not make the loop send it for ever.
    std::vector<std::int64_t> unanswered;
    for (const auto& i : items) {
      if (!by_key.count(i.key) && i.attempts + 1 >= s_.max_attempts) unanswered.push_back(i.id);
    }
    mark_dead(unanswered, "HubSpot's upsert answers never listed this task", "task");
    report_.tasks_created += created;
    report_.tasks_existing += existing;
    count("task", "created", created);
    count("task", "existing", existing);
  }

  // Links made in a second call: upserted tasks' company (batch/upsert takes no associations), and any
  // record's deal (payload deal_id). Linking twice is harmless, so a repeat after a crash does no harm.
  void associate(const Target& t, const std::vector<Item>& items,
                 const std::map<std::string, std::string>& by_key, bool companies) {
    json to_companies = json::array(), to_deals = json::array();
    for (const auto& i : items) {
      const auto it = by_key.find(i.key);
      if (it == by_key.end()) continue;
      if (companies && i.company_id != 0)
        to_companies.push_back(
            {{"from", {{"id", it->second}}}, {"to", {{"id", std::to_string(i.company_id)}}}});
      if (const auto deal = i.payload.value("deal_id", std::int64_t{0}); deal > 0)
        to_deals.push_back({{"from", {{"id", it->second}}}, {"to", {{"id", std::to_string(deal)}}}});
    }
    for (const auto& [to, inputs] :
         {std::pair<const char*, json&>{"companies", to_companies}, {"deals", to_deals}}) {
      if (inputs.empty()) continue;
      client_.call("associations.batch_associate_default", "POST",
                   client_.paths().associations(t.object, to) + "/batch/associate/default",
                   {{"inputs", inputs}});
    }
  }

  void split(const Target& t, const std::vector<Item>& items, const std::string& why) {
    if (items.size() == 1) {
      mark_dead({items[0].id}, why, t.kind);
      return;
    }
    const auto mid = items.begin() + static_cast<std::ptrdiff_t>(items.size() / 2);
    const std::vector<Item> a(items.begin(), mid), b(mid, items.end());
    if (std::string_view(t.kind) == "task" && mode_ == TaskMode::kUpsert) {
      upsert_tasks(a);
      upsert_tasks(b);
    } else {
      create(t, a);
      create(t, b);
    }
  }
  void split_tasks(const std::vector<Item>& items, const std::string& why) { split(tasks(), items, why); }

  void create(const Target& t, const std::vector<Item>& items) {
    // Marked as sent before the call: if the answer never comes (or this process dies), the items are in
    // doubt and are looked for by key after the search lag before anything is created again.
    mark_sending(items);
    json inputs = json::array();
    for (const auto& i : items) {
      json in = {{"properties", properties_of(t, i, true)}};
      if (i.company_id)
        in["associations"] =
            json::array({{{"to", {{"id", std::to_string(i.company_id)}}},
                          {"types", json::array({{{"associationCategory", "HUBSPOT_DEFINED"},
                                                  {"associationTypeId", t.company_association}}})}}});
      inputs.push_back(std::move(in));
    }
    json answer;
    try {
      answer = client_.call(t.object + ".batch_create", "POST",
                            client_.paths().objects(t.object) + "/batch/create", {{"inputs", inputs}},
                            hubspot::Budget::kBurst, hubspot::Repeat::kOnlyIfNotApplied);
    } catch (const hubspot::OutcomeUnknown& e) {
      report_.in_doubt += items.size();
      metrics_.counter("cshealthd_writeback_in_doubt_total", "Creates whose outcome was unknown")
          .inc(items.size());
      spdlog::warn("writeback: {} {} create(s) in doubt ({}); looking for them after the search lag",
                   items.size(), t.kind, words(e));
      return;
    } catch (const ApiError& e) {
      back_to_pending(items);  // a rejected batch created nothing
      if (e.kind() != ApiError::Kind::kRejected) throw;
      split(t, items, words(e));
      return;
    }
    std::uint64_t created = 0;
    const auto by_key = ids_by_key(answer, t.key_property, &created, nullptr);
    associate(t, items, by_key, false);
    record_tasks(items, by_key);
    report_.tasks_created += created;
    count(t.kind, "created", created);
  }

  void back_to_pending(const std::vector<Item>& items) {
    update_items("outbox_pending", "state = 'pending', attempts = greatest(attempts - 1, 0)", ids_of(items),
                 " AND state = 'sending'");
  }

  // Search mode: creates in doubt for longer than the search lag are looked for by key; found ones are
  // done with the id HubSpot gave them, the rest go back to be created (dead after max_attempts sends).
  bool reconcile(const Target& t) {
    if (std::string_view(t.kind) == "task" && mode_ != TaskMode::kSearch) return false;
    if (std::string_view(t.kind) == "record" && !services_) return false;
    const auto items =
        fetch("outbox_in_doubt",
              std::string("SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = '") +
                  t.kind +
                  "' AND state = 'sending' "
                  "AND sent_at <= now() - $1::bigint * interval '1 millisecond' ORDER BY id LIMIT 100",
              std::to_string(s_.search_lag.count()));
    if (items.empty()) return false;
    std::vector<std::string> keys;
    for (const auto& i : items) keys.push_back(i.key);
    json body = {
        {"filterGroups",
         json::array(
             {{{"filters",
                json::array({{{"propertyName", t.key_property}, {"operator", "IN"}, {"values", keys}}})}}})},
        {"properties", json::array({t.key_property})},
        {"sorts", json::array({{{"propertyName", "hs_object_id"}, {"direction", "ASCENDING"}}})},
        {"limit", 200}};
    std::map<std::string, std::string> found;
    for (std::string after;;) {
      if (!after.empty()) body["after"] = after;
      const auto page = client_.search(t.object, body);
      for (const auto& r : page.results) {
        const auto* key = r.property(t.key_property);
        if (key && !key->text.empty() && !found.count(key->text))
          found[key->text] = r.id;  // the oldest of two
      }
      if (page.next_after.empty()) break;
      after = page.next_after;
    }
    std::vector<Item> missing;
    for (const auto& i : items) {
      if (!found.count(i.key)) missing.push_back(i);
    }
    associate(t, items, found, false);  // a record found may have missed its deal link
    record_tasks(items, found);
    report_.tasks_existing += items.size() - missing.size();
    count(t.kind, "found", items.size() - missing.size());
    std::vector<std::int64_t> dead;
    std::vector<Item> again;
    for (const auto& i : missing) (i.attempts >= s_.max_attempts ? dead.push_back(i.id) : again.push_back(i));
    mark_dead(dead, "created " + std::to_string(s_.max_attempts) + " times without an answer, and not found",
              t.kind);
    update_items("outbox_recreate", "state = 'pending'", ids_of(again));
    return true;
  }

  std::optional<std::int64_t> in_doubt_wait_ms() {
    return db_.with_retry("outbox_in_doubt_wait", [&](pqxx::connection& c) -> std::optional<std::int64_t> {
      pqxx::read_transaction tx(c, "outbox_in_doubt_wait");
      const auto r = tx.exec_params1(
          "SELECT (extract(epoch FROM min(sent_at) - now()) * 1000)::bigint + $1 FROM outbox "
          "WHERE state = 'sending' AND ((kind = 'task' AND $2) OR (kind = 'record' AND $3) OR kind = 'deal')",
          static_cast<std::int64_t>(s_.search_lag.count()), mode_ == TaskMode::kSearch, services_);
      if (r[0].is_null()) return std::nullopt;
      return r[0].as<std::int64_t>();
    });
  }

  // ---- closes ----
  bool closes_batch() {
    const auto rows = db_.with_retry("outbox_closes", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c, "outbox_closes");
      std::vector<std::tuple<std::int64_t, std::string, std::string, std::string>>
          out;  // id, task state, task id, body
      for (const auto& r :
           tx.exec("SELECT o.id, t.state, coalesce(t.hubspot_id, ''), o.payload->>'body' FROM outbox o "
                   "JOIN outbox t ON t.key = o.payload->>'task_key' WHERE o.kind = 'task_close' AND o.state "
                   "= 'pending' "
                   "AND t.state IN ('done', 'dead') ORDER BY o.id LIMIT 100"))
        out.emplace_back(r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                         r[3].is_null() ? "" : r[3].as<std::string>());
      return out;
    });
    if (rows.empty()) return false;
    json inputs = json::array();
    std::vector<std::int64_t> sent, orphans;
    for (const auto& [id, state, task, body] : rows) {
      if (state == "dead" || task.empty()) {
        orphans.push_back(id);
        continue;
      }
      inputs.push_back(
          {{"id", task}, {"properties", {{"hs_task_status", "COMPLETED"}, {"hs_task_body", body}}}});
      sent.push_back(id);
    }
    mark_dead(orphans, "its task was never created", "task_close");
    if (inputs.empty()) return true;
    json answer;
    try {
      answer = client_.call("tasks.batch_update", "POST", client_.paths().objects("tasks") + "/batch/update",
                            {{"inputs", inputs}});
    } catch (const ApiError& e) {
      if (e.kind() != ApiError::Kind::kRejected) throw;
      mark_dead(sent, words(e), "task_close");
      return true;
    }
    // A task deleted in HubSpot (a 207 naming it) has nothing left to close.
    mark_done(sent, {}, partial(answer) ? "some tasks were no longer in HubSpot" : "");
    report_.closed += sent.size();
    count("task_close", "closed", sent.size());
    return true;
  }

  // ---- Slack ----
  bool slack_batch() {
    if (s_.slack_webhook_url.empty()) return false;
    const auto items = fetch(
        "outbox_slack",
        "SELECT id, key, company_id, payload::text, attempts FROM outbox WHERE kind = 'slack' AND state = "
        "'pending' "
        "AND (sent_at IS NULL OR sent_at < now() - least(power(2, attempts), 300) * interval '1 second') "
        "ORDER BY id LIMIT 20");
    if (items.empty()) return false;
    bool progressed = false;
    for (const auto& i : items) {
      std::string failure;
      try {
        post_slack(i.payload);
      } catch (const std::exception& e) {
        failure = words(e);
      }
      if (failure.empty()) {
        mark_done({i.id});
        ++report_.slack;
        count("slack", "posted", 1);
        progressed = true;
        continue;
      }
      if (i.attempts + 1 >= s_.max_attempts) {
        mark_dead({i.id}, "Slack: " + failure, "slack");
        continue;
      }
      db_.with_retry("outbox_slack_retry", [&](pqxx::connection& c) {
        pqxx::work tx(c, "outbox_slack_retry");
        tx.exec_params(
            "UPDATE outbox SET attempts = attempts + 1, sent_at = now(), error = $2, updated_at = now() "
            "WHERE id = $1",
            i.id, "Slack: " + failure);
        tx.commit();
      });
      spdlog::warn("writeback: Slack post failed ({}); retrying later", failure);
    }
    return progressed;
  }

  void post_slack(const json& payload) {
    const std::string url = s_.slack_webhook_url.reveal();
    const auto scheme_end = url.find("://");
    const auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    if (!slack_) {
      hubspot::TransportOptions o;
      o.base_url = url.substr(0, path_start);
      o.request_timeout = std::chrono::milliseconds(10'000);
      o.connect_timeout = std::chrono::milliseconds(5'000);
      slack_ = hubspot::make_transport(o);
    }
    hubspot::HttpRequest req;
    req.method = "POST";
    req.target = path_start == std::string::npos ? "/" : url.substr(path_start);
    req.headers = {{"Content-Type", "application/json"}};
    req.body = json{{"text", payload.value("text", "")}}.dump();
    hubspot::HttpResponse res;
    try {
      res = slack_->send(req);
    } catch (const hubspot::TransportError& e) {
      // The webhook URL is a secret (its path is the credential): never in a log line or an error.
      std::string what = e.what();
      for (auto at = what.find(req.target); at != std::string::npos; at = what.find(req.target))
        what.replace(at, req.target.size(), "<webhook>");
      throw std::runtime_error("no answer: " + what);
    }
    if (res.status != 200)
      throw std::runtime_error("HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200));
  }

  store::Database& db_;
  const Settings& s_;
  metrics::Registry& metrics_;
  Clock& clock_;
  hubspot::HubSpotClient& client_;
  std::stop_token stop_;
  DeliveryReport& report_;
  TaskMode mode_ = TaskMode::kUpsert;
  bool services_ = false;
  std::unique_ptr<hubspot::Transport> slack_;
};

}  // namespace

Deliverer::Deliverer(store::Database& db, const Settings& settings, metrics::Registry& metrics, Clock& clock)
    : db_(db), settings_(settings), metrics_(metrics), clock_(clock) {}

DeliveryReport Deliverer::run(hubspot::HubSpotClient& client, std::stop_token stop) {
  DeliveryReport report;
  // One deliverer at a time across replicas and commands: two would send the same pending rows.
  store::SessionLock lock(db_.conninfo(), "cshealthd.writeback.deliver", std::chrono::milliseconds(60'000));
  if (!lock.held()) throw std::runtime_error("writeback: another process is delivering; retrying later");
  const auto before = client.stats();
  const PortalSetup setup = ensure_portal(db_, client, settings_);
  report.task_mode = name_of(setup.tasks);
  Run(db_, settings_, metrics_, clock_, client, stop, report)(setup);
  report.calls = client.stats().calls - before.calls;
  report.rate_limited = client.stats().rate_limited - before.rate_limited;
  return report;
}

}  // namespace cshealthd::writeback
