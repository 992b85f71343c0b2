#include "cshealthd/core/validity.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "cshealthd/core/kpis.hpp"

namespace cshealthd::core {
namespace {

constexpr double kZ95 = 1.959963984540054;  // the normal quantile of 0.975

// The observations' risks split by class, each sorted (so sums run in one order whatever the input's).
struct Split {
  std::vector<double> positives, negatives;
};
Split split(const std::vector<Labeled>& obs) {
  Split s;
  for (const auto& o : obs) (o.positive ? s.positives : s.negatives).push_back(o.risk);
  std::sort(s.positives.begin(), s.positives.end());
  std::sort(s.negatives.begin(), s.negatives.end());
  return s;
}

// How many of `sorted` lie below x, ties counting one half.
double placement(const std::vector<double>& sorted, double x) {
  const auto lo = std::lower_bound(sorted.begin(), sorted.end(), x);
  const auto hi = std::upper_bound(lo, sorted.end(), x);
  return static_cast<double>(lo - sorted.begin()) + 0.5 * static_cast<double>(hi - lo);
}

// The sample variance of values around `mean`; 0 for fewer than two.
double variance(const std::vector<double>& values, double mean) {
  if (values.size() < 2) return 0;
  double s = 0;
  for (const double v : values) s += (v - mean) * (v - mean);
  return s / static_cast<double>(values.size() - 1);
}

// Observations ordered riskiest first, grouped by equal risk: (group size, churners in it).
std::vector<std::pair<std::int64_t, std::int64_t>> risk_groups(const std::vector<Labeled>& obs) {
  std::vector<Labeled> sorted = obs;
  std::sort(sorted.begin(), sorted.end(), [](const Labeled& a, const Labeled& b) { return a.risk > b.risk; });
  std::vector<std::pair<std::int64_t, std::int64_t>> groups;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    std::int64_t pos = 0;
    while (j < sorted.size() && sorted[j].risk == sorted[i].risk) pos += sorted[j++].positive ? 1 : 0;
    groups.emplace_back(static_cast<std::int64_t>(j - i), pos);
    i = j;
  }
  return groups;
}

double sigmoid(double z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

// Solves a x = b for a symmetric positive-definite a (row-major, n x n) by Cholesky; false when a is not
// positive definite.
bool solve_spd(std::vector<double> a, std::vector<double>& b, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (std::size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 1e-300)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (std::size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {  // L y = b
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (std::size_t i = n; i-- > 0;) {  // L' x = y
    double s = b[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return true;
}

double clamp_probability(double p) { return std::clamp(p, 1e-15, 1 - 1e-15); }

// The penalised mean log loss of beta on standardised rows x (intercept first) against soft targets y.
double objective(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                 const std::vector<double>& beta, double l2) {
  double loss = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double p = clamp_probability(sigmoid(std::inner_product(beta.begin(), beta.end(), x[i].begin(), 0.0)));
    loss -= y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p);
  }
  double penalty = 0;
  for (std::size_t k = 1; k < beta.size(); ++k) penalty += beta[k] * beta[k];
  return loss + 0.5 * l2 * penalty;
}

// Newton's method with step halving on the penalised log-likelihood; targets may be soft (Platt).
LogisticFit fit(const std::vector<std::vector<double>>& rows, const std::vector<double>& y,
                const LogisticOptions& o) {
  LogisticFit result;
  const std::size_t n = rows.size();
  if (n == 0 || y.size() != n) return result;
  const std::size_t k = rows.front().size();
  for (const auto& r : rows)
    if (r.size() != k) return result;
  const double positives = std::accumulate(y.begin(), y.end(), 0.0);
  if (positives <= 0 || positives >= static_cast<double>(n)) return result;

  // Standardise: a constant feature gets scale 0 and keeps weight 0.
  std::vector<double> mean(k, 0), scale(k, 0);
  for (const auto& r : rows)
    for (std::size_t j = 0; j < k; ++j) mean[j] += r[j];
  for (auto& m : mean) m /= static_cast<double>(n);
  for (const auto& r : rows)
    for (std::size_t j = 0; j < k; ++j) scale[j] += (r[j] - mean[j]) * (r[j] - mean[j]);
  for (auto& s : scale) s = std::sqrt(s / static_cast<double>(n));
  std::vector<std::vector<double>> x(n, std::vector<double>(k + 1, 1.0));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < k; ++j) x[i][j + 1] = scale[j] > 0 ? (rows[i][j] - mean[j]) / scale[j] : 0.0;

  const std::size_t m = k + 1;
  std::vector<double> beta(m, 0.0);
  beta[0] = std::log(positives / (static_cast<double>(n) - positives));
  double current = objective(x, y, beta, o.l2);
  for (int it = 1; it <= o.max_iterations; ++it) {
    result.iterations = it;
    std::vector<double> gradient(m, 0.0), hessian(m * m, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const double p = sigmoid(std::inner_product(beta.begin(), beta.end(), x[i].begin(), 0.0));
      const double w = p * (1 - p);
      for (std::size_t a = 0; a < m; ++a) {
        gradient[a] += (y[i] - p) * x[i][a];
        for (std::size_t b = 0; b <= a; ++b) hessian[a * m + b] += w * x[i][a] * x[i][b];
      }
    }
    for (std::size_t a = 1; a < m; ++a) {
      gradient[a] -= o.l2 * beta[a];
      hessian[a * m + a] += o.l2;
      // A constant feature's row and column are zero: pin its weight at 0.
      if (scale[a - 1] == 0) hessian[a * m + a] = 1;
    }
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = a + 1; b < m; ++b) hessian[a * m + b] = hessian[b * m + a];
    std::vector<double> step = gradient;
    if (!solve_spd(hessian, step, m)) return result;
    // Halve the step until the objective does not grow (Newton's full step can overshoot far from the
    // optimum).
    double t = 1;
    std::vector<double> next(m);
    double value = current;
    for (int h = 0; h < 40; ++h, t /= 2) {
      for (std::size_t a = 0; a < m; ++a) next[a] = beta[a] + t * step[a];
      value = objective(x, y, next, o.l2);
      if (value <= current + 1e-12 * std::abs(current)) break;
    }
    double largest = 0;
    for (std::size_t a = 0; a < m; ++a) largest = std::max(largest, std::abs(next[a] - beta[a]));
    beta = next;
    current = value;
    if (largest < o.tolerance) {
      result.converged = true;
      break;
    }
  }

  result.weights.assign(k, 0.0);
  result.intercept = beta[0];
  for (std::size_t j = 0; j < k; ++j) {
    if (scale[j] == 0) continue;
    result.weights[j] = beta[j + 1] / scale[j];
    result.intercept -= beta[j + 1] * mean[j] / scale[j];
  }
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double p = clamp_probability(result.predict(rows[i]));
    loss -= y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p);
  }
  result.log_loss = loss / static_cast<double>(n);
  return result;
}

}  // namespace

