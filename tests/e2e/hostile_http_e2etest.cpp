// The running daemon against hostile clients: raw bytes, slow clients, connection floods, invented
// methods, a load tool, and a handler still running at the shutdown deadline. Loopback only; every
// loop is bounded in count and time.
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/process.hpp"
#include "daemon.hpp"
#include "raw_http.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Daemon;
using testing::DaemonOptions;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RawConnection;
using testing::TempDir;

constexpr const char* kToken = "hostile-test-token";

// A daemon on a test database of its own (no embedded cluster to start), JSON logs.
class HostileHttpTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> env = {}) {
    process::raise_fd_limit();  // this process holds thousands of client sockets
    env.push_back("CSHEALTHD_DATABASE_URL=" + db_.conninfo());
    env.push_back("CSHEALTHD_STATE_DIR=" + (dir_.path() / "state").string());
    env.push_back("CSHEALTHD_HTTP_LISTEN=127.0.0.1:0");
    env.push_back("CSHEALTHD_LOG_FORMAT=json");
    env.push_back(std::string("CSHEALTHD_ADMIN_TOKEN=") + kToken);
    DaemonOptions o;
    o.env = std::move(env);
    o.log_path = dir_.path() / "daemon.log";
    daemon_ = std::make_unique<Daemon>(o);
    port_ = daemon_->wait_listening(30s);
    ASSERT_NE(port_, 0) << daemon_->log();
  }
  int healthz(std::chrono::milliseconds timeout = 10s) {
    RawConnection c(port_, timeout);
    if (!c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return 0;
    return c.read_response().status;
  }
  std::string metrics() { return testing::http_request(port_, "GET", "/metrics").body; }
  // The value of one series on /metrics (0 when absent).
  double metric(const std::string& series) {
    const auto text = metrics();
    const auto at = text.find("\n" + series + " ");  // the sample, not its # HELP line
    return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
  }
  std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir(("/proc/" + std::to_string(daemon_->pid()) + "/fd").c_str())) {
      while (::readdir(d)) ++n;
      ::closedir(d);
    }
    return n;
  }
  // wrk from Debian's archive against one path for 3 s, in the background; its output goes to `name`.
  process::Child start_wrk(const std::string& path, int connections, const std::string& name) {
    process::SpawnOptions o;
    o.argv = {"/usr/bin/wrk",
              "-t2",
              "-c" + std::to_string(connections),
              "-d3s",
              "--timeout",
              "5s",
              "http://127.0.0.1:" + std::to_string(port_) + path};
    o.output_path = (dir_.path() / name).string();
    return process::spawn(o);
  }
  // What wrk printed, and the requests it counted (-1 when it printed no count).
  std::pair<std::string, long> wrk_result(const std::string& name) {
    std::ifstream in(dir_.path() / name);
    const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch m;
    const long n = std::regex_search(out, m, std::regex(R"(([0-9]+) requests in)")) ? std::stol(m[1]) : -1;
    return {out, n};
  }
  void stop_cleanly() {
    daemon_->signal(SIGTERM);
    EXPECT_EQ(daemon_->wait_exit(20s).value_or(-1), 0) << daemon_->log();
    EXPECT_THAT(daemon_->log(), Not(HasSubstr("AddressSanitizer")));
    EXPECT_THAT(daemon_->log(), Not(HasSubstr("runtime error")));
  }

  testing::TestDatabase db_{/*migrated=*/true};
  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
  std::uint16_t port_ = 0;
};

