// The hubspot-sim executable as a user runs it.
#include <signal.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cshealthd/base/process.hpp"
#include "cshealthd/http/client.hpp"
#include "cshealthd/http/server.hpp"
#include "cshealthd/hubspot/signature.hpp"
#include "daemon.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::TempDir;

http::ClientResponse get(std::uint16_t port, const std::string& path,
                         const std::string& token = "secret-token") {
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + path;
  r.headers = {{"Authorization", "Bearer " + token}};
  return http::fetch(r);
}

TEST(HubspotSimBinaryTest, ServesAGeneratedPortalAndDumpsStateOnExit) {
  TempDir dir;
  const auto state = dir.path() / "state.json";
  const auto truth = dir.path() / "truth.json";
  testing::DaemonOptions o;
  o.binary = testing::hubspot_sim_binary();
  o.args = {"--listen",    "127.0.0.1:0",  "--token",     "secret-token", "--generate",   "25", "--seed", "3",
            "--state-out", state.string(), "--truth-out", truth.string(), "--rate-limit", "off"};
  o.log_path = dir.path() / "sim.log";
  testing::Daemon sim(o);
  const auto port = sim.wait_listening(20s);
  ASSERT_NE(port, 0) << sim.log();
  EXPECT_EQ(sim.log().rfind("listening on 127.0.0.1:", 0), 0u);  // the first line, as documented
  const auto page = get(port, "/crm/v3/objects/companies?limit=100");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(json::parse(page.body)["results"].size(), 25u);
  EXPECT_EQ(get(port, "/crm/v3/objects/companies", "nope").status, 401);
  sim.signal(SIGTERM);
  ASSERT_EQ(sim.wait_exit(10s).value_or(-1), 0) << sim.log();
  std::ifstream in(state);
  const auto dumped = json::parse(in);
  EXPECT_EQ(dumped["objects"]["companies"].size(), 25u);
  std::ifstream tin(truth);
  EXPECT_EQ(json::parse(tin)["companies"].size(), 25u);
}

TEST(HubspotSimBinaryTest, SendWebhookSignsAsHubSpotDoes) {
  http::Router router;
  std::string url;
  std::vector<std::string> verdicts;
  std::mutex mu;
  router.add("POST", "/hooks", [&](const http::Request& q) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto v =
        hubspot::verify_v3("client-secret", "POST", url, q.body, *q.header("x-hubspot-signature-v3"),
                           *q.header("x-hubspot-request-timestamp"), now);
    std::lock_guard lock(mu);
    verdicts.emplace_back(hubspot::to_string(v));
    const auto events = json::parse(q.body);
    if (events[0]["subscriptionType"] != "deal.propertyChange" || events[0]["propertyValue"] != "closedwon") {
      return http::Response::error(400, "bad_event", "unexpected event");
    }
    return v == hubspot::Verdict::kValid ? http::Response::text(204, "")
                                         : http::Response::error(401, "bad", "bad");
  });
  WorkerPool workers(2, "hooks");
  metrics::Registry m;
  http::Server server({}, router, workers, m);
  server.start();
  url = "http://127.0.0.1:" + std::to_string(server.port()) + "/hooks";
  auto send = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"send-webhook",  "--target", url, "--secret",
                                     "client-secret", "--deal",   "42"};
    args.insert(args.end(), extra.begin(), extra.end());
    process::SpawnOptions so;
    so.argv = {testing::hubspot_sim_binary()};
    so.argv.insert(so.argv.end(), args.begin(), args.end());
    so.output_path = "/dev/null";
    return process::run(so);
  };
  EXPECT_EQ(send({"--repeat", "2"}), 0);
  EXPECT_EQ(send({"--bad-signature"}), 1);
  EXPECT_EQ(send({"--stale-timestamp"}), 1);
  server.shutdown(1s);
  EXPECT_EQ(verdicts, (std::vector<std::string>{"valid", "valid", "mismatch", "stale"}));
}

}  // namespace
}  // namespace cshealthd
