#include <spdlog/spdlog.h>

#include "delivery.hpp"

namespace cshealthd::outbox::detail {

using json = nlohmann::json;
using hubspot::ApiError;

ObjectSender::ObjectSender(Delivery& d, Kind kind) : d_(d), kind_(kind) {
  switch (kind) {
    case Kind::kTask:
      object_ = "tasks", key_property_ = d.settings.task_key_property, company_association_ = 192;
      break;
    case Kind::kRecord:
      object_ = "0-162", key_property_ = d.settings.service_key_property, company_association_ = 792;
      break;
    case Kind::kDeal:  // deal -> company (primary)
      object_ = "deals", key_property_ = d.settings.deal_key_property, company_association_ = 5;
      break;
    default:
      throw std::logic_error("outbox: no HubSpot object is made for this kind");
  }
}

bool ObjectSender::upserts() const {
  return kind_ == Kind::kTask && d_.setup.tasks == TaskMode::kUpsert;
}

bool ObjectSender::searches() const {
  if (kind_ == Kind::kTask) return d_.setup.tasks == TaskMode::kSearch;
  if (kind_ == Kind::kRecord) return d_.setup.services;
  return true;
}

json ObjectSender::properties_of(const Pending& item, bool first_send) const {
  if (const auto* t = std::get_if<Task>(&item.intent)) {
    json props = {{"hs_task_subject", t->subject},
                  {"hs_task_body", t->body},
                  {"hs_task_priority", t->priority},
                  {"hs_task_type", "TODO"},
                  {"hs_timestamp", std::to_string(t->due_ms)},
                  {key_property_, item.key}};
    if (!t->owner_id.empty()) props["hubspot_owner_id"] = t->owner_id;
    // Only a first send sets the status: a repeat must not reopen a task a CSM completed meanwhile.
    if (first_send) props["hs_task_status"] = "NOT_STARTED";
    return props;
  }
  json props = json::object();
  if (const auto* r = std::get_if<ServiceRecord>(&item.intent)) props = r->properties;
  if (const auto* deal = std::get_if<Deal>(&item.intent)) props = deal->properties;
  props[key_property_] = item.key;
  return props;
}

std::int64_t ObjectSender::deal_of(const Pending& item) const {
  if (const auto* t = std::get_if<Task>(&item.intent)) return t->deal_id;
  if (const auto* r = std::get_if<ServiceRecord>(&item.intent)) return r->deal_id;
  return 0;
}

bool ObjectSender::send_next() {
  // Upserts are repeated as they are (a repeat finds what the first made); creates in doubt wait.
  const auto items = d_.store.pending(kind_, kBatch, upserts());
  if (items.empty()) return false;
  if (kind_ == Kind::kRecord && !d_.setup.services) {
    d_.store.mark_done(ids_of(items), {}, "this portal has no Services object");
    return true;
  }
  if (upserts())
    upsert(items);
  else
    create(items);
  return true;
}

std::map<std::string, std::string> ObjectSender::ids_by_key(const json& answer, std::uint64_t* created,
                                                            std::uint64_t* existing) const {
  std::map<std::string, std::string> out;
  if (!answer.is_object() || !answer.contains("results") || !answer["results"].is_array()) return out;
  for (const auto& r : answer["results"]) {
    if (!r.is_object() || !r.contains("properties") || !r["properties"].is_object()) continue;
    const auto& props = r["properties"];
    if (!props.contains(key_property_) || !props[key_property_].is_string()) continue;
    out[props[key_property_].get<std::string>()] = r.value("id", "");
    if (r.contains("new") && r["new"].is_boolean() && !r["new"].get<bool>()) {
      if (existing) ++*existing;
    } else if (created) {
      ++*created;
    }
  }
  return out;
}

void ObjectSender::record(const std::vector<Pending>& items,
                          const std::map<std::string, std::string>& by_key) {
  std::map<std::int64_t, std::string> ids;
  std::vector<std::int64_t> done;
  for (const auto& i : items) {
    const auto it = by_key.find(i.key);
    if (it == by_key.end() || it->second.empty()) continue;
    ids[i.id] = it->second;
    done.push_back(i.id);
  }
  d_.store.mark_done(done, ids);
}

void ObjectSender::upsert(const std::vector<Pending>& items) {
  d_.store.mark_sending(ids_of(items));
  json inputs = json::array();
  for (const auto& i : items)
    inputs.push_back(
        {{"idProperty", key_property_}, {"id", i.key}, {"properties", properties_of(i, i.attempts == 0)}});
  json answer;
  try {
    answer = d_.client.call(object_ + ".batch_upsert", "POST",
                            d_.client.paths().objects(object_) + "/batch/upsert", {{"inputs", inputs}});
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kRejected) throw;
    split(items, words(e));
    return;
  }
  std::uint64_t created = 0, existing = 0;
  const auto by_key = ids_by_key(answer, &created, &existing);
  associate(items, by_key, true);
  record(items, by_key);
  // An answer that left an input out (it should not) must not make the loop send it for ever.
  std::vector<std::int64_t> unanswered;
  for (const auto& i : items) {
    if (!by_key.count(i.key) && i.attempts + 1 >= d_.settings.max_attempts) unanswered.push_back(i.id);
  }
  d_.dead(unanswered, "HubSpot's upsert answers never listed this task", kind_);
  d_.report.tasks_created += created;
  d_.report.tasks_existing += existing;
  d_.count(name_of(kind_), "created", created);
  d_.count(name_of(kind_), "existing", existing);
}

