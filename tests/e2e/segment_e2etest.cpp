// The Segment-compatible source end to end: `cshealthd serve` on a real PostgreSQL against the simulator,
// sent Segment HTTP Tracking API batches as Segment's HTTP destination sends them (Basic auth with the
// write key). The events become daily figures that the next refresh scores, with the explanation naming
// "segment"; a batch retried with the same messageIds changes nothing; wrong keys and bodies are clear
// errors that keep nothing, while the good events of a mixed batch are kept.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "daemon.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kWriteKey = "seg-write-key";
// "seg-write-key:" in base64: the write key as Basic auth's user name, no password, as Segment sends it.
constexpr const char* kBasic = "Basic c2VnLXdyaXRlLWtleTo=";

class SegmentSourceTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    return pipeline_env(
        i, {"CSHEALTHD_SCHEDULE_ENABLED=true", "CSHEALTHD_SCHEDULE_CATCH_UP=false",
            "CSHEALTHD_SCHEDULE_NIGHTLY=0 2 1 1 *", "CSHEALTHD_SCHEDULE_TICK_MS=100",
            std::string("CSHEALTHD_USAGE_SEGMENT_WRITE_KEY=") + kWriteKey,
            "CSHEALTHD_USAGE_SEGMENT_LOGIN_EVENTS=Signed In",
            // The simulator's stream's eight key features (hubspot-sim usage --format segment).
            "CSHEALTHD_USAGE_SEGMENT_FEATURE_EVENTS=Report Exported, Dashboard Shared, Invite Sent, "
            "Integration Added, Workflow Created, API Key Created, Export Scheduled, Comment Added",
            "CSHEALTHD_WRITEBACK_ENABLED=false"});
  }
  testing::RawResponse send(const std::string& path, const std::string& body,
                            const std::string& auth = kBasic) {
    std::vector<std::string> headers{"Content-Type: application/json"};
    if (!auth.empty()) headers.push_back("Authorization: " + auth);
    return testing::http_request(ports_[0], "POST", path, body, headers);
  }
  static json event(const std::string& id, const std::string& type, const std::string& user, json extra) {
    extra["messageId"] = id;
    extra["type"] = type;
    extra["userId"] = user;
    extra["timestamp"] = testing::utc_day() + "T09:00:00Z";
    return extra;
  }
};

