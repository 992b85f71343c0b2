#include "cshealthd/pipeline/sync_job.hpp"

#include <algorithm>
#include <chrono>

namespace cshealthd::pipeline {

SyncJob::SyncJob(store::Database& db, hubspot::ClientFactory clients, Clock& clock,
                 metrics::Registry& metrics, const config::Config& config, const core::TimeZone& zone)
    : db_(db), clients_(std::move(clients)), clock_(clock), metrics_(metrics), config_(config), zone_(zone) {}

std::vector<sync::ObjectSpec> SyncJob::specs(const std::vector<std::string>& objects) const {
  std::vector<sync::ObjectSpec> out;
  for (auto& s : sync::specs(config_.mapping)) {
    if (objects.empty() || std::find(objects.begin(), objects.end(), s.type) != objects.end())
      out.push_back(s);
  }
  for (const auto& o : objects) {
    if (std::none_of(out.begin(), out.end(), [&](const auto& s) { return s.type == o; }))
      throw config::ConfigError("--objects: unknown object type '" + o + "'");
  }
  return out;
}

sync::RunReport SyncJob::run(const SyncJobOptions& o, std::function<void(const sync::TypeReport&)> on_page) {
  const auto specs_to_sync = specs(o.objects);
  sync::Runner runner(db_, clients_, clock_, metrics_);
  sync::RunOptions options;
  options.full = o.full;
  options.parallelism = config_.sync.parallelism;
  options.sync.overlap = std::chrono::milliseconds(config_.sync.overlap_ms);
  options.sync.count_first = o.count_first;
  options.sync.stop = o.stop;
  options.sync.zone = &zone_;
  options.sweep_interval = std::chrono::milliseconds(config_.sync.sweep_interval_ms);
  options.sweep_now = o.sweep_now;
  options.lock_wait = std::max(o.lock_wait, std::chrono::milliseconds(config_.sync.lock_wait_ms));
  options.reread = o.reread;
  auto report = runner.run(specs_to_sync, options, std::move(on_page));

  // The client and the syncer count requests, retries, 429s, records and rejected values in the same
  // registry as they go; a run adds its outcome.
  const char* result = !report.ok() ? "failed" : report.complete() ? "succeeded" : "interrupted";
  metrics_.counter("cshealthd_sync_runs_total", "Sync runs by result", {{"result", result}}).inc();
  if (report.complete()) {
    metrics_.gauge("cshealthd_sync_last_success_time_seconds", "When a sync last finished without a failure")
        .set(std::chrono::duration<double>(clock_.wall_now().time_since_epoch()).count());
  }
  return report;
}

}  // namespace cshealthd::pipeline
