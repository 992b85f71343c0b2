#pragma once
// Backtests (seed 001: check the weights against past churn): each observation date is rescored from
// stored history with the scoring reader's point-in-time rule, labelled with the KPIs' churn events
// (a churn within the horizon after it), and summarised by core::summarize_backtest. The report and the
// observations it came from are stored (BacktestStore), for the CLI, the API and the dashboard.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/core/calendar.hpp"
#include "cshealthd/core/validity.hpp"
#include "cshealthd/kpis/kpi_store.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::validity {

struct BacktestOptions {
  std::int32_t from = 0, to = 0;  // the first and the last observation date (days)
  int every = 30;                 // days between observation dates
  int horizon = 90;               // a churn within this many days after a date counts for it
  std::int32_t today = 0;         // outcomes are known through the day before
  std::string scorecard = "deployed";  // what is evaluated: "deployed", or the candidate file's path
  const core::TimeZone* zone = nullptr;  // the service's: where each observation day ends
  std::string trigger = "cli";
  int threads = 2;
  std::size_t chunk = 2'000;
};

// The observation dates of a request: from, from + every, ... up to to. std::invalid_argument naming the
// option when it cannot be answered: from after to, every or horizon below 1, more than 400 dates, or a
// date whose horizon has not passed by today (its outcomes are not known yet).
std::vector<std::int32_t> observation_days(const BacktestOptions& o);

// Observations of one or more dates, and the components they carry (in the order first met).
struct Observed {
  std::vector<std::string> names;
  std::vector<core::BacktestObservation> obs;
};

struct BacktestRun {
  std::int64_t id = 0;
  nlohmann::json report;  // the parameters, then core::summarize_backtest's figures
  Observed observed;      // what the figures were computed from
};

class Backtester {
 public:
  Backtester(store::Database& db, const scoring::ScoringConfig& scoring, metrics::Registry& metrics,
             kpis::KpiStore& outcomes)
      : db_(db), scoring_(scoring), metrics_(metrics), outcomes_(outcomes) {}
  // Rescores every observation date (nothing is written to the scores), labels, summarises and stores.
  BacktestRun run(const BacktestOptions& o);
  // Rescores `days` (point in time, nothing written) and labels each customer then with its churn and
  // whether it expanded within o.horizon; companies that had left by a day are not observed on it.
  Observed observe(const std::vector<std::int32_t>& days, const BacktestOptions& o);

 private:
  store::Database& db_;
  const scoring::ScoringConfig& scoring_;
  metrics::Registry& metrics_;
  kpis::KpiStore& outcomes_;
};

// The backtests table and its observations; each call joins the caller's transaction.
class BacktestStore {
 public:
  static std::int64_t insert(pqxx::work& tx, const BacktestOptions& o, const std::string& fingerprint,
                             double seconds, const nlohmann::json& report);
  // COPYs the observations in; components named in `names` order.
  static void add_observations(pqxx::work& tx, std::int64_t id,
                               const std::vector<core::BacktestObservation>& obs,
                               const std::vector<std::string>& names);
  // The latest first: {id, created_at, from, to, every_days, horizon_days, scorecard, auc, churned,
  // observations}.
  static nlohmann::json list(pqxx::transaction_base& tx, std::size_t limit);
  // The whole report with its parameters; nullopt: no such backtest.
  static std::optional<nlohmann::json> get(pqxx::transaction_base& tx, std::int64_t id);
};

// A report's figures as people read them, "n/a" for a missing one: a number in `format`, a share in
// percent with one decimal (0.301: "30.1 %"), an AUC with its interval ("0.729 [0.716, 0.743]").
std::string format_number(const nlohmann::json& v, const char* format = "%.3f");
std::string format_percent(const nlohmann::json& v);
std::string format_auc(const nlohmann::json& auc);
// A probability's figures as people read them (Brier score against the base rate's, the AUC when the
// report has one, the reliability per decile), under `title`; lines end with a newline.
std::string format_probability(const nlohmann::json& probability, const std::string& title);

// The report as a table people read: the overall figures, per segment, per component, per band.
std::string format_table(const nlohmann::json& report);

}  // namespace cshealthd::validity
