#pragma once
// The health-score engine's pure core: no I/O, no clock. Everything a score depends on is in
// CompanyInputs (as of one day) and the compiled Scorecard, so the same inputs always give the same
// result and any past day can be rescored from stored snapshots.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {

// Canonical numeric inputs of a company (DOMAIN.md §1); their daily snapshots feed trends and signals.
enum class Metric : std::uint8_t { kMrr, kLicensedSeats, kActiveUsers30d, kLogins30d, kFeaturesUsed };
inline constexpr std::size_t kMetricCount = 5;
enum class TextField : std::uint8_t { kPlan, kGoalStatus, kCsStage, kContractTerm };
inline constexpr std::size_t kTextFieldCount = 4;
enum class DateField : std::uint8_t { kRenewalDate, kContractStartDate, kLastContacted };
inline constexpr std::size_t kDateFieldCount = 3;

// Whether a contract term (mapping.company.contract_term) is monthly: "monthly", "month", "mo", "1m",
// "月次", "月額", "月払い" (ASCII case ignored, blanks trimmed). Anything else, or no term, is annual.
bool monthly_term(const std::optional<std::string>& term);

// Where a metric's values came from: a HubSpot company property (synced), or usage sent to cshealthd
// (the push API, a CSV import, the Segment source).
enum class MetricSource : std::uint8_t { kHubSpot, kPush, kCsv, kSegment };
inline constexpr std::size_t kMetricSourceCount = 4;
const char* name_of(MetricSource s);  // "hubspot", "push", "csv", "segment"
std::optional<MetricSource> metric_source_from_name(std::string_view name);

// "active_users_30d" -> Metric; nullopt for an unknown name.
std::optional<Metric> metric_from_name(std::string_view name);
std::optional<TextField> text_field_from_name(std::string_view name);
std::optional<DateField> date_field_from_name(std::string_view name);
const char* name_of(Metric m);
const char* name_of(TextField f);
const char* name_of(DateField f);

struct Ticket {
  EpochMs created = 0;
  std::optional<EpochMs> closed;
  std::string priority;  // LOW | MEDIUM | HIGH | URGENT
  std::string category;  // PRODUCT_ISSUE | GENERAL_INQUIRY | FEATURE_REQUEST | BILLING_ISSUE | ...
};
struct Feedback {
  EpochMs submitted = 0;
  std::string survey_type;  // NPS | CSAT | ...
  double value = 0;
  std::int64_t respondent = 0;  // the contact who answered (0: not known)
};
struct Meeting {
  EpochMs start = 0;
  std::string outcome;  // COMPLETED | NO_SHOW | CANCELED | RESCHEDULED | SCHEDULED
};
struct Contact {
  bool key_person = false;
  bool departed = false;
  std::int64_t id = 0;
};
struct SnapshotPoint {
  std::int32_t day = 0;  // days since 1970-01-01 (UTC)
  double value = 0;
};

// A manual override by a CS lead: the whole score (component empty) or one component's points.
struct Override {
  std::string component;  // "" = the whole score
  double value = 0;       // score 0-100, or the component's points
  std::string reason;
  std::string author;
  std::int32_t expires_day = 0;  // last day it applies
};

struct PreviousResult {
  std::int32_t day = 0;
  double score = 0;
  std::string status;
};

// Everything known about one company as of `as_of_day` (its end: events before the next midnight UTC).
struct CompanyInputs {
  std::int64_t company_id = 0;
  std::int32_t as_of_day = 0;
  std::array<std::optional<double>, kMetricCount> metrics{};  // current values (as of the day)
  std::array<std::optional<std::string>, kTextFieldCount> texts{};
  std::array<std::optional<EpochMs>, kDateFieldCount> dates{};
  std::array<std::vector<SnapshotPoint>, kMetricCount> history{};  // ascending by day, up to as_of_day
  std::array<MetricSource, kMetricCount> sources{};                // where each metric's values came from
  std::vector<Ticket> tickets;
  std::vector<Feedback> feedback;
  std::vector<Meeting> meetings;
  std::vector<Contact> contacts;
  std::vector<Override> overrides;  // active ones; expired ones are ignored by the engine too
  std::optional<PreviousResult> previous;

  // The snapshot value on `day` (the last one recorded on or before it), if any.
  std::optional<double> value_at(Metric m, std::int32_t day) const;
};

