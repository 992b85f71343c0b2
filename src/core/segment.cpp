#include "cshealthd/core/segment.hpp"

#include <array>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace cshealthd::core {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxId = 255;

struct EventError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::optional<SegmentType> type_from_name(const std::string& name) {
  static const std::array<std::pair<const char*, SegmentType>, 6> types{{{"identify", SegmentType::kIdentify},
                                                                         {"group", SegmentType::kGroup},
                                                                         {"track", SegmentType::kTrack},
                                                                         {"page", SegmentType::kPage},
                                                                         {"screen", SegmentType::kScreen},
                                                                         {"alias", SegmentType::kAlias}}};
  for (const auto& [n, t] : types)
    if (name == n) return t;
  return std::nullopt;
}

// An id Segment allows as a string or a number: its text, or "" when absent or null.
std::string id_field(const json& e, const char* name) {
  const auto it = e.find(name);
  if (it == e.end() || it->is_null()) return {};
  std::string text;
  if (it->is_string()) {
    text = it->get<std::string>();
  } else if (it->is_number_integer()) {
    text = it->dump();
  } else {
    throw EventError(std::string(name) + ": expected a string or a number");
  }
  if (text.size() > kMaxId) throw EventError(std::string(name) + ": longer than 255 characters");
  return text;
}

std::optional<EpochMs> time_field(const json& e, const char* name) {
  const auto it = e.find(name);
  if (it == e.end() || it->is_null()) return std::nullopt;
  const auto t = it->is_string() ? parse_iso8601(it->get<std::string>()) : std::nullopt;
  if (!t) throw EventError(std::string(name) + ": expected an ISO 8601 timestamp");
  return t;
}

EpochMs event_time(const json& e, EpochMs received) {
  const auto timestamp = time_field(e, "timestamp");
  const auto sent = time_field(e, "sentAt");
  const bool relayed = time_field(e, "receivedAt").has_value();
  if (timestamp && sent && !relayed) return received - (*sent - *timestamp);
  if (timestamp) return *timestamp;
  if (const auto original = time_field(e, "originalTimestamp")) return *original;
  return received;
}

SegmentEvent parse_event(const json& e, const json* batch_context, EpochMs received) {
  if (!e.is_object()) throw EventError("expected an object");
  SegmentEvent out;
  const auto type = e.find("type");
  if (type == e.end() || !type->is_string()) throw EventError("type: required, a string");
  const auto t = type_from_name(type->get<std::string>());
  if (!t) throw EventError("type: expected identify, group, track, page, screen or alias");
  out.type = *t;
  out.message_id = id_field(e, "messageId");
  if (const auto user = id_field(e, "userId"); !user.empty()) {
    out.user = "u:" + user;
  } else if (const auto anonymous = id_field(e, "anonymousId"); !anonymous.empty()) {
    out.user = "a:" + anonymous;
  } else {
    throw EventError("userId or anonymousId: one is required");
  }
  if (out.type == SegmentType::kGroup) {
    out.group_id = id_field(e, "groupId");
    if (out.group_id.empty()) throw EventError("groupId: required for a group call");
  } else {
    const auto context = e.find("context");
    const json* c = context != e.end() ? &*context : batch_context;
    if (c && !c->is_null() && !c->is_object()) throw EventError("context: expected an object");
    if (c && c->is_object()) out.group_id = id_field(*c, "groupId");
  }
  if (out.type == SegmentType::kTrack) {
    const auto name = e.find("event");
    if (name == e.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      throw EventError("event: required for a track call, a string");
    out.event = name->get<std::string>();
    if (out.event.size() > kMaxId) throw EventError("event: longer than 255 characters");
  }
  out.at = event_time(e, received);
  return out;
}

}  // namespace

const char* name_of(SegmentType t) {
  static constexpr std::array<const char*, 6> names{"identify", "group", "track", "page", "screen", "alias"};
  return names[static_cast<std::size_t>(t)];
}

SegmentParsed parse_segment(std::string_view body, bool batch, EpochMs received) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) throw std::invalid_argument("request body: not JSON");
  if (!doc.is_object()) throw std::invalid_argument("request body: expected a JSON object");
  SegmentParsed out;
  const auto one = [&](const json& e, const json* context, std::size_t i) {
    try {
      out.events.push_back(parse_event(e, context, received));
      out.events.back().index = i;
    } catch (const EventError& error) {
      out.errors.emplace_back(i, error.what());
    }
  };
  if (!batch) {
    out.total = 1;
    one(doc, nullptr, 0);
    return out;
  }
  const auto events = doc.find("batch");
  if (events == doc.end() || !events->is_array())
    throw std::invalid_argument("request body: expected {\"batch\": [...]}");
  const auto context = doc.find("context");
  const json* shared = context != doc.end() && context->is_object() ? &*context : nullptr;
  out.total = events->size();
  for (std::size_t i = 0; i < events->size(); ++i) one((*events)[i], shared, i);
  return out;
}

std::int64_t segment_user_key(std::string_view user) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const unsigned char c : user) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<std::int64_t>(h);
}

SegmentActivity aggregate_segment(const std::vector<SegmentEvent>& events, const std::vector<bool>& use,
                                  const SegmentSettings& settings, const TimeZone& zone, std::int32_t today) {
  SegmentActivity out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (!use.empty() && !use[i]) continue;
    const auto& e = events[i];
    if (e.type == SegmentType::kIdentify || e.type == SegmentType::kAlias) continue;
    const std::int32_t day = service_day(zone, e.at);
    if (day > today) {
      out.errors.emplace_back(e.index, "timestamp " + format_iso8601(e.at) + " is in the future");
      continue;
    }
    if (day < today - settings.max_age_days) {
      out.errors.emplace_back(e.index, "timestamp " + format_iso8601(e.at) + " is more than " +
                                           std::to_string(settings.max_age_days) + " days old");
      continue;
    }
    std::string group;
    if (!e.group_id.empty()) {
      auto key = usage_key(settings.group_key, e.group_id);
      if (const auto* error = std::get_if<std::string>(&key)) {
        out.errors.emplace_back(e.index, "groupId: " + *error);
        continue;
      }
      group = std::get<UsageKey>(key).value;
    }
    const std::int64_t user = segment_user_key(e.user);
    if (!group.empty()) out.members.emplace(user, group);
    if (e.type != SegmentType::kGroup) {
      auto& d = out.days[{user, day}];
      if (e.type == SegmentType::kTrack) {
        if (settings.login_events.count(e.event)) ++d.logins;
        if (settings.feature_events.count(e.event)) d.features.insert(e.event);
      }
    }
    ++out.counted;
  }
  return out;
}

}  // namespace cshealthd::core
