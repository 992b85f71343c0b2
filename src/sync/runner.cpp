#include "cshealthd/sync/runner.hpp"

#include <atomic>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "cshealthd/store/session_lock.hpp"
#include "cshealthd/store/usage_store.hpp"

namespace cshealthd::sync {
namespace {

constexpr int kStaleRestarts = 3;

}  // namespace

Runner::Runner(store::Database& db, hubspot::ClientFactory clients, Clock& clock, metrics::Registry& metrics)
    : db_(db), clients_(std::move(clients)), clock_(clock), metrics_(metrics) {}

// Usage figures that waited for their company: the companies just synced may be theirs.
void Runner::release_usage() {
  const auto moved = db_.with_retry("usage_release", [](pqxx::connection& c) {
    pqxx::work tx(c, "usage_release");
    const auto n = store::UsageStore::release_quarantine(tx);
    tx.commit();
    return n;
  });
  if (moved == 0) return;
  metrics_
      .counter("cshealthd_usage_figures_total", "Usage figures kept, by where they went",
               {{"to", "released"}})
      .inc(static_cast<double>(moved));
  spdlog::info("sync: {} quarantined usage figures found their company", moved);
}

RunReport Runner::run(const std::vector<ObjectSpec>& specs, const RunOptions& options,
                      std::function<void(const TypeReport&)> on_page) {
  RunReport report;
  report.types.resize(specs.size());
  std::mutex mutex;  // guards report.api, report.failures and on_page
  auto add_stats = [&](const hubspot::HubSpotClient& c) {
    std::lock_guard lock(mutex);
    report.api.calls += c.stats().calls;
    report.api.retries += c.stats().retries;
    report.api.rate_limited += c.stats().rate_limited;
  };

  {
    auto handle = clients_();
    Syncer syncer(db_, *handle.client, clock_, metrics_, options.sync);
    report.missing_properties = syncer.missing_properties(specs);
    report.reference = syncer.reference_data();
    add_stats(*handle.client);
  }

  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    hubspot::ClientHandle handle;
    try {
      handle = clients_();
    } catch (const std::exception& e) {  // the types it would have taken go to the other workers
      spdlog::error("sync: a worker could not start: {}", e.what());
      return;
    }
    Syncer syncer(db_, *handle.client, clock_, metrics_, options.sync);
    if (on_page) {
      syncer.on_page([&](const TypeReport& r) {
        std::lock_guard lock(mutex);
        on_page(r);
      });
    }
    for (std::size_t i = next++; i < specs.size(); i = next++) {
      const auto& spec = specs[i];
      const auto t0 = std::chrono::steady_clock::now();
      if (options.sync.stop.stop_requested()) {
        report.types[i].type = spec.type;
        std::lock_guard lock(mutex);
        report.interrupted.push_back(spec.type);
        continue;
      }
      try {
        // One sync of a type at a time, across replicas and cron jobs: two would interleave its cursor.
        store::SessionLock lock(db_.conninfo(), "cshealthd.sync." + spec.type, options.lock_wait);
        if (!lock.held()) {
          spdlog::warn("sync: {} is being synced by another process (a replica or a cron job); skipped",
                       spec.type);
          report.types[i].type = spec.type;
          report.types[i].skipped = true;
          std::lock_guard guard(mutex);
          report.skipped.push_back(spec.type);
          continue;
        }
        // A commit the database lost in a crash (asynchronous commit) shows at the next state save:
        // the type starts again from what is stored, reading the lost pages again.
        for (int attempt = 1;; ++attempt) {
          try {
            report.types[i] = options.full ? syncer.full(spec) : syncer.incremental(spec);
            break;
          } catch (const store::StoreError& e) {
            if (e.kind() != store::StoreError::Kind::kStale || attempt >= kStaleRestarts) throw;
            metrics_
                .counter("cshealthd_sync_state_restarts_total",
                         "Type syncs started again because the database lost a committed page (a crash)",
                         {{"object_type", spec.type}})
                .inc();
            spdlog::warn("sync: {}; resuming {} from the stored cursor", e.what(), spec.type);
          }
        }
        if (const auto it = options.reread.find(spec.type); it != options.reread.end() && !options.full)
          syncer.reread(spec, it->second, report.types[i]);
        if (options.sweep_now || syncer.sweep_due(spec.type, options.sweep_interval))
          syncer.sweep(spec, report.types[i]);
        if (spec.type == "companies") release_usage();
        report.types[i].seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } catch (const Interrupted& e) {
        spdlog::info("sync: {}", e.what());
        report.types[i].type = spec.type;
        std::lock_guard lock(mutex);
        report.interrupted.push_back(spec.type);
      } catch (const std::exception& e) {
        spdlog::error("sync: {} failed: {}; its cursor stays where it stopped", spec.type, e.what());
        metrics_
            .counter("cshealthd_sync_failures_total", "Object type syncs that ended in an error",
                     {{"object_type", spec.type}})
            .inc();
        report.types[i].type = spec.type;
        std::lock_guard lock(mutex);
        report.failures.push_back(spec.type + ": " + e.what());
      }
    }
    add_stats(*handle.client);
  };
  const auto n = std::max<std::size_t>(1, std::min<std::size_t>(options.parallelism, specs.size()));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (!report.types[i].type.empty()) continue;  // every type a worker took has its name set
    report.types[i].type = specs[i].type;
    report.failures.push_back(specs[i].type + ": not started (no worker could connect)");
  }
  return report;
}

}  // namespace cshealthd::sync
