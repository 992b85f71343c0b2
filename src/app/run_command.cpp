#include "cshealthd/app/run_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cshealthd/app/components.hpp"
#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/pipeline/pipeline.hpp"
#include "cshealthd/store/run_store.hpp"

namespace cshealthd::app {
namespace {

using json = nlohmann::json;

std::string bar(double share) {
  const int filled = static_cast<int>(20 * std::clamp(share, 0.0, 1.0));
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(20 - filled), '.') + "]";
}

// One line per stage: its state, a bar, and what it has done so far.
std::vector<std::string> stage_lines(const store::Run& run) {
  std::vector<std::string> lines;
  for (const auto& s : run.stages) {
    const std::string name = s.value("name", ""), state = s.value("state", "");
    const json p = s.value("progress", json::object());
    double share = state == "done" ? 1.0 : 0.0;
    std::string detail;
    if (name == "sync") {
      detail = std::to_string(p.value("records", p.value("records_so_far", 0))) + " records, " +
               std::to_string(p.value("api_calls", 0)) + " API calls";
    } else if (name == "score") {
      const auto done = p.value("companies", std::uint64_t{0});
      detail = std::to_string(done) + " companies";
      const auto total = p.value("companies_total", std::uint64_t{0});
      if (total > 0) share = std::max(share, static_cast<double>(done) / static_cast<double>(total));
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-6s %-8s %s %s", name.c_str(), state.c_str(), bar(share).c_str(),
                  detail.c_str());
    lines.emplace_back(line);
  }
  return lines;
}

}  // namespace

int run_pipeline(const config::Config& config, bool wait, const std::string& as_of, bool catch_up) {
  ComponentOptions co;
  co.pool_size = 2;
  co.scoring = false;
  Components components(config, co);
  store::RunRequest r;
  r.kind = "manual";
  r.trigger = "cli";
  r.as_of = as_of.empty() ? core::format_day(components.service_day()) : as_of;
  if (!core::parse_day(r.as_of))
    throw config::ConfigError("--as-of: expected a date YYYY-MM-DD, got '" + as_of + "'");
  r.stages = pipeline::pipeline_stages();
  r.max_attempts = config.jobs.max_attempts;
  r.catch_up = catch_up;
  store::RunStore runs(components.db());
  const auto id = runs.create(r, pipeline::kPipelineJob);
  const auto replicas = components.db().with_connection("count_instances", [](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec("SELECT count(*) FROM service_instances")[0][0].as<long long>();
  });
  std::printf("run %lld queued (as of %s)%s\n", static_cast<long long>(*id), r.as_of.c_str(),
              replicas == 0 ? "; no service replica is registered: it runs once one starts" : "");
  std::fflush(stdout);
  if (!wait) return 0;
  const bool tty = isatty(STDOUT_FILENO) == 1;
  std::size_t drawn = 0;
  std::string last;
  while (true) {
    const auto run = runs.get(*id);
    const auto lines = stage_lines(*run);
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    if (tty) {
      if (drawn) std::printf("\x1b[%zuA", drawn);
      for (const auto& l : lines) std::printf("\x1b[2K%s\n", l.c_str());
      drawn = lines.size();
    } else if (text != last) {
      std::printf("%s", text.c_str());
    }
    last = text;
    std::fflush(stdout);
    if (run->state == "succeeded") {
      std::printf("run %lld succeeded: %s\n", static_cast<long long>(run->id), run->summary.dump(2).c_str());
      return 0;
    }
    if (run->state == "failed") {
      std::fprintf(stderr, "run %lld failed: %s\n", static_cast<long long>(run->id), run->error.c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 250 : 1000));
  }
}

int list_jobs(const config::Config& config, const std::optional<std::string>& state, int limit) {
  ComponentOptions co;
  co.pool_size = 1;
  co.scoring = false;
  Components components(config, co);
  std::printf("%8s  %-9s %-10s %7s %8s  %-24s %s\n", "id", "kind", "state", "attempt", "run", "created",
              "error");
  for (const auto& j : components.jobs().list(state, limit)) {
    const std::string attempts = std::to_string(j.attempt) + "/" + std::to_string(j.max_attempts);
    std::printf("%8lld  %-9s %-10s %7s %8s  %-24s %s\n", static_cast<long long>(j.id), j.kind.c_str(),
                j.state.c_str(), attempts.c_str(), j.run_id ? std::to_string(*j.run_id).c_str() : "-",
                core::format_iso8601(j.created_ms).c_str(), j.error.substr(0, 120).c_str());
  }
  return 0;
}

}  // namespace cshealthd::app
