#include "portal.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

#include "cshealthd/core/time.hpp"

namespace cshealthd::sim {
namespace {

struct PropSpec {
  const char* name;
  const char* type;        // string number bool enumeration date datetime
  const char* field_type;  // text number booleancheckbox select date textarea
  std::vector<const char*> options;
  bool read_only = false;
};

// Standard HubSpot properties the service reads, plus the custom inputs of DOMAIN.md §1 (group
// "customer_success_inputs"), per object type.
const std::map<std::string, std::vector<PropSpec>>& standard_properties() {
  static const std::map<std::string, std::vector<PropSpec>> specs = {
      {"companies",
       {{"name", "string", "text", {}},
        {"domain", "string", "text", {}},
        {"industry", "string", "text", {}},
        {"hubspot_owner_id", "enumeration", "select", {}},
        {"notes_last_contacted", "datetime", "date", {}},
        {"cs_plan", "enumeration", "select", {"starter", "professional", "enterprise"}},
        {"cs_contract_start_date", "date", "date", {}},
        {"cs_renewal_date", "date", "date", {}},
        {"cs_mrr", "number", "number", {}},
        {"cs_licensed_seats", "number", "number", {}},
        {"cs_active_users_30d", "number", "number", {}},
        {"cs_logins_30d", "number", "number", {}},
        {"cs_features_used", "number", "number", {}},
        {"cs_goal_status", "enumeration", "select", {"achieved", "in_progress", "not_started"}},
        // Recorded by people when a customer leaves (seed 001's churn analysis; the win-back play).
        {"cs_churn_reason",
         "enumeration",
         "select",
         {"cost", "missing_feature", "support", "business_change", "other"}},
        {"cs_churn_date", "date", "date", {}},
        // How the contract renews: a monthly one's renewal date is always within the month.
        {"cs_contract_term", "enumeration", "select", {"monthly", "annual"}}}},
      {"contacts",
       {{"firstname", "string", "text", {}},
        {"lastname", "string", "text", {}},
        {"email", "string", "text", {}},
        {"jobtitle", "string", "text", {}},
        {"hubspot_owner_id", "enumeration", "select", {}},
        {"cs_key_person", "bool", "booleancheckbox", {"true", "false"}},
        {"cs_departed", "bool", "booleancheckbox", {"true", "false"}}}},
      {"deals",
       {{"dealname", "string", "text", {}},
        {"dealstage", "enumeration", "select", {}},
        {"pipeline", "enumeration", "select", {}},
        {"amount", "number", "number", {}},
        {"closedate", "datetime", "date", {}},
        {"hubspot_owner_id", "enumeration", "select", {}},
        {"dealtype", "enumeration", "radio", {"newbusiness", "existingbusiness"}},
        // What sales hands over on a won deal (docs/hubspot-setup.md): the onboarding reads them.
        {"cs_plan", "enumeration", "select", {"starter", "professional", "enterprise"}},
        {"cs_mrr", "number", "number", {}},
        {"cs_licensed_seats", "number", "number", {}},
        {"cs_contract_start_date", "date", "date", {}},
        {"cs_onboarding_goals", "string", "textarea", {}},
        {"cs_success_kpis", "string", "textarea", {}}}},
      {"tickets",
       {{"subject", "string", "text", {}},
        {"content", "string", "textarea", {}},
        {"hs_pipeline", "enumeration", "select", {}},
        {"hs_pipeline_stage", "enumeration", "select", {}},
        {"hs_ticket_priority", "enumeration", "select", {"LOW", "MEDIUM", "HIGH", "URGENT"}},
        {"hs_ticket_category",
         "enumeration",
         "select",
         {"PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"}},
        {"closed_date", "datetime", "date", {}},
        {"time_to_close", "number", "number", {}, true},
        {"hubspot_owner_id", "enumeration", "select", {}}}},
      {"meetings",
       {{"hs_meeting_title", "string", "text", {}},
        {"hs_meeting_start_time", "datetime", "date", {}},
        {"hs_meeting_end_time", "datetime", "date", {}},
        {"hs_meeting_outcome",
         "enumeration",
         "select",
         {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}},
        {"hs_timestamp", "datetime", "date", {}},
        {"hubspot_owner_id", "enumeration", "select", {}}}},
      {"tasks",
       {{"hs_task_subject", "string", "text", {}},
        {"hs_task_body", "string", "textarea", {}},
        {"hs_timestamp", "datetime", "date", {}},
        {"hubspot_owner_id", "enumeration", "select", {}},
        {"hs_task_status",
         "enumeration",
         "select",
         {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"}},
        {"hs_task_priority", "enumeration", "select", {"NONE", "LOW", "MEDIUM", "HIGH"}},
        {"hs_task_type", "enumeration", "select", {"TODO", "CALL", "EMAIL"}}}},
      {"feedback_submissions",
       {{"hs_survey_type", "enumeration", "select", {"NPS", "CSAT", "CES", "CUSTOM"}},
        {"hs_value", "number", "number", {}},
        {"hs_response_group", "enumeration", "select", {"PROMOTER", "PASSIVE", "DETRACTOR"}},
        {"hs_submission_timestamp", "datetime", "date", {}},
        {"hs_createdate", "datetime", "date", {}},
        {"hs_content", "string", "textarea", {}}}},
      {"services",
       {{"hs_name", "string", "text", {}},
        {"cs_plan", "enumeration", "select", {"starter", "professional", "enterprise"}},
        {"cs_mrr", "number", "number", {}},
        {"cs_contract_start_date", "date", "date", {}},
        {"cs_renewal_date", "date", "date", {}}}},
  };
  return specs;
}

std::uint64_t id_base(const std::string& type) {
  // Distinct, large id ranges per type: a service that mixes types up or keeps ids in 32 bits fails.
  std::uint64_t i = 1;
  for (const auto& t : object_types()) {
    if (t.name == type) break;
    ++i;
  }
  return i * 10'000'000'000ULL;
}

}  // namespace

const std::vector<TypeInfo>& object_types() {
  static const std::vector<TypeInfo> types = {
      {"companies", "0-2", "company", "hs_lastmodifieddate", false, {"name", "domain"}},
      {"contacts", "0-1", "contact", "lastmodifieddate", false, {"firstname", "lastname", "email"}},
      {"deals",
       "0-3",
       "deal",
       "hs_lastmodifieddate",
       false,
       {"dealname", "amount", "dealstage", "pipeline", "closedate"}},
      {"tickets",
       "0-5",
       "ticket",
       "hs_lastmodifieddate",
       false,
       {"subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority"}},
      {"meetings",
       "0-47",
       "meeting",
       "hs_lastmodifieddate",
       false,
       {"hs_meeting_title", "hs_meeting_start_time"}},
      {"tasks",
       "0-27",
       "task",
       "hs_lastmodifieddate",
       false,
       {"hs_task_subject", "hs_timestamp", "hs_task_status"}},
      {"feedback_submissions",
       "0-19",
       "feedback_submission",
       "hs_lastmodifieddate",
       true,
       {"hs_survey_type", "hs_value"}},
      {"services", "0-162", "service", "hs_lastmodifieddate", false, {"hs_name"}},
  };
  return types;
}

const TypeInfo* find_type(const std::string& name_or_id) {
  for (const auto& t : object_types()) {
    if (t.name == name_or_id || t.type_id == name_or_id || t.singular == name_or_id) return &t;
  }
  return nullptr;
}

int association_type_id(const std::string& from, const std::string& to) {
  static const std::map<std::pair<std::string, std::string>, int> ids = {
      {{"contacts", "companies"}, 1},
      {{"companies", "contacts"}, 2},
      {{"deals", "contacts"}, 3},
      {{"contacts", "deals"}, 4},
      {{"deals", "companies"}, 5},
      {{"companies", "deals"}, 6},
      {{"contacts", "tickets"}, 15},
      {{"tickets", "contacts"}, 16},
      {{"deals", "tickets"}, 27},
      {{"tickets", "deals"}, 28},
      {{"tickets", "companies"}, 339},
      {{"companies", "tickets"}, 340},
      {{"companies", "meetings"}, 187},
      {{"meetings", "companies"}, 188},
      {{"contacts", "meetings"}, 199},
      {{"meetings", "contacts"}, 200},
      {{"companies", "tasks"}, 191},
      {{"tasks", "companies"}, 192},
      {{"contacts", "tasks"}, 203},
      {{"tasks", "contacts"}, 204},
      {{"deals", "tasks"}, 215},
      {{"tasks", "deals"}, 216},
      {{"tickets", "tasks"}, 229},
      {{"tasks", "tickets"}, 230},
      {{"contacts", "feedback_submissions"}, 97},
      {{"feedback_submissions", "contacts"}, 98},
      {{"feedback_submissions", "companies"}, 928},
      {{"companies", "feedback_submissions"}, 929},
      {{"services", "companies"}, 792},
      {{"companies", "services"}, 793},
      // Not published by HubSpot (the service links services to deals with associate/default, which needs
      // no id); the simulator's own.
      {{"services", "deals"}, 795},
      {{"deals", "services"}, 796},
  };
  const auto it = ids.find({from, to});
  return it == ids.end() ? 0 : it->second;
}

const std::string* intern(const std::string& name) {
  static std::mutex mutex;
  static std::unordered_set<std::string> names;
  std::lock_guard lock(mutex);
  return &*names.insert(name).first;
}

const std::string* Record::get(const std::string& name) const {
  for (const auto& [k, v] : props) {
    if (*k == name) return &v;
  }
  return nullptr;
}

const std::vector<HistoryEntry>* Record::stored_history(const std::string& name) const {
  for (const auto& [k, h] : history) {
    if (*k == name) return &h;
  }
  return nullptr;
}

std::vector<HistoryEntry> Record::history_of(const std::string& name) const {
  if (const auto* h = stored_history(name)) return *h;
  if (const std::string* v = get(name)) return {{*v, created, "INTEGRATION"}};
  return {};
}

void Record::set(const std::string& name, const std::string& value, EpochMs ts, const std::string& source) {
  auto it = std::find_if(props.begin(), props.end(), [&](const auto& p) { return *p.first == name; });
  auto h = std::find_if(history.begin(), history.end(), [&](const auto& p) { return *p.first == name; });
  // A value set when the record is created needs no stored history (history_of makes it up); any
  // later write starts an explicit one, beginning with the creation-time value if there was one.
  const bool at_creation = it == props.end() && h == history.end() && ts == created;
  if (!at_creation && h == history.end()) {
    std::vector<HistoryEntry> start;
    if (it != props.end()) start.push_back({it->second, created, "INTEGRATION"});
    history.emplace_back(intern(name), std::move(start));
    h = history.end() - 1;
  }
  if (h != history.end()) h->second.push_back({value, ts, source});
  if (value.empty()) {
    if (it != props.end()) props.erase(it);
  } else if (it != props.end()) {
    it->second = value;
  } else {
    props.emplace_back(intern(name), value);
  }
}

nlohmann::json PropertyDef::to_json() const {
  nlohmann::json opts = nlohmann::json::array();
  int order = 0;
  for (const auto& o : options) {
    opts.push_back({{"label", o.label}, {"value", o.value}, {"displayOrder", order++}, {"hidden", false}});
  }
  return {{"name", name},
          {"label", label},
          {"type", type},
          {"fieldType", field_type},
          {"groupName", group},
          {"options", opts},
          {"hasUniqueValue", unique},
          {"calculated", read_only},
          {"modificationMetadata", {{"readOnlyValue", read_only}, {"archivable", !read_only}}}};
}

Portal::Portal() {
  for (const auto& t : object_types()) {
    ObjectStore& s = stores_[t.name];
    s.info = &t;
    s.next_id = id_base(t.name) + 1;
    s.groups["information"] = {{"name", "information"}, {"label", "Information"}, {"displayOrder", 0}};
    for (const char* calc : {"hs_object_id", "createdate"}) {
      add_property(t, {calc,
                       calc,
                       calc == std::string("createdate") ? "datetime" : "number",
                       calc == std::string("createdate") ? "date" : "number",
                       "information",
                       {},
                       false,
                       true});
    }
    add_property(t, {t.modified_prop, t.modified_prop, "datetime", "date", "information", {}, false, true});
    add_property(
        t, {"hs_merged_object_ids", "Merged record IDs", "string", "text", "information", {}, false, true});
    const auto& specs = standard_properties();
    if (auto it = specs.find(t.name); it != specs.end()) {
      for (const auto& p : it->second) {
        const bool custom = std::string(p.name).rfind("cs_", 0) == 0;
        PropertyDef def{
            p.name, p.name, p.type,     p.field_type, custom ? "customer_success_inputs" : "information",
            {},     false,  p.read_only};
        for (const char* o : p.options) def.options.push_back({o, o});
        add_property(t, std::move(def));
      }
    }
    s.groups["customer_success_inputs"] = {
        {"name", "customer_success_inputs"}, {"label", "Customer success inputs"}, {"displayOrder", 1}};
  }
  pipelines = default_pipelines();
}

void Portal::add_property(const TypeInfo& t, PropertyDef def) {
  auto& s = store(t);
  const std::string name = def.name;
  s.props[name] = std::move(def);
}

Record& Portal::create(const TypeInfo& t, const std::vector<std::pair<std::string, std::string>>& props,
                       EpochMs now, const std::string& source) {
  auto& s = store(t);
  const std::uint64_t id = s.next_id++;
  Record& r = s.records[id];
  r.id = id;
  r.created = now;
  r.updated = now;
  const auto iso = core::format_iso8601(now);
  r.set("hs_object_id", std::to_string(id), now, "CALCULATED");
  r.set("createdate", iso, now, "CALCULATED");
  for (const auto& [k, v] : props) {
    if (!v.empty()) r.set(k, v, now, source);
  }
  if (t.name == "tasks" && !r.get("hs_task_status"))
    r.set("hs_task_status", "NOT_STARTED", now, "CALCULATED");
  r.set(t.modified_prop, iso, now, "CALCULATED");
  return r;
}

std::vector<std::string> Portal::update(const TypeInfo& t, Record& r,
                                        const std::vector<std::pair<std::string, std::string>>& props,
                                        EpochMs now, const std::string& source) {
  std::vector<std::string> changed;
  for (const auto& [k, v] : props) {
    const std::string* cur = r.get(k);
    if ((cur ? *cur : std::string()) == v) continue;
    r.set(k, v, now, source);
    changed.push_back(k);
  }
  if (!changed.empty()) {
    r.updated = now;
    r.set(t.modified_prop, core::format_iso8601(now), now, "CALCULATED");
  }
  return changed;
}

void Portal::archive(const TypeInfo& t, Record& r, EpochMs now) {
  r.archived = true;
  r.archived_at = now;
  r.updated = now;
  r.set(t.modified_prop, core::format_iso8601(now), now, "CALCULATED");
}

void Portal::drop_associations(const TypeInfo& t, std::uint64_t id) {
  for (auto& [types, by_from] : assoc_) {
    if (types.first == t.name) by_from.erase(id);
    if (types.second != t.name) continue;
    for (auto& [from, list] : by_from)
      std::erase_if(list, [&](const Association& a) { return a.to_id == id; });
  }
}

bool Portal::remove(const TypeInfo& t, std::uint64_t id) {
  if (store(t).records.erase(id) == 0) return false;
  drop_associations(t, id);
  return true;
}

bool Portal::merge(const TypeInfo& t, std::uint64_t primary, std::uint64_t merged, EpochMs now) {
  auto& records = store(t).records;
  const auto keep = records.find(primary);
  const auto gone = records.find(merged);
  if (primary == merged || keep == records.end() || gone == records.end()) return false;
  // The survivor takes over the merged record's links, then lists it among its merged ids.
  for (const auto& other : object_types()) {
    if (const auto* list = associations(t, merged, other)) {
      const auto copy = *list;
      for (const auto& a : copy) associate(t, primary, other, a.to_id, a.type_id);
    }
  }
  std::string ids = keep->second.get("hs_merged_object_ids") ? *keep->second.get("hs_merged_object_ids") : "";
  ids += (ids.empty() ? "" : ";") + std::to_string(merged);
  update(t, keep->second, {{"hs_merged_object_ids", ids}}, now, "CRM_UI");
  records.erase(gone);
  drop_associations(t, merged);
  merged_into_[{t.name, merged}] = primary;
  return true;
}

std::optional<std::uint64_t> Portal::merged_into(const TypeInfo& t, std::uint64_t id) const {
  std::optional<std::uint64_t> out;
  for (int hops = 0; hops < 100; ++hops) {
    const auto it = merged_into_.find({t.name, id});
    if (it == merged_into_.end()) break;
    out = id = it->second;
  }
  return out;
}

void Portal::associate(const TypeInfo& from, std::uint64_t from_id, const TypeInfo& to, std::uint64_t to_id,
                       int type_id) {
  const int forward = type_id ? type_id : association_type_id(from.name, to.name);
  const int backward = association_type_id(to.name, from.name);
  auto add = [](std::vector<Association>& list, std::uint64_t id, int tid) {
    for (const auto& a : list) {
      if (a.to_id == id && a.type_id == tid) return;
    }
    list.push_back({id, tid});
  };
  add(assoc_[{from.name, to.name}][from_id], to_id, forward);
  add(assoc_[{to.name, from.name}][to_id], from_id, backward);
}

const std::vector<Association>* Portal::associations(const TypeInfo& from, std::uint64_t from_id,
                                                     const TypeInfo& to) const {
  const auto it = assoc_.find({from.name, to.name});
  if (it == assoc_.end()) return nullptr;
  const auto jt = it->second.find(from_id);
  return jt == it->second.end() ? nullptr : &jt->second;
}

Record& Portal::insert(const TypeInfo& t, std::uint64_t id) {
  auto& s = store(t);
  s.next_id = std::max(s.next_id, id + 1);
  Record& r = s.records[id];
  r.id = id;
  return r;
}

std::unique_ptr<Portal> load_portal(const nlohmann::json& state) {
  auto p = std::make_unique<Portal>();
  const auto ms = [](const nlohmann::json& v) {
    return core::parse_iso8601(v.get<std::string>()).value_or(0);
  };
  for (const auto& [type_name, records] : state.at("objects").items()) {
    const TypeInfo* t = find_type(type_name);
    if (!t) throw std::runtime_error("portal file: unknown object type " + type_name);
    for (const auto& j : records) {
      Record& r = p->insert(*t, std::stoull(j.at("id").get<std::string>()));
      r.created = ms(j.at("createdAt"));
      r.updated = ms(j.at("updatedAt"));
      r.archived = j.value("archived", false);
      if (r.archived && j.contains("archivedAt")) r.archived_at = ms(j["archivedAt"]);
      for (const auto& [k, v] : j.at("properties").items()) {
        if (!v.is_null()) r.props.emplace_back(intern(k), v.get<std::string>());
      }
      const auto history = j.value("propertiesWithHistory", nlohmann::json::object());
      for (const auto& [k, entries] : history.items()) {
        std::vector<HistoryEntry> h;
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) {  // saved newest first
          h.push_back({(*it).value("value", ""), ms((*it).at("timestamp")), (*it).value("sourceType", "")});
        }
        r.history.emplace_back(intern(k), std::move(h));
      }
      const auto associations = j.value("associations", nlohmann::json::object());
      for (const auto& [to_name, assoc] : associations.items()) {
        const TypeInfo* to = find_type(to_name);
        if (!to) continue;
        for (const auto& a : assoc.at("results"))
          p->associate(*t, r.id, *to, std::stoull(a.at("id").get<std::string>()));
      }
    }
  }
  if (state.contains("owners")) p->owners = state["owners"];
  return p;
}

std::size_t Portal::record_count() const {
  std::size_t n = 0;
  for (const auto& [name, s] : stores_) n += s.records.size();
  return n;
}

nlohmann::json default_pipelines() {
  auto stage = [](const std::string& id, const std::string& label, int order, bool closed,
                  const std::string& prob) {
    return nlohmann::json{{"id", id},
                          {"label", label},
                          {"displayOrder", order},
                          {"archived", false},
                          {"metadata", {{"isClosed", closed ? "true" : "false"}, {"probability", prob}}}};
  };
  nlohmann::json deals = nlohmann::json::array();
  deals.push_back({{"id", "default"},
                   {"label", "Sales Pipeline"},
                   {"displayOrder", 0},
                   {"archived", false},
                   {"stages",
                    {stage("appointmentscheduled", "Appointment Scheduled", 0, false, "0.2"),
                     stage("qualifiedtobuy", "Qualified To Buy", 1, false, "0.4"),
                     stage("presentationscheduled", "Presentation Scheduled", 2, false, "0.6"),
                     stage("decisionmakerboughtin", "Decision Maker Bought-In", 3, false, "0.8"),
                     stage("contractsent", "Contract Sent", 4, false, "0.9"),
                     stage("closedwon", "Closed Won", 5, true, "1.0"),
                     stage("closedlost", "Closed Lost", 6, true, "0.0")}}});
  // A second pipeline whose stage ids are opaque, as custom pipelines are: the won stage is found by
  // isClosed + probability 1.0, never by name.
  deals.push_back(
      {{"id", "75201234"},
       {"label", "Renewals"},
       {"displayOrder", 1},
       {"archived", false},
       {"stages",
        {stage("75201235", "Renewal due", 0, false, "0.5"), stage("75201236", "Renewed", 1, true, "1.0"),
         stage("75201237", "Not renewed", 2, true, "0.0")}}});
  nlohmann::json tickets = nlohmann::json::array();
  tickets.push_back({{"id", "0"},
                     {"label", "Support Pipeline"},
                     {"displayOrder", 0},
                     {"archived", false},
                     {"stages",
                      {stage("1", "New", 0, false, "0"), stage("2", "Waiting on contact", 1, false, "0"),
                       stage("3", "Waiting on us", 2, false, "0"), stage("4", "Closed", 3, true, "0")}}});
  return {{"deals", deals}, {"tickets", tickets}};
}

}  // namespace cshealthd::sim
