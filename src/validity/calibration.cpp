#include "cshealthd/validity/calibration.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "cshealthd/core/calibration.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/core/validity.hpp"
#include "cshealthd/scoring/outcome_models.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::validity {
namespace {

using json = nlohmann::json;
// A component is refitted only with this many training observations carrying its data.
constexpr std::size_t kMinWithData = 100;

// The model's inputs: each refitted component's points as a share of its maximum (0 none, 1 full);
// a company without data for one takes the training mean, so its absence moves nothing.
struct Features {
  std::vector<std::string> names;
  std::vector<std::size_t> index;  // into the observed components
  std::vector<double> max_points, mean;

  std::vector<double> row(const core::BacktestObservation& ob) const {
    std::vector<double> x(index.size());
    for (std::size_t k = 0; k < index.size(); ++k) {
      const bool has = index[k] < ob.components.size() && ob.components[index[k]].has_value();
      x[k] = has ? *ob.components[index[k]] / max_points[k] : mean[k];
    }
    return x;
  }
};

// The observations the calibrated scorecard scored, with a status (unknown: too little data to rank).
std::vector<const core::BacktestObservation*> ranked_by(const Observed& o, const std::string& card) {
  std::vector<const core::BacktestObservation*> out;
  for (const auto& ob : o.obs)
    if (ob.scorecard == card && ob.status != "unknown") out.push_back(&ob);
  return out;
}

json figures_of(const Observed& o, const std::string& card) {
  std::vector<core::BacktestObservation> mine;
  for (const auto& ob : o.obs)
    if (ob.scorecard == card) mine.push_back(ob);
  auto s = core::summarize_backtest(mine, o.names);
  json out;
  for (const char* key :
       {"observations", "churned", "unscored", "auc", "top_decile_lift", "recall_red", "recall_red_orange",
        "false_alarm_red_orange", "median_lead_days", "churns_with_lead", "churns", "bands"})
    out[key] = s[key];
  return out;
}

double round_to(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

json dates_json(const std::vector<std::int32_t>& days) {
  return {{"from", core::format_day(days.front())},
          {"to", core::format_day(days.back())},
          {"dates", days.size()}};
}

// Platt scaling: a one-feature logistic fit of the outcome on the model's linear score z over its
// training rows, p = 1 / (1 + exp(-(a + b z))), folded into the model (intercept a + b c, weights b β) so
// that scoring applies one logistic form. The L2 penalty pulls the probabilities toward the base rate;
// this gives back what the training data say. `platt` records {a, b}; the model is kept as it was (and
// `platt` says why) when the scaling does not converge or would turn the ranking round.
core::LogisticFit platt_scaled(const core::LogisticFit& fit, const std::vector<std::vector<double>>& rows,
                               const std::vector<bool>& outcome, json& platt) {
  std::vector<core::Labeled> scored;
  scored.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    double z = fit.intercept;
    for (std::size_t k = 0; k < rows[i].size() && k < fit.weights.size(); ++k)
      z += fit.weights[k] * rows[i][k];
    scored.push_back({z, outcome[i]});
  }
  const auto p = core::fit_platt(scored);
  if (!p.fitted || !(p.b > 0) || !std::isfinite(p.a) || !std::isfinite(p.b)) {
    platt = {{"applied", false}, {"why", "the scaling did not converge or would reverse the ranking"}};
    return fit;
  }
  platt = {{"applied", true}, {"a", round_to(p.a, 6)}, {"b", round_to(p.b, 6)}};
  auto out = fit;
  out.intercept = p.a + p.b * fit.intercept;
  for (auto& w : out.weights) w *= p.b;
  return out;
}

// The model's inputs with the fit's coefficients, as stored (and applied by scoring).
json model_json(const Features& f, const core::LogisticFit& fit, double l2) {
  json model = {{"intercept", fit.intercept},
                {"l2", l2},
                {"iterations", fit.iterations},
                {"converged", fit.converged},
                {"log_loss", round_to(fit.log_loss, 6)},
                {"coefficients", json::object()},
                {"means", json::object()},
                {"max_points", json::object()}};
  for (std::size_t k = 0; k < f.names.size() && k < fit.weights.size(); ++k) {
    model["coefficients"][f.names[k]] = fit.weights[k];
    model["means"][f.names[k]] = f.mean[k];
    model["max_points"][f.names[k]] = f.max_points[k];
  }
  return model;
}

// The fitted churn model, with what the weights are made from.
struct Model {
  Features features;
  std::vector<core::WeightInput> inputs;  // one per component of the scorecard, in its order
  std::vector<std::size_t> refitted;      // the inputs that are features, in feature order
  core::LogisticFit fit;                  // the regression: its coefficients make the weights
  core::LogisticFit calibrated;  // the same after Platt scaling: its probabilities are the churn risk
  json model;  // as stored (calibrated): intercept, coefficients, means, max_points, how the fit went
};

Model fit_model(const core::Scorecard& card, const Observed& train,
                const std::vector<const core::BacktestObservation*>& training, double l2) {
  Model m;
  auto& f = m.features;
  for (const auto& comp : card.components) {
    core::WeightInput in{comp.name, comp.weight, std::nullopt, std::nullopt};
    const auto idx = static_cast<std::size_t>(std::find(train.names.begin(), train.names.end(), comp.name) -
                                              train.names.begin());
    std::vector<core::Labeled> own;
    double sum = 0;
    for (const auto* ob : training) {
      if (idx >= ob->components.size() || !ob->components[idx]) continue;
      own.push_back({-*ob->components[idx], ob->churned});
      sum += *ob->components[idx] / comp.max_points;
    }
    if (const auto a = core::auc(own)) in.own_auc = a->value;
    if (own.size() >= kMinWithData && in.own_auc) {
      f.names.push_back(comp.name);
      f.index.push_back(idx);
      f.max_points.push_back(comp.max_points);
      f.mean.push_back(sum / static_cast<double>(own.size()));
      m.refitted.push_back(m.inputs.size());
    }
    m.inputs.push_back(std::move(in));
  }
  std::vector<std::vector<double>> rows;
  std::vector<bool> outcome;
  rows.reserve(training.size());
  for (const auto* ob : training) {
    rows.push_back(f.row(*ob));
    outcome.push_back(ob->churned);
  }
  core::LogisticOptions lo;
  lo.l2 = l2;
  m.fit = core::fit_logistic(rows, outcome, lo);
  json platt;
  m.calibrated = m.fit.converged ? platt_scaled(m.fit, rows, outcome, platt) : m.fit;
  m.model = model_json(f, m.calibrated, l2);
  m.model["platt"] = platt;
  return m;
}

json weights_json(const std::vector<core::WeightProposal>& proposal,
                  const std::vector<core::WeightInput>& inputs) {
  json weights = json::array();
  for (std::size_t i = 0; i < proposal.size(); ++i) {
    const auto& p = proposal[i];
    weights.push_back(
        {{"name", p.name},
         {"current", p.current},
         {"proposed", p.proposed},
         {"coefficient", inputs[i].coefficient ? json(round_to(*inputs[i].coefficient, 4)) : json(nullptr)},
         {"own_auc", inputs[i].own_auc ? json(round_to(*inputs[i].own_auc, 4)) : json(nullptr)},
         {"why", p.why}});
  }
  return weights;
}

bool churn_of(const core::BacktestObservation& ob) {
  return ob.churned;
}
bool expansion_of(const core::BacktestObservation& ob) {
  return ob.expanded;
}

// A fitted model's probability on `judged` against what happened (`outcome`), beside giving everyone the
// training base rate (core::probability_figures).
json probability_json(const std::vector<const core::BacktestObservation*>& judged, const Features& features,
                      const core::LogisticFit& fit, bool (*outcome)(const core::BacktestObservation&),
                      double base_rate, const char* positives = nullptr) {
  std::vector<double> predicted;
  std::vector<bool> happened;
  for (const auto* ob : judged) {
    predicted.push_back(fit.predict(features.row(*ob)));
    happened.push_back(outcome(*ob));
  }
  return core::probability_figures(predicted, happened, base_rate, positives);
}

// The expansion model: expansions within the horizon on the churn model's features (each component's
// share of its points), fitted on the same training observations. nullopt with the reason in `why_not`
// when fewer than `min_companies` companies expanded after the training dates or the fit did not
// converge: no likelihood is better than a wrong one. Platt-scaled like the churn model (`platt`).
std::optional<core::LogisticFit> fit_expansion(const Features& f,
                                               const std::vector<const core::BacktestObservation*>& training,
                                               std::size_t min_companies, double l2, std::string& why_not,
                                               json& platt) {
  std::set<std::int64_t> companies;
  std::vector<std::vector<double>> rows;
  std::vector<bool> outcome;
  for (const auto* ob : training) {
    rows.push_back(f.row(*ob));
    outcome.push_back(ob->expanded);
    if (ob->expanded) companies.insert(ob->company_id);
  }
  if (companies.size() < min_companies) {
    why_not = std::to_string(companies.size()) + " companies expanded after the training dates: fewer than " +
              std::to_string(min_companies) + ", too few for a likelihood anyone should trust";
    return std::nullopt;
  }
  core::LogisticOptions lo;
  lo.l2 = l2;
  auto fit = core::fit_logistic(rows, outcome, lo);
  if (!fit.converged) {
    why_not = "the expansion model did not converge in " + std::to_string(fit.iterations) + " iterations";
    return std::nullopt;
  }
  return platt_scaled(fit, rows, outcome, platt);
}

// The observations of `days` among those already made.
Observed observed_on(const Observed& known, const std::vector<std::int32_t>& days) {
  Observed out;
  out.names = known.names;
  const std::set<std::int32_t> wanted(days.begin(), days.end());
  for (const auto& ob : known.obs)
    if (wanted.count(ob.day)) out.obs.push_back(ob);
  return out;
}

// Of the training observations: how many were followed by a churn, and how many churns (company and
// day) that makes.
std::pair<std::int64_t, std::size_t> churns_in(
    const std::vector<const core::BacktestObservation*>& training) {
  std::set<std::pair<std::int64_t, std::int32_t>> churns;
  std::int64_t churned = 0;
  for (const auto* ob : training) {
    if (!ob->churned) continue;
    ++churned;
    churns.insert({ob->company_id, *ob->churn_day});
  }
  return {churned, churns.size()};
}

// The candidate as the service would load it, checked to carry the proposed weights.
scoring::ScoringConfig load_candidate(const config::Config& config, const std::string& file_name,
                                      const std::string& text, const std::string& name,
                                      const std::vector<core::WeightProposal>& proposal) {
  auto candidate =
      scoring::load_scoring_with_candidate(config, scoring::ScoringFile(file_name, text, "candidate"));
  const auto* card = candidate.find(name);
  for (std::size_t i = 0; card && i < card->components.size() && i < proposal.size(); ++i)
    if (card->components[i].weight != proposal[i].proposed)
      throw std::runtime_error("calibrate: the candidate's weight for '" + proposal[i].name +
                               "' did not take the proposed value");
  return candidate;
}

std::string candidate_header(const json& r, const std::vector<core::WeightProposal>& weights) {
  const auto& t = r["training"];
  std::string h = "# Candidate weights for scorecard '" + r["scorecard"].get<std::string>() +
                  "', proposed by `cshealthd calibrate` on " + r["day"].get<std::string>() +
                  " from the churns after " + std::to_string(t["dates"].get<std::size_t>()) +
                  " observation dates " + t["from"].get<std::string>() + " .. " + t["to"].get<std::string>() +
                  " (" + std::to_string(t["churns"].get<std::size_t>()) + " churns within " +
                  std::to_string(r["horizon_days"].get<int>()) + " days).\n" +
                  "# Not deployed. Judge it with `cshealthd backtest --scorecard THIS_FILE`; deploy it by "
                  "putting it in\n" +
                  "# scoring.scorecards_dir in place of the deployed file. Weights, and why:\n";
  for (const auto& w : weights) h += "#   " + w.name + " " + std::to_string(w.proposed) + ": " + w.why + "\n";
  return h;
}

}  // namespace

