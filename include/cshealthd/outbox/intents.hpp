#pragma once
// What a workflow asks the outbox to do in HubSpot (or Slack), typed. Each intent is encoded into the
// outbox's payload column in one place and decoded from it in one place (intents.cpp); the senders read
// the decoded intent, never the JSON.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/core/time.hpp"

namespace cshealthd::outbox {

// Company properties to set (several updates of one company are merged, the later value winning).
struct PropertyUpdate {
  std::map<std::string, std::string> properties;
};

// A HubSpot task, created exactly once per key and associated with the item's company (and deal).
// Subject and body are HubSpot rich text: the workflow rendered them with Markup::kHtml.
struct Task {
  std::string subject, body, owner_id;  // owner "" = unassigned
  std::string priority = "MEDIUM";      // HIGH | MEDIUM | LOW
  std::string rule;                     // what raised it: an alert rule, "play:<name>", "onboarding:<step>"
  std::int32_t due_day = 0;
  core::EpochMs due_ms = 0;
  std::int64_t deal_id = 0;  // 0: no deal to associate
};

// Completes the task made for `task_key`, replacing its body (what it was and why it closes).
struct TaskClose {
  std::string task_key, body, rule;
};

// A Services record (0-162), created exactly once per key, associated with the company and deal.
struct ServiceRecord {
  std::map<std::string, std::string> properties;
  std::int64_t deal_id = 0;
};

// A deal, created exactly once per key, associated with the company.
struct Deal {
  std::map<std::string, std::string> properties;
};

// A message to the configured Slack channel (text escaped for Slack by the workflow).
struct SlackMessage {
  std::string text;
};

using Intent = std::variant<PropertyUpdate, Task, TaskClose, ServiceRecord, Deal, SlackMessage>;

// The outbox's `kind` column: properties, task, task_close, record, deal, slack.
enum class Kind { kProperties, kTask, kTaskClose, kRecord, kDeal, kSlack };
const char* name_of(Kind kind);
std::optional<Kind> kind_named(std::string_view name);
Kind kind_of(const Intent& intent);

// One row to enqueue: its key is unique for ever (an item already enqueued is not enqueued again).
struct Item {
  std::string key;
  std::int64_t company_id = 0;  // 0: none (a digest, a Slack message of no company)
  Intent intent;
};

// The payload column of an item, and back. decode throws std::invalid_argument for a payload that is
// not what `kind` stores (a row written by hand, or by a version that no longer exists).
nlohmann::json encode(const Item& item);
Intent decode(Kind kind, const nlohmann::json& payload);

}  // namespace cshealthd::outbox
