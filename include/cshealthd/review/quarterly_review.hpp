#pragma once
// The quarterly score review (seed 001: check the weights against real churn every quarter, and give
// more weight to what moved before customers left). The first nightly run after a quarter closes that
// the service ran in (an installation does not review the quarter before it: it has no history of it)
// backtests the deployed scoring over the last year of observation dates, calibrates it, stores both,
// and tells the CS lead in one message (Slack, and a HubSpot task to review.owner_id): how well the
// score did, and whether a candidate would do better, with the command that deploys it. Once per
// quarter: the review is recorded with the plan that enqueues its message, under keys unique for ever.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/calendar.hpp"
#include "cshealthd/kpis/kpi_store.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/workflow/context.hpp"
#include "cshealthd/workflow/participant.hpp"

namespace cshealthd::review {

// What a review found, and the message that says it.
struct Findings {
  std::string quarter;                  // "2026-Q3": the quarter that closed
  nlohmann::json backtest;              // the backtest's report (null when it could not run)
  std::string backtest_error;           // why not
  nlohmann::json calibration;           // the calibration's report (refused ones too; null when it could not run)
  std::string calibration_error;        // why not
  std::string deploy_path;              // where the candidate goes to be deployed
};

// The message in `locale` (ja | en): a subject line and the body's lines, each value escaped for `markup`.
struct Message {
  std::string subject;
  std::vector<std::string> lines;
  std::string outcome;  // one line for the record: "auc 0.729; calibration 4 proposed (0.741)"
};
Message compose(const Findings& f, const std::string& locale, core::Markup markup);

class QuarterlyReview : public workflow::Participant {
 public:
  QuarterlyReview(store::Database& db, const config::Config& config, const scoring::ScoringConfig& scoring,
                  const workflow::Context& context, metrics::Registry& metrics, kpis::KpiStore& outcomes)
      : db_(db), config_(config), scoring_(scoring), context_(context), metrics_(metrics), outcomes_(outcomes) {}
  const char* name() const override { return "review"; }
  // The long part, outside the plan's transaction: the backtest and the calibration, when the day's
  // quarter has a closed quarter before it that the service ran in and no review has recorded
  // (refreshes never review).
  void prepare(const workflow::PlanDay& day) override;
  // Records the review and enqueues its message; nothing when another run recorded it first.
  nlohmann::json plan(pqxx::work& tx, const workflow::PlanDay& day) override;

 private:
  struct Pending {
    std::int32_t day = 0;
    Findings findings;
  };
  store::Database& db_;
  const config::Config& config_;
  const scoring::ScoringConfig& scoring_;
  const workflow::Context& context_;
  metrics::Registry& metrics_;
  kpis::KpiStore& outcomes_;
  std::optional<Pending> pending_;
};

// The quarterly_reviews table; each call joins the caller's transaction.
class ReviewStore {
 public:
  static bool reviewed(pqxx::transaction_base& tx, const std::string& quarter);
  // Whether a nightly or manual run succeeded for a day on or before `day` (the service was running then).
  static bool ran_by(pqxx::transaction_base& tx, std::int32_t day);
  // false when the quarter was recorded already (nothing written then).
  static bool record(pqxx::work& tx, const std::string& quarter, std::int32_t day,
                     std::optional<std::int64_t> backtest_id, std::optional<std::int64_t> calibration_id,
                     const std::string& outcome);
};

}  // namespace cshealthd::review