TEST_F(SegmentSourceTest, EventsBecomeFiguresTheNextRefreshScoresAndARetryChangesNothing) {
  start_sim({"--seed", "11", "--generate", "20"});
  start(0);
  run_and_wait(0);
  const auto a = text("SELECT id FROM companies WHERE licensed_seats BETWEEN 4 AND 200 ORDER BY id LIMIT 1");
  ASSERT_FALSE(a.empty());
  const auto seats = scalar("SELECT licensed_seats::bigint FROM companies WHERE id = " + a);
  // Every seat's user signs in today, in company a (told by a group call, or by the event's context).
  json batch = json::array();
  for (int u = 0; u < seats; ++u) {
    const std::string user = "user-" + std::to_string(u);
    batch.push_back(event("g" + std::to_string(u), "group", user, {{"groupId", a}}));
    batch.push_back(event("s" + std::to_string(u), "track", user, {{"event", "Signed In"}}));
  }
  batch.push_back(
      event("f1", "track", "user-0", {{"event", "Report Exported"}, {"context", {{"groupId", a}}}}));
  batch.push_back(event("x1", "identify", "user-0", {{"traits", {{"email", "u0@example.com"}}}}));
  batch.push_back(event("bad", "track", "user-0", {}));  // no event name
  // A company HubSpot does not have (yet): its figures wait in the quarantine.
  batch.push_back(event("later", "group", "user-9", {{"groupId", "999999999"}}));
  batch.push_back(event("later-page", "page", "user-9", {{"name", "Home"}}));
  const std::string body = json{{"batch", batch}}.dump();
  const auto r = send("/v1/segment/batch", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto answer = json::parse(r.body);
  EXPECT_EQ(answer["events"], batch.size());
  EXPECT_EQ(answer["counted"], 2 * seats + 3);
  EXPECT_EQ(answer["ignored"], 1);
  EXPECT_EQ(answer["duplicates"], 0);
  ASSERT_EQ(answer["rejected"].size(), 1u);
  EXPECT_EQ(answer["rejected"][0]["index"], batch.size() - 3);
  EXPECT_THAT(answer["rejected"][0]["error"].get<std::string>(), HasSubstr("event: required"));

  // Settled by the scheduler into today's figures, then scored by a refresh: every seat active.
  ASSERT_TRUE(wait_for(
      [&] {
        const auto c = usage_component(a);
        return !c.is_null() && c.contains("sources") &&
               std::find(c["sources"].begin(), c["sources"].end(), "segment") != c["sources"].end();
      },
      120s))
      << usage_component(a).dump() << usage_figures() << replicas_[0]->log();
  const std::string day = testing::utc_day();
  EXPECT_EQ(
      text("SELECT string_agg(metric || '=' || value, ',' ORDER BY metric) FROM usage_daily WHERE company_id "
           "= " +
           a + " AND day = '" + day + "'"),
      "active_users_30d=" + std::to_string(seats) + ",features_used=1,logins_30d=" + std::to_string(seats));
  const auto health = json::parse(api(0, "GET", "/v1/companies/" + a + "/health").body);
  EXPECT_NE(health.dump().find("segment"), std::string::npos) << health.dump();
  EXPECT_EQ(scalar("SELECT count(*) FROM usage_quarantine WHERE key = '999999999' AND source = 'segment'"),
            3);

  // Segment retries the batch (a timeout on its side): every messageId was seen, nothing changes.
  const auto before = usage_figures();
  const auto again = send("/v1/segment/batch", body);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["duplicates"], batch.size() - 1);  // all but the refused one
  EXPECT_EQ(json::parse(again.body)["counted"], 0);
  std::this_thread::sleep_for(1s);  // ten scheduler ticks: a settle that wrongly added would show
  EXPECT_EQ(usage_figures(), before);
  EXPECT_EQ(scalar("SELECT count(*) FROM segment_dirty"), 0);

  // One more login by one event on /v1/segment: the figure follows.
  const auto one = send("/v1/segment", event("s-more", "track", "user-0", {{"event", "Signed In"}}).dump());
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_TRUE(wait_for(
      [&] {
        return scalar(
                   "SELECT coalesce(max(value), 0)::bigint FROM usage_daily WHERE metric = 'logins_30d' AND "
                   "company_id = " +
                   a) == seats + 1;
      },
      60s))
      << usage_figures();
}

