#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/hubspot/client_factory.hpp"
#include "cshealthd/outbox/deliverer.hpp"
#include "cshealthd/pipeline/job_workers.hpp"
#include "cshealthd/pipeline/sync_job.hpp"
#include "cshealthd/store/run_store.hpp"
#include "cshealthd/workflow/participant.hpp"

namespace cshealthd::pipeline {

inline constexpr const char* kPipelineJob = "pipeline";
inline constexpr const char* kProbeJob = "probe";

// The stages of a run, in order (every kind has them; a refresh scores and plans fewer companies and skips
// the KPIs; without write-back, plan and deliver are skipped).
std::vector<std::string> pipeline_stages();

// The last stage of nightly and manual runs: the KPIs of the periods the day belongs to (progress).
using KpisStage = std::function<nlohmann::json(std::int32_t day)>;

// A pipeline run as one resumable job: nightly and manual runs sync incrementally and then score every
// company; a refresh syncs and rescores only the companies whose inputs changed. Each stage records its
// progress in the run and its position in the job's checkpoint, in the transactions that do its work, so
// a run taken over by another replica goes on where the dead one stopped and writes nothing twice.
class Pipeline {
 public:
  // `workflows`: the plan stage's participants, planned in this order in one transaction (alerts,
  // onboarding, plays); `deliverer`: what delivers their outbox, with a client from `clients`. No
  // workflows or no deliverer: write-back is off, plan and deliver are skipped. `kpis`: empty when off.
  Pipeline(store::Database& db, SyncJob& sync, ScoreJob& score, std::vector<workflow::Participant*> workflows,
           outbox::Deliverer* deliverer, hubspot::ClientFactory clients, Clock& clock,
           metrics::Registry& metrics, KpisStage kpis = {});

  // Creates a run and its job (nullopt when `unique_key` is taken).
  std::optional<std::int64_t> start(store::RunRequest request);
  // The handler of pipeline jobs.
  nlohmann::json operator()(JobContext& ctx);

 private:
  nlohmann::json run_sync(JobContext& ctx, std::int64_t run, nlohmann::json& cp);
  nlohmann::json run_score(JobContext& ctx, std::int64_t run, const std::string& kind, std::int32_t day,
                           nlohmann::json& cp);
  void run_plan(JobContext& ctx, std::int64_t run, std::int32_t day, nlohmann::json& cp);
  void run_deliver(JobContext& ctx, std::int64_t run, nlohmann::json& cp);
  void run_kpis(JobContext& ctx, std::int64_t run, const std::string& kind, std::int32_t day,
                nlohmann::json& cp);
  nlohmann::json summarize(std::int32_t day, const nlohmann::json& cp, double seconds);
  void save(JobContext& ctx, std::int64_t run, const nlohmann::json& cp, const std::string& stage,
            const std::string& state, const nlohmann::json& progress);

  store::Database& db_;
  store::RunStore runs_;
  SyncJob& sync_;
  ScoreJob& score_;
  std::vector<workflow::Participant*> workflows_;
  outbox::Deliverer* deliverer_;
  hubspot::ClientFactory clients_;
  Clock& clock_;
  metrics::Registry& metrics_;
  KpisStage kpis_;
};

// The handler of probe jobs: records its run in job_probes (fenced by the lease, so a worker that lost
// the job records nothing), optionally sleeping (payload sleep_ms, stopping early on request) or failing
// while its attempt is below payload fail_until_attempt. For checking a deployment's queue.
nlohmann::json run_probe(store::Database& db, JobContext& ctx);

}  // namespace cshealthd::pipeline