TEST_F(HostileHttpTest, RawBytesAnywhereAre4xxAndTheDaemonKeepsServing) {
  start();
  std::vector<std::string> requests = {"GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n",
                                       "GET /%ff%fe%00 HTTP/1.1\r\nHost: x\r\n\r\n",
                                       "GET /v1/companies/%ff/health HTTP/1.1\r\nHost: x\r\n\r\n"};
  for (int b = 0x80; b <= 0xFF; ++b) {
    const std::string raw(1, static_cast<char>(b));
    requests.push_back("GET /x" + raw + " HTTP/1.1\r\nHost: x\r\n\r\n");
    requests.push_back("GET /healthz?q=" + raw + " HTTP/1.1\r\nHost: x\r\n\r\n");
    requests.push_back("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Odd: " + raw + "\r\nX-Request-Id: " + raw +
                       "\r\n\r\n");
    requests.push_back("PUT /v1/companies/1/override HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                       std::string(kToken) + "\r\nContent-Length: 3\r\n\r\n{" + raw + "}");
  }
  for (const auto& req : requests) {
    RawConnection c(port_);
    ASSERT_TRUE(c.send(req));
    const auto r = c.read_response();
    ASSERT_NE(r.status, 0) << "no answer to "
                           << nlohmann::json(req).dump(-1, ' ', true,
                                                       nlohmann::json::error_handler_t::replace);
    EXPECT_LT(r.status, 500) << r.body;
    if (r.status >= 400) {
      EXPECT_TRUE(nlohmann::json::accept(r.body)) << r.body;
    }
  }
  EXPECT_EQ(healthz(), 200);
  // Every log line, the access lines of those requests among them, is still JSON.
  std::ifstream log(dir_.path() / "daemon.log");
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines) {
    if (line.empty() || line.front() != '{') continue;  // a sanitizer's own lines would not be JSON
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
  EXPECT_GT(lines, 100);
  stop_cleanly();
}

// 2,000 connections trickle their headers a byte at a time: a fresh /healthz still answers at once,
// and every trickling connection is closed when its request deadline passes.
TEST_F(HostileHttpTest, TwoThousandTricklingClientsAreDroppedAtTheDeadlineWhileHealthzAnswers) {
  start({"CSHEALTHD_HTTP_READ_TIMEOUT_MS=3000"});
  constexpr int kClients = 2000;
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kClients; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port_, 5s));
    ASSERT_TRUE(slow.back()->connected()) << i;
    ASSERT_TRUE(slow.back()->send("G")) << i;
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string rest = "ET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  std::size_t sent = 0;
  std::vector<double> healthz_ms;
  // A byte per connection every ~250 ms, for about two deadlines.
  while (std::chrono::steady_clock::now() - started < 6s) {
    const char c = sent < rest.size() ? rest[sent] : 'z';
    ++sent;
    for (auto& s : slow) (void)s->send(std::string(1, c));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(healthz(5s), 200);
    healthz_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(250ms);
  }
  std::sort(healthz_ms.begin(), healthz_ms.end());
  std::printf("healthz while %d clients trickle: median %.1f ms, max %.1f ms over %zu probes\n", kClients,
              healthz_ms[healthz_ms.size() / 2], healthz_ms.back(), healthz_ms.size());
  int closed = 0;
  for (auto& s : slow) closed += s->closed_by_peer() ? 1 : 0;
  EXPECT_EQ(closed, kClients);
  EXPECT_GE(metric("cshealthd_http_timeouts_total{phase=\"request\"}"), kClients);
  slow.clear();
  stop_cleanly();
}

TEST_F(HostileHttpTest, ConnectionsPastTheCapAreRefusedAtOnceWithoutExhaustingDescriptors) {
  start({"CSHEALTHD_HTTP_MAX_CONNECTIONS=100"});
  const std::size_t fds_before = open_fds();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(std::make_unique<RawConnection>(port_, 5s));
    ASSERT_TRUE(held.back()->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(held.back()->read_response().status, 200) << i;  // admitted, and kept open
  }
  int refused = 0;
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 500; ++i) {
    flood.push_back(std::make_unique<RawConnection>(port_, 5s));
    refused += flood.back()->closed_by_peer() ? 1 : 0;
  }
  EXPECT_EQ(refused, 500);
  EXPECT_LT(open_fds(), fds_before + 100 + 50);  // the refused ones hold nothing
  held.clear();
  flood.clear();
  // The held ones gone, the daemon serves again at once.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = healthz(2s);
    if (status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_GE(metric("cshealthd_http_connections_refused_total"), 500);
  stop_cleanly();
}

TEST_F(HostileHttpTest, TenThousandInventedMethodsAddNoMetricSeries) {
  start();
  const auto series = [&] {
    const auto text = metrics();
    std::size_t n = 0;
    for (std::size_t at = 0; (at = text.find("\ncshealthd_http_requests_total{", at)) != std::string::npos;
         ++at)
      ++n;
    return n;
  };
  EXPECT_EQ(healthz(), 200);
  // One keep-alive connection, the requests sent in batches and every answer read.
  RawConnection c(port_);
  for (int batch = 0; batch < 100; ++batch) {
    std::string out;
    for (int i = 0; i < 100; ++i)
      out += "X" + std::to_string(batch * 100 + i) + " /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(c.send(out));
    for (int i = 0; i < 100; ++i) ASSERT_EQ(c.read_response().status, 405) << batch << "/" << i;
  }
  const auto after_flood = series();
  EXPECT_LE(after_flood,
            4u);  // /healthz GET 200, /healthz other 405, /metrics GET 200 (and its first scrape)
  // A request is counted once its answer is written: the last answer can reach this client a moment
  // before the server's write completion counts it, so the count is awaited (never more than 10000).
  const std::string counted =
      "cshealthd_http_requests_total{route=\"/healthz\",method=\"other\",status=\"405\"} 10000\n";
  std::string scraped;
  for (int i = 0; i < 200 && scraped.find(counted) == std::string::npos; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    scraped = metrics();
  }
  EXPECT_THAT(scraped, HasSubstr(counted));
  stop_cleanly();
}

