#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/sync/runner.hpp"

namespace cshealthd::pipeline {

struct SyncJobOptions {
  bool full = false;
  std::vector<std::string> objects;  // empty: every type of the mapping
  bool sweep_now = false;
  bool count_first = false;  // one search call per type buys a progress ETA
  // Wait at least this long for another sync of a type (a CLI sync, the tail of a refresh) before skipping
  // it; sync.lock_wait_ms when that is longer.
  std::chrono::milliseconds lock_wait{0};
  std::stop_token stop;
  std::map<std::string, std::vector<std::int64_t>> reread;  // see sync::RunOptions::reread
};

// HubSpot -> PostgreSQL once, as the CLI's `sync` and the pipeline's sync stage both run it. The report
// is typed; the sync's counters also go to the metrics registry, so the service's /metrics shows them.
class SyncJob {
 public:
  // `zone`: the service's (schedule.time_zone), the day snapshots are recorded under.
  SyncJob(store::Database& db, hubspot::ClientFactory clients, Clock& clock, metrics::Registry& metrics,
          const config::Config& config, const core::TimeZone& zone);

  // The mapping's object specs, restricted to `objects`; ConfigError names an unknown type.
  std::vector<sync::ObjectSpec> specs(const std::vector<std::string>& objects) const;
  sync::RunReport run(const SyncJobOptions& options,
                      std::function<void(const sync::TypeReport&)> on_page = {});

 private:
  store::Database& db_;
  hubspot::ClientFactory clients_;
  Clock& clock_;
  metrics::Registry& metrics_;
  const config::Config& config_;
  const core::TimeZone& zone_;
};

// Scores companies for a day, with the scoring section's chunking and threads: the CLI's `score` and the
// pipeline's score stage.
class ScoreJob {
 public:
  // zone: the service's (schedule.time_zone), where the days scored end.
  ScoreJob(store::Database& db, const scoring::ScoringConfig& scoring, metrics::Registry& metrics,
           const config::ScoringConfig& config, const core::TimeZone& zone)
      : scorer_(db, scoring, metrics), config_(config), zone_(zone) {}
  scoring::BatchReport run(scoring::BatchOptions options) {
    options.chunk = static_cast<std::size_t>(config_.chunk_size);
    options.threads = config_.threads;
    options.zone = &zone_;
    return scorer_.run(options);
  }
  scoring::BatchScorer& scorer() { return scorer_; }

 private:
  scoring::BatchScorer scorer_;
  const config::ScoringConfig& config_;
  const core::TimeZone& zone_;
};

}  // namespace cshealthd::pipeline