// The simulator's own usage, sent the two ways a team would: its Segment stream (interleaved, a user's
// events before their group call) ends in exactly the figures its ground truth says, and its daily CSV
// brings the seats the stream cannot carry.
TEST_F(SegmentSourceTest, TheSimulatorsStreamAndCsvGiveTheirGroundTruth) {
  start_sim({"--seed", "11", "--generate", "12"});
  start(0);
  run_and_wait(0);
  const auto stream = dir_.path() / "usage.ndjson", truth_file = dir_.path() / "usage-truth.json";
  const auto made =
      testing::run_process(testing::hubspot_sim_binary(),
                           {"usage", "--generate", "12", "--seed", "11", "--format", "segment", "--key", "id",
                            "--batch", "50", "--out", stream.string(), "--truth", truth_file.string()},
                           {});
  ASSERT_EQ(made.status, 0) << made.output;
  const json truth = json::parse(std::ifstream(truth_file));
  ASSERT_GT(truth["events"].get<int>(), 100);
  std::ifstream lines(stream);
  std::size_t sent = 0;
  for (std::string line; std::getline(lines, line); ++sent) {
    const auto r = send("/v1/segment/batch", line);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(json::parse(r.body)["rejected"].empty()) << r.body;
  }
  EXPECT_EQ(sent, truth["batches"].get<std::size_t>());
  ASSERT_TRUE(wait_for([&] { return scalar("SELECT count(*) FROM segment_dirty") == 0; }, 60s));
  const std::string day = testing::utc_day();
  std::size_t checked = 0;
  for (const auto& [id, want] : truth["companies"].items()) {
    for (const char* metric : {"active_users_30d", "logins_30d", "features_used"}) {
      EXPECT_EQ(scalar("SELECT coalesce(max(value), -1)::bigint FROM usage_daily WHERE company_id = " + id +
                       " AND metric = '" + metric + "' AND day = '" + day + "' AND source = 'segment'"),
                want[metric].get<long long>())
          << id << " " << metric;
    }
    ++checked;
  }
  EXPECT_GE(checked, 10u);
  // The CSV export, imported over HTTP: the seats arrive too.
  const auto csv_file = dir_.path() / "usage.csv";
  const auto csv =
      testing::run_process(testing::hubspot_sim_binary(),
                           {"usage", "--generate", "12", "--seed", "11", "--format", "csv", "--days", "3",
                            "--out", csv_file.string(), "--truth", truth_file.string()},
                           {});
  ASSERT_EQ(csv.status, 0) << csv.output;
  std::stringstream body;
  body << std::ifstream(csv_file).rdbuf();
  const auto imported = api(0, "POST", "/v1/usage.csv", body.str());
  ASSERT_EQ(imported.status, 200) << imported.body;
  const json csv_truth = json::parse(std::ifstream(truth_file));
  for (const auto& [domain, want] : csv_truth["companies"].items()) {
    if (!want.contains("licensed_seats")) continue;
    EXPECT_EQ(
        scalar("SELECT coalesce(max(u.value), -1)::bigint FROM usage_daily u JOIN companies c ON c.id = "
               "u.company_id WHERE c.domain = '" +
               domain + "' AND u.metric = 'licensed_seats' AND u.day = '" + day + "'"),
        want["licensed_seats"].get<long long>())
        << domain;
  }
}

TEST_F(SegmentSourceTest, WrongKeysAndBodiesAreClearErrorsThatKeepNothing) {
  start_sim({"--seed", "11", "--generate", "3"});
  start(0);
  const std::string good = json{{"batch", {event("m1", "page", "u", {})}}}.dump();
  for (const std::string& auth :
       {std::string(), std::string("Basic d3Jvbmc6"),  // "wrong:"
        std::string("Basic !!!"), std::string("Bearer wrong"), std::string("Bearer usage-secret")}) {
    const auto r = send("/v1/segment/batch", good, auth);
    EXPECT_EQ(r.status, 401) << auth << " " << r.body;
    EXPECT_THAT(r.body, HasSubstr("write key"));
  }
  EXPECT_EQ(send("/v1/segment/batch", good, std::string("Bearer ") + kWriteKey).status, 200);
  const auto broken = send("/v1/segment/batch", "{\"batch\": [");
  EXPECT_EQ(broken.status, 400);
  EXPECT_THAT(broken.body, HasSubstr("not JSON"));
  const auto shape = send("/v1/segment/batch", R"({"events": []})");
  EXPECT_EQ(shape.status, 400);
  EXPECT_THAT(shape.body, HasSubstr("batch"));
  const auto one = send("/v1/segment", R"({"type":"track","userId":"u"})");
  EXPECT_EQ(one.status, 400);
  EXPECT_THAT(one.body, HasSubstr("event: required"));
  const auto future =
      send("/v1/segment",
           json{{"type", "page"}, {"userId", "u"}, {"timestamp", testing::utc_day(2) + "T00:00:00Z"}}.dump());
  EXPECT_EQ(future.status, 400);
  EXPECT_THAT(future.body, HasSubstr("in the future"));
  // Only the one good page view was kept.
  EXPECT_EQ(scalar("SELECT count(*) FROM segment_activity"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM segment_messages"), 1);
  const auto metrics = testing::http_request(ports_[0], "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("cshealthd_segment_events_total{outcome=\"rejected\"} 4"));
}

}  // namespace
}  // namespace cshealthd