// wrk from Debian's archive against the running daemon: every answer a 200, the daemon still up.
TEST_F(HostileHttpTest, ALoadToolGetsOnlySuccessfulAnswers) {
  start();
  auto wrk = start_wrk("/healthz", 200, "wrk.out");
  ASSERT_EQ(wrk.wait(), 0) << "wrk missing? scripts/setup installs it";
  const auto [out, requests] = wrk_result("wrk.out");
  std::printf("%s\n", out.c_str());
  EXPECT_GT(requests, 1000) << out;
  EXPECT_THAT(out, Not(HasSubstr("Non-2xx")));
  EXPECT_THAT(out, Not(HasSubstr("Socket errors")));
  EXPECT_EQ(healthz(), 200);
  stop_cleanly();
}

// A flood of readiness probes takes one database check at a time (the answer is cached for a second), so
// the pool, here of two connections, stays free for API work and every probe is answered.
TEST_F(HostileHttpTest, AReadyzFloodTakesOneConnectionAndLeavesThePoolFree) {
  start({"CSHEALTHD_DATABASE_POOL_SIZE=2"});
  // Transactions ended in this test's database (a read-only one ends in a rollback): one per readiness
  // check, a few per API call.
  const auto commits = [&] {
    static const std::string kEnded =
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()";
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction q(c);
    return q.exec(kEnded)[0][0].as<long>();
  };
  const long before = commits();
  auto flood = start_wrk("/readyz", 100, "wrk-readyz.out");
  // Meanwhile the API still gets a connection each time.
  int api_ok = 0;
  for (int i = 0; i < 20; ++i) {
    api_ok += testing::http_request(port_, "GET", "/v1/scores?limit=1", "",
                                    {std::string("Authorization: Bearer ") + kToken})
                          .status == 200
                  ? 1
                  : 0;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(flood.wait(), 0) << "wrk missing? scripts/setup installs it";
  const auto [out, probes] = wrk_result("wrk-readyz.out");
  EXPECT_GT(probes, 1000) << out;
  EXPECT_THAT(out, Not(HasSubstr("Non-2xx"))) << out;
  EXPECT_EQ(api_ok, 20);
  stop_cleanly();  // its sessions end, and PostgreSQL counts their transactions
  std::this_thread::sleep_for(1500ms);
  // Thousands of probes, a handful of checks: far fewer transactions than probes.
  const long transactions = commits() - before;
  std::printf("readyz flood: %ld probes answered, %ld transactions\n", probes, transactions);
  EXPECT_LT(transactions, 300) << out;
}

// A handler blocked in the database when the shutdown deadline passes: the process still exits within
// the deadline, and what the handler uses is not freed under it when it wakes up.
TEST_F(HostileHttpTest, AHandlerRunningPastTheShutdownDeadlineIsNotFreedUnder) {
  start({"CSHEALTHD_HTTP_SHUTDOWN_DEADLINE_MS=500", "CSHEALTHD_DATABASE_STATEMENT_TIMEOUT_MS=4000"});
  pqxx::connection blocker(db_.conninfo());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE health_scores IN ACCESS EXCLUSIVE MODE");
  auto pending = std::async(std::launch::async, [&] {
    return testing::http_request(port_, "GET", "/v1/scores?limit=5", "",
                                 {std::string("Authorization: Bearer ") + kToken});
  });
  // The request is in its handler, waiting for the lock.
  bool waiting = false;
  for (int i = 0; i < 500 && !waiting; ++i) {
    pqxx::connection probe(db_.conninfo());
    pqxx::nontransaction q(probe);
    // This database's lock only: the tests' databases are clones, their tables share OIDs.
    if (q.exec("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'health_scores'::regclass "
               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")[0][0]
            .as<int>() > 0) {
      waiting = true;
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
  ASSERT_TRUE(waiting) << daemon_->log();
  const auto t0 = std::chrono::steady_clock::now();
  daemon_->signal(SIGTERM);
  const auto status = daemon_->wait_exit(15s);
  const auto took = std::chrono::steady_clock::now() - t0;
  lock.abort();  // the handler, if anything is left of it, would wake now
  EXPECT_EQ(status.value_or(-1), 0) << daemon_->log();
  EXPECT_LT(took, 3s);  // the deadline (500 ms) and a moment, not the handler's 4 s
  EXPECT_THAT(daemon_->log(), HasSubstr("still running at the deadline"));
  EXPECT_THAT(daemon_->log(), Not(HasSubstr("AddressSanitizer")));
  pending.wait();
}

}  // namespace
}  // namespace cshealthd
