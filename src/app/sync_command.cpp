#include "cshealthd/app/sync_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/base/system_clock.hpp"
#include "cshealthd/store/migrations.hpp"
#include "cshealthd/sync/syncer.hpp"

namespace cshealthd::app {

int run_sync(const config::Config& config, bool full, const std::vector<std::string>& objects) {
  if (config.hubspot.token.empty()) {
    throw config::ConfigError(
        "hubspot.token: required for sync; set CSHEALTHD_HUBSPOT_TOKEN or hubspot.token_file");
  }
  std::vector<sync::ObjectSpec> specs;
  for (auto& s : sync::default_specs()) {
    if (objects.empty() || std::find(objects.begin(), objects.end(), s.type) != objects.end())
      specs.push_back(s);
  }
  for (const auto& o : objects) {
    if (std::none_of(specs.begin(), specs.end(), [&](const auto& s) { return s.type == o; })) {
      throw config::ConfigError("--objects: unknown object type '" + o + "'");
    }
  }

  DatabaseRuntime runtime(config);
  if (config.database.migrate_on_start) store::Migrator(runtime.conninfo()).migrate();
  store::Database db(runtime.conninfo(), store::PoolOptions{2, config.database.statement_timeout_ms,
                                                            config.database.connect_timeout_s,
                                                            std::chrono::milliseconds(30'000)});
  SystemClock clock;
  metrics::Registry metrics;
  hubspot::TransportOptions to;
  to.base_url = config.hubspot.base_url;
  to.request_timeout = std::chrono::milliseconds(config.hubspot.request_timeout_ms);
  to.ca_file = config.hubspot.ca_file;
  auto transport = hubspot::make_transport(to);
  hubspot::LocalRateBudget budget(
      {config.hubspot.burst_limit, std::chrono::milliseconds(config.hubspot.burst_interval_ms),
       config.hubspot.budget_percent / 100.0, config.hubspot.search_per_second},
      clock);
  hubspot::ClientOptions co;
  co.max_attempts = config.hubspot.max_attempts;
  co.rate_limit_wait = std::chrono::milliseconds(config.hubspot.burst_interval_ms);
  hubspot::HubSpotClient client(*transport, budget, clock, config.hubspot.token, metrics, co);
  sync::SyncOptions so;
  so.overlap = std::chrono::milliseconds(config.sync.overlap_ms);
  sync::Syncer syncer(db, client, clock, metrics, so);

  const auto missing = syncer.missing_properties(specs);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    spdlog::warn("sync: the portal lacks {} mapped propert{}: {}; scores lose coverage where they are inputs",
                 missing.size(), missing.size() == 1 ? "y" : "ies", list);
  }
  // On a terminal, one line per object type rewritten after every page.
  const bool tty = isatty(STDOUT_FILENO) == 1;
  auto page_started = std::chrono::steady_clock::now();
  if (tty) {
    syncer.on_page([&](const sync::TypeReport& r) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - page_started).count();
      std::printf("\r%-22s %10llu records  %8.0f records/s", r.type.c_str(),
                  static_cast<unsigned long long>(r.records), secs > 0 ? r.records / secs : 0.0);
      std::fflush(stdout);
    });
  }

  const auto started = std::chrono::steady_clock::now();
  std::printf("%-22s %-12s %10s %8s %9s %9s\n", "object type", "mode", "records", "pages", "archived",
              "rejected");
  for (const auto& spec : specs) {
    const auto t0 = std::chrono::steady_clock::now();
    page_started = t0;
    const auto r = full ? syncer.full(spec) : syncer.incremental(spec);
    if (tty) std::printf("\r%80s\r", "");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-22s %-12s %10llu %8llu %9llu %9llu   (%.1f s, %.0f records/s)\n", r.type.c_str(),
                r.full ? "full" : "incremental", static_cast<unsigned long long>(r.records),
                static_cast<unsigned long long>(r.pages), static_cast<unsigned long long>(r.archived),
                static_cast<unsigned long long>(r.rejected_values), secs, secs > 0 ? r.records / secs : 0.0);
    std::fflush(stdout);
  }
  const auto& st = client.stats();
  std::printf("api calls %llu, 429s %llu, retries %llu, %.1f s\n", static_cast<unsigned long long>(st.calls),
              static_cast<unsigned long long>(st.rate_limited), static_cast<unsigned long long>(st.retries),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return 0;
}

}  // namespace cshealthd::app
