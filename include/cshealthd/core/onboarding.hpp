#pragma once
// Closed Won → onboarding, the pure parts: HubSpot's webhook bodies read into events, who gets a new
// customer (remaining capacity, round-robin among equals), and which checklist steps are overdue.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cshealthd/core/alerts.hpp"

namespace cshealthd::core {

// ---- Webhook events ----------------------------------------------------------------------------------

// A body HubSpot would never send: the message says what is wrong (and which event).
class WebhookParseError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct WebhookEvent {
  std::string event_id;           // HubSpot's eventId (not unique on its own)
  std::string subscription_type;  // deal.propertyChange, object.propertyChange, ...
  std::string object_type;        // companies | deals | contacts | tickets | ... ("" when unknown)
  std::int64_t object_id = 0;
  std::optional<std::string> property_name, property_value;
  std::int64_t occurred_at_ms = 0;
  std::string raw;  // the event as sent (JSON)

  // HubSpot's identity of an event: eventId + objectId + propertyName + propertyValue + occurredAt.
  std::string dedup_key() const;
  bool is_property_change() const;  // of its subscription type, below
};

// A webhook body: a JSON array of at most `max_events` events. Every event needs a positive objectId,
// an occurredAt in epoch ms, a subscriptionType and an eventId; unknown fields are kept in `raw`.
// Throws WebhookParseError.
std::vector<WebhookEvent> parse_webhook_events(std::string_view body, std::size_t max_events);

// deal.propertyChange, object.propertyChange, ...: the events that carry a property's new value.
bool is_property_change(std::string_view subscription_type);

// The object type of a subscription: "deal.propertyChange" → deals; "object.*" by objectTypeId
// ("0-2" → companies). "" when neither names a type the service knows.
std::string webhook_object_type(std::string_view subscription_type, std::string_view object_type_id);

// ---- Assignment --------------------------------------------------------------------------------------

struct Candidate {
  std::string owner_id;
  int load = 0;      // customers of this segment the owner holds now
  int capacity = 0;  // the segment's cap for one owner
  int remaining() const { return capacity - load; }
};

// The candidate with the most remaining capacity; among equals, the first after `last` in the given
// (pool) order, wrapping round. nullopt when there is no candidate. A full pool still assigns (the
// least over capacity): a won customer is never left without an owner.
std::optional<std::string> choose_owner(const std::vector<Candidate>& pool, const std::string& last);

// ---- Checklist ---------------------------------------------------------------------------------------

struct ChecklistStep {
  std::string id;             // kickoff, goals, ...
  int due_days = 0;           // business days after the start
  std::string subject, body;  // templates ({company}, {deal}, {due}, {owner})
};

struct StepState {
  std::string step;
  std::int32_t due_day = 0;
  bool completed = false;
  std::optional<std::int32_t> overdue_on;  // when its overdue alert was raised
  bool escalated = false;
};

struct StepAction {
  enum class Kind { kOverdue, kEscalate } kind;
  std::string step;
  int business_days_late = 0;
};

// What today brings for one onboarding's steps: an open step past its due day raises one overdue
// alert; still open `escalate_after` business days after that alert, one escalation.
std::vector<StepAction> onboarding_actions(const std::vector<StepState>& steps, std::int32_t today,
                                           const BusinessCalendar& calendar, int escalate_after);

// Every step completed: the customer is handed over.
bool onboarding_complete(const std::vector<StepState>& steps);

}  // namespace cshealthd::core
