#include "cshealthd/core/onboarding.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

namespace cshealthd::core {
namespace {

using json = nlohmann::json;

// Events are flat: nothing HubSpot sends nests deeper than this. Deeper values are dropped while
// parsing (never built into a tree) and the body is refused.
constexpr int kMaxDepth = 8;

[[noreturn]] void bad(std::size_t index, const std::string& what) {
  throw WebhookParseError("event " + std::to_string(index) + ": " + what);
}

// A number HubSpot sends as a JSON integer (or, from some senders, a decimal string).
std::optional<std::int64_t> integer_of(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 18 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return std::stoll(s);
  }
  return std::nullopt;
}

std::optional<std::string> text_of(const json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return std::nullopt;
}

// Whether a key or string anywhere in `v` holds U+0000 (depth is capped by the parse).
bool holds_nul(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      if (k.find('\0') != std::string::npos || holds_nul(x)) return true;
    }
  }
  if (v.is_array()) {
    for (const auto& x : v) {
      if (holds_nul(x)) return true;
    }
  }
  return false;
}

}  // namespace

std::string WebhookEvent::dedup_key() const {
  // Each part length-prefixed: no two different events share a key, whatever their values hold.
  std::string key;
  for (const std::string* part :
       {&event_id, property_name ? &*property_name : nullptr, property_value ? &*property_value : nullptr}) {
    if (!part) {
      key += "-|";
      continue;
    }
    key += std::to_string(part->size()) + ":" + *part + "|";
  }
  return key + std::to_string(object_id) + "|" + std::to_string(occurred_at_ms);
}

bool is_property_change(std::string_view subscription_type) {
  constexpr std::string_view kSuffix = ".propertyChange";
  return subscription_type.size() > kSuffix.size() &&
         subscription_type.substr(subscription_type.size() - kSuffix.size()) == kSuffix;
}

bool WebhookEvent::is_property_change() const {
  return core::is_property_change(subscription_type);
}

std::string webhook_object_type(std::string_view subscription_type, std::string_view object_type_id) {
  static const std::map<std::string_view, std::string_view> kByName = {
      {"contact", "contacts"}, {"company", "companies"}, {"deal", "deals"},
      {"ticket", "tickets"},   {"product", "products"},  {"line_item", "line_items"}};
  static const std::map<std::string_view, std::string_view> kById = {{"0-1", "contacts"},
                                                                     {"0-2", "companies"},
                                                                     {"0-3", "deals"},
                                                                     {"0-5", "tickets"},
                                                                     {"0-19", "feedback_submissions"},
                                                                     {"0-27", "tasks"},
                                                                     {"0-47", "meetings"},
                                                                     {"0-162", "services"}};
  const auto dot = subscription_type.find('.');
  const auto prefix = subscription_type.substr(0, dot);
  if (prefix == "object") {
    const auto it = kById.find(object_type_id);
    return it == kById.end() ? std::string() : std::string(it->second);
  }
  const auto it = kByName.find(prefix);
  return it == kByName.end() ? std::string() : std::string(it->second);
}

std::vector<WebhookEvent> parse_webhook_events(std::string_view body, std::size_t max_events) {
  bool too_deep = false;
  json doc;
  try {
    doc = json::parse(
        body,
        [&too_deep](int depth, json::parse_event_t, json&) {
          if (depth > kMaxDepth) too_deep = true;
          return depth <= kMaxDepth;
        },
        true);
  } catch (const json::exception& e) {
    throw WebhookParseError(std::string("not JSON: ") + e.what());
  }
  if (too_deep) throw WebhookParseError("nested deeper than any HubSpot event");
  if (!doc.is_array()) throw WebhookParseError("expected a JSON array of events");
  if (doc.size() > max_events)
    throw WebhookParseError("a batch holds at most " + std::to_string(max_events) + " events, this one " +
                            std::to_string(doc.size()));
  std::vector<WebhookEvent> out;
  out.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const json& e = doc[i];
    if (!e.is_object()) bad(i, "expected an object");
    WebhookEvent ev;
    const auto type = text_of(e, "subscriptionType");
    if (!type || type->empty() || type->size() > 100) bad(i, "subscriptionType is missing");
    ev.subscription_type = *type;
    const auto id = e.find("objectId");
    const auto object_id = id == e.end() ? std::nullopt : integer_of(*id);
    if (!object_id || *object_id <= 0) bad(i, "objectId must be a positive integer");
    ev.object_id = *object_id;
    const auto at = e.find("occurredAt");
    const auto occurred = at == e.end() ? std::nullopt : integer_of(*at);
    if (!occurred || *occurred <= 0) bad(i, "occurredAt must be epoch milliseconds");
    ev.occurred_at_ms = *occurred;
    const auto event_id = text_of(e, "eventId");
    if (!event_id || event_id->empty() || event_id->size() > 64) bad(i, "eventId is missing");
    ev.event_id = *event_id;
    ev.property_name = text_of(e, "propertyName");
    ev.property_value = text_of(e, "propertyValue");
    if (ev.property_name && ev.property_name->size() > 256) bad(i, "propertyName is too long");
    ev.object_type = webhook_object_type(ev.subscription_type, text_of(e, "objectTypeId").value_or(""));
    ev.raw = e.dump();
    // PostgreSQL text and jsonb cannot hold U+0000: refused here rather than failing the store (a 503
    // HubSpot would retry for a day).
    if (holds_nul(e)) bad(i, "a value holds U+0000");
    out.push_back(std::move(ev));
  }
  return out;
}

std::optional<std::string> choose_owner(const std::vector<Candidate>& pool, const std::string& last) {
  if (pool.empty()) return std::nullopt;
  int best = pool.front().remaining();
  for (const auto& c : pool) best = std::max(best, c.remaining());
  // Start just after the last one assigned (from the top when it is not in the pool any more).
  std::size_t start = 0;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    if (pool[i].owner_id == last) start = i + 1;
  }
  for (std::size_t k = 0; k < pool.size(); ++k) {
    const auto& c = pool[(start + k) % pool.size()];
    if (c.remaining() == best) return c.owner_id;
  }
  return std::nullopt;  // unreachable: some candidate has the best
}

std::vector<StepAction> onboarding_actions(const std::vector<StepState>& steps, std::int32_t today,
                                           const BusinessCalendar& calendar, int escalate_after) {
  std::vector<StepAction> out;
  for (const auto& s : steps) {
    if (s.completed || today <= s.due_day) continue;
    const int late = calendar.business_days_between(s.due_day, today);
    if (!s.overdue_on) {
      if (late >= 1) out.push_back({StepAction::Kind::kOverdue, s.step, late});
      continue;
    }
    if (!s.escalated && calendar.business_days_between(*s.overdue_on, today) >= escalate_after)
      out.push_back({StepAction::Kind::kEscalate, s.step, late});
  }
  return out;
}

bool onboarding_complete(const std::vector<StepState>& steps) {
  return !steps.empty() &&
         std::all_of(steps.begin(), steps.end(), [](const StepState& s) { return s.completed; });
}

}  // namespace cshealthd::core
