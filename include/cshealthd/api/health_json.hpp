#pragma once
#include <nlohmann/json.hpp>

#include "cshealthd/scoring/health_store.hpp"

namespace cshealthd::api {

// The API's representation of stored results and overrides (docs/openapi.yaml): company ids as strings,
// absent numbers as null. The CLI prints the same.
nlohmann::json to_json(const scoring::StoredResult& r);
nlohmann::json to_json(const scoring::HistoryEntry& e);
nlohmann::json to_json(const scoring::ScorePage& page);
nlohmann::json to_json(const scoring::StoredOverride& o);
nlohmann::json to_json(const std::vector<scoring::StoredOverride>& overrides);

}  // namespace cshealthd::api
