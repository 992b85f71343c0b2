#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::scoring {

// A request the caller got wrong (bad component, value out of range, past expiry): a 4xx, not a 5xx.
class InvalidRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ScoreListQuery {
  std::optional<std::string> status, segment;
  std::optional<std::int32_t> day;  // default: the latest day scored
  std::size_t limit = 100;
  std::int64_t after = 0;  // keyset: company ids above this
};

struct OverrideRequest {
  std::int64_t company_id = 0;
  std::string component;  // "" = the whole score
  double value = 0;
  std::string reason, author;
  std::int32_t expires_day = 0;
};

// Stored results and overrides, as the API and the CLI read and change them.
class HealthStore {
 public:
  HealthStore(store::Database& db, const ScoringConfig& config) : db_(db), config_(config) {}

  bool company_exists(std::int64_t id);
  // The newest stored result (to_json's shape), or nullopt when the company was never scored.
  std::optional<nlohmann::json> latest(std::int64_t company_id);
  // One entry per day, newest first, over the `days` days up to the newest result.
  nlohmann::json history(std::int64_t company_id, int days);
  // {"as_of", "results": [...], "next_after": id or null}
  nlohmann::json list(const ScoreListQuery& q);

  // Replaces the company's live override of the same target. Validates the component against the
  // scorecards, the value against its scale, the expiry against `today`. Audited.
  nlohmann::json set_override(const OverrideRequest& r, std::int32_t today);
  // Revokes the live override of `component` ("" = the score); false when there was none. Audited.
  bool revoke_override(std::int64_t company_id, const std::string& component, const std::string& actor);
  nlohmann::json overrides(std::int64_t company_id);

 private:
  store::Database& db_;
  const ScoringConfig& config_;
};

}  // namespace cshealthd::scoring
