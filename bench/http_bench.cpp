// HTTP server throughput and latency on loopback: keep-alive requests to a trivial JSON route, so the
// figure is the chassis' own overhead (parse, route, worker hand-off, write, metrics, access log).
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "cshealthd/http/server.hpp"
#include "raw_http.hpp"

namespace {

using namespace cshealthd;

void BM_HttpKeepAliveGet(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);  // the access log is not what is measured
  http::Router router;
  router.add("GET", "/healthz",
             [](const http::Request&) { return http::Response::text(200, "{\"status\":\"ok\"}"); });
  WorkerPool workers(2, "bench");
  metrics::Registry metrics;
  http::ServerOptions opts;
  opts.port = 0;
  http::Server server(opts, router, workers, metrics);
  server.start();
  testing::RawConnection conn(server.port());
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (auto _ : state) {
    conn.send(req);
    if (conn.read_response().status != 200) state.SkipWithError("bad response");
  }
  state.SetItemsProcessed(state.iterations());
  server.shutdown(std::chrono::seconds(1));
}
BENCHMARK(BM_HttpKeepAliveGet)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
