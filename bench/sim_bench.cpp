// The HubSpot simulator's own figures: records/s served through list and batch read (rate limits
// off, one keep-alive client, as the sync uses it), and the cost of generating a 100k-company portal.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "generator.hpp"
#include "in_process.hpp"
#include "raw_http.hpp"

namespace {

using namespace cshealthd;
using json = nlohmann::json;

double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

constexpr int kCompanies = 20'000;

void BM_SimListAllCompanies(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  sim::InProcessSimulator sim(sim::unlimited("T"), kCompanies, 1);
  std::int64_t records = 0;
  for (auto _ : state) {
    testing::RawConnection conn(sim.port());
    std::string after;
    do {
      conn.send(
          "GET "
          "/crm/v3/objects/"
          "companies?limit=100&properties=cs_mrr,cs_plan,cs_renewal_date,cs_active_users_30d" +
          (after.empty() ? std::string() : "&after=" + after) +
          " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer T\r\n\r\n");
      const auto page = json::parse(conn.read_response().body);
      records += static_cast<std::int64_t>(page["results"].size());
      after = page.contains("paging") ? page["paging"]["next"]["after"].get<std::string>() : "";
    } while (!after.empty());
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimListAllCompanies)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_SimBatchRead(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  sim::InProcessSimulator sim(sim::unlimited("T"), kCompanies, 1);
  json inputs = json::array();
  for (int i = 1; i <= 100; ++i)
    inputs.push_back({{"id", std::to_string(10'000'000'000ULL + static_cast<unsigned>(i))}});
  const std::string body = json{{"inputs", inputs}, {"properties", {"cs_mrr", "cs_plan"}}}.dump();
  testing::RawConnection conn(sim.port());
  std::int64_t records = 0;
  for (auto _ : state) {
    conn.send(
        "POST /crm/v3/objects/companies/batch/read HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer T\r\n"
        "Content-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    records += static_cast<std::int64_t>(json::parse(conn.read_response().body)["results"].size());
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimBatchRead)->UseRealTime()->MinTime(2.0);

void BM_Generate100kCompanies(benchmark::State& state) {
  std::size_t records = 0;
  for (auto _ : state) {
    auto portal = sim::generate({100'000, 1, 1'790'000'000'000});
    records = portal->record_count();
    benchmark::DoNotOptimize(portal);
  }
  state.counters["records"] = static_cast<double>(records);
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}
BENCHMARK(BM_Generate100kCompanies)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
