#pragma once
// The outcome models scoring applies, one pair per scorecard: the churn model (cs_churn_risk) and the
// expansion model (cs_expansion_likelihood). The latest calibration that proposed weights puts its
// models here; every scoring run reads them all.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/core/calibration.hpp"

namespace cshealthd::scoring {

// A scorecard's models; either may be missing (the expansion model when too few expansions followed
// the calibration's training dates, either when its stored form does not parse).
struct ScorecardModels {
  std::optional<core::OutcomeModel> churn, expansion;
};

// The churn_models table; each call joins the caller's transaction.
class OutcomeModelStore {
 public:
  // Replaces the scorecard's models. A model: {intercept, coefficients: {component: β}, means: {...}};
  // `expansion` null: none.
  static void put(pqxx::work& tx, const std::string& scorecard, std::int64_t calibration_id, int horizon_days,
                  const nlohmann::json& churn, const nlohmann::json& expansion);
  // Every scorecard's models. A stored model that does not parse is left out with a warning (no
  // probability is better than a wrong one).
  static std::map<std::string, ScorecardModels> all(pqxx::transaction_base& tx);
};

// A stored model's form; std::invalid_argument (or nlohmann's errors) when it does not parse or holds
// a number that is not finite.
core::OutcomeModel parse_outcome_model(const nlohmann::json& j, std::int64_t calibration_id, int horizon_days);

}  // namespace cshealthd::scoring