DateSplit split_out_of_time(const std::vector<std::int32_t>& days, int horizon, double validation_share) {
  if (days.size() < 2)
    throw std::invalid_argument(
        "--from: a calibration needs at least two observation dates (earlier ones to "
        "train on, later ones to judge)");
  const auto n = days.size();
  auto v = static_cast<std::size_t>(std::lround(static_cast<double>(n) * validation_share));
  v = std::clamp<std::size_t>(v, 1, n - 1);
  DateSplit s;
  s.validation.assign(days.end() - static_cast<std::ptrdiff_t>(v), days.end());
  for (std::size_t i = 0; i < n - v; ++i)
    if (days[i] + horizon <= s.validation.front()) s.training.push_back(days[i]);
  if (s.training.empty())
    throw std::invalid_argument("--from: no observation date's " + std::to_string(horizon) +
                                "-day horizon ends before the validation dates begin (" +
                                core::format_day(s.validation.front()) +
                                "); take a longer history, a shorter --horizon or a smaller --every");
  return s;
}

namespace {

// The expansion likelihood from the same points as the churn model, judged on the same later dates.
template <typename Features, typename Ranked>
void add_expansion(json& report, const Features& f, const Ranked& training, const Ranked& judged,
                   const CalibrateOptions& o) {
  std::string no_expansion;
  json platt;
  if (const auto x = fit_expansion(f, training, static_cast<std::size_t>(std::max(o.min_churns, 1)), o.l2,
                                   no_expansion, platt)) {
    const auto grew = static_cast<double>(
        std::count_if(training.begin(), training.end(), [](const auto* ob) { return ob->expanded; }));
    report["expansion_model"] = model_json(f, *x, o.l2);
    report["expansion_model"]["platt"] = platt;
    report["expansion_probability"] =
        probability_json(judged, f, *x, expansion_of,
                         training.empty() ? 0 : grew / static_cast<double>(training.size()), "expanded");
  } else {
    report["expansion_model"] = nullptr;
    report["expansion_probability"] = {{"status", "not fitted"}, {"reason", no_expansion}};
  }
}

}  // namespace

