#include "cshealthd/app/score_command.hpp"

#include <cstdio>
#include <iostream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cshealthd/api/health_json.hpp"
#include "cshealthd/app/components.hpp"
#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/pipeline/sync_job.hpp"
#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/scoring/health_store.hpp"

namespace cshealthd::app {
namespace {

using json = nlohmann::json;

std::int32_t day_or_throw(const std::string& text, const char* option) {
  const auto d = core::parse_day(text);
  if (!d) throw config::ConfigError(std::string(option) + ": expected a date YYYY-MM-DD, got '" + text + "'");
  return *d;
}

std::string num(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
  std::string s = buf;
  while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
    const bool dot = s.back() == '.';
    s.pop_back();
    if (dot) break;
  }
  return s;
}

// The readable explanation of one result.
void print_explained(const json& r) {
  std::printf("company %s  as of %s  scorecard %s (segment %s)\n", r["company_id"].get<std::string>().c_str(),
              r["as_of"].get<std::string>().c_str(), r["scorecard"].get<std::string>().c_str(),
              r["segment"].get<std::string>().c_str());
  std::printf("score %s  %s  coverage %.0f%%", num(r["score"]).c_str(),
              r["status"].get<std::string>().c_str(), r["coverage"].get<double>() * 100);
  if (!r["previous_score"].is_null())
    std::printf("  (previous %s, %+.2f)", num(r["previous_score"]).c_str(), r["delta"].get<double>());
  std::printf("\n\n%-12s %7s %12s %10s  %s\n", "component", "weight", "raw", "points", "rule");
  for (const auto& c : r["components"]) {
    const std::string points = c["points"].is_null() ? "-" : num(c["points"]) + "/" + num(c["max_points"]);
    // Metrics from usage sent to cshealthd name their source; HubSpot's properties are the default.
    std::string from;
    if (c.contains("sources") && c["sources"] != json::array({"hubspot"})) {
      for (const auto& s : c["sources"]) from += (from.empty() ? " [from " : ", ") + s.get<std::string>();
      from += "]";
    }
    std::printf("%-12s %6s%% %12s %10s  %s%s%s\n", c["name"].get<std::string>().c_str(),
                num(c["weight"]).c_str(), num(c["raw"]).c_str(), points.c_str(),
                c["rule"].get<std::string>().c_str(), c.value("overridden", false) ? " [override]" : "",
                from.c_str());
  }
  if (!r["signals"].empty()) std::printf("\nsignals:\n");
  for (const auto& s : r["signals"]) {
    std::printf("  [%s] %s (%s): %s\n", s["priority"].get<std::string>().c_str(),
                s["name"].get<std::string>().c_str(), s["kind"].get<std::string>().c_str(),
                s["facts"].get<std::string>().c_str());
  }
  if (!r["reasons"].empty()) std::printf("\nreasons (worst first):\n");
  for (const auto& s : r["reasons"]) std::printf("  %s\n", s.get<std::string>().c_str());
  std::printf("\n");
}

}  // namespace

int run_score(const config::Config& config, const ScoreOptions& o) {
  // Usage errors first: exit 2 before any work (the components check the scorecards first of all).
  const std::optional<std::int32_t> given =
      o.as_of.empty() ? std::nullopt : std::optional<std::int32_t>(day_or_throw(o.as_of, "--as-of"));
  if (o.backfill < 1 || o.backfill > 3660) throw config::ConfigError("--backfill: expected 1 to 3660 days");
  Components components(config, {2});
  const std::int32_t as_of = given ? *given : components.service_day();
  if (o.company && !scoring::HealthStore(components.db(), components.scoring()).company_exists(*o.company)) {
    std::cerr << "cshealthd: no company " << *o.company << " in the database (sync first?)\n";
    return 1;
  }
  pipeline::ScoreJob job(components.db(), components.scoring(), components.metrics(), config.scoring,
                         components.schedule().zone);
  for (std::int32_t day = as_of - o.backfill + 1; day <= as_of; ++day) {
    scoring::BatchOptions bo;
    bo.as_of_day = day;
    bo.company = o.company;
    bo.trigger = o.backfill > 1 ? "backfill" : "cli";
    bo.keep_results = o.explain || o.company.has_value();
    const auto report = job.run(bo);
    if (o.json) {
      if (bo.keep_results) {
        for (const auto& r : report.results) std::cout << r.dump() << "\n";
      } else {
        std::cout << json({{"as_of", core::format_day(day)},
                           {"run_id", report.run_id},
                           {"companies", report.companies},
                           {"by_status", report.by_status},
                           {"seconds", report.seconds}})
                         .dump()
                  << "\n";
      }
      continue;
    }
    if (bo.keep_results) {
      for (const auto& r : report.results) print_explained(r);
    }
    std::printf("as of %s: %llu companies scored in %.1f s (run %lld)\n", core::format_day(day).c_str(),
                static_cast<unsigned long long>(report.companies), report.seconds,
                static_cast<long long>(report.run_id));
    if (report.companies == 0) continue;
    std::printf("  %-8s %10s %7s\n", "status", "companies", "share");
    for (const char* s : {"green", "yellow", "orange", "red", "unknown"}) {
      const auto it = report.by_status.find(s);
      const auto n = it == report.by_status.end() ? 0 : it->second;
      std::printf("  %-8s %10llu %6.1f%%\n", s, static_cast<unsigned long long>(n),
                  100.0 * static_cast<double>(n) / static_cast<double>(report.companies));
    }
  }
  return 0;
}

int run_override(const config::Config& config, const OverrideOptions& o) {
  Components components(config, {2});
  scoring::HealthStore store(components.db(), components.scoring());
  if (!store.company_exists(o.company)) {
    std::cerr << "cshealthd: no company " << o.company << " in the database\n";
    return 1;
  }
  if (o.action == "list") {
    std::cout << api::to_json(store.overrides(o.company)).dump(2) << "\n";
    return 0;
  }
  const std::string author = o.author.empty() ? (getenv("USER") ? getenv("USER") : "cli") : o.author;
  if (o.action == "revoke") {
    if (!store.revoke_override(o.company, o.component, author)) {
      std::cerr << "cshealthd: no live override of " << (o.component.empty() ? "the score" : o.component)
                << "\n";
      return 1;
    }
    std::cout << "revoked; the next scoring run no longer applies it\n";
    return 0;
  }
  scoring::OverrideRequest r;
  r.company_id = o.company;
  r.component = o.component;
  r.value = o.value;
  r.reason = o.reason;
  r.author = author;
  r.expires_day = day_or_throw(o.expires, "--expires");
  try {
    std::cout << api::to_json(store.set_override(r, components.service_day())).dump(2) << "\n";
  } catch (const scoring::InvalidRequest& e) {
    throw config::ConfigError(e.what());
  }
  return 0;
}

}  // namespace cshealthd::app
