#include <set>

#include <spdlog/spdlog.h>

#include "cshealthd/outbox/portal_setup.hpp"

namespace cshealthd::outbox {
namespace {

using json = nlohmann::json;
using hubspot::ApiError;

using Spec = PropertySpec;

// The key property of the Services records and of the deals the workflows create.
Spec key_spec(const std::string& name, const char* what) {
  return {name, "cshealthd key", "string", "text", std::string("cshealthd: one ") + what + " per key", {}};
}

std::vector<Spec> service_specs(const Settings& s) {
  std::vector<Spec> specs = {key_spec(s.service_key_property, "record")};
  specs.insert(specs.end(), s.service_properties.begin(), s.service_properties.end());
  return specs;
}

std::string fingerprint(const Settings& s) {
  // v3: enumeration options are created with `hidden` (a portal set up before is checked again).
  std::string f = "v3|" + s.property_group + "|" + s.task_key_property;
  for (const auto& spec : s.company_properties) f += "|" + spec.name + ":" + spec.type;
  if (!s.service_key_property.empty()) {
    for (const auto& spec : service_specs(s)) f += "|0-162." + spec.name + ":" + spec.type;
  }
  if (!s.deal_key_property.empty()) f += "|deals." + s.deal_key_property;
  return f;
}

}  // namespace

json property_create_body(const Spec& spec, const std::string& group) {
  json b = {{"name", spec.name},  {"label", spec.label},
            {"type", spec.type},  {"fieldType", spec.field_type},
            {"groupName", group}, {"description", spec.description}};
  if (!spec.options.empty()) {
    json opts = json::array();
    int order = 0;
    for (const auto& o : spec.options)
      opts.push_back({{"label", o}, {"value", o}, {"displayOrder", order++}, {"hidden", false}});
    b["options"] = opts;
  }
  return b;
}

namespace {

// A property HubSpot has, checked against what the service writes into it.
void check(const Spec& spec, const json& have, const std::string& object = "companies") {
  const std::string type = have.value("type", "");
  const bool date_like =
      (spec.type == "datetime" || spec.type == "date") && (type == "datetime" || type == "date");
  if (spec.or_enumeration && type == "enumeration") return;
  if (type != spec.type && !date_like) {
    throw SetupError("HubSpot's " + object + " property " + spec.name + " is of type '" + type +
                     "', but cshealthd writes " + spec.type +
                     " values into it: change its type in HubSpot or name another property in "
                     "writeback.properties");
  }
  if (spec.options.empty()) return;
  std::set<std::string> values;
  for (const auto& o : have.value("options", json::array())) {
    if (o.is_object()) values.insert(o.value("value", ""));
  }
  for (const auto& v : spec.options) {
    if (!values.count(v))
      throw SetupError("HubSpot's " + object + " property " + spec.name + " has no option '" + v +
                       "', which cshealthd writes: add it in HubSpot");
  }
}

void ensure_group(hubspot::HubSpotClient& client, const std::string& type, const std::string& group) {
  try {
    client.call("properties.group_create", "POST", client.paths().properties(type) + "/groups",
                {{"name", group}, {"label", "Customer Success"}, {"displayOrder", -1}});
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kConflict) throw;  // 409: already there
  }
}

TaskMode ensure_task_key(hubspot::HubSpotClient& client, const Settings& s) {
  const std::string& name = s.task_key_property;
  try {
    const json have = client.call("properties.get", "GET", client.paths().properties("tasks") + "/" + name);
    if (have.value("type", "") != "string")
      throw SetupError("HubSpot's tasks property " + name +
                       " is not a string property: name another one in "
                       "writeback.task_key_property");
    return have.value("hasUniqueValue", false) ? TaskMode::kUpsert : TaskMode::kSearch;
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kNotFound) throw;
  }
  ensure_group(client, "tasks", s.property_group);
  json body = {{"name", name},
               {"label", "cshealthd alert key"},
               {"type", "string"},
               {"fieldType", "text"},
               {"groupName", s.property_group},
               {"description", "cshealthd: the alert this task stands for (one task per key)"},
               {"hasUniqueValue", true}};
  try {
    client.call("properties.create", "POST", client.paths().properties("tasks"), body);
    return TaskMode::kUpsert;
  } catch (const ApiError& e) {
    if (e.kind() == ApiError::Kind::kConflict) return ensure_task_key(client, s);  // created meanwhile
    if (e.kind() != ApiError::Kind::kRejected) throw;
    spdlog::warn(
        "writeback: this portal refuses a unique task property ({}); tasks are created with their key "
        "and reconciled by search",
        e.what());
  }
  body.erase("hasUniqueValue");
  try {
    client.call("properties.create", "POST", client.paths().properties("tasks"), body);
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kConflict) throw;
  }
  return TaskMode::kSearch;
}