// Links made in a second call: upserted objects' company (batch/upsert takes no associations), and any
// item's deal. Linking twice is harmless, so a repeat after a crash does no harm.
void ObjectSender::associate(const std::vector<Pending>& items,
                             const std::map<std::string, std::string>& by_key, bool companies) {
  json to_companies = json::array(), to_deals = json::array();
  for (const auto& i : items) {
    const auto it = by_key.find(i.key);
    if (it == by_key.end()) continue;
    if (companies && i.company_id != 0)
      to_companies.push_back(
          {{"from", {{"id", it->second}}}, {"to", {{"id", std::to_string(i.company_id)}}}});
    if (const auto deal = deal_of(i); deal > 0)
      to_deals.push_back({{"from", {{"id", it->second}}}, {"to", {{"id", std::to_string(deal)}}}});
  }
  for (const auto& [to, inputs] :
       {std::pair<const char*, json&>{"companies", to_companies}, {"deals", to_deals}}) {
    if (inputs.empty()) continue;
    d_.client.call("associations.batch_associate_default", "POST",
                   d_.client.paths().associations(object_, to) + "/batch/associate/default",
                   {{"inputs", inputs}});
  }
}

void ObjectSender::split(const std::vector<Pending>& items, const std::string& why) {
  if (items.size() == 1) {
    d_.dead({items[0].id}, why, kind_);
    return;
  }
  const auto mid = items.begin() + static_cast<std::ptrdiff_t>(items.size() / 2);
  for (const auto& half :
       {std::vector<Pending>(items.begin(), mid), std::vector<Pending>(mid, items.end())}) {
    if (upserts())
      upsert(half);
    else
      create(half);
  }
}

void ObjectSender::create(const std::vector<Pending>& items) {
  // Marked as sent before the call: if the answer never comes (or this process dies), the items are in
  // doubt and are looked for by key after the search lag before anything is created again.
  d_.store.mark_sending(ids_of(items));
  json inputs = json::array();
  for (const auto& i : items) {
    // HubSpot's spec requires `associations` on every create input: an empty list when there is none.
    json associations = json::array();
    if (i.company_id)
      associations.push_back({{"to", {{"id", std::to_string(i.company_id)}}},
                              {"types", json::array({{{"associationCategory", "HUBSPOT_DEFINED"},
                                                      {"associationTypeId", company_association_}}})}});
    inputs.push_back({{"properties", properties_of(i, true)}, {"associations", std::move(associations)}});
  }
  json answer;
  try {
    answer = d_.client.call(object_ + ".batch_create", "POST",
                            d_.client.paths().objects(object_) + "/batch/create", {{"inputs", inputs}},
                            hubspot::Budget::kBurst, hubspot::Repeat::kOnlyIfNotApplied);
  } catch (const hubspot::OutcomeUnknown& e) {
    d_.report.in_doubt += items.size();
    d_.metrics.counter("cshealthd_writeback_in_doubt_total", "Creates whose outcome was unknown")
        .inc(items.size());
    spdlog::warn("writeback: {} {} create(s) in doubt ({}); looking for them after the search lag",
                 items.size(), name_of(kind_), words(e));
    return;
  } catch (const ApiError& e) {
    d_.store.back_to_pending(ids_of(items));  // a rejected batch created nothing
    if (e.kind() != ApiError::Kind::kRejected) throw;
    split(items, words(e));
    return;
  }
  std::uint64_t created = 0;
  const auto by_key = ids_by_key(answer, &created, nullptr);
  associate(items, by_key, false);
  record(items, by_key);
  d_.report.tasks_created += created;
  d_.count(name_of(kind_), "created", created);
}

// Creates in doubt for longer than the search lag are looked for by key; found ones are done with the
// id HubSpot gave them, the rest go back to be created (dead after max_attempts sends).
bool ObjectSender::reconcile() {
  if (!searches()) return false;
  const auto items = d_.store.in_doubt(kind_, d_.settings.search_lag, kBatch);
  if (items.empty()) return false;
  std::vector<std::string> keys;
  for (const auto& i : items) keys.push_back(i.key);
  json body = {
      {"filterGroups",
       json::array(
           {{{"filters",
              json::array({{{"propertyName", key_property_}, {"operator", "IN"}, {"values", keys}}})}}})},
      {"properties", json::array({key_property_})},
      {"sorts", json::array({{{"propertyName", "hs_object_id"}, {"direction", "ASCENDING"}}})},
      {"limit", 200}};
  std::map<std::string, std::string> found;
  for (std::string after;;) {
    if (!after.empty()) body["after"] = after;
    const auto page = d_.client.search(object_, body);
    for (const auto& r : page.results) {
      const auto* key = r.property(key_property_);
      if (key && !key->text.empty() && !found.count(key->text)) found[key->text] = r.id;  // the oldest of two
    }
    if (page.next_after.empty()) break;
    after = page.next_after;
  }
  std::vector<Pending> missing;
  for (const auto& i : items) {
    if (!found.count(i.key)) missing.push_back(i);
  }
  associate(items, found, false);  // one found may have missed its deal link
  record(items, found);
  d_.report.tasks_existing += items.size() - missing.size();
  d_.count(name_of(kind_), "found", items.size() - missing.size());
  std::vector<std::int64_t> dead, again;
  for (const auto& i : missing) (i.attempts >= d_.settings.max_attempts ? dead : again).push_back(i.id);
  d_.dead(dead,
          "created " + std::to_string(d_.settings.max_attempts) + " times without an answer, and not found",
          kind_);
  d_.store.recreate(again);
  return true;
}

}  // namespace cshealthd::outbox::detail
