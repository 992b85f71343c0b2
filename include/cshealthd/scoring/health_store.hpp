#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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

// A result as health_scores stores it. The explanation's parts (components, signals, reasons, the
// override applied) are kept as the JSON documents they are stored as.
struct StoredResult {
  std::int64_t company_id = 0;
  std::string as_of;  // YYYY-MM-DD
  double score = 0, computed_score = 0, coverage = 0;
  std::string status, scorecard, segment;
  std::optional<double> previous_score, delta;
  nlohmann::json components, signals, reasons, score_override;
  std::string computed_at;          // ISO 8601, UTC
  std::optional<double> churn_risk;  // the churn model's probability (null: no model for the scorecard)
  std::optional<double> expansion_likelihood;  // the expansion model's, likewise
};

// One day of a company's history.
struct HistoryEntry {
  std::string as_of;
  double score = 0, coverage = 0;
  std::string status, scorecard;
  std::optional<double> delta;
  nlohmann::json reasons;
};

struct ScoreListItem {
  std::int64_t company_id = 0;
  double score = 0, coverage = 0;
  std::optional<double> churn_risk, expansion_likelihood;
  std::string status, scorecard, segment;
  std::optional<double> delta;
  nlohmann::json reasons, signals;
};

// A page of the latest results: `next_after` names the last company when more follow.
struct ScorePage {
  std::optional<std::string> as_of;  // the day listed; none when nothing was ever scored
  std::vector<ScoreListItem> results;
  std::optional<std::int64_t> next_after;
};

struct StoredOverride {
  std::int64_t id = 0, company_id = 0;
  std::string component;  // "" = the whole score
  double value = 0;
  std::string reason, author, expires_on, created_at;
  bool revoked = false;
  std::optional<std::string> revoked_by;
};

// Stored results and overrides, as the API and the CLI read and change them (typed: each edge renders
// its own representation).
class HealthStore {
 public:
  HealthStore(store::Database& db, const ScoringConfig& config) : db_(db), config_(config) {}

  // ---- a day's results, in the caller's transaction ----
  // How many companies each status holds on `day` (the statuses present).
  static std::map<std::string, std::int64_t> statuses(pqxx::transaction_base& tx, std::int32_t day);
  // Against the day before, of the companies scored on both: status changed, score down, score up.
  struct DayChanges {
    std::int64_t status_changed = 0, score_down = 0, score_up = 0;
  };
  static DayChanges changes(pqxx::transaction_base& tx, std::int32_t day);
  // The newest day scored, if any.
  static std::optional<std::int32_t> latest_day(pqxx::transaction_base& tx);

  bool company_exists(std::int64_t id);
  // The newest stored result, or nullopt when the company was never scored.
  std::optional<StoredResult> latest(std::int64_t company_id);
  // One entry per day, newest first, over the `days` days up to the newest result.
  std::vector<HistoryEntry> history(std::int64_t company_id, int days);
  ScorePage list(const ScoreListQuery& q);

  // Replaces the company's live override of the same target. Validates the component against the
  // scorecards, the value against its scale, the expiry against `today`. Audited.
  StoredOverride set_override(const OverrideRequest& r, std::int32_t today);
  // Revokes the live override of `component` ("" = the score); false when there was none. Audited.
  bool revoke_override(std::int64_t company_id, const std::string& component, const std::string& actor);
  std::vector<StoredOverride> overrides(std::int64_t company_id);  // oldest first, revoked ones too

 private:
  store::Database& db_;
  const ScoringConfig& config_;
};

}  // namespace cshealthd::scoring
