#include "cshealthd/outbox/intents.hpp"

#include <stdexcept>

namespace cshealthd::outbox {
namespace {

using json = nlohmann::json;

constexpr std::pair<Kind, const char*> kKinds[] = {
    {Kind::kProperties, "properties"}, {Kind::kTask, "task"}, {Kind::kTaskClose, "task_close"},
    {Kind::kRecord, "record"},         {Kind::kDeal, "deal"}, {Kind::kSlack, "slack"}};

std::map<std::string, std::string> string_map(const json& payload, const char* field) {
  std::map<std::string, std::string> out;
  const auto it = payload.find(field);
  if (it == payload.end()) return out;
  if (!it->is_object()) throw std::invalid_argument(std::string(field) + ": expected an object");
  for (const auto& [k, v] : it->items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

std::string text(const json& payload, const char* field, const char* fallback = "") {
  const auto it = payload.find(field);
  if (it == payload.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw std::invalid_argument(std::string(field) + ": expected a string");
  return it->get<std::string>();
}

std::int64_t integer(const json& payload, const char* field) {
  const auto it = payload.find(field);
  if (it == payload.end() || it->is_null()) return 0;
  if (!it->is_number_integer()) throw std::invalid_argument(std::string(field) + ": expected an integer");
  return it->get<std::int64_t>();
}

json encode_intent(const PropertyUpdate& p, const Item&) {
  return {{"properties", p.properties}};
}
json encode_intent(const Task& t, const Item& item) {
  json out = {{"subject", t.subject},   {"body", t.body},
              {"owner_id", t.owner_id}, {"priority", t.priority},
              {"due_ms", t.due_ms},     {"due", core::format_day(t.due_day)},
              {"rule", t.rule},         {"company_id", item.company_id}};
  if (t.deal_id) out["deal_id"] = t.deal_id;
  return out;
}
json encode_intent(const TaskClose& c, const Item&) {
  return {{"task_key", c.task_key}, {"body", c.body}, {"rule", c.rule}};
}
json encode_intent(const ServiceRecord& r, const Item&) {
  return {{"properties", r.properties}, {"deal_id", r.deal_id}};
}
json encode_intent(const Deal& d, const Item&) {
  return {{"properties", d.properties}};
}
json encode_intent(const SlackMessage& m, const Item&) {
  return {{"text", m.text}};
}

}  // namespace

const char* name_of(Kind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<Kind> kind_named(std::string_view name) {
  for (const auto& [k, n] : kKinds) {
    if (name == n) return k;
  }
  return std::nullopt;
}

Kind kind_of(const Intent& intent) {
  return std::visit(
      [](const auto& i) {
        using T = std::decay_t<decltype(i)>;
        if constexpr (std::is_same_v<T, PropertyUpdate>) return Kind::kProperties;
        if constexpr (std::is_same_v<T, Task>) return Kind::kTask;
        if constexpr (std::is_same_v<T, TaskClose>) return Kind::kTaskClose;
        if constexpr (std::is_same_v<T, ServiceRecord>) return Kind::kRecord;
        if constexpr (std::is_same_v<T, Deal>) return Kind::kDeal;
        if constexpr (std::is_same_v<T, SlackMessage>) return Kind::kSlack;
      },
      intent);
}

json encode(const Item& item) {
  return std::visit([&](const auto& i) { return encode_intent(i, item); }, item.intent);
}

Intent decode(Kind kind, const json& payload) {
  if (!payload.is_object()) throw std::invalid_argument("the payload is not an object");
  switch (kind) {
    case Kind::kProperties:
      return PropertyUpdate{string_map(payload, "properties")};
    case Kind::kTask: {
      Task t;
      t.subject = text(payload, "subject");
      t.body = text(payload, "body");
      t.owner_id = text(payload, "owner_id");
      t.priority = text(payload, "priority", "MEDIUM");
      t.rule = text(payload, "rule");
      t.due_day = core::parse_day(text(payload, "due")).value_or(0);
      t.due_ms = integer(payload, "due_ms");
      t.deal_id = integer(payload, "deal_id");
      return t;
    }
    case Kind::kTaskClose:
      return TaskClose{text(payload, "task_key"), text(payload, "body"), text(payload, "rule")};
    case Kind::kRecord:
      return ServiceRecord{string_map(payload, "properties"), integer(payload, "deal_id")};
    case Kind::kDeal:
      return Deal{string_map(payload, "properties")};
    case Kind::kSlack:
      return SlackMessage{text(payload, "text")};
  }
  throw std::invalid_argument("unknown kind");
}

}  // namespace cshealthd::outbox
