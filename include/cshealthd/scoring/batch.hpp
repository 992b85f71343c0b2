#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/core/calendar.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::scoring {

// A result as the API and the CLI show it (and as health_scores stores its parts).
nlohmann::json to_json(const core::HealthResult& r, const std::string& segment);

struct BatchOptions {
  std::int32_t as_of_day = 0;
  // The service's zone (schedule.time_zone): the day ends at its local midnight, and what was known by
  // then is what the day is scored on. UTC when null.
  const core::TimeZone* zone = nullptr;
  std::optional<std::int64_t> company;  // one company only
  std::size_t chunk = 2'000;            // companies read, scored and written together
  int threads = 2;                      // scoring threads
  std::string trigger = "cli";
  bool keep_results = false;  // fill BatchReport::results (the CLI's --explain)
  // Only these companies (those whose inputs changed, say); nullopt: every company.
  std::optional<std::vector<std::int64_t>> companies;
  // Resuming: continue score run `run_id` with the companies after `after` (keyset on id).
  std::optional<std::int64_t> run_id;
  std::int64_t after = 0;
  std::uint64_t done_before = 0;  // companies the interrupted attempts of the run wrote
  // Runs inside each chunk's write transaction, after its rows: a job records its progress there, so the
  // progress and the results commit together (and a job that lost its lease rolls both back).
  // `companies` counts the whole run's, done_before included.
  std::function<void(pqxx::work&, std::int64_t last_id, std::uint64_t companies)> in_chunk_commit;
  // Asked to stop: the run ends after the chunk it is writing (BatchReport::interrupted).
  std::stop_token stop;
};

struct BatchReport {
  std::int64_t run_id = 0;
  std::int32_t as_of_day = 0;
  std::uint64_t companies = 0;
  std::map<std::string, std::uint64_t> by_status;
  double seconds = 0, read_seconds = 0, score_seconds = 0, write_seconds = 0;
  std::vector<nlohmann::json> results;  // keep_results only
  std::int64_t last_id = 0;             // the last company written
  bool interrupted = false;             // stopped on request before the last company
};

// Rescores companies for one day: streams them from PostgreSQL in chunks (keyset on id), scores each
// chunk on worker threads with the pure engine, and writes the results with COPY in one transaction
// per chunk together with nothing else, so an interrupted run leaves whole chunks and can simply be
// run again (a day's rerun replaces its rows).
class BatchScorer {
 public:
  BatchScorer(store::Database& db, const ScoringConfig& config, metrics::Registry& metrics);
  BatchReport run(const BatchOptions& options);
  // A new score run (its id for BatchOptions::run_id), inside the caller's transaction.
  std::int64_t start_run(pqxx::work& tx, std::int32_t day, const std::string& trigger);

  // Scores the day as run() does (point in time, chunk by chunk) and hands each result, with its
  // segment, to `each` on the calling thread instead of storing it: nothing is written, no run is
  // recorded. A backtest's evaluation of a past day, or of a scorecard not deployed. Answers how many.
  using EachResult = std::function<void(const core::HealthResult&, const std::string& segment)>;
  std::uint64_t evaluate(const BatchOptions& options, const EachResult& each);

 private:
  // Stores each chunk's results, or (with `each`) hands them over instead.
  void run_chunks(const BatchOptions& options, BatchReport& report, const EachResult* each = nullptr);

  store::Database& db_;
  const ScoringConfig& config_;
  metrics::Registry& metrics_;
};

}  // namespace cshealthd::scoring
