#pragma once
// Lifecycle plays (DOMAIN.md §3-4; seeds 000 and 001): renewal, expansion, QBR and win-back as dated,
// configurable steps. A play has a trigger that gives each company its current cycle (a renewal date, a
// quarter, a signal's or a stage's episode), conditions, and steps that each fire once per (company,
// play, cycle, step) inside a window of days relative to the cycle's date. Deciding is pure: the day,
// the calendar, the company's facts and what earlier nights did are inputs, so `cshealthd plan --plays`
// shows exactly what a night would do, and why.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "cshealthd/core/alerts.hpp"

namespace cshealthd::core {

// ---- What a plays file says --------------------------------------------------------------------------

enum class TriggerKind : std::uint8_t {
  kDate,       // a date of the company (renewal_date, contract_start_date, churn_date, last_nps_date)
  kSignal,     // an episode of a scored signal (seats_full, promoter, renewal_upsell, usage_drop, ...)
  kBand,       // an episode of the status being one of `bands`
  kStage,      // an episode of cs_stage being `stage` (since the date field `since`, or the night first seen)
  kQuarterly,  // every calendar quarter (the cycle's date is the quarter's first day)
};
const char* name_of(TriggerKind k);

// The dates a date trigger (or a stage trigger's `since`) can name.
const std::set<std::string>& play_date_fields();

struct PlayTrigger {
  TriggerKind kind = TriggerKind::kDate;
  std::string field;            // kDate: a play_date_fields() name
  std::string signal;           // kSignal
  std::set<std::string> bands;  // kBand
  std::string stage;            // kStage
  std::string since;            // kStage: the date field it happened on ("" = the night it was first seen)
  int rearm_days = 30;          // episode triggers: an episode ends after this many days without it
};

struct PlayConditions {
  std::set<std::string> segments, bands, stages;  // empty = any
  std::set<std::string> exclude_stages;           // e.g. churned (a company without a CS stage passes)
  std::optional<double> score_below, score_at_least;
  bool not_renewed = false;  // the cycle's date has passed and nothing renewed it
  bool empty() const {
    return segments.empty() && bands.empty() && stages.empty() && exclude_stages.empty() && !score_below &&
           !score_at_least && !not_renewed;
  }
};

enum class PlayAction : std::uint8_t { kTask, kProperties, kDeal, kSlack };
const char* name_of(PlayAction a);

// Who gets a task: the first choice that resolves at the company.
struct OwnerChoice {
  enum class Kind : std::uint8_t { kCsm, kManager, kSalesOwner, kTeam, kOwner } kind = Kind::kCsm;
  std::string id;  // kTeam: team id; kOwner: owner id
};
std::string to_string(const OwnerChoice& o);

struct PlayStep {
  std::string name;
  int at = 0;     // first day of its window, in days from the cycle's date (negative: before it)
  int until = 0;  // last day of its window, likewise (inclusive)
  PlayConditions when;
  PlayAction action = PlayAction::kTask;
  std::vector<OwnerChoice> owner;  // kTask
  std::string priority = "MEDIUM";
  int due_business_days = 3;
  std::string template_name;                      // kTask, kSlack: a template of the file
  std::string template_by;                        // "churn_reason": the template is chosen by it ...
  std::map<std::string, std::string> templates;   // ... category -> template ("other" for the rest)
  std::map<std::string, std::string> properties;  // kProperties: property -> value (a template text)
  std::string deal_pipeline, deal_stage, deal_name, deal_amount;  // kDeal (name and amount: template texts)
  int line = 0;                                                   // where it is in its file
};

struct Play {
  std::string name;
  bool enabled = true;
  PlayTrigger trigger;
  PlayConditions conditions;
  bool ends_when_renewed = false;  // a renewal (a later date, or a won deal near the date) ends the cycle
  // Its first night creates the steps already under way (by default they are recorded as seen, without
  // a task: a play switched on starts from tonight).
  bool catch_up = false;
  std::vector<PlayStep> steps;     // by `at`
};

struct PlayTemplate {
  std::string subject, body;
};

struct PlaysConfig {
  std::vector<Play> plays;
  std::map<std::string, PlayTemplate> templates;     // by name, in the configured locale
  std::map<std::string, std::string> churn_reasons;  // the churn reason property's value -> category
  int renewal_deal_days = 120;  // a won deal closed this many days before the date, or after it, renews
  const Play* find(std::string_view name) const;
};

// The placeholders templates may use. A template naming another is refused when the file loads.
const std::set<std::string>& play_placeholders();
// The placeholders a template text names ({{ and }} are literal braces).
std::vector<std::string> placeholders_in(std::string_view text);

// ---- What a night is decided from ----------------------------------------------------------------------

struct PlayCompany {
  std::int64_t id = 0;
  std::string name;
  std::string owner_id, manager_id, sales_owner_id;  // "" = none
  std::string segment, stage, status;
  double score = 0;
  std::set<std::string> signals;              // fired today (churn and expansion)
  std::map<std::string, std::int32_t> dates;  // play_date_fields() it has
  std::vector<std::int32_t> won_deal_days;    // close days of its won deals
  std::string churn_reason;                   // as the property holds it
  // Churned, so not scored that day: only the plays about churned customers (a `stage: churned` or
  // `date: churn_date` trigger: win-back) run for it.
  bool churned = false;
};

// An episode of an episode trigger (signal, band, stage) at one company.
struct PlayEpisode {
  std::int64_t company_id = 0;
  std::string play;
  std::int32_t started = 0, last_seen = 0;
  bool active = false;
};

// A step already done (or recorded as skipped) in a cycle.
struct PlayStepDone {
  std::string play, cycle, step;
  bool operator<(const PlayStepDone& o) const {
    return std::tie(play, cycle, step) < std::tie(o.play, o.cycle, o.step);
  }
};

struct PlayContext {
  std::int32_t day = 0;
  const BusinessCalendar* calendar = nullptr;
  std::map<std::string, std::string> team_members;  // team id -> the owner a team step goes to
  bool explain = false;  // say what was held back and why (a dry run); a night's plan does without
};

// ---- What it decides -------------------------------------------------------------------------------

struct PlayFiring {
  std::int64_t company_id = 0;
  std::string play, cycle, step;
  std::string key;  // play:<play>:<company>:<cycle>:<step>, unique for ever
  const PlayStep* spec = nullptr;
  std::int32_t date = 0;  // the cycle's date
  std::string owner_id;   // kTask: resolved ("" when no choice resolved)
  std::string template_name;
  std::int32_t due_day = 0;  // kTask
  std::string why;           // for people: "renewal_date 2027-03-01 is 90 days away"
};

struct PlayDecision {
  std::vector<PlayFiring> firings;
  std::vector<PlayEpisode> episodes;  // episodes that began, went on or ended today
  std::vector<std::string> notes;     // with PlayContext::explain: what was held back and why
};

// The first day of a step's window: the cycle's date plus `at` days, moved back to the previous business
// day when it is not one.
std::int32_t step_start(std::int32_t date, int at, const BusinessCalendar& calendar);

// "2026-Q4" and the quarter's first day.
std::string quarter_of(std::int32_t day);
std::int32_t quarter_start(std::int32_t day);

// Decides one company's night. `episodes`: this company's, one per play at most; `done`: the steps its
// current cycles already did. Pure.
PlayDecision decide_plays(const PlaysConfig& config, const PlayContext& ctx, const PlayCompany& company,
                          const std::vector<PlayEpisode>& episodes, const std::set<PlayStepDone>& done);

// The churn reason's category ("cost", "missing_feature", "support", "business_change", or "other").
std::string churn_category(const PlaysConfig& config, const std::string& reason);

// ---- The usage summary (task bodies, GET /v1/companies/{id}/summary) ---------------------------------

struct UsageSummary {
  std::string company;
  std::int32_t day = 0;
  std::optional<double> seats;
  std::optional<double> active_now, active_30, active_90;  // active users now, 30 and 90 days ago
  std::optional<double> logins_now, logins_30, logins_90;
  std::optional<double> features_now, features_90;
  std::optional<double> score_now, score_90;
  std::string status_now, status_90;
  std::vector<std::pair<std::int32_t, std::string>> band_changes;  // (day, new status) in the last 90 days
  int open_tickets = 0, critical_tickets_90d = 0;
  std::optional<std::pair<std::int32_t, double>> last_nps, last_csat;
  std::optional<std::pair<std::int32_t, std::string>> last_meeting;  // day, outcome
};

// A short digest, one fact per line, in "en" or "ja". Missing data says so; nothing is invented.
std::string render_summary(const UsageSummary& s, std::string_view locale);

}  // namespace cshealthd::core
