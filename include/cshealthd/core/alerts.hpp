#pragma once
// What cshealthd writes back to HubSpot, decided purely (DOMAIN.md §3-4): from a scoring day's results
// and what earlier runs wrote and opened, the property updates, the alert tasks (one per episode, capped
// per assignee with a digest for the overflow), the escalations of tasks left open and the closing of
// tasks whose condition cleared. No clock and no I/O: the day, the run's time, the calendar and every
// earlier state are inputs, so a plan is reproducible and `cshealthd plan --dry-run` shows exactly what a
// run would do.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cshealthd/core/calendar.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"

namespace cshealthd::core {

// ---- What the planner is told ---------------------------------------------------------------------

enum class Assignee : std::uint8_t { kOwner, kManager };

// One alert rule: a score threshold ("score_below_60") or a churn signal by name ("usage_drop").
struct AlertRule {
  std::string name;
  std::optional<double> below;  // a score rule: fires below this; else the signal of this name
  Assignee assignee = Assignee::kOwner;
  std::string priority = "MEDIUM";  // HIGH | MEDIUM | LOW (the task's hs_task_priority)
  int due_business_days = 3;
  bool follow_through = true;  // escalate to the manager when its task is still open after N days
  bool slack = false;          // also post to the Slack channel (when one is configured)
  std::string subject, body;   // templates
};

struct PlanConfig {
  std::vector<AlertRule> rules;
  double hysteresis = 5;        // a score rule re-arms at its threshold + this
  int signal_rearm_days = 7;    // a signal rule re-arms after being clear this many days
  bool auto_close = true;       // complete an open alert task whose condition has cleared ...
  int auto_close_days = 3;      // ... for this many days
  int follow_through_days = 5;  // business days an alert task may stay open before escalation
  int daily_cap = 10;           // new alert tasks per assignee per day; the rest go into one digest
  int due_hour = 9;             // due at this local hour
  std::set<std::string> managed_stages{"active", "at_risk"};  // stages the service may move
  std::set<std::string> at_risk_statuses{"orange", "red"};
  int reasons = 3;  // reasons written to cs_health_reasons
  // HubSpot property names of the outputs.
  std::string score_property = "cs_health_score", status_property = "cs_health_status",
              reasons_property = "cs_health_reasons", coverage_property = "cs_health_coverage",
              updated_property = "cs_health_updated_at", stage_property = "cs_stage";
  std::string churn_risk_property;  // "" = off: the churn probability is not written
  std::string expansion_likelihood_property;  // "" = off: the expansion probability is not written
  // The usage summary written through to HubSpot (usage sent to cshealthd); "" = that one is not written.
  struct UsageProperties {
    std::string active_users, logins, seat_utilisation, features, last_active;
  } usage_properties;
  AlertRule escalation;    // a follow-through escalation (to the manager)
  AlertRule digest;        // the overflow of one assignee's day
  std::string close_note;  // appended to a task completed because its condition cleared
};

struct PlanSignal {
  std::string name, priority, facts;
};

// A company's usage as sent to cshealthd (push, CSV, Segment): the latest figures of the last 30 days.
struct PlanUsage {
  std::optional<double> active_users, logins, seats, features;
  std::optional<std::int32_t> last_active_day;
};

struct PlanCompany {
  std::int64_t id = 0;
  std::string name;
  std::string owner_id, manager_id;  // HubSpot owner ids; "" = none
  std::string stage;                 // cs_stage as HubSpot has it
  double score = 0, coverage = 0;
  std::optional<double> churn_risk;  // 0-1, when the scorecard has a churn model
  std::optional<double> expansion_likelihood;  // 0-1, when it has an expansion model
  std::string status;
  std::vector<std::string> reasons;
  std::vector<PlanSignal> signals;
  std::map<std::string, std::string> written;  // output properties as last written
  PlanUsage usage;
};

// The latest episode of one rule at one company.
struct Episode {
  std::int64_t company_id = 0;
  std::string rule;
  int number = 0;        // episodes so far
  bool active = false;   // on until the company recovers past the margin; then the rule is armed again
  std::string task_key;  // the task it opened ("" when none of its own: it went into a digest)
  std::string assignee;  // who the task went to
  std::int32_t opened_day = 0;
  std::optional<std::int32_t> cleared_since;
  bool task_open = false;  // as HubSpot last said
  bool escalated = false, closed = false;
  std::string task_body;  // what the task was created with (a close appends its note)
};

struct Snooze {
  std::int64_t company_id = 0;
  std::string rule;
  std::int32_t until_day = 0;  // the last day it silences
};

struct PlanContext {
  std::int32_t day = 0;  // the scoring day
  EpochMs now_ms = 0;    // the run's time: cs_health_updated_at
  const BusinessCalendar* calendar = nullptr;
  const TimeZone* zone = nullptr;            // due dates are local; nullptr: UTC
  std::map<std::string, int> created_today;  // alert tasks already created today, per assignee
  std::map<std::string, int> digests_today;  // digests already created today, per assignee
};

// ---- What it decides ------------------------------------------------------------------------------

struct PropertyIntent {
  std::int64_t company_id = 0;
  std::map<std::string, std::string> properties;
};

struct TaskIntent {
  std::string key;  // unique for ever: alert:<company>:<rule>:<episode>, ...:escalation, digest:...
  std::int64_t company_id = 0;          // associated company (0 for a digest)
  std::string rule;                     // the rule, "escalation" or "digest"
  std::string owner_id;                 // "" = unassigned
  std::string subject, body, priority;  // subject and body: HubSpot rich text (values HTML-escaped)
  std::string title;                    // the subject as plain text (a digest's lines)
  std::string slack_text;               // the Slack message, when `slack` (values escaped for Slack)
  std::int32_t due_day = 0;
  EpochMs due_ms = 0;
  bool slack = false;
};

struct CloseIntent {
  std::string task_key;
  std::int64_t company_id = 0;
  std::string rule, body;  // the task's new body: what it was, and the note
};

struct Plan {
  std::vector<PropertyIntent> properties;
  std::vector<TaskIntent> tasks;
  std::vector<CloseIntent> closes;
  std::vector<Episode> episodes;  // the episodes that changed, as they are now
  std::map<std::int64_t, std::map<std::string, std::string>> written;  // per company: what is written now
  struct Counts {
    std::uint64_t alerts = 0, digested = 0, snoozed = 0, escalations = 0, closes = 0, rearmed = 0,
                  unchanged_companies = 0;
  } counts;
};

class Planner {
 public:
  explicit Planner(const PlanConfig& config) : config_(config) {}

  // Plans `companies` (any order) given their episodes and live snoozes. Pure.
  Plan plan(const PlanContext& ctx, const std::vector<PlanCompany>& companies,
            const std::vector<Episode>& episodes, const std::vector<Snooze>& snoozes) const;

  // The properties a company's result should show, before comparing with what was written.
  std::map<std::string, std::string> desired_properties(const PlanCompany& c) const;

 private:
  const PlanConfig& config_;
};

// A score or coverage as written: up to two decimals, no trailing zeros ("72.5", "80", "0.83").
std::string format_decimal(double value);

}  // namespace cshealthd::core
