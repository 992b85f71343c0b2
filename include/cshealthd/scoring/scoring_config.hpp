#pragma once
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "cshealthd/config/config.hpp"
#include "cshealthd/core/health.hpp"

namespace cshealthd::scoring {

struct ScoringFile {
  ScoringFile(std::string n, std::string t, std::string p = {})
      : name(std::move(n)), text(std::move(t)), path(std::move(p)) {}
  std::string name;  // "weighted.yaml"
  std::string text;
  std::string path;  // where it was read from, for errors ("" = name)
};
// The shipped config/scorecards/*.yaml, compiled in.
const std::vector<ScoringFile>& embedded_scorecards();

// Scorecards, segments and signals, validated. Scorecards live in a deque: results point at their
// components, so their addresses never move.
struct ScoringConfig {
  std::deque<core::Scorecard> scorecards;
  core::Segments segments;
  core::SignalConfig signals;
  core::StatusBands bands;
  std::string fingerprint;  // identifies the texts a run was scored with
  // usage.precedence: per company and metric, usage sent to cshealthd is taken over the HubSpot property
  // (true), or only where the property has no value (false).
  bool usage_first = true;
  // kpis.churn: a company churned as of a day (its CS stage `churned`, its MRR gone to zero after it
  // paid, or either) is not scored that day: it leaves the scores, the lists and the alerts, its
  // history stays.
  bool churn_by_stage = true, churn_by_mrr = true;

  const core::Scorecard* find(const std::string& name) const;
};

// Every `*.yaml` in `dir` whose top level has `scorecard:` is a scorecard; `segments.yaml` and
// `signals.yaml` are optional (defaults: one segment on the `weighted` scorecard, DOMAIN.md §3's
// thresholds). An empty `dir` loads the shipped files. Errors are config::ConfigError naming file:line
// (weights not summing to 100, bands overlapping or leaving a gap, unknown metrics or keys).
ScoringConfig load_scoring(const std::string& dir, const core::StatusBands& bands);
ScoringConfig parse_scoring(const std::vector<ScoringFile>& files, const core::StatusBands& bands);

// The scorecards, segments and signals the service's config names (scoring.scorecards_dir), with its
// status bands and coverage floor. ConfigError if invalid.
ScoringConfig load_scoring_config(const config::Config& config);

// The service's scoring as configured, with the scorecard in `candidate` (a YAML file, a backtest's
// --scorecard) in place of the deployed scorecard of the same name (and scoring every segment when no
// segment used that name): evaluated, never deployed.
// ConfigError naming the file when it cannot be read, is not a scorecard, or names no deployed one.
ScoringConfig load_scoring_with_candidate(const config::Config& config, const std::string& candidate);
// The same with the candidate's text in hand (a calibration's proposal).
ScoringConfig load_scoring_with_candidate(const config::Config& config, ScoringFile candidate);

// The text scorecard `name` is deployed from (scoring.scorecards_dir, else the shipped file).
// ConfigError when no deployed scorecard has that name.
ScoringFile scorecard_file(const config::Config& config, const std::string& name);

// `file`'s text with each named component's weight replaced and everything else (comments, bands,
// layout) as it was. ConfigError naming the component whose weight it cannot find.
std::string with_weights(const ScoringFile& file, const std::vector<std::pair<std::string, int>>& weights);

}  // namespace cshealthd::scoring
