#include "cshealthd/app/sync_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cshealthd/app/components.hpp"
#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/base/system_clock.hpp"
#include "cshealthd/pipeline/sync_job.hpp"
#include "cshealthd/sync/runner.hpp"

namespace cshealthd::app {
namespace {

using Clock = std::chrono::steady_clock;

std::string eta(double seconds) {
  if (seconds < 0) return "-";
  char buf[32];
  if (seconds < 90)
    std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  else if (seconds < 5400)
    std::snprintf(buf, sizeof buf, "%.0fm", seconds / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1fh", seconds / 3600);
  return buf;
}

// On a terminal: one line per object type, redrawn in place after every committed page.
class Progress {
 public:
  explicit Progress(const std::vector<sync::ObjectSpec>& specs) {
    for (const auto& s : specs) order_.push_back(s.type);
  }
  void update(const sync::TypeReport& r) {
    auto& line = lines_[r.type];
    if (line.started == Clock::time_point{}) line.started = Clock::now();
    line.report = r;
    const auto now = Clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw();
  }
  void clear() {
    if (drawn_ == 0) return;
    std::printf("\x1b[%zuA\x1b[J", drawn_);  // back to the first line, erase to the end
    std::fflush(stdout);
    drawn_ = 0;
  }

 private:
  struct Line {
    Clock::time_point started{};
    sync::TypeReport report;
  };
  void draw() {
    if (drawn_) std::printf("\x1b[%zuA", drawn_);
    drawn_ = 0;
    for (const auto& type : order_) {
      const auto it = lines_.find(type);
      if (it == lines_.end()) continue;
      const auto& [started, r] = it->second;
      const double secs = std::chrono::duration<double>(Clock::now() - started).count();
      const double rate = secs > 0 ? r.records / secs : 0;
      const double left = r.expected >= 0 && rate > 0
                              ? std::max(0.0, (static_cast<double>(r.expected) - r.records) / rate)
                              : -1;
      std::string bar;
      if (r.expected > 0) {
        const int filled = static_cast<int>(20.0 * std::min<double>(1.0, double(r.records) / r.expected));
        bar.reserve(22);
        bar += '[';
        bar.append(static_cast<std::size_t>(filled), '#');
        bar.append(static_cast<std::size_t>(20 - filled), '.');
        bar += ']';
      }
      std::printf("\x1b[2K%-22s %-22s %10llu records %8.0f records/s  ETA %s\n", type.c_str(), bar.c_str(),
                  static_cast<unsigned long long>(r.records), rate, eta(left).c_str());
      ++drawn_;
    }
    std::fflush(stdout);
  }

  std::vector<std::string> order_;
  std::map<std::string, Line> lines_;
  std::size_t drawn_ = 0;
  Clock::time_point last_draw_{};
};

}  // namespace

int run_sync(const config::Config& config, bool full, const std::vector<std::string>& objects,
             bool sweep_now) {
  Components components(config, {config.sync.parallelism + 1, true, true, false});
  pipeline::SyncJob job(
      components.db(), [&] { return components.hubspot_client(); }, components.clock(), components.metrics(),
      config, components.schedule().zone);
  const auto specs = job.specs(objects);  // an unknown type is a usage error before any work

  const bool tty = isatty(STDOUT_FILENO) == 1;
  pipeline::SyncJobOptions options;
  options.full = full;
  options.objects = objects;
  options.sweep_now = sweep_now;
  options.count_first = tty;  // one search call per type buys the ETA
  Progress progress(specs);
  const auto started = Clock::now();
  const auto report = job.run(options, [&](const sync::TypeReport& r) {
    if (tty) progress.update(r);
  });
  if (tty) progress.clear();

  if (!report.missing_properties.empty()) {
    std::string list;
    for (const auto& m : report.missing_properties) list += (list.empty() ? "" : ", ") + m;
    spdlog::warn("sync: the portal lacks {} mapped propert{}: {}; scores lose coverage where they are inputs",
                 report.missing_properties.size(), report.missing_properties.size() == 1 ? "y" : "ies", list);
  }
  std::printf("%-22s %-12s %10s %8s %9s %9s\n", "object type", "mode", "records", "pages", "archived",
              "rejected");
  std::uint64_t records = 0, rejected = report.reference.rejected;
  for (const auto& r : report.types) {
    if (r.skipped) {
      std::printf("%-22s skipped: another process is syncing it\n", r.type.c_str());
      continue;
    }
    records += r.records;
    rejected += r.rejected_values;
    std::printf("%-22s %-12s %10llu %8llu %9llu %9llu   (%.1f s, %.0f records/s)\n", r.type.c_str(),
                r.full ? "full" : "incremental", static_cast<unsigned long long>(r.records),
                static_cast<unsigned long long>(r.pages), static_cast<unsigned long long>(r.archived),
                static_cast<unsigned long long>(r.rejected_values), r.seconds,
                r.seconds > 0 ? r.records / r.seconds : 0.0);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  for (const auto& r : report.types) {
    if (r.swept == 0) continue;
    std::printf("%-22s id sweep: %llu checked, %llu deleted, %llu merged away\n", r.type.c_str(),
                static_cast<unsigned long long>(r.swept), static_cast<unsigned long long>(r.deleted),
                static_cast<unsigned long long>(r.merged));
  }
  std::printf("owners %llu, pipelines %llu\n", static_cast<unsigned long long>(report.reference.owners),
              static_cast<unsigned long long>(report.reference.pipelines));
  std::printf(
      "records read %llu, written %llu, rejected values %llu, api calls %llu, 429s %llu, retries %llu, "
      "%.1f s, %.0f records/s\n",
      static_cast<unsigned long long>(records), static_cast<unsigned long long>(records),
      static_cast<unsigned long long>(rejected), static_cast<unsigned long long>(report.api.calls),
      static_cast<unsigned long long>(report.api.rate_limited),
      static_cast<unsigned long long>(report.api.retries), secs, secs > 0 ? records / secs : 0.0);
  std::fflush(stdout);
  for (const auto& f : report.failures) std::fprintf(stderr, "sync failed: %s\n", f.c_str());
  return report.ok() ? 0 : 1;
}

}  // namespace cshealthd::app