std::optional<Auc> auc(const std::vector<Labeled>& obs) {
  const Split s = split(obs);
  if (s.positives.empty() || s.negatives.empty()) return std::nullopt;
  const auto n1 = static_cast<double>(s.positives.size());
  const auto n0 = static_cast<double>(s.negatives.size());
  // Placement values: each churner's share of stayers ranked below it, each stayer's share of churners
  // ranked above it.
  std::vector<double> v10, v01;
  v10.reserve(s.positives.size());
  v01.reserve(s.negatives.size());
  for (const double x : s.positives) v10.push_back(placement(s.negatives, x) / n0);
  for (const double y : s.negatives) v01.push_back(1 - placement(s.positives, y) / n1);
  const double a = std::accumulate(v10.begin(), v10.end(), 0.0) / n1;
  const double se = std::sqrt(variance(v10, a) / n1 + variance(v01, a) / n0);
  Auc r;
  r.value = a;
  r.low = std::clamp(a - kZ95 * se, 0.0, 1.0);
  r.high = std::clamp(a + kZ95 * se, 0.0, 1.0);
  r.positives = static_cast<std::int64_t>(s.positives.size());
  r.negatives = static_cast<std::int64_t>(s.negatives.size());
  return r;
}

std::vector<RocPoint> roc_curve(const std::vector<Labeled>& obs) {
  const auto groups = risk_groups(obs);
  std::int64_t p = 0, n = 0;
  for (const auto& [size, pos] : groups) {
    p += pos;
    n += size - pos;
  }
  if (p == 0 || n == 0) return {};
  std::vector<RocPoint> curve{{0, 0}};
  std::int64_t tp = 0, fp = 0;
  for (const auto& [size, pos] : groups) {
    tp += pos;
    fp += size - pos;
    curve.push_back({static_cast<double>(fp) / static_cast<double>(n), static_cast<double>(tp) / static_cast<double>(p)});
  }
  return curve;
}

