#include "cshealthd/scoring/outcome_models.hpp"

#include <cmath>

#include <spdlog/spdlog.h>

namespace cshealthd::scoring {

void OutcomeModelStore::put(pqxx::work& tx, const std::string& scorecard, std::int64_t calibration_id,
                          int horizon_days, const nlohmann::json& model) {
  tx.exec_params(
      "INSERT INTO churn_models (scorecard, calibration_id, horizon_days, model) VALUES ($1, $2, $3, $4::jsonb) "
      "ON CONFLICT (scorecard) DO UPDATE SET calibration_id = EXCLUDED.calibration_id, horizon_days = "
      "EXCLUDED.horizon_days, model = EXCLUDED.model, created_at = now()",
      scorecard, calibration_id, horizon_days, model.dump());
}

std::map<std::string, core::OutcomeModel> OutcomeModelStore::all(pqxx::transaction_base& tx) {
  std::map<std::string, core::OutcomeModel> out;
  for (const auto& r : tx.exec("SELECT scorecard, calibration_id, horizon_days, model::text FROM churn_models")) {
    const auto scorecard = r[0].as<std::string>();
    try {
      const auto j = nlohmann::json::parse(r[3].c_str());
      core::OutcomeModel m;
      m.calibration_id = r[1].as<std::int64_t>();
      m.horizon_days = r[2].as<int>();
      m.intercept = j.at("intercept").get<double>();
      for (const auto& [name, beta] : j.at("coefficients").items()) {
        const double mean = j.at("means").at(name).get<double>();
        if (!std::isfinite(beta.get<double>()) || !std::isfinite(mean)) throw std::invalid_argument(name);
        m.terms.push_back({name, beta.get<double>(), mean});
      }
      if (!std::isfinite(m.intercept)) throw std::invalid_argument("intercept");
      out.emplace(scorecard, std::move(m));
    } catch (const std::exception& e) {
      spdlog::warn("scoring: the churn model of scorecard {} does not parse ({}); no churn risk for it", scorecard,
                   e.what());
    }
  }
  return out;
}

}  // namespace cshealthd::scoring
