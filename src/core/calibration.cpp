#include "cshealthd/core/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace cshealthd::core {
namespace {

std::string figures(const WeightInput& in) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "full points against none: churn odds x%.2f", std::exp(*in.coefficient));
  std::string out = buf;
  if (in.own_auc) {
    std::snprintf(buf, sizeof buf, "; alone it ranked churners at AUC %.3f", *in.own_auc);
    out += buf;
  }
  return out;
}

std::string whole(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::optional<std::vector<WeightProposal>> propose_weights(const std::vector<WeightInput>& inputs, std::string& why_not,
                                                           int floor) {
  std::vector<WeightProposal> out(inputs.size());
  std::vector<std::size_t> fitted, strong;
  int kept = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    out[i].name = inputs[i].name;
    out[i].current = inputs[i].current;
    if (!inputs[i].coefficient) {
      out[i].proposed = std::max(floor, static_cast<int>(std::lround(inputs[i].current)));
      out[i].why = "unchanged: too little data on the training dates to refit it";
      kept += out[i].proposed;
      continue;
    }
    fitted.push_back(i);
    if (-*inputs[i].coefficient > 0) strong.push_back(i);
  }
  if (strong.empty()) {
    why_not = fitted.empty() ? "no component had enough data on the training dates to refit"
                             : "no component's points went with staying once the others were known";
    return std::nullopt;
  }
  const int budget = 100 - kept - floor * static_cast<int>(fitted.size() - strong.size());
  if (budget < floor * static_cast<int>(strong.size())) {
    why_not = "the weights kept for components without data leave no room for the others";
    return std::nullopt;
  }
  // Largest remainder: whole numbers in proportion to the strengths, summing to the budget exactly;
  // ties go to the earlier component, so the answer does not depend on anything but the inputs' order.
  double total = 0;
  for (auto i : strong) total += -*inputs[i].coefficient;
  std::vector<double> share(inputs.size(), 0);
  int given = 0;
  for (auto i : strong) {
    share[i] = budget * (-*inputs[i].coefficient) / total;
    out[i].proposed = static_cast<int>(std::floor(share[i]));
    given += out[i].proposed;
  }
  auto by_remainder = strong;
  std::stable_sort(by_remainder.begin(), by_remainder.end(), [&](std::size_t a, std::size_t b) {
    return share[a] - std::floor(share[a]) > share[b] - std::floor(share[b]);
  });
  for (std::size_t k = 0; given < budget; k = (k + 1) % by_remainder.size(), ++given) ++out[by_remainder[k]].proposed;
  // None under the floor: what a weak component is raised by comes off the largest.
  for (auto i : strong) {
    while (out[i].proposed < floor) {
      auto largest = *std::max_element(strong.begin(), strong.end(),
                                       [&](std::size_t a, std::size_t b) { return out[a].proposed < out[b].proposed; });
      --out[largest].proposed;
      ++out[i].proposed;
    }
  }
  for (auto i : fitted) {
    const auto& in = inputs[i];
    auto& p = out[i];
    if (-*in.coefficient <= 0) {
      p.proposed = floor;
      p.why = "to the floor (" + std::to_string(floor) + "): its points did not go with staying once the others " +
              "were known (" + figures(in) + ")";
    } else if (p.proposed > in.current) {
      p.why = "raised from " + whole(in.current) + ": it told churners apart more than its weight said (" +
              figures(in) + ")";
    } else if (p.proposed < in.current) {
      p.why = "lowered from " + whole(in.current) + ": it told churners apart less than its weight said (" +
              figures(in) + ")";
    } else {
      p.why = "unchanged: its weight matches how much it told churners apart (" + figures(in) + ")";
    }
  }
  return out;
}

double OutcomeModel::probability(const HealthResult& r) const {
  double z = intercept;
  for (const auto& t : terms) {
    double x = t.mean;
    for (const auto& c : r.components) {
      if (c.component->name != t.component) continue;
      if (c.has_data && c.component->max_points > 0) x = c.points / c.component->max_points;
      break;
    }
    z += t.coefficient * x;
  }
  return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z));
}

}  // namespace cshealthd::core