std::optional<double> lift(const std::vector<Labeled>& obs, double share) {
  if (obs.empty() || !(share > 0) || share > 1) return std::nullopt;
  const auto groups = risk_groups(obs);
  std::int64_t positives = 0;
  for (const auto& g : groups) positives += g.second;
  if (positives == 0) return std::nullopt;
  const double total = static_cast<double>(obs.size());
  const double take = share * total;
  double taken = 0, caught = 0;
  for (const auto& [size, pos] : groups) {
    if (taken >= take) break;
    const double part = std::min(1.0, (take - taken) / static_cast<double>(size));
    caught += part * static_cast<double>(pos);
    taken += part * static_cast<double>(size);
  }
  return (caught / take) / (static_cast<double>(positives) / total);
}

std::optional<double> FlagRates::recall() const {
  if (positives == 0) return std::nullopt;
  return static_cast<double>(flagged_positives) / static_cast<double>(positives);
}

std::optional<double> FlagRates::false_alarm_share() const {
  if (negatives == 0) return std::nullopt;
  return static_cast<double>(flagged_negatives) / static_cast<double>(negatives);
}

std::optional<double> BandRate::rate() const {
  if (companies == 0) return std::nullopt;
  return static_cast<double>(churned) / static_cast<double>(companies);
}

std::optional<double> brier(const std::vector<double>& predicted, const std::vector<bool>& outcome) {
  if (predicted.empty() || predicted.size() != outcome.size()) return std::nullopt;
  double s = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    const double d = predicted[i] - (outcome[i] ? 1.0 : 0.0);
    s += d * d;
  }
  return s / static_cast<double>(predicted.size());
}

std::vector<ReliabilityBin> reliability(const std::vector<double>& predicted, const std::vector<bool>& outcome,
                                        std::size_t bins) {
  if (predicted.empty() || predicted.size() != outcome.size() || bins == 0) return {};
  std::vector<std::pair<double, bool>> sorted;
  sorted.reserve(predicted.size());
  for (std::size_t i = 0; i < predicted.size(); ++i) sorted.emplace_back(predicted[i], outcome[i]);
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  bins = std::min(bins, n);
  std::vector<ReliabilityBin> out;
  for (std::size_t b = 0; b < bins; ++b) {
    ReliabilityBin bin;
    double p = 0, y = 0;
    for (std::size_t i = b * n / bins; i < (b + 1) * n / bins; ++i) {
      p += sorted[i].first;
      y += sorted[i].second ? 1 : 0;
      ++bin.count;
    }
    bin.predicted = p / static_cast<double>(bin.count);
    bin.observed = y / static_cast<double>(bin.count);
    out.push_back(bin);
  }
  return out;
}

std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const std::size_t h = values.size() / 2;
  return values.size() % 2 ? values[h] : (values[h - 1] + values[h]) / 2;
}

double LogisticFit::predict(const std::vector<double>& x) const {
  double z = intercept;
  for (std::size_t j = 0; j < weights.size() && j < x.size(); ++j) z += weights[j] * x[j];
  return sigmoid(z);
}

LogisticFit fit_logistic(const std::vector<std::vector<double>>& rows, const std::vector<bool>& outcome,
                         const LogisticOptions& options) {
  std::vector<double> y;
  y.reserve(outcome.size());
  for (const bool b : outcome) y.push_back(b ? 1.0 : 0.0);
  return fit(rows, y, options);
}

double Platt::probability(double risk) const { return sigmoid(a + b * risk); }

Platt fit_platt(const std::vector<Labeled>& obs) {
  // Platt's targets: (N+ + 1) / (N+ + 2) for churners, 1 / (N- + 2) for the others, so that a perfectly
  // separating risk still gives finite coefficients.
  double np = 0, nn = 0;
  for (const auto& o : obs) (o.positive ? np : nn) += 1;
  Platt p;
  if (np == 0 || nn == 0) return p;
  std::vector<std::vector<double>> rows;
  std::vector<double> y;
  for (const auto& o : obs) {
    rows.push_back({o.risk});
    y.push_back(o.positive ? (np + 1) / (np + 2) : 1 / (nn + 2));
  }
  LogisticOptions options;
  options.l2 = 0;
  const auto f = fit(rows, y, options);
  if (!f.converged) return p;
  p.a = f.intercept;
  p.b = f.weights[0];
  p.fitted = true;
  return p;
}

