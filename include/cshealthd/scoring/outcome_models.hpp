#pragma once
// The churn models scoring applies (cs_churn_risk), one per scorecard: the latest calibration that
// proposed weights puts its model here; every scoring run reads them all.
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/core/calibration.hpp"

namespace cshealthd::scoring {

// The churn_models table; each call joins the caller's transaction.
class OutcomeModelStore {
 public:
  // Replaces the scorecard's model. `model`: {intercept, coefficients: {component: β}, means: {...}}.
  static void put(pqxx::work& tx, const std::string& scorecard, std::int64_t calibration_id, int horizon_days,
                  const nlohmann::json& model);
  // Every scorecard's model. A stored model that does not parse is skipped with a warning (no risk is
  // better than a wrong one).
  static std::map<std::string, core::OutcomeModel> all(pqxx::transaction_base& tx);
};

}  // namespace cshealthd::scoring
