#pragma once
// The CS KPIs of DOMAIN.md §5 (seed 001's formulas and targets, seed 004's revenue churn per CSM): what a
// company did over a period (a month or a quarter), summed over the companies asked about, and the KPIs
// computed from those sums. Pure: the store reads the facts, this file decides what they mean.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cshealthd::core {

enum class Granularity { kMonth, kQuarter };

// A calendar month or quarter, as days since 1970-01-01: [first, last].
struct Period {
  Granularity granularity = Granularity::kMonth;
  std::int32_t first = 0, last = 0;
  std::string label() const;  // "2026-10" or "2026-Q4"
  int months() const { return granularity == Granularity::kMonth ? 1 : 3; }
};

// The period containing `day`.
Period period_of(Granularity g, std::int32_t day);
// The periods that meet [from, to], oldest first (at most `limit`, the newest kept).
std::vector<Period> periods_between(Granularity g, std::int32_t from, std::int32_t to,
                                    std::size_t limit = 240);
// "2026-10" (a month), or nullopt.
std::optional<Period> parse_month(const std::string& text);
std::optional<Granularity> parse_granularity(const std::string& text);  // month | quarter
const char* granularity_name(Granularity g);

// When a customer counts as churned: its CS stage became churned, its MRR went to zero, or either.
enum class ChurnRule { kStage, kMrr, kEither };
std::optional<ChurnRule> parse_churn_rule(const std::string& text);
const char* name_of(ChurnRule rule);  // stage | mrr | either

// One company over one period. MRR is the company's MRR at the end of a day, from the daily snapshots
// (0 when it had none): `start_mrr` at the end of the day before the period, `end_mrr` at the end of the
// period's last day (or of the last day so far, for the current period).
struct CompanyPeriod {
  double start_mrr = 0, end_mrr = 0;
  bool paid_before = false;    // it had positive MRR on a day before the period (a return, not a new logo)
  bool stage_churned = false;  // its CS stage became churned within the period, and it had not come back
  std::string band;            // its status at the period's end; "" when never scored by then
  // Within the period:
  int nps_promoters = 0, nps_passives = 0, nps_detractors = 0;
  int tickets_resolved = 0;
  double ticket_hours = 0;                           // their resolution times, summed
  int onboardings_due = 0, onboardings_on_time = 0;  // target day within the period; completed by it
  int onboardings_completed = 0;
  double onboarding_days = 0;  // days from won to completed, summed over those completed in the period
  int first_values = 0;
  double value_days = 0;  // days from contract to first value, summed over those reached in the period
};

// What a company's MRR did over a period (DOMAIN §5; seed 001):
//   churn        it was a customer at the start (start MRR > 0) and churned by the rule: its MRR went to
//                zero, or its CS stage became churned within the period. The whole start MRR is lost.
//   expansion    start > 0 and end > start; contraction: 0 < end < start (the difference)
//   new          start 0, end > 0, never paid before; reactivation: the same after an earlier churn
// A churn and a return within the same period nets out (start and end compared), like the seed's
// month-end MRR report.
enum class Movement { kNone, kNew, kExpansion, kContraction, kChurn, kReactivation };
struct MrrMovement {
  Movement kind = Movement::kNone;
  double amount = 0;  // MRR moved (positive)
};
MrrMovement classify(const CompanyPeriod& c, ChurnRule rule);
const char* movement_name(Movement m);

inline constexpr std::array<const char*, 5> kStatusBands = {"green", "yellow", "orange", "red", "unknown"};

// Sums over companies (and over groups of them: segments, owners). Adding is associative, so the store
// keeps one per (period, segment, owner) and any filter sums the ones it selects.
struct KpiFacts {
  double start_mrr = 0, end_mrr = 0;
  double new_mrr = 0, expansion_mrr = 0, contraction_mrr = 0, churn_mrr = 0, reactivation_mrr = 0;
  std::int64_t customers_start = 0, customers_end = 0;
  std::int64_t new_customers = 0, reactivated = 0, churned = 0, expanded = 0, contracted = 0;
  std::array<std::int64_t, 5> bands{};  // customers at the period's end per band (kStatusBands order)
  std::int64_t nps_promoters = 0, nps_passives = 0, nps_detractors = 0;
  std::int64_t tickets_resolved = 0;
  double ticket_hours = 0;
  std::int64_t onboardings_due = 0, onboardings_on_time = 0, onboardings_completed = 0;
  double onboarding_days = 0;
  std::int64_t first_values = 0;
  double value_days = 0;