namespace {

using json = nlohmann::json;

json optional_number(const std::optional<double>& v, int digits = 4) {
  if (!v) return nullptr;
  const double scale = std::pow(10.0, digits);
  return std::round(*v * scale) / scale;
}

json auc_json(const std::vector<Labeled>& obs, const char* positives = "churned",
              const char* negatives = "stayed") {
  const auto a = auc(obs);
  if (!a) return {{"value", nullptr}, {"why", "undefined: the observations hold only one class"}};
  return {{"value", optional_number(a->value)},
          {"low", optional_number(a->low)},
          {"high", optional_number(a->high)},
          {positives, a->positives},
          {negatives, a->negatives}};
}

json group_json(const std::vector<const BacktestObservation*>& group,
                const std::vector<std::string>& component_names) {
  std::vector<Labeled> ranked;
  FlagRates red, red_orange;
  std::map<std::string, BandRate> bands;
  std::int64_t unknown = 0, churned = 0;
  for (const auto* o : group) {
    churned += o->churned ? 1 : 0;
    auto& b = bands[o->status];
    b.band = o->status;
    ++b.companies;
    b.churned += o->churned ? 1 : 0;
    if (o->status == "unknown") {
      ++unknown;
      continue;
    }
    ranked.push_back({-o->score, o->churned});
    const bool is_red = o->status == "red", flagged = is_red || o->status == "orange";
    for (auto* rates : {&red, &red_orange}) {
      const bool hit = rates == &red ? is_red : flagged;
      if (o->churned) {
        ++rates->positives;
        rates->flagged_positives += hit ? 1 : 0;
      } else {
        ++rates->negatives;
        rates->flagged_negatives += hit ? 1 : 0;
      }
    }
  }
  // The warning lead of each churn: the company's observations before it.
  std::map<std::pair<std::int64_t, std::int32_t>, ChurnCase> cases;
  for (const auto* o : group) {
    if (!o->churned || !o->churn_day) continue;
    auto& c = cases[{o->company_id, *o->churn_day}];
    c.churn_day = *o->churn_day;
    if (o->status != "unknown") c.history.push_back({o->day, o->score, o->status});
  }
  std::vector<double> leads;
  for (const auto& [key, c] : cases) {
    if (const auto lead = warning_lead_days(c)) leads.push_back(*lead);
  }
  json components = json::array();
  for (std::size_t k = 0; k < component_names.size(); ++k) {
    std::vector<Labeled> own;
    for (const auto* o : group) {
      if (k < o->components.size() && o->components[k]) own.push_back({-*o->components[k], o->churned});
    }
    components.push_back({{"name", component_names[k]}, {"observations", own.size()}, {"auc", auc_json(own)}});
  }
  json band_rates = json::array();
  for (const char* name : {"red", "orange", "yellow", "green", "unknown"}) {
    const auto it = bands.find(name);
    if (it == bands.end()) continue;
    band_rates.push_back({{"band", name},
                          {"observations", it->second.companies},
                          {"churned", it->second.churned},
                          {"churn_rate", optional_number(it->second.rate())}});
  }
  return {{"observations", group.size()},
          {"churned", churned},
          {"unscored", unknown},
          {"auc", auc_json(ranked)},
          {"top_decile_lift", optional_number(lift(ranked, 0.1), 3)},
          {"recall_red", optional_number(red.recall())},
          {"recall_red_orange", optional_number(red_orange.recall())},
          {"false_alarm_red_orange", optional_number(red_orange.false_alarm_share())},
          {"median_lead_days", optional_number(median(leads), 1)},
          {"churns_with_lead", leads.size()},
          {"churns", cases.size()},
          {"components", std::move(components)},
          {"bands", std::move(band_rates)}};
}

// The probability the scored observations carried (`predicted_of`), against what happened: null when
// none carried one. The base rate is the one observed among them.
template <typename Predicted, typename Happened>
json carried_probability(const std::vector<BacktestObservation>& obs, Predicted predicted_of,
                         Happened happened_of, const char* positives) {
  std::vector<double> predicted;
  std::vector<bool> happened;
  for (const auto& o : obs) {
    const std::optional<double> p = predicted_of(o);
    if (o.status == "unknown" || !p) continue;
    predicted.push_back(*p);
    happened.push_back(happened_of(o));
  }
  if (predicted.empty()) return nullptr;
  const double rate = static_cast<double>(std::count(happened.begin(), happened.end(), true)) /
                      static_cast<double>(happened.size());
  return probability_figures(predicted, happened, rate, positives);
}

}  // namespace