CalibrationRun Calibrator::run(const CalibrateOptions& o, const Observed* known) {
  const auto started = std::chrono::steady_clock::now();
  const std::string name = o.scorecard.empty() ? deployed_.segments.default_scorecard : o.scorecard;
  const core::Scorecard* card = deployed_.find(name);
  if (!card) throw std::invalid_argument("--card: no deployed scorecard is named '" + name + "'");
  const auto days = observation_days(o.window);
  const auto split = split_out_of_time(days, o.window.horizon, o.validation_share);

  json report = {{"scorecard", name},
                 {"day", core::format_day(o.window.today)},
                 {"from", core::format_day(days.front())},
                 {"to", core::format_day(days.back())},
                 {"every_days", o.window.every},
                 {"horizon_days", o.window.horizon},
                 {"churn_rule", core::name_of(outcomes_.settings().churn)},
                 {"min_churns", o.min_churns}};
  CalibrationRun out;
  auto finish = [&](const std::string& candidate) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report["seconds"] = round_to(seconds, 1);
    out.id = db_.with_retry("calibration_store", [&](pqxx::connection& c) {
      pqxx::work tx(c, "calibration_store");
      const auto id =
          CalibrationStore::insert(tx, deployed_.fingerprint, o.window.trigger, seconds, report, candidate);
      // Its model scores the churn risk from now on (the weights wait for someone to deploy them).
      if (out.proposed)
        scoring::OutcomeModelStore::put(tx, name, id, o.window.horizon, report["model"],
                                        report.value("expansion_model", json()));
      tx.commit();
      return id;
    });
    report["id"] = out.id;
    out.report = report;
    out.candidate = candidate;
    return out;
  };
  auto refuse = [&](const std::string& why) {
    report["status"] = "refused";
    report["reason"] = why + "; nothing is proposed";
    spdlog::warn("calibrate: {}", report["reason"].get<std::string>());
    return finish("");
  };

  // Training: the earlier dates, with the deployed weights (a component's points do not depend on them).
  Backtester current(db_, deployed_, metrics_, outcomes_);
  auto deployed = [&](const std::vector<std::int32_t>& dates) {
    return known ? observed_on(*known, dates) : current.observe(dates, o.window);
  };
  const auto train = deployed(split.training);
  const auto training = ranked_by(train, name);
  const auto [churned, churns] = churns_in(training);
  report["training"] = dates_json(split.training);
  report["training"]["observations"] = training.size();
  report["training"]["churned"] = churned;
  report["training"]["churns"] = churns;
  report["validation"] = dates_json(split.validation);
  if (churns < static_cast<std::size_t>(o.min_churns))
    return refuse(std::to_string(churns) + " churns followed the training dates (" +
                  report["training"]["from"].get<std::string>() + " .. " +
                  report["training"]["to"].get<std::string>() + "): fewer than " +
                  std::to_string(o.min_churns) + ", too few for weights anyone should trust. " +
                  "Take a longer history (--from) or wait for more outcomes");

  // The model: churn within the horizon on each component's share of its points.
  auto m = fit_model(*card, train, training, o.l2);
  report["model"] = m.model;
  const auto& f = m.features;
  const auto& fit = m.fit;
  auto& inputs = m.inputs;
  if (f.names.empty())
    return refuse("no component had data for " + std::to_string(kMinWithData) +
                  " training observations with churners and stayers among them");
  if (!fit.converged)
    return refuse("the churn model did not converge in " + std::to_string(fit.iterations) + " iterations");
  for (std::size_t k = 0; k < m.refitted.size(); ++k) inputs[m.refitted[k]].coefficient = fit.weights[k];
  std::string why_not;
  const auto proposal = core::propose_weights(inputs, why_not);
  if (!proposal) return refuse(why_not);

  std::vector<std::pair<std::string, int>> new_weights;
  for (const auto& p : *proposal) new_weights.emplace_back(p.name, p.proposed);
  const json weights = weights_json(*proposal, inputs);
  report["weights"] = weights;

  // The candidate: the deployed file with the new weights, loaded as the service would load it.
  const auto file = scoring::scorecard_file(config_, name);
  const std::string text = candidate_header(report, *proposal) + scoring::with_weights(file, new_weights);
  const auto candidate = load_candidate(config_, file.name, text, name, *proposal);

  // Out of time: the later dates, scored with the current and with the proposed weights.
  const auto cur = deployed(split.validation);
  Backtester with_candidate(db_, candidate, metrics_, outcomes_);
  const auto prop = with_candidate.observe(split.validation, o.window);
  report["out_of_time"] = {{"current", figures_of(cur, name)}, {"proposed", figures_of(prop, name)}};

  // The churn probability the model gives on those later dates, against what happened.
  const double base_rate =
      training.empty() ? 0 : static_cast<double>(churned) / static_cast<double>(training.size());
  const auto judged = ranked_by(cur, name);
  report["churn_probability"] = probability_json(judged, f, m.calibrated, churn_of, base_rate);

  add_expansion(report, f, training, judged, o);
  report["status"] = "proposed";
  out.proposed = true;
  return finish(text);
}