// ---- Scorecards ----------------------------------------------------------------------------------

// [min, max] with each bound inclusive or exclusive, stated explicitly; a missing bound is unbounded.
struct Band {
  std::optional<double> min, max;
  bool min_inclusive = true, max_inclusive = false;
  double points = 0;
  std::string label;  // the rule as people read it: ">= 80%"
  bool contains(double v) const;
};

// Which related records a component or signal counts, and how.
struct RecordFilter {
  std::vector<std::string> priorities, categories, survey_types, outcomes;  // empty: any
};

enum class ComponentKind : std::uint8_t {
  kBands,        // a metric (optionally scaled, or a ratio of two metrics) through numeric bands
  kCategorical,  // a text field mapped to points
  kTrend,        // growing / flat / shrinking over a window of snapshots
  kDaysUntil,    // time until a date (days or months) through bands
  kAggregate,    // related records (tickets, feedback, meetings) reduced to a number, through bands
  kRules,        // ordered ticket/feedback rules; the first that holds gives the points
};
enum class RecordSource : std::uint8_t { kTickets, kFeedback, kMeetings };
enum class Reduce : std::uint8_t { kCount, kLatest, kAverage, kShare };
enum class TimeUnit : std::uint8_t { kDays, kMonths };

struct Aggregate {
  RecordSource source = RecordSource::kTickets;
  RecordFilter filter;
  int window_days = 0;  // 0: no time window
  int last_n = 0;       // 0: all in the window (newest first otherwise)
  Reduce reduce = Reduce::kCount;
  RecordFilter share_of;  // kShare: the share of the selected records that also match this
  double evaluate(const CompanyInputs& in, bool& has_data) const;
  std::string describe() const;
};

struct Rule {
  Aggregate when;
  double at_least = 1;  // the rule holds when the aggregate is >= this
  double points = 0;
  std::string label;
};

struct Component {
  std::string name;   // "usage"
  std::string label;  // "active users / licensed seats"
  ComponentKind kind = ComponentKind::kBands;
  double weight = 0;        // share of the score, in percent (weights sum to 100)
  double max_points = 100;  // the component's own scale (the points preset uses 20, 15, ...)
  // kBands: metric (× multiply ÷ divide), or numerator ÷ denominator × multiply ÷ divide
  std::optional<Metric> metric, denominator;
  double multiply = 1, divide = 1;
  std::vector<Band> bands;  // kBands, kDaysUntil, kAggregate
  // kCategorical
  std::optional<TextField> text;
  std::vector<std::pair<std::string, double>> categories;
  // kTrend
  std::vector<Metric> trend_metrics;
  int window_days = 30;
  double grow_at = 0.05, shrink_at = -0.05;  // relative change over the window
  double growing = 100, flat = 50, shrinking = 10;
  std::string growing_label = "growing", flat_label = "flat", shrinking_label = "shrinking";
  // kDaysUntil
  std::optional<DateField> date;
  TimeUnit unit = TimeUnit::kDays;
  // What a monthly contract (monthly_term) scores instead of the time to the date: the same (kSame),
  // nothing (kLeaveOut: the component has no data, its weight goes to the others), or the months since
  // the contract started through tenure_bands (kTenure).
  enum class Monthly { kSame, kLeaveOut, kTenure } monthly = Monthly::kSame;
  std::vector<Band> tenure_bands;
  // kAggregate
  Aggregate aggregate;
  // kRules
  std::vector<Rule> rules;
  double otherwise = 0;
  std::string otherwise_label;
};

struct Scorecard {
  std::string name;  // "weighted"
  std::string description;
  std::vector<Component> components;
};

// Status bands (defaults: green >= 80, yellow >= 60, orange >= 40, red below) and the coverage below
// which the status is `unknown`.
struct StatusBands {
  double green = 80, yellow = 60, orange = 40;
  double min_coverage = 0.5;
};
std::string status_of(double score, double coverage, const StatusBands& bands);

// ---- Signals -------------------------------------------------------------------------------------

enum class SignalKind : std::uint8_t { kChurn, kExpansion };

