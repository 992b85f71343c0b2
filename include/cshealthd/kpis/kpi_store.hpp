#pragma once
// The KPIs as PostgreSQL holds them: the nightly computation of each period's facts (per segment and
// owner, from the daily MRR snapshots, the scores, feedback, tickets and onboardings), and what the API,
// the CLI and the dashboard read: KPIs per period, renewals, at-risk customers, the churn analysis, a
// company's page and how fresh the data is. The formulas are core's (core/kpis.hpp).
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/kpis.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::kpis {

struct Settings {
  core::ChurnRule churn = core::ChurnRule::kEither;
  int history_months = 13;
  int onboarding_target_days = 60;
  std::string first_value_step = "first_results";
  core::KpiTargets targets;
  std::set<std::string> upsell_deal_types = {"existingbusiness"};  // won deals of these types are expansions

  static Settings from(const config::KpiConfig& c);
};

struct KpiQuery {
  core::Granularity granularity = core::Granularity::kMonth;
  std::int32_t from = 0, to = 0;  // days: the periods meeting [from, to]
  std::optional<std::string> segment, owner;
};

// One period's KPIs for a selection. `computed`: facts were kept for it (else every value is null).
struct PeriodKpis {
  core::Period period;
  bool computed = false;
  std::optional<std::string> through;
  core::KpiFacts facts;
  std::int64_t csms = 0;
  std::vector<core::KpiValue> values;
};

struct ListQuery {
  std::optional<std::string> segment, owner;
  std::string sort = "score";  // at-risk: score | delta | mrr | name | owner
  bool descending = false;
  std::size_t limit = 200, offset = 0;
};

// {period, first, last, computed, through, kpis: [...], movements, bands, customers}
nlohmann::json to_json(const PeriodKpis& k);
// The monthly CS report: a header, then one line per period and KPI (RFC 4180).
std::string to_csv(const std::vector<PeriodKpis>& periods);

// A customer lifetime's end as the KPIs count it (kpis.churn: stage, MRR or either; dated by the churn
// date property, else the night it was first seen), and the day it came back, if it did: a return
// starts a new lifetime. The outcomes a backtest labels its observations with.
struct ChurnOutcome {
  std::int64_t company_id = 0;
  std::int32_t churn_day = 0;
  std::optional<std::int32_t> returned_on;
  std::string reason;
};

struct ExpansionOutcome {
  std::int64_t company_id = 0;
  std::int32_t day = 0;
  std::string source;  // mrr | deal
};

class KpiStore {
 public:
  KpiStore(store::Database& db, Settings settings) : db_(db), settings_(std::move(settings)) {}

  const Settings& settings() const { return settings_; }

  // The nightly computation for `day`: the churned stages seen, then every month and quarter meeting the
  // days since the last computation (the first: kpis.history_months back), each through min(its last
  // day, day). Idempotent: a period's rows are replaced. Answers progress {periods, companies, seconds}.
  // `rebuild`: every period kpis.history_months back, as the first run does (after a score back-fill).
  nlohmann::json compute(std::int32_t day, bool rebuild = false);
  // One period through `through` (the CLI's, for a month no run kept).
  std::size_t compute_period(const core::Period& period, std::int32_t through);

  std::vector<PeriodKpis> kpis(const KpiQuery& q);
  // The segments and owners the facts know (the dashboard's filters).
  nlohmann::json dimensions();

  nlohmann::json renewals(std::int32_t today, int within_days, const ListQuery& q);
  nlohmann::json at_risk(const ListQuery& q);
  nlohmann::json churn_analysis(std::int32_t from, std::int32_t to, std::size_t limit);
  // A company's page: its facts, daily scores with the days the scorecard config changed, the latest
  // explanation, overrides, alert/onboarding/play tasks. nullopt: no such company.
  std::optional<nlohmann::json> company_page(std::int64_t id, int days);
  // Last sync, last score run, last KPI computation.
  nlohmann::json freshness();
  // Every churn recorded (by the nightly computation), by company and day.
  std::vector<ChurnOutcome> churn_outcomes();
  // Every expansion, by company and day: a day the company's MRR rose above its previous known value
  // (while it paid: a return from zero is not one), or the close day (UTC) of a won deal of an upsell
  // type (kpis.upsell_deal_types) associated with it. The outcomes the expansion likelihood predicts.
  std::vector<ExpansionOutcome> expansion_outcomes();

 private:
  void note_churned_stages(pqxx::work& tx, std::int32_t day, bool first_run);
  // core::churn_facts of the churns not analysed yet and of those of the last 30 days (their alert tasks
  // may be read back completed later); answers how many.
  std::size_t analyze_churns(pqxx::work& tx, std::int32_t day);
  std::size_t compute_period(pqxx::work& tx, const core::Period& period, std::int32_t through);

  store::Database& db_;
  Settings settings_;
};

}  // namespace cshealthd::kpis
