// The pure scoring function: companies scored per second on one core, with signals, for both shipped
// scorecards and inputs shaped like a real portal's (a year of snapshots, tickets, answers, meetings).
#include <benchmark/benchmark.h>

#include <random>

#include "cshealthd/core/health.hpp"
#include "cshealthd/scoring/scoring_config.hpp"

namespace {

using namespace cshealthd;

constexpr std::int32_t kDay = 20'619;
constexpr core::EpochMs kDayMs = 86'400'000;

std::vector<core::CompanyInputs> companies(std::size_t n) {
  std::mt19937_64 rng(7);
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  std::vector<core::CompanyInputs> out(n);
  const core::EpochMs end = core::start_of_day(kDay + 1);
  for (std::size_t i = 0; i < n; ++i) {
    auto& in = out[i];
    in.company_id = static_cast<std::int64_t>(i + 1);
    in.as_of_day = kDay;
    const double seats = std::round(uni(5, 200));
    in.metrics = {uni(100, 9000), seats, std::round(seats * uni(0.2, 1.0)), std::round(uni(0, 60)),
                  std::round(uni(0, 9))};
    for (std::size_t m = 0; m < core::kMetricCount; ++m) {
      // what the batch reader loads: the values on the probe days (today, 30 days back)
      in.history[m] = {{kDay - 30, *in.metrics[m] * uni(0.7, 1.2)}, {kDay, *in.metrics[m]}};
    }
    in.texts[0] = "pro";
    in.texts[1] = i % 3 == 0 ? "achieved" : "in_progress";
    in.dates[0] = end + static_cast<core::EpochMs>(uni(-30, 365) * kDayMs);
    in.dates[2] = end - static_cast<core::EpochMs>(uni(1, 90) * kDayMs);
    for (int t = 0; t < 3; ++t) {
      core::Ticket tk;
      tk.created = end - static_cast<core::EpochMs>(uni(0, 60) * kDayMs);
      tk.closed = tk.created + static_cast<core::EpochMs>(uni(1, 72) * 3'600'000);
      tk.priority = t == 0 ? "HIGH" : "LOW";
      tk.category = t == 1 ? "FEATURE_REQUEST" : "GENERAL_INQUIRY";
      in.tickets.push_back(tk);
    }
    in.feedback.push_back({end - 40 * kDayMs, "NPS", std::round(uni(0, 10))});
    in.feedback.push_back({end - 5 * kDayMs, "NPS", std::round(uni(0, 10))});
    in.meetings.push_back({end - 30 * kDayMs, "COMPLETED"});
    in.meetings.push_back({end - 10 * kDayMs, i % 4 == 0 ? "NO_SHOW" : "COMPLETED"});
    in.previous = core::PreviousResult{kDay - 1, uni(20, 95), "yellow"};
  }
  return out;
}

void score(benchmark::State& state, const char* card_name) {
  static const auto config = scoring::load_scoring("", core::StatusBands{});
  const auto& card = *config.find(card_name);
  const auto inputs = companies(10'000);
  core::HealthResult result;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& in = inputs[i++ % inputs.size()];
    core::score(card, config.bands, in, result);
    core::evaluate_signals(config.signals, in, result);
    benchmark::DoNotOptimize(result.score);
  }
  state.counters["companies/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(score, weighted, "weighted");
BENCHMARK_CAPTURE(score, points, "points");

}  // namespace

BENCHMARK_MAIN();