  void add(const CompanyPeriod& c, ChurnRule rule);
  KpiFacts& operator+=(const KpiFacts& o);
  bool empty() const;

  nlohmann::json to_json() const;
  // Unknown keys are ignored and missing ones read as 0 (facts stored by an older version).
  static KpiFacts from_json(const nlohmann::json& j);
};

// Targets (DOMAIN §5): per month where the seed says "per month" (churn, expansion); a quarter's are
// three times those. The rest hold for any period.
struct KpiTargets {
  double grr = 90, nrr = 110, churn_rate = 1, revenue_churn = 1, nps = 30, onboarding_completion = 90,
         onboarding_days = 60, time_to_value = 30, green_share = 80, expansion_rate = 2,
         ticket_resolution_hours = 48;
  double customers_per_csm = 0;  // 0: no target
};

// The KPI names, in the order they are answered.
const std::vector<std::string>& kpi_names();

struct KpiValue {
  std::string name;
  std::string unit;              // percent | points | days | hours | customers
  std::optional<double> value;   // nullopt: nothing to divide by (an empty period)
  std::optional<double> target;  // nullopt: none configured
  bool at_least = true;          // met when value >= target (false: when value <= target, or < for rates)
  std::optional<bool> met;       // nullopt without a value or a target
  double numerator = 0, denominator = 0;
};

// The KPIs of one selection of facts over `period` (its length scales the per-month targets). `csms`: the
// owners with customers at the period's end in the selection (customers per CSM). Revenue churn of one
// CSM (seed 004) is `revenue_churn` of the selection of that owner.
std::vector<KpiValue> compute_kpis(const KpiFacts& f, std::int64_t csms, const KpiTargets& targets,
                                   const Period& period);
nlohmann::json to_json(const KpiValue& v);

// Churn analysis (seed 001): one churned customer, its score history before the churn, and what the
// service saw and did.
struct ChurnDay {
  std::int32_t day = 0;
  double score = 0;
  std::string band;
};
struct ChurnAlert {
  std::int32_t created = 0;
  std::optional<std::int32_t> completed;  // nullopt: never completed (or not known)
};
struct ChurnCase {
  std::vector<ChurnDay> history;  // any order, days before the churn
  std::int32_t churn_day = 0;
  std::vector<ChurnAlert> alerts;  // alert tasks created before the churn
};
struct ChurnLookback {
  int days = 0;
  std::int64_t at_risk = 0, known = 0;  // red/orange that many days before; with a score then
};
struct ChurnSummary {
  std::int64_t churned = 0;
  std::vector<ChurnLookback> lookbacks;          // 30, 60, 90 days before
  std::optional<double> median_lead_days;        // first red/orange of the last run before the churn
  std::int64_t alerts = 0, alerts_acted_on = 0;  // acted on: completed before the churn
};
// The band a case had `days` before its churn: the latest scored day on or before then, within a week.
std::optional<std::string> band_before(const ChurnCase& c, int days);
// The warning lead time: days from the start of the last unbroken red/orange run ending at the churn's
// last score, to the churn; nullopt when its last score before the churn was not red/orange.
std::optional<int> warning_lead_days(const ChurnCase& c);
// What the analysis keeps of a case (the store keeps it with the churn, so a summary over thousands of
// churns never reads their histories again): its band 30/60/90 days before, its warning lead, its alerts.
inline constexpr std::array<int, 3> kChurnLookbacks = {30, 60, 90};
struct ChurnFacts {
  std::array<std::optional<std::string>, 3> band_before;  // kChurnLookbacks order
  std::optional<int> lead_days;
  std::int64_t alerts = 0, acted_on = 0;  // acted on: completed on or before the churn
};
ChurnFacts churn_facts(const ChurnCase& c);
ChurnSummary summarize_churn(const std::vector<ChurnFacts>& cases);

}  // namespace cshealthd::core
