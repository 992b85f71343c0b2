#include "cshealthd/scoring/outcome_models.hpp"

#include <cmath>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::scoring {

void OutcomeModelStore::put(pqxx::work& tx, const std::string& scorecard, std::int64_t calibration_id,
                            int horizon_days, const nlohmann::json& churn, const nlohmann::json& expansion) {
  const std::optional<std::string> exp = expansion.is_null() ? std::nullopt : std::optional<std::string>(expansion.dump());
  tx.exec_params(
      "INSERT INTO churn_models (scorecard, calibration_id, horizon_days, model, expansion_model) VALUES ($1, $2, "
      "$3, $4::jsonb, $5::jsonb) ON CONFLICT (scorecard) DO UPDATE SET calibration_id = EXCLUDED.calibration_id, "
      "horizon_days = EXCLUDED.horizon_days, model = EXCLUDED.model, expansion_model = EXCLUDED.expansion_model, "
      "created_at = now()",
      scorecard, calibration_id, horizon_days, churn.dump(), store::nullable(exp));
}

core::OutcomeModel parse_outcome_model(const nlohmann::json& j, std::int64_t calibration_id, int horizon_days) {
  core::OutcomeModel m;
  m.calibration_id = calibration_id;
  m.horizon_days = horizon_days;
  m.intercept = j.at("intercept").get<double>();
  if (!std::isfinite(m.intercept)) throw std::invalid_argument("intercept");
  for (const auto& [name, beta] : j.at("coefficients").items()) {
    const double mean = j.at("means").at(name).get<double>();
    if (!std::isfinite(beta.get<double>()) || !std::isfinite(mean)) throw std::invalid_argument(name);
    m.terms.push_back({name, beta.get<double>(), mean});
  }
  return m;
}

std::map<std::string, ScorecardModels> OutcomeModelStore::all(pqxx::transaction_base& tx) {
  std::map<std::string, ScorecardModels> out;
  for (const auto& r : tx.exec("SELECT scorecard, calibration_id, horizon_days, model::text, expansion_model::text "
                               "FROM churn_models")) {
    const auto scorecard = r[0].as<std::string>();
    const auto id = r[1].as<std::int64_t>();
    const auto horizon = r[2].as<int>();
    auto& models = out[scorecard];
    const auto parse = [&](int column, const char* what) -> std::optional<core::OutcomeModel> {
      if (r[column].is_null()) return std::nullopt;
      try {
        return parse_outcome_model(nlohmann::json::parse(r[column].c_str()), id, horizon);
      } catch (const std::exception& e) {
        spdlog::warn("scoring: the {} model of scorecard {} does not parse ({}); no {} for it", what, scorecard,
                     e.what(), what == std::string("churn") ? "churn risk" : "expansion likelihood");
        return std::nullopt;
      }
    };
    models.churn = parse(3, "churn");
    models.expansion = parse(4, "expansion");
  }
  return out;
}

}  // namespace cshealthd::scoring