nlohmann::json probability_figures(const std::vector<double>& predicted, const std::vector<bool>& happened,
                                   double base_rate, const char* positives) {
  json bins = json::array();
  for (const auto& b : reliability(predicted, happened))
    bins.push_back({{"count", b.count},
                    {"predicted", optional_number(b.predicted)},
                    {"observed", optional_number(b.observed)}});
  json out = {{"observations", predicted.size()},
              {"brier", optional_number(brier(predicted, happened), 5)},
              {"brier_base_rate",
               optional_number(brier(std::vector<double>(predicted.size(), base_rate), happened), 5)},
              {"base_rate", optional_number(base_rate, 5)},
              {"reliability", std::move(bins)}};
  if (positives) {
    std::vector<Labeled> ranked;
    ranked.reserve(predicted.size());
    for (std::size_t i = 0; i < predicted.size(); ++i) ranked.push_back({predicted[i], happened[i]});
    out["auc"] = auc_json(ranked, positives, (std::string("not_") + positives).c_str());
  }
  return out;
}

Outcome outcome_at(const std::vector<ChurnEvent>& events, std::int32_t day, int horizon) {
  Outcome o;
  for (const auto& e : events) {
    if (e.churn_day <= day && (!e.returned_on || *e.returned_on > day)) o.customer = false;
    if (e.churn_day > day && e.churn_day <= day + horizon && (!o.churn_day || e.churn_day < *o.churn_day))
      o.churn_day = e.churn_day;
  }
  if (!o.customer) o.churn_day.reset();
  return o;
}

bool expanded_within(const std::vector<std::int32_t>& days, std::int32_t day, int horizon) {
  return std::any_of(days.begin(), days.end(), [&](std::int32_t d) { return d > day && d <= day + horizon; });
}

nlohmann::json summarize_backtest(const std::vector<BacktestObservation>& obs,
                                  const std::vector<std::string>& component_names) {
  std::vector<const BacktestObservation*> all;
  std::map<std::string, std::vector<const BacktestObservation*>> by_segment;
  for (const auto& o : obs) {
    all.push_back(&o);
    by_segment[o.segment].push_back(&o);
  }
  json segments = json::array();
  for (const auto& [name, group] : by_segment) {
    auto g = group_json(group, component_names);
    g["segment"] = name;
    segments.push_back(std::move(g));
  }
  auto out = group_json(all, component_names);
  out["segments"] = std::move(segments);
  // The overall ROC curve, for drawing: at most about 200 corners (every k-th, the last kept).
  std::vector<Labeled> ranked;
  for (const auto& o : obs)
    if (o.status != "unknown") ranked.push_back({-o.score, o.churned});
  const auto curve = roc_curve(ranked);
  const std::size_t step = curve.size() / 200 + 1;
  json roc = json::array();
  for (std::size_t i = 0; i < curve.size(); i += step)
    roc.push_back({optional_number(curve[i].fpr), optional_number(curve[i].tpr)});
  if (!curve.empty() && (curve.size() - 1) % step != 0)
    roc.push_back({optional_number(curve.back().fpr), optional_number(curve.back().tpr)});
  out["roc"] = std::move(roc);
  out["churn_probability"] = carried_probability(
      obs, [](const BacktestObservation& o) { return o.churn_risk; },
      [](const BacktestObservation& o) { return o.churned; }, nullptr);
  out["expansion_probability"] = carried_probability(
      obs, [](const BacktestObservation& o) { return o.expansion_likelihood; },
      [](const BacktestObservation& o) { return o.expanded; }, "expanded");
  out["expanded"] =
      std::count_if(obs.begin(), obs.end(), [](const BacktestObservation& o) { return o.expanded; });
  return out;
}

}  // namespace cshealthd::core