std::int64_t CalibrationStore::insert(pqxx::work& tx, const std::string& fingerprint,
                                      const std::string& trigger, double seconds, const json& report,
                                      const std::string& candidate) {
  const bool proposed = report.value("status", std::string()) == "proposed";
  const std::optional<std::string> reason =
      proposed ? std::nullopt : std::optional<std::string>(report.value("reason", std::string()));
  const std::optional<std::string> text = proposed ? std::optional<std::string>(candidate) : std::nullopt;
  return tx
      .exec_params1(
          "INSERT INTO calibrations (scorecard, fingerprint, trigger, from_day, to_day, horizon_days, "
          "status, "
          "reason, seconds, report, candidate) VALUES ($1, $2, $3, $4::date, $5::date, $6, $7, $8, $9, "
          "$10::jsonb, $11) RETURNING id",
          report["scorecard"].get<std::string>(), fingerprint, trigger, report["from"].get<std::string>(),
          report["to"].get<std::string>(), report["horizon_days"].get<int>(),
          report["status"].get<std::string>(), store::nullable(reason), seconds, report.dump(),
          store::nullable(text))[0]
      .as<std::int64_t>();
}

json CalibrationStore::list(pqxx::transaction_base& tx, std::size_t limit) {
  json out = json::array();
  for (const auto& r : tx.exec_params(
           "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), scorecard, "
           "trigger, "
           "from_day::text, to_day::text, status, reason, report->'out_of_time'->'current'->'auc'->'value', "
           "report->'out_of_time'->'proposed'->'auc'->'value' FROM calibrations ORDER BY id DESC LIMIT $1",
           static_cast<long long>(limit))) {
    auto number = [&](int i) { return r[i].is_null() ? json(nullptr) : json::parse(r[i].c_str()); };
    out.push_back({{"id", r[0].as<std::int64_t>()},
                   {"created_at", r[1].as<std::string>()},
                   {"scorecard", r[2].as<std::string>()},
                   {"trigger", r[3].as<std::string>()},
                   {"from", r[4].as<std::string>()},
                   {"to", r[5].as<std::string>()},
                   {"status", r[6].as<std::string>()},
                   {"reason", r[7].is_null() ? json(nullptr) : json(r[7].as<std::string>())},
                   {"auc_current", number(8)},
                   {"auc_proposed", number(9)}});
  }
  return out;
}

