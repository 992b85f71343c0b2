// The quarterly score review end to end: a generated portal with a year of history, the replica's and the
// simulator's clocks moved night by night. The quarter before the installation is not reviewed; the first
// night of the next quarter reviews the quarter the service ran in (a backtest and a calibration, stored)
// and tells the CS lead once: one Slack message and one HubSpot task to review.owner_id, saying the
// backtest's AUC and the calibration's verdict. Nights inside a quarter review nothing, a night run again
// sends nothing twice, and the quarter after is reviewed in its turn.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "cshealthd/core/kpis.hpp"
#include "cshealthd/core/time.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr std::int64_t kDayMs = 86'400'000;
constexpr const char* kLead = "90001";

class ReviewTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    return pipeline_env(
        i, {"CSHEALTHD_JOBS_RETRY_BASE_MS=100", "CSHEALTHD_JOBS_RETRY_CAP_MS=1000", "CSHEALTHD_WRITEBACK_LOCALE=en",
            "CSHEALTHD_REVIEW_OWNER_ID=" + std::string(kLead), "CSHEALTHD_TEST_CLOCK_FILE=" + clock_file().string()});
  }
  // The review's tasks in the simulator, by key.
  std::map<std::string, std::vector<json>> review_tasks() const {
    std::map<std::string, std::vector<json>> out;
    const json all = json::parse(testing::http_request(sim_port_, "GET", "/__sim/objects/tasks").body);
    for (const auto& o : all["results"]) {
      const std::string key = o["properties"].value("cs_alert_key", "");
      if (key.rfind("review:", 0) == 0) out[key].push_back(o);
    }
    return out;
  }
  // The review's Slack messages (texts), once the deliverer has posted them: Slack's first post may be
  // refused by the simulator, so nights are run again until `n` are there.
  std::vector<std::string> review_messages(std::size_t n) {
    std::vector<std::string> out;
    for (int attempt = 0; attempt < 20; ++attempt) {
      out.clear();
      const json log = sim("GET", "/__sim/slack");  // held: a range-for over a temporary's member would dangle
      for (const auto& m : log["messages"]) {
        const std::string text = m.value("text", "");
        if (text.find("Quarterly score review") != std::string::npos) out.push_back(text);
      }
      if (out.size() >= n) break;
      std::this_thread::sleep_for(1s);
      run_and_wait(0);
    }
    return out;
  }
};

TEST_F(ReviewTest, TheNightAfterAQuarterClosesTellsTheLeadOnceWithTheBacktestAndTheCalibration) {
  start_sim({"--seed", "3", "--generate", "300", "--revenue-history", "--search-lag-ms", "0"});
  const auto s = static_cast<std::int32_t>(sim("GET", "/__sim/clock")["now_ms"].get<std::int64_t>() / kDayMs);
  const auto this_quarter = core::period_of(core::Granularity::kQuarter, s);
  set_day(s);
  ASSERT_NO_FATAL_FAILURE(start(0, {"CSHEALTHD_WRITEBACK_SLACK_WEBHOOK_URL=http://127.0.0.1:" +
                                    std::to_string(sim_port_) + "/__sim/slack"}));
  // The first nights: the quarter before the installation is not reviewed (the service has no history of it).
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  set_day(s + 1);
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  EXPECT_EQ(scalar("SELECT count(*) FROM quarterly_reviews"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM backtests"), 0);

  // The first night of the next quarter reviews the quarter just closed; the same night again sends nothing.
  const auto next = this_quarter.last + 1;
  set_day(next);
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  ASSERT_EQ(scalar("SELECT count(*) FROM quarterly_reviews"), 1);
  EXPECT_EQ(text("SELECT quarter FROM quarterly_reviews"), this_quarter.label());
  EXPECT_EQ(text("SELECT day::text FROM quarterly_reviews"), core::format_day(next));
  const auto backtest = scalar("SELECT backtest_id FROM quarterly_reviews");
  const auto calibration = scalar("SELECT calibration_id FROM quarterly_reviews");
  ASSERT_GT(backtest, 0);
  ASSERT_GT(calibration, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM backtests"), 1);
  EXPECT_EQ(text("SELECT trigger FROM backtests WHERE id = " + std::to_string(backtest)), "quarterly_review");
  EXPECT_EQ(text("SELECT trigger FROM calibrations WHERE id = " + std::to_string(calibration)), "quarterly_review");
  const auto auc = text("SELECT to_char((report->'auc'->>'value')::numeric, 'FM0.000') FROM backtests WHERE id = " +
                        std::to_string(backtest));
  const auto status = text("SELECT status FROM calibrations WHERE id = " + std::to_string(calibration));

  // One message, in Slack and as the lead's task, saying the figures and the calibration's verdict.
  auto messages = review_messages(1);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], HasSubstr("Quarterly score review: " + this_quarter.label()));
  EXPECT_THAT(messages[0], HasSubstr("backtest " + std::to_string(backtest)));
  EXPECT_THAT(messages[0], HasSubstr("AUC " + (auc.empty() ? std::string("n/a") : auc)));
  EXPECT_THAT(messages[0], HasSubstr(status == "proposed" ? "Calibration " + std::to_string(calibration)
                                                          : "No new weights this quarter (calibration " +
                                                                std::to_string(calibration) + ")"));
  auto tasks = review_tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks.begin()->first, "review:" + this_quarter.label() + ":task");
  const auto& task = tasks.begin()->second;
  ASSERT_EQ(task.size(), 1u);
  EXPECT_EQ(task[0]["properties"].value("hubspot_owner_id", ""), kLead);
  EXPECT_THAT(task[0]["properties"].value("hs_task_subject", ""),
              HasSubstr("Quarterly score review: " + this_quarter.label()));
  EXPECT_THAT(task[0]["properties"].value("hs_task_body", ""), HasSubstr("backtest " + std::to_string(backtest)));

  // Nights inside the quarter review nothing more; the next quarter's first night reviews the one it ran in.
  set_day(next + 1);
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  EXPECT_EQ(scalar("SELECT count(*) FROM quarterly_reviews"), 1);
  const auto after = core::period_of(core::Granularity::kQuarter, next).last + 1;
  set_day(after);
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  EXPECT_EQ(scalar("SELECT count(*) FROM quarterly_reviews"), 2);
  EXPECT_EQ(text("SELECT quarter FROM quarterly_reviews WHERE day = '" + core::format_day(after) + "'"),
            core::period_of(core::Granularity::kQuarter, next).label());
  messages = review_messages(2);
  EXPECT_EQ(messages.size(), 2u);
  tasks = review_tasks();
  ASSERT_EQ(tasks.size(), 2u);
  for (const auto& [key, copies] : tasks) EXPECT_EQ(copies.size(), 1u) << key;
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE key LIKE 'review:%'"), 4);

  // The API lists both calibrations, the latest first.
  const auto list = api(0, "GET", "/v1/calibrations");
  ASSERT_EQ(list.status, 200) << list.body;
  const auto listed = json::parse(list.body)["calibrations"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1]["id"].get<long long>(), calibration);
  EXPECT_EQ(listed[1]["trigger"], "quarterly_review");
  const auto one = api(0, "GET", "/v1/calibrations/" + std::to_string(calibration));
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["calibration"]["status"], status);
  EXPECT_EQ(api(0, "GET", "/v1/calibrations/999999").status, 404);
  EXPECT_EQ(api(0, "GET", "/v1/calibrations?limit=0").status, 400);
}

}  // namespace
}  // namespace cshealthd
