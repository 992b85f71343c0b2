// Micro figures for the pieces every request passes through: routing and metrics.
#include <benchmark/benchmark.h>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/http/router.hpp"

namespace {

using namespace cshealthd;

http::Router make_router() {
  http::Router r;
  const auto h = [](const http::Request&) { return http::Response::text(200, ""); };
  for (const char* p :
       {"/healthz", "/readyz", "/metrics", "/v1/scores", "/v1/companies/{id}/health",
        "/v1/companies/{id}/health/history", "/v1/companies/{id}/override", "/webhooks/hubspot"}) {
    r.add("GET", p, h);
  }
  return r;
}

void BM_RouterMatchParam(benchmark::State& state) {
  const auto r = make_router();
  for (auto _ : state) benchmark::DoNotOptimize(r.match("GET", "/v1/companies/123456/health/history"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouterMatchParam);

void BM_CounterInc(benchmark::State& state) {
  metrics::Registry reg;
  auto& c = reg.counter("x_total", "x", {{"route", "/r"}});
  for (auto _ : state) c.inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  metrics::Registry reg;
  auto& h = reg.histogram("lat", "x");
  double v = 0;
  for (auto _ : state) h.observe(v += 0.0001);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve);

void BM_MetricsRender50Routes(benchmark::State& state) {
  metrics::Registry reg;
  for (int i = 0; i < 50; ++i) {
    reg.counter("req_total", "x", {{"route", "/r" + std::to_string(i)}, {"status", "200"}}).inc();
    reg.histogram("lat", "x", {{"route", "/r" + std::to_string(i)}}).observe(0.01);
  }
  for (auto _ : state) benchmark::DoNotOptimize(reg.render());
}
BENCHMARK(BM_MetricsRender50Routes);

}  // namespace

BENCHMARK_MAIN();
