#pragma once
// Proposed scorecard weights from a fitted churn model (seed 001: give more weight to what moved before
// customers left, and re-check every quarter). Pure: the same inputs give the same weights and words.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cshealthd/core/health.hpp"

namespace cshealthd::core {

// One component as the calibration saw it on its training dates.
struct WeightInput {
  std::string name;
  double current = 0;                 // its weight in the deployed scorecard
  std::optional<double> coefficient;  // the log-odds of churn for full points against none (nullopt:
                                      // too little data to refit it: its weight is kept)
  std::optional<double> own_auc;      // how well its points alone ranked the churners
};

struct WeightProposal {
  std::string name;
  double current = 0;
  int proposed = 0;
  std::string why;  // the change, said in words with the figures behind it
};

// Weights proportional to how strongly each component's points went with staying (-coefficient),
// whole numbers summing to 100 (largest remainder), none under `floor` (a scorecard weight must be
// positive): a component whose points did not go with staying once the others were known keeps the
// floor, and says so. Components without a coefficient keep their weight. nullopt with the reason in
// `why_not` when nothing can be proposed: no component's points went with staying, or the kept weights
// leave no room.
std::optional<std::vector<WeightProposal>> propose_weights(const std::vector<WeightInput>& inputs, std::string& why_not,
                                                           int floor = 1);

// A model a calibration fitted, as scoring applies it: the probability of an outcome (a churn for
// cs_churn_risk) within `horizon_days` from each component's share of its points,
// 1 / (1 + exp(-(intercept + Σ β x))).
// A component without data (or missing from the result) takes its training mean, as in the fit.
struct OutcomeModel {
  struct Term {
    std::string component;
    double coefficient = 0, mean = 0;
  };
  std::int64_t calibration_id = 0;
  int horizon_days = 90;
  double intercept = 0;
  std::vector<Term> terms;
  double probability(const HealthResult& r) const;
};

}  // namespace cshealthd::core