// DOMAIN.md §3, every threshold configurable. The signals, their parameters and defaults are defined
// once, in the engine's table (signals.cpp); the settings below are that table's values as configured.
struct SignalParam {
  enum class Type : std::uint8_t { kNumber, kInteger, kTexts };
  std::string name;  // as in signals.yaml: "points"
  Type type = Type::kNumber;
  double number = 0;               // kNumber, kInteger
  std::vector<std::string> texts;  // kTexts
};
struct SignalSettings {
  std::string name;  // "nps_drop"
  bool enabled = true;
  std::string priority;  // high, medium, low, info
  std::vector<SignalParam> params;
  SignalParam* param(std::string_view name);
  // A check across the parameters (score_below: escalate below alert): the error, or empty.
  std::string check() const;
};
struct SignalConfig {
  SignalConfig();  // every signal the engine knows, with its defaults, in the table's order
  std::vector<SignalSettings> signals;
  SignalSettings* find(std::string_view name);
};

// A fired signal carries the numbers that triggered it; facts() puts them in words. Rendering is left
// to whoever shows it, so scoring a million companies formats no text.
struct Signal {
  const char* name = "";  // "usage_drop"
  SignalKind kind = SignalKind::kChurn;
  std::string_view priority;  // owned by the SignalConfig
  std::array<double, 5> values{};
  std::string facts() const;
};

// ---- Results -------------------------------------------------------------------------------------

struct ComponentResult {
  const Component* component = nullptr;
  bool has_data = false;
  double raw = 0;               // the value the rule looked at (ratio in %, months, count, ...)
  std::string_view raw_text;    // a categorical input that was rated (owned by the scorecard)
  double points = 0;            // in the component's scale
  double weight = 0;            // configured weight
  double effective_weight = 0;  // after renormalisation over the components that had data
  std::string_view rule;        // the band or rule that fired (owned by the scorecard)
  std::string detail;           // when set, replaces `rule`: an override, an unrated or out-of-range value
  bool overridden = false;
  std::uint8_t sources = 0;  // the sources of the metrics it read: bit 1 << MetricSource
  double lost = 0;           // score points this component cost (for reasons)
  std::string_view rule_text() const { return detail.empty() ? rule : std::string_view(detail); }
};

struct HealthResult {
  std::int64_t company_id = 0;
  std::int32_t as_of_day = 0;
  std::string scorecard, segment;
  double score = 0;           // 0-100, rounded to 2 decimals
  double computed_score = 0;  // before a whole-score override
  std::string status;
  double coverage = 0;  // 0-1
  std::vector<ComponentResult> components;
  std::vector<Signal> signals;
  std::array<int, 3> top{-1, -1, -1};  // the components that cost the most points, worst first (-1: none)
  std::optional<double> previous_score, delta;
  std::optional<Override> score_override;
  // The probability of churn within the churn model's horizon (core::OutcomeModel), when the scorecard has one.
  std::optional<double> churn_risk;
  // The probability of an expansion (MRR up, an upsell won) within the expansion model's horizon, likewise.
  std::optional<double> expansion_likelihood;
};

// The top reasons in words, worst first (a whole-score override comes first).
std::vector<std::string> reasons(const HealthResult& r);

// The pure scoring function.
void score(const Scorecard& card, const StatusBands& bands, const CompanyInputs& in, HealthResult& out);
// Signals need the score (crossings below 60/40, upsell at >= 80): call after score().
void evaluate_signals(const SignalConfig& config, const CompanyInputs& in, HealthResult& result);

// Every signal name evaluate_signals can emit: the one list the plays file (`signal:` triggers) and the
// alert rules are checked against. Adding a signal: one entry in the engine's table (signals.cpp), its
// defaults in config/scorecards/signals.yaml, a row in docs/scoring.md.
const std::vector<std::string>& signal_names();

// ---- Segments ------------------------------------------------------------------------------------

// A company matches exactly one segment: the first whose condition holds, in file order; else the default.
struct SegmentRule {
  std::string name, scorecard;
  std::optional<Metric> metric;  // numeric condition: metric >= at_least (and < below, when set)
  std::optional<double> at_least, below;
  std::optional<TextField> text;  // text condition: field in values
  std::vector<std::string> values;
  bool matches(const CompanyInputs& in) const;
};
struct Segments {
  std::vector<SegmentRule> rules;
  std::string default_name = "default", default_scorecard = "weighted";
  // (segment name, scorecard name)
  std::pair<const std::string*, const std::string*> select(const CompanyInputs& in) const;
};

}  // namespace cshealthd::core