// The properties of `specs` on `object`: created when missing (409: created meanwhile), checked when
// there.
void ensure_properties(hubspot::HubSpotClient& client, const std::string& object,
                       const std::vector<Spec>& specs, const std::string& group) {
  std::map<std::string, json> have;
  for (const auto& p : client.properties(object)) {
    if (p.is_object() && p.contains("name") && p["name"].is_string()) have[p["name"].get<std::string>()] = p;
  }
  bool group_ready = false;
  for (const auto& spec : specs) {
    if (const auto it = have.find(spec.name); it != have.end()) {
      check(spec, it->second, object);
      continue;
    }
    if (!group_ready) {
      ensure_group(client, object, group);
      group_ready = true;
    }
    try {
      client.call("properties.create", "POST", client.paths().properties(object),
                  property_create_body(spec, group));
      spdlog::info("writeback: created the {} property {}", object, spec.name);
    } catch (const ApiError& e) {
      if (e.kind() != ApiError::Kind::kConflict) {
        if (e.kind() == ApiError::Kind::kRejected)
          throw SetupError("HubSpot refused to create the " + object + " property " + spec.name + ": " +
                           e.what());
        throw;
      }
      check(spec, client.call("properties.get", "GET", client.paths().properties(object) + "/" + spec.name),
            object);
    }
  }
}

// Whether the portal has the Services object (0-162): its properties are set up when it does.
bool ensure_services(hubspot::HubSpotClient& client, const Settings& s) {
  if (s.service_key_property.empty()) return false;
  try {
    client.properties("0-162");
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kNotFound && e.kind() != ApiError::Kind::kForbidden &&
        e.kind() != ApiError::Kind::kRejected)
      throw;
    spdlog::warn("writeback: this portal has no Services object ({}); onboarding creates no service records",
                 e.what());
    return false;
  }
  ensure_properties(client, "0-162", service_specs(s), s.property_group);
  return true;
}

}  // namespace

const char* name_of(TaskMode m) {
  return m == TaskMode::kUpsert ? "upsert" : "search";
}

PortalSetup ensure_portal(store::Database& db, hubspot::HubSpotClient& client, const Settings& settings) {
  const std::string fp = fingerprint(settings);
  const auto known =
      db.with_retry("writeback_setup_get", [&](pqxx::connection& c) -> std::optional<PortalSetup> {
        pqxx::read_transaction tx(c, "writeback_setup_get");
        const auto r = tx.exec_params(
            "SELECT task_mode, services FROM writeback_setup WHERE portal = 'default' AND fingerprint = $1",
            fp);
        if (r.empty()) return std::nullopt;
        return PortalSetup{r[0][0].as<std::string>() == "upsert" ? TaskMode::kUpsert : TaskMode::kSearch,
                           r[0][1].as<bool>()};
      });
  if (known) return *known;

  ensure_properties(client, "companies", settings.company_properties, settings.property_group);
  const TaskMode mode = ensure_task_key(client, settings);
  const bool services = ensure_services(client, settings);
  if (!settings.deal_key_property.empty())
    ensure_properties(client, "deals", {key_spec(settings.deal_key_property, "deal")},
                      settings.property_group);
  db.with_retry("writeback_setup_put", [&](pqxx::connection& c) {
    pqxx::work tx(c, "writeback_setup_put");
    tx.exec_params(
        "INSERT INTO writeback_setup (portal, fingerprint, task_mode, services) VALUES ('default', $1, $2, "
        "$3) "
        "ON CONFLICT (portal) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, task_mode = "
        "EXCLUDED.task_mode, services = EXCLUDED.services, checked_at = now()",
        fp, name_of(mode), services);
    tx.commit();
  });
  spdlog::info("writeback: portal set up; tasks are made exactly once by {}{}", name_of(mode),
               services ? "; service records by search" : "");
  return {mode, services};
}

void forget_portal(store::Database& db) {
  db.with_retry("writeback_setup_forget", [&](pqxx::connection& c) {
    pqxx::work tx(c, "writeback_setup_forget");
    tx.exec("DELETE FROM writeback_setup");
    tx.commit();
  });
}

}  // namespace cshealthd::outbox
