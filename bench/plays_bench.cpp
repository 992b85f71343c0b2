// The lifecycle plays' nightly decision (core::decide_plays with the shipped plays file): companies
// decided per second on one core, for a night of 100,000 customers shaped like a portal (renewal dates
// over a year, a tenth with an expansion signal, some churned), and a year of nights for 1,000 with the
// state carried over (what a portal does in a year: steps fired per company).
#include <benchmark/benchmark.h>

#include <random>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/core/plays.hpp"
#include "cshealthd/plays/plays.hpp"

namespace {

using namespace cshealthd;

constexpr std::int32_t kDay = 20'788;  // 2026-12-01

std::vector<core::PlayCompany> portal(std::size_t n) {
  std::mt19937_64 rng(7);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  static const char* kStatus[] = {"green", "yellow", "orange", "red"};
  std::vector<core::PlayCompany> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& c = out[i];
    c.id = static_cast<std::int64_t>(i + 1);
    c.name = "Company " + std::to_string(i + 1);
    c.owner_id = std::to_string(90002 + i % 3);
    c.manager_id = "90001";
    c.segment = i % 5 == 0 ? "high_touch" : "tech_touch";
    c.stage = i % 20 == 0 ? "churned" : "active";
    c.status = kStatus[uni(0, 3)];
    c.score = uni(20, 95);
    c.dates["renewal_date"] = kDay + uni(-30, 365);
    if (c.stage == "churned") c.dates["churn_date"] = kDay - uni(1, 200);
    if (i % 10 == 0) c.signals.insert("seats_full");
    if (i % 13 == 0) c.signals.insert("promoter");
  }
  return out;
}

struct Fixture {
  core::PlaysConfig config = plays::parse_plays(plays::shipped_plays(), "plays.yaml", "en");
  core::BusinessCalendar calendar =
      core::BusinessCalendar::parse(workflow::shipped_file("holidays.jp.txt"), "holidays");
};

void BM_OneNight(benchmark::State& state) {
  Fixture f;
  const auto companies = portal(static_cast<std::size_t>(state.range(0)));
  core::PlayContext ctx;
  ctx.day = kDay;
  ctx.calendar = &f.calendar;
  std::size_t fired = 0;
  for (auto _ : state) {
    fired = 0;
    for (const auto& c : companies) fired += core::decide_plays(f.config, ctx, c, {}, {}).firings.size();
    benchmark::DoNotOptimize(fired);
  }
  state.counters["companies_per_s"] = benchmark::Counter(static_cast<double>(companies.size()),
                                                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["steps_fired"] = static_cast<double>(fired);
}
BENCHMARK(BM_OneNight)->Arg(100'000)->Unit(benchmark::kMillisecond);

void BM_AYearOfNights(benchmark::State& state) {
  Fixture f;
  const auto companies = portal(static_cast<std::size_t>(state.range(0)));
  std::size_t fired = 0;
  for (auto _ : state) {
    fired = 0;
    std::vector<std::set<core::PlayStepDone>> done(companies.size());
    std::vector<std::vector<core::PlayEpisode>> episodes(companies.size());
    for (std::int32_t d = kDay; d < kDay + 365; ++d) {
      core::PlayContext ctx;
      ctx.day = d;
      ctx.calendar = &f.calendar;
      for (std::size_t i = 0; i < companies.size(); ++i) {
        const auto decision = core::decide_plays(f.config, ctx, companies[i], episodes[i], done[i]);
        for (const auto& s : decision.firings) done[i].insert({s.play, s.cycle, s.step});
        fired += decision.firings.size();
        for (const auto& e : decision.episodes) {
          std::erase_if(episodes[i], [&](const auto& x) { return x.play == e.play; });
          episodes[i].push_back(e);
        }
      }
    }
    benchmark::DoNotOptimize(fired);
  }
  state.counters["steps_per_company_year"] =
      static_cast<double>(fired) / static_cast<double>(companies.size());
  state.counters["company_nights_per_s"] = benchmark::Counter(static_cast<double>(companies.size() * 365),
                                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AYearOfNights)->Arg(1'000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
