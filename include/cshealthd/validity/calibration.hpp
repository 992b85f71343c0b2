#pragma once
// Calibration (seed 001: give more weight to what moved before customers left, re-check every quarter):
// an L2-regularised logistic model of churn within the horizon on each component's points, trained on
// the earlier observation dates and judged on the later ones (out of time, never in sample), turned into
// a candidate scorecard: the deployed file with new weights (whole numbers summing to 100), each change
// explained, and the current and proposed weights' out-of-time figures side by side. Nothing is
// deployed. With fewer churns than `min_churns` on the training dates it proposes nothing, and says why.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/kpis/kpi_store.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/validity/backtest.hpp"

namespace cshealthd::validity {

struct CalibrateOptions {
  BacktestOptions window;          // the observation dates (from, to, every, horizon) and how to score them
  std::string scorecard;           // the deployed scorecard to calibrate ("": the default segment's)
  double validation_share = 1.0 / 3;  // of the dates, the latest this share judge the fit
  int min_churns = 30;             // churns on the training dates below which nothing is proposed
  double l2 = 1.0;
};

// The training and validation dates: the last validation_share of the dates (at least one) validate;
// training keeps the earlier dates whose horizon ends by the first validation date, so no churn labels
// both. std::invalid_argument naming the option when no date is left to train on.
struct DateSplit {
  std::vector<std::int32_t> training, validation;
};
DateSplit split_out_of_time(const std::vector<std::int32_t>& days, int horizon, double validation_share);

struct CalibrationRun {
  std::int64_t id = 0;
  bool proposed = false;
  nlohmann::json report;
  std::string candidate;  // the candidate scorecard's YAML; empty when nothing was proposed
};

class Calibrator {
 public:
  Calibrator(store::Database& db, const config::Config& config, const scoring::ScoringConfig& deployed,
             metrics::Registry& metrics, kpis::KpiStore& outcomes)
      : db_(db), config_(config), deployed_(deployed), metrics_(metrics), outcomes_(outcomes) {}
  // Observes, fits, proposes, judges out of time and stores the calibration (refused ones too).
  // std::invalid_argument for options that cannot be answered (see observation_days, split_out_of_time,
  // an unknown scorecard). `known`: the deployed scoring's observations of the same window (a backtest
  // run just before, as the quarterly review does), used instead of scoring those dates again.
  CalibrationRun run(const CalibrateOptions& o, const Observed* known = nullptr);

 private:
  store::Database& db_;
  const config::Config& config_;
  const scoring::ScoringConfig& deployed_;
  metrics::Registry& metrics_;
  kpis::KpiStore& outcomes_;
};

// The calibrations table; each call joins the caller's transaction.
class CalibrationStore {
 public:
  static std::int64_t insert(pqxx::work& tx, const std::string& fingerprint, const std::string& trigger,
                             double seconds, const nlohmann::json& report, const std::string& candidate);
  // The latest first: {id, created_at, scorecard, trigger, from, to, status, reason, auc_current, auc_proposed}.
  static nlohmann::json list(pqxx::transaction_base& tx, std::size_t limit);
  // The report with its id, created_at and candidate text; nullopt: no such calibration.
  static std::optional<nlohmann::json> get(pqxx::transaction_base& tx, std::int64_t id);
};

// The report as people read it: the dates, the weights and why, the out-of-time figures side by side,
// the churn probability's Brier score and reliability.
std::string format_calibration(const nlohmann::json& report);

}  // namespace cshealthd::validity
