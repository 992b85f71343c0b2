#pragma once
// How well a score tells who will leave (seed 001: check the weights against past churn, re-check every
// quarter): the measures a backtest reports, and the model a calibration fits. Pure and deterministic:
// the same observations in the same order give the same figures, bit for bit; the rank measures (AUC,
// ROC, lift, reliability) do not depend on the order at all.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cshealthd::core {

// One company on one observation date: how risky the measure said it was (higher = riskier; a health
// score enters negated) and whether it churned within the horizon after.
struct Labeled {
  double risk = 0;
  bool positive = false;
};

// The area under the ROC curve: the probability that a random churner is ranked riskier than a random
// stayer, ties counting one half (Mann-Whitney). With its 95 % confidence interval from DeLong's variance
// (the placement values), clamped to [0, 1]. nullopt when one class is missing: the AUC is undefined then.
struct Auc {
  double value = 0, low = 0, high = 0;
  std::int64_t positives = 0, negatives = 0;
};
std::optional<Auc> auc(const std::vector<Labeled>& obs);

// The ROC curve's corners, from the riskiest threshold down: (false-positive rate, true-positive rate),
// starting at (0, 0) and ending at (1, 1); tied risks make one step. Empty when one class is missing.
struct RocPoint {
  double fpr = 0, tpr = 0;
};
std::vector<RocPoint> roc_curve(const std::vector<Labeled>& obs);

// The churn rate among the riskiest `share` of observations over the overall rate (top-decile lift at
// share 0.1). A tie group straddling the cut counts in proportion (the expectation over tie orders), so
// the answer does not depend on input order. nullopt without observations or without any churner.
std::optional<double> lift(const std::vector<Labeled>& obs, double share);

// Of the churners, the share flagged (recall); of those who stayed, the share flagged too (false alarms).
struct FlagRates {
  std::int64_t flagged_positives = 0, positives = 0, flagged_negatives = 0, negatives = 0;
  std::optional<double> recall() const;
  std::optional<double> false_alarm_share() const;
};

// Observed churn per band (are the bands calibrated? red should churn most).
struct BandRate {
  std::string band;
  std::int64_t companies = 0, churned = 0;
  std::optional<double> rate() const;
};

// The mean squared difference between a predicted probability and what happened (0 or 1).
std::optional<double> brier(const std::vector<double>& predicted, const std::vector<bool>& outcome);

// Predicted against observed per decile of the prediction (equal counts, in prediction order).
struct ReliabilityBin {
  std::int64_t count = 0;
  double predicted = 0, observed = 0;  // means
};
std::vector<ReliabilityBin> reliability(const std::vector<double>& predicted, const std::vector<bool>& outcome,
                                        std::size_t bins = 10);

// A probability against what happened: the Brier score, the Brier score of giving everyone `base_rate`,
// the reliability per decile and, with `positives` (what happened, named: "expanded"), its AUC counting
// them and the others ("not_expanded"). Numbers rounded as the reports print them.
nlohmann::json probability_figures(const std::vector<double>& predicted, const std::vector<bool>& happened,
                                   double base_rate, const char* positives = nullptr);

// The median of values (the mean of the middle two for an even count); nullopt when empty.
std::optional<double> median(std::vector<double> values);

// L2-regularised logistic regression, fitted by Newton's method on standardised features (the intercept
// is not penalised). `converged` says whether the largest step fell under the tolerance within the
// iteration cap; a fit that did not converge must not be used. Coefficients are on the original scale.
struct LogisticFit {
  double intercept = 0;
  std::vector<double> weights;
  bool converged = false;
  int iterations = 0;
  double log_loss = 0;  // mean, on the training data
  double predict(const std::vector<double>& x) const;
};
struct LogisticOptions {
  double l2 = 1.0;  // penalty on the standardised weights, summed (not averaged) over observations
  int max_iterations = 100;
  double tolerance = 1e-9;
};
// rows: one feature vector per observation, all the same length; outcome: churned or not. An empty input,
// rows of unequal length or one class only give a fit with converged = false.
LogisticFit fit_logistic(const std::vector<std::vector<double>>& rows, const std::vector<bool>& outcome,
                         const LogisticOptions& options = {});

// Platt scaling: a one-feature logistic fit of outcome on risk, so a risk becomes a probability.
struct Platt {
  double a = 0, b = 0;  // p = 1 / (1 + exp(-(a + b * risk)))
  bool fitted = false;
  double probability(double risk) const;
};
Platt fit_platt(const std::vector<Labeled>& obs);

// ---- Backtests ----------------------------------------------------------------------------------

// A company's recorded churns (the KPIs' churn events): each ends a customer lifetime, and a return
// starts the next.
struct ChurnEvent {
  std::int32_t churn_day = 0;
  std::optional<std::int32_t> returned_on;
};
// The company on an observation day: a customer then (not inside a churn it had not come back from by
// that day; a churn dated that day has happened), and its first churn within (day, day + horizon].
struct Outcome {
  bool customer = true;
  std::optional<std::int32_t> churn_day;
};
Outcome outcome_at(const std::vector<ChurnEvent>& events, std::int32_t day, int horizon);

// Whether one of a company's expansion days (its MRR rose, an upsell deal was won) falls within
// (day, day + horizon]. `days` in any order.
bool expanded_within(const std::vector<std::int32_t>& days, std::int32_t day, int horizon);

// One company on one observation date of a backtest: its score then (point in time), and whether its
// customer lifetime ended in a churn within the horizon after.
struct BacktestObservation {
  std::int64_t company_id = 0;
  std::int32_t day = 0;
  double score = 0;
  std::string status;   // green | yellow | orange | red | unknown (too little data)
  std::string segment;
  std::vector<std::optional<double>> components;  // points per component (nullopt: no data)
  bool churned = false;
  std::optional<std::int32_t> churn_day;  // when it churned (within the horizon)
  std::string scorecard;                  // the scorecard that scored it
  std::optional<double> churn_risk;       // its churn model's probability then (cs_churn_risk), if any
  bool expanded = false;                  // it expanded within the horizon (and was a customer then)
  std::optional<double> expansion_likelihood;  // its expansion model's probability then, if any
};

// The figures of a backtest, overall and per segment: observations, churners, AUC with its interval
// (null when one class is missing, with the reason), top-decile lift, recall of red and of red+orange,
// the share of those who stayed flagged red+orange, the median warning lead (days from the first
// red/orange observation of the last unbroken run to the churn, core::warning_lead_days), each
// component's own AUC (on the observations where it had data) and the churn rate per band. Observations
// with status `unknown` are counted and left out of the ranking. Overall only, `roc`: the ROC curve's
// corners as [fpr, tpr] pairs, thinned to about 200 (the last always kept), for drawing; and
// `churn_probability` (null when no observation had a churn risk): over the scored observations with
// one, the Brier score, the Brier score of giving each the observed base rate, and the reliability per
// decile of the prediction; `expansion_probability` likewise for the expansion likelihood against the
// expansions within the horizon, with the likelihood's AUC (null when no observation had one).
// `expanded`: the observations followed by an expansion.
nlohmann::json summarize_backtest(const std::vector<BacktestObservation>& obs,
                                  const std::vector<std::string>& component_names);

}  // namespace cshealthd::core
