#pragma once
// Product events in Segment's HTTP Tracking API shape (identify, group, track, page, screen; a batch of
// them), as Segment, RudderStack or an analytics library sends them, turned into what the usage source
// keeps: who was active on which day, their logins and the key features they used, and which company
// (Segment's "group") each user belongs to. Pure: the parser never reads a clock (the caller passes the
// instant the body arrived) and keeps nothing of an event beyond these facts.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/core/usage.hpp"

namespace cshealthd::core {

enum class SegmentType : std::uint8_t { kIdentify, kGroup, kTrack, kPage, kScreen, kAlias };
const char* name_of(SegmentType t);

struct SegmentEvent {
  std::size_t index = 0;  // its position in the body (a batch's)
  SegmentType type = SegmentType::kTrack;
  std::string message_id;  // "" when the sender gave none: the event cannot be de-duplicated
  std::string user;        // "u:" + userId, else "a:" + anonymousId
  std::string group_id;    // group: groupId; track, page, screen: context.groupId; "" none
  std::string event;       // track: the event's name
  EpochMs at = 0;          // when it happened (see parse_segment)
};

struct SegmentParsed {
  std::size_t total = 0;  // events in the body
  std::vector<SegmentEvent> events;
  std::vector<std::pair<std::size_t, std::string>> errors;  // (index in the body, why)
};

// A body sent to /v1/segment (one event) or /v1/segment/batch ({"batch": [...]}; its "context" applies
// to events without one). Each event is checked on its own: a type, a userId or anonymousId (string or
// number, at most 255 characters), a messageId (string, at most 255), a groupId for group, an event name
// for track. Its instant: `timestamp` as is when Segment relayed it (receivedAt present); else corrected
// for the sender's clock as Segment does (received - (sentAt - timestamp)); else timestamp, else
// originalTimestamp, else `received`. Throws std::invalid_argument when the body is not a JSON object of
// that shape (no event can be read at all).
SegmentParsed parse_segment(std::string_view body, bool batch, EpochMs received);

// A user as kept: a 64-bit hash of SegmentEvent::user (FNV-1a), never the id itself.
std::int64_t segment_user_key(std::string_view user);

struct SegmentSettings {
  UsageKeyKind group_key = UsageKeyKind::kId;  // what a groupId is: a HubSpot id, a domain, an external id
  std::set<std::string> login_events;          // track events that count as a login
  std::set<std::string> feature_events;        // track events that count as using a key feature
  int max_age_days = 60;                       // older events are refused (their window has closed)
};

// What a set of events adds: per user and day, activity, logins and the features used; each user's
// companies (a group call, or a groupId in an event's context).
struct SegmentActivity {
  struct Day {
    std::int64_t logins = 0;
    std::set<std::string> features;
  };
  std::map<std::pair<std::int64_t, std::int32_t>, Day> days;  // (user key, day)
  std::set<std::pair<std::int64_t, std::string>> members;     // (user key, company key value)
  std::size_t counted = 0;                                    // events that added activity or a member
  std::vector<std::pair<std::size_t, std::string>> errors;    // (the event's index in the body, why)
};

// Folds `events` (those of `use` that are true; all when `use` is empty) into activity, days in `zone`.
// An event dated after `today` or more than max_age_days before it, or naming a company key
// usage_key refuses, is an error; identify and alias add nothing.
SegmentActivity aggregate_segment(const std::vector<SegmentEvent>& events, const std::vector<bool>& use,
                                  const SegmentSettings& settings, const TimeZone& zone, std::int32_t today);

}  // namespace cshealthd::core