std::optional<json> CalibrationStore::get(pqxx::transaction_base& tx, std::int64_t id) {
  const auto r = tx.exec_params(
      "SELECT report::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "candidate "
      "FROM calibrations WHERE id = $1",
      id);
  if (r.empty()) return std::nullopt;
  auto report = json::parse(r[0][0].c_str());
  report["id"] = id;
  report["created_at"] = r[0][1].as<std::string>();
  report["candidate"] = r[0][2].is_null() ? json(nullptr) : json(r[0][2].as<std::string>());
  return report;
}

std::string format_calibration(const json& r) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  auto dates = [&](const json& d) {
    return std::to_string(d.value("dates", 0)) + " dates " + d.value("from", std::string()) + " .. " +
           d.value("to", std::string());
  };
  line("calibration " + (r.contains("id") ? std::to_string(r["id"].get<std::int64_t>()) : std::string("-")) +
       ": scorecard " + r.value("scorecard", std::string()) + ", churn within " +
       std::to_string(r.value("horizon_days", 0)) + " days (" + r.value("churn_rule", std::string()) + ")");
  if (r.contains("training")) {
    const auto& t = r["training"];
    line("  trained on   " + dates(t) + ": " + std::to_string(t.value("observations", 0)) +
         " observations, " + std::to_string(t.value("churns", 0)) + " churns");
    line("  judged on    " + dates(r["validation"]) + " (out of time)");
  }
  if (r.value("status", std::string()) != "proposed") {
    line("nothing proposed: " + r.value("reason", std::string()));
    return out;
  }
  line("");
  line("  component      current  proposed  full vs no points  own AUC");
  for (const auto& w : r["weights"]) {
    char buf[200];
    const std::string odds = w["coefficient"].is_number()
                                 ? "odds x" + format_number(std::exp(w["coefficient"].get<double>()), "%.2f")
                                 : "kept";
    std::snprintf(buf, sizeof buf, "  %-14s %7s %9d  %-17s  %s", w["name"].get<std::string>().c_str(),
                  format_number(w["current"], "%g").c_str(), w["proposed"].get<int>(), odds.c_str(),
                  format_number(w["own_auc"], "%.3f").c_str());
    line(buf);
  }
  for (const auto& w : r["weights"])
    line("    " + w["name"].get<std::string>() + ": " + w["why"].get<std::string>());
  line("");
  const auto& c = r["out_of_time"]["current"];
  const auto& p = r["out_of_time"]["proposed"];
  line("  out of time              current weights          proposed weights");
  auto row = [&](const char* label, const std::string& a, const std::string& b) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "  %-24s %-24s %s", label, a.c_str(), b.c_str());
    line(buf);
  };
  row("AUC", format_auc(c["auc"]), format_auc(p["auc"]));
  row("top-decile lift", format_number(c["top_decile_lift"], "%.2f"),
      format_number(p["top_decile_lift"], "%.2f"));
  row("recall red+orange", format_percent(c["recall_red_orange"]), format_percent(p["recall_red_orange"]));
  row("stayers flagged", format_percent(c["false_alarm_red_orange"]),
      format_percent(p["false_alarm_red_orange"]));
  row("median lead (days)", format_number(c["median_lead_days"], "%.0f"),
      format_number(p["median_lead_days"], "%.0f"));
  line("");
  out += format_probability(r["churn_probability"], "churn probability (the model, out of time)");
  const auto& xp = r.value("expansion_probability", json());
  line("");
  if (xp.is_object() && xp.contains("reliability")) {
    out += format_probability(xp, "expansion likelihood (its model, out of time)");
  } else if (xp.is_object()) {
    line("  expansion likelihood: not fitted: " + xp.value("reason", std::string()));
  }
  return out;
}

}  // namespace cshealthd::validity
