// Lifecycle plays end to end: `cshealthd serve` on a real PostgreSQL against the simulator with a generated
// portal, run night after night for 120 days with both clocks advanced a day at a time. The nights each
// play's steps should fire on are derived here from the companies' dates and the shipped holiday file
// (not through the service's calendar); HubSpot must hold each task and deal exactly once, and a second
// run on the same day must create nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cshealthd/core/time.hpp"
#include "cshealthd/plays/plays.hpp"
#include "holidays.hpp"
#include "raw_http.hpp"
#include "serve_fixture.hpp"

namespace cshealthd {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;
using testing::Holidays;

constexpr std::int64_t kDayMs = 86'400'000;
constexpr const char* kManager = "90001";
constexpr const char* kCsm = "90002";

class PlaysTest : public testing::ServeFixture {
 protected:
  std::vector<std::string> env(int i) const override {
    return pipeline_env(
        i, {"CSHEALTHD_JOBS_RETRY_BASE_MS=100", "CSHEALTHD_JOBS_RETRY_CAP_MS=1000",
            "CSHEALTHD_WRITEBACK_LOCALE=en", "CSHEALTHD_WRITEBACK_MANAGERS=default=" + std::string(kManager),
            "CSHEALTHD_PLAYS_FILE=" + (dir_.path() / "plays.yaml").string(),
            "CSHEALTHD_TEST_CLOCK_FILE=" + clock_file().string()});
  }

  std::string company(const json& props) {
    json p = props;
    p["hubspot_owner_id"] = kCsm;
    return sim("POST", "/__sim/objects/companies", {{"properties", p}})["id"];
  }

  // The nights (as days) each step of a company fired on: "play/step" -> days.
  std::map<std::string, std::vector<std::string>> steps_of(const std::string& company_id) const {
    std::map<std::string, std::vector<std::string>> out;
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    for (const auto& r : tx.exec_params("SELECT play || '/' || step, day::text FROM play_steps WHERE "
                                        "company_id = $1::bigint ORDER BY day",
                                        company_id))
      out[r[0].as<std::string>()].push_back(r[1].as<std::string>());
    return out;
  }

  // Objects of `type` in the simulator carrying a key property starting "play:", by key.
  std::map<std::string, std::vector<json>> play_objects(const std::string& type,
                                                        const std::string& key_prop) const {
    std::map<std::string, std::vector<json>> out;
    const json all = json::parse(testing::http_request(sim_port_, "GET", "/__sim/objects/" + type).body);
    for (const auto& o : all["results"]) {
      const std::string key = o["properties"].value(key_prop, "");
      if (key.rfind("play:", 0) == 0) out[key].push_back(o);
    }
    return out;
  }
};

TEST_F(PlaysTest, OneHundredAndTwentyNightsGiveEachPlaysStepsOnTheirDaysExactlyOnce) {
  // The shipped plays, with the expansion plays' deal steps switched on.
  {
    std::string text = plays::shipped_plays();
    for (auto at = text.find("enabled: false"); at != std::string::npos; at = text.find("enabled: false"))
      text.replace(at, 14, "enabled: true");
    std::ofstream(dir_.path() / "plays.yaml") << text;
  }
  start_sim({"--seed", "11", "--generate", "30", "--search-lag-ms", "0"});
  const Holidays holidays;
  const std::int32_t s =
      static_cast<std::int32_t>(sim("GET", "/__sim/clock")["now_ms"].get<std::int64_t>() / kDayMs);
  set_day(s);
  ASSERT_NO_FATAL_FAILURE(start(0));
  // Night 0 sets the portal up (its output properties, cs_stage among them); the customers the test
  // follows day by day arrive after it.
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));

  const std::int32_t r1_date = s + 101, r2_date = s + 95, churned = s - 59;
  // R1: healthy, renews in 100 days and nothing renews it.
  const auto r1 = company({{"name", "Renews Unrenewed"},
                           {"cs_stage", "active"},
                           {"cs_mrr", "2000"},
                           {"cs_licensed_seats", "100"},
                           {"cs_active_users_30d", "85"},
                           {"cs_renewal_date", core::format_day(r1_date)}});
  // R2: struggling (score below 60), renews in 94 days; ten days before, sales records the next date.
  const auto r2 = company({{"name", "Renews At Risk"},
                           {"cs_stage", "active"},
                           {"cs_mrr", "2000"},
                           {"cs_licensed_seats", "100"},
                           {"cs_active_users_30d", "20"},
                           {"cs_renewal_date", core::format_day(r2_date)}});
  // W: churned two months ago over cost.
  const auto w = company({{"name", "Left Over Cost"},
                          {"cs_stage", "churned"},
                          {"cs_churn_reason", "cost"},
                          {"cs_churn_date", core::format_day(churned)},
                          {"cs_mrr", "900"},
                          {"cs_licensed_seats", "10"},
                          {"cs_active_users_30d", "1"}});
  // Q: a healthy high-touch customer using 95 % of its seats.
  const auto q = company({{"name", "Key Account"},
                          {"cs_stage", "active"},
                          {"cs_mrr", "8000"},
                          {"cs_licensed_seats", "100"},
                          {"cs_active_users_30d", "95"},
                          {"cs_renewal_date", core::format_day(s + 300)}});

  // M: a paying customer, struggling, whose MRR goes to zero on night 5 (churned by MRR; its stage stays).
  const auto m = company({{"name", "Stops Paying"},
                          {"cs_stage", "active"},
                          {"cs_mrr", "500"},
                          {"cs_licensed_seats", "50"},
                          {"cs_active_users_30d", "5"}});

  for (int n = 1; n <= 120; ++n) {
    const std::int32_t d = s + n;
    if (n == 5) sim("PATCH", "/crm/v3/objects/companies/" + m, {{"properties", {{"cs_mrr", "0"}}}});
    if (d == r2_date - 10)
      sim("PATCH", "/crm/v3/objects/companies/" + r2,
          {{"properties", {{"cs_renewal_date", core::format_day(r2_date + 365)}}}});
    set_day(d);
    ASSERT_NO_FATAL_FAILURE(run_and_wait(0)) << "night " << n;
  }

  // A second run on the last day creates nothing.
  const auto steps_before = scalar("SELECT count(*) FROM play_steps");
  const auto outbox_before = scalar("SELECT count(*) FROM outbox");
  const auto tasks_before = play_objects("tasks", "cs_alert_key").size();
  run_and_wait(0);
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps"), steps_before);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox"), outbox_before);
  EXPECT_EQ(play_objects("tasks", "cs_alert_key").size(), tasks_before);

  const auto day_text = [](std::int32_t d) { return core::format_day(d); };
  using Steps = std::map<std::string, std::vector<std::string>>;
  // R1: 90, 60 and 30 days before (moved back to a business day), then the day after the date.
  EXPECT_EQ(steps_of(r1).count("renewal/lead_review"), 0u);
  EXPECT_EQ(steps_of(r1)["renewal/prep"], std::vector{day_text(holidays.on_or_before(r1_date - 90))});
  EXPECT_EQ(steps_of(r1)["renewal/proposal"], std::vector{day_text(holidays.on_or_before(r1_date - 60))});
  EXPECT_EQ(steps_of(r1)["renewal/notice"], std::vector{day_text(holidays.on_or_before(r1_date - 30))});
  EXPECT_EQ(steps_of(r1)["renewal/escalation"], std::vector{day_text(r1_date + 1)});
  // R2: the lead review with the prep (its score is below 60); renewed: no escalation.
  const Steps expected_r2 = {{"renewal/prep", {day_text(holidays.on_or_before(r2_date - 90))}},
                             {"renewal/lead_review", {day_text(holidays.on_or_before(r2_date - 90))}},
                             {"renewal/proposal", {day_text(holidays.on_or_before(r2_date - 60))}},
                             {"renewal/notice", {day_text(holidays.on_or_before(r2_date - 30))}}};
  Steps r2_renewal;
  for (const auto& [k, v] : steps_of(r2))
    if (k.rfind("renewal/", 0) == 0) r2_renewal[k] = v;
  EXPECT_EQ(r2_renewal, expected_r2);
  // W: 90 days after the churn, with the template of its reason.
  EXPECT_EQ(steps_of(w), (Steps{{"winback/outreach", {day_text(holidays.on_or_before(churned + 90))}}}));
  // Churned customers leave the scores, the lists and the alerts (kpis.churn: either): W was churned when
  // it arrived, M from the night its MRR went to zero; M's history before stays.
  EXPECT_EQ(scalar("SELECT count(*) FROM health_scores WHERE company_id = " + w), 0);
  EXPECT_EQ(text("SELECT max(day) FROM health_scores WHERE company_id = " + m), day_text(s + 4));
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE company_id = " + m +
                   " AND key LIKE 'alert:%' AND run_id > "
                   "(SELECT min(id) FROM runs WHERE as_of = '" +
                   day_text(s + 5) + "')"),
            0);
  EXPECT_TRUE(steps_of(m).empty());
  const auto at_risk = api(0, "GET", "/v1/at-risk?limit=500");
  ASSERT_EQ(at_risk.status, 200) << at_risk.body;
  const json listed_at_risk = json::parse(at_risk.body);
  for (const auto& listed : listed_at_risk["companies"]) {
    EXPECT_NE(listed["company_id"], w);
    EXPECT_NE(listed["company_id"], m);
  }
  // Q: the upgrade proposal and its deal once, and a QBR a week into each quarter the nights cover.
  std::vector<std::string> qbr_nights;
  std::set<std::int32_t> quarters;
  for (std::int32_t d = s + 1; d <= s + 120; ++d) {
    const auto qs = core::quarter_start(d);
    if (d >= holidays.on_or_before(qs + 7) && d <= qs + 45 && quarters.insert(qs).second)
      qbr_nights.push_back(day_text(d));
  }
  const auto q_steps = steps_of(q);
  EXPECT_EQ(q_steps.at("qbr/review"), qbr_nights);
  EXPECT_EQ(q_steps.at("upgrade/proposal").size(), 1u);
  EXPECT_EQ(q_steps.at("upgrade/deal").size(), 1u);

  // HubSpot holds every planned task and deal exactly once, and only those.
  std::set<std::string> planned_tasks, planned_deals;
  {
    pqxx::connection c(db_.conninfo());
    pqxx::nontransaction tx(c);
    for (const auto& r : tx.exec("SELECT outbox_key, action FROM play_steps WHERE NOT skipped"))
      (r[1].as<std::string>() == "deal" ? planned_deals : planned_tasks).insert(r[0].as<std::string>());
    EXPECT_EQ(
        tx.exec1("SELECT count(*) FROM outbox WHERE key LIKE 'play:%' AND state <> 'done'")[0].as<int>(), 0)
        << tx.exec1(
                 "SELECT string_agg(key || ' ' || state || ' ' || coalesce(error, ''), '; ') FROM outbox "
                 "WHERE "
                 "key LIKE 'play:%' AND state <> 'done'")[0]
               .c_str();
  }
  const auto tasks = play_objects("tasks", "cs_alert_key");
  std::set<std::string> task_keys;
  for (const auto& [key, copies] : tasks) {
    task_keys.insert(key);
    EXPECT_EQ(copies.size(), 1u) << key;
  }
  EXPECT_EQ(task_keys, planned_tasks);
  const auto deals = play_objects("deals", "cs_play_key");
  std::set<std::string> deal_keys;
  for (const auto& [key, copies] : deals) {
    deal_keys.insert(key);
    EXPECT_EQ(copies.size(), 1u) << key;
  }
  EXPECT_EQ(deal_keys, planned_deals);

  // The tasks say what the plays file says, to whom, when.
  const auto task = [&](const std::string& key) {
    const auto it = tasks.find(key);
    return it == tasks.end() ? json() : it->second.front()["properties"];
  };
  const auto prep = task("play:renewal:" + r1 + ":" + day_text(r1_date) + ":prep");
  ASSERT_TRUE(prep.is_object());
  EXPECT_EQ(prep.value("hubspot_owner_id", ""), kCsm);
  EXPECT_THAT(prep.value("hs_task_subject", ""), HasSubstr("Start renewal prep: Renews Unrenewed"));
  EXPECT_THAT(prep.value("hs_task_body", ""), HasSubstr("Active users / seats: 85 / 100 (85%)"));
  EXPECT_EQ(prep.value("hs_timestamp", ""),
            std::to_string(std::int64_t{holidays.add(holidays.on_or_before(r1_date - 90), 5)} * kDayMs +
                           9 * 3'600'000));
  const auto review = task("play:renewal:" + r2 + ":" + day_text(r2_date) + ":lead_review");
  EXPECT_EQ(review.value("hubspot_owner_id", ""), kManager);
  const auto escalation = task("play:renewal:" + r1 + ":" + day_text(r1_date) + ":escalation");
  EXPECT_EQ(escalation.value("hubspot_owner_id", ""), kManager);
  const auto winback = task("play:winback:" + w + ":" + day_text(churned) + ":outreach");
  EXPECT_THAT(winback.value("hs_task_subject", ""), HasSubstr("Win-back: Left Over Cost (left over cost)"));
  // The deal is in the configured pipeline and stage, linked to its company.
  ASSERT_EQ(deals.size(), planned_deals.size());
  bool q_deal = false;
  for (const auto& [key, copies] : deals) {
    if (key.rfind("play:upgrade:" + q + ":", 0) != 0) continue;
    q_deal = true;
    EXPECT_EQ(copies[0]["properties"].value("dealstage", ""), "appointmentscheduled");
    EXPECT_EQ(copies[0]["properties"].value("dealname", ""), "Key Account - seat upgrade");
    const auto links =
        sim("GET", "/crm/v4/objects/deals/" + copies[0]["id"].get<std::string>() + "/associations/companies");
    ASSERT_TRUE(links.contains("results")) << links.dump();
    ASSERT_EQ(links["results"].size(), 1u) << links.dump();
    EXPECT_EQ(std::to_string(links["results"][0]["toObjectId"].get<std::int64_t>()), q);
  }
  EXPECT_TRUE(q_deal);

  // The generated portal's own customers had their renewals too (their dates spread over a year).
  EXPECT_GT(scalar("SELECT count(*) FROM play_steps WHERE play = 'renewal' AND step = 'prep' AND company_id "
                   "NOT IN (" +
                   r1 + ", " + r2 + ")"),
            0);

  // `plan --plays` says what a night would do, and why, recording nothing: with R1's escalation forgotten,
  // the night after its date would escalate again.
  exec("DELETE FROM play_steps WHERE company_id = " + r1 + " AND step = 'escalation'");
  const auto steps_now = scalar("SELECT count(*) FROM play_steps");
  const auto dry =
      testing::run_cshealthd({"plan", "--plays", "--json", "--as-of", day_text(r1_date + 1)}, env(0));
  ASSERT_EQ(dry.status, 0) << dry.output;
  const auto last_line = dry.output.substr(dry.output.rfind('{', dry.output.find("\"as_of\"")));
  const json plan = json::parse(last_line.substr(0, last_line.find('\n')));
  bool listed = false;
  for (const auto& step : plan["steps"]) {
    if (step["key"] != "play:renewal:" + r1 + ":" + day_text(r1_date) + ":escalation") continue;
    listed = true;
    EXPECT_EQ(step["why"], "renewal_date " + day_text(r1_date) + " was 1 days ago");
    EXPECT_EQ(step["payload"]["owner_id"], kManager);
  }
  EXPECT_TRUE(listed) << dry.output;
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps"), steps_now);
  const auto check_bad = testing::run_cshealthd({"plays", "check", (dir_.path() / "missing.yaml").string()});
  EXPECT_EQ(check_bad.status, 2) << check_bad.output;
  const auto check_ok = testing::run_cshealthd({"plays", "check", (dir_.path() / "plays.yaml").string()});
  EXPECT_EQ(check_ok.status, 0) << check_ok.output;
  EXPECT_THAT(check_ok.output, HasSubstr("plays OK"));

  // The usage summary answers for a company, in both languages.
  const auto summary = api(0, "GET", "/v1/companies/" + r1 + "/summary?locale=ja");
  ASSERT_EQ(summary.status, 200) << summary.body;
  EXPECT_THAT(json::parse(summary.body).value("text", ""),
              HasSubstr("アクティブユーザー / 契約席数: 85 / 100"));
  const json figures = json::parse(summary.body);
  EXPECT_EQ(figures["seats"], 100);
  EXPECT_EQ(figures["active_users"]["now"], 85);
  EXPECT_TRUE(figures["score"]["days_90"].is_number()) << summary.body;  // scored every night since
  EXPECT_EQ(figures["score"]["status_now"],
            text("SELECT status FROM health_scores WHERE company_id = " + r1 + " ORDER BY day DESC LIMIT 1"));
  EXPECT_EQ(api(0, "GET", "/v1/companies/99999999/summary").status, 404);
  EXPECT_EQ(api(0, "GET", "/v1/companies/" + r1 + "/summary?as_of=yesterday").status, 400);
}

// A play's first night (here: the installation's) starts from tonight: on a portal whose customers' renewal
// windows are already open, night 0 records those steps as seen and creates no play task, says how many in
// the run summary and in `plan --plays`; the next nights create only what opens after it; `--catch-up` (or
// `catch_up: true`) creates what was under way instead.
TEST_F(PlaysTest, APlaySwitchedOnStartsFromTonightUnlessItCatchesUp) {
  std::ofstream(dir_.path() / "plays.yaml") << plays::shipped_plays();
  start_sim({"--seed", "11", "--generate", "60", "--search-lag-ms", "0"});
  const std::int32_t s =
      static_cast<std::int32_t>(sim("GET", "/__sim/clock")["now_ms"].get<std::int64_t>() / kDayMs);
  set_day(s);
  ASSERT_NO_FATAL_FAILURE(start(0));
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));

  const auto under_way = scalar("SELECT count(*) FROM play_steps WHERE skipped");
  ASSERT_GT(under_way, 0) << "the generated portal should have renewal windows open on night 0";
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps WHERE NOT skipped"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE key LIKE 'play:%'"), 0);
  EXPECT_EQ(play_objects("tasks", "cs_alert_key").size(), 0u);
  // Every enabled play had its first night, and none caught up (with no rows the next check says nothing).
  EXPECT_GT(scalar("SELECT count(*) FROM play_starts"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM play_starts WHERE started_on = '" + core::format_day(s) +
                   "' AND NOT caught_up"),
            scalar("SELECT count(*) FROM play_starts"));
  // The run's summary says how many, per play.
  const json plan_stage = json::parse(text(
      "SELECT s->'progress' FROM runs, jsonb_array_elements(stages) s WHERE s->>'name' = 'plan' ORDER BY id "
      "DESC LIMIT 1"));
  std::int64_t summed = 0;
  for (const auto& [play, n] : plan_stage["plays"]["under_way"].items()) {
    EXPECT_EQ(n.get<std::int64_t>(),
              scalar("SELECT count(*) FROM play_steps WHERE skipped AND play = '" + play + "'"));
    summed += n.get<std::int64_t>();
  }
  EXPECT_EQ(summed, under_way);
  EXPECT_FALSE(plan_stage["plays"]["caught_up"].get<bool>());

  // The next nights: nothing that was under way is created, and what opens later is.
  for (int n = 1; n <= 20; ++n) {
    set_day(s + n);
    ASSERT_NO_FATAL_FAILURE(run_and_wait(0)) << "night " << n;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox o JOIN play_steps p ON p.outbox_key = o.key WHERE p.skipped"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps WHERE skipped"), under_way);
  const auto later = scalar("SELECT count(*) FROM play_steps WHERE NOT skipped");
  EXPECT_GT(later, 0) << "20 nights should open some new step windows on a 60-company portal";
  EXPECT_EQ(scalar("SELECT count(*) FROM outbox WHERE key LIKE 'play:%'"), later);
  EXPECT_GT(text("SELECT min(day) FROM play_steps WHERE NOT skipped"), core::format_day(s));

  // `plan --plays` on a first night says what it would leave, and --catch-up what it would create: as if
  // the plays had never run, the last night's steps plus everything under way.
  exec("DELETE FROM play_starts");
  exec("DELETE FROM play_steps");
  const auto day = core::format_day(s + 20);
  const auto dry = testing::run_cshealthd({"plan", "--plays", "--json", "--as-of", day}, env(0));
  ASSERT_EQ(dry.status, 0) << dry.output;
  const auto line = [](const std::string& out) {
    const auto at = out.rfind('{', out.find("\"as_of\""));
    return json::parse(out.substr(at, out.find('\n', at) - at));
  };
  const json seen = line(dry.output);
  EXPECT_TRUE(seen["steps"].empty()) << dry.output;
  ASSERT_FALSE(seen["under_way"].empty()) << dry.output;
  EXPECT_THAT(seen["held_back"].dump(), HasSubstr("already under way on the play's first night"));
  const auto catching =
      testing::run_cshealthd({"plan", "--plays", "--json", "--catch-up", "--as-of", day}, env(0));
  ASSERT_EQ(catching.status, 0) << catching.output;
  const json caught = line(catching.output);
  std::int64_t would_skip = 0;
  for (const auto& [play, n] : seen["under_way"].items()) would_skip += n.get<std::int64_t>();
  EXPECT_EQ(static_cast<std::int64_t>(caught["steps"].size()), would_skip);
  EXPECT_TRUE(caught["under_way"].empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps"), 0);  // a dry run records nothing

  // A run asked to catch up creates them, once.
  const auto outbox_before = scalar("SELECT count(*) FROM outbox WHERE key LIKE 'play:%'");
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0, R"({"catch_up": true})"));
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps WHERE skipped"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM play_starts WHERE caught_up"),
            scalar("SELECT count(*) FROM play_starts"));
  // Every step it recorded is in the outbox (the keys of the last 20 nights were there already: an outbox
  // key is unique for ever, so none is enqueued twice).
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps p WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = "
                   "p.outbox_key)"),
            0);
  EXPECT_GT(scalar("SELECT count(*) FROM outbox WHERE key LIKE 'play:%'"), outbox_before);
  EXPECT_EQ(scalar("SELECT count(*) FROM play_steps"), would_skip);
  EXPECT_EQ(api(0, "POST", "/v1/runs", R"({"catch_up": "yes"})").status, 400);
}

// CRM text is escaped where it goes: a company named to ping a Slack channel and to smuggle a link reaches
// the play's task as inert HTML and its Slack message as inert Slack text.
TEST_F(PlaysTest, AHostileCompanyNameArrivesInertInAPlaysTaskAndItsSlackMessage) {
  std::ofstream(dir_.path() / "plays.yaml") << R"(plays:
  renewal:
    trigger: {date: renewal_date}
    steps:
      prep: {at: -90, task: {owner: [csm], priority: HIGH, due_business_days: 5, template: prep}}
      note: {at: -90, slack: note}
templates:
  en:
    prep: {subject: "Renewal prep: {company}", body: "{company} renews on {renewal_date}."}
    note: {subject: "Renewal ahead", body: "{company} renews on {renewal_date}."}
)";
  start_sim({"--seed", "11", "--generate", "3", "--search-lag-ms", "0"});
  const std::int32_t s =
      static_cast<std::int32_t>(sim("GET", "/__sim/clock")["now_ms"].get<std::int64_t>() / kDayMs);
  set_day(s);
  ASSERT_NO_FATAL_FAILURE(start(0, {"CSHEALTHD_WRITEBACK_SLACK_WEBHOOK_URL=http://127.0.0.1:" +
                                    std::to_string(sim_port_) + "/__sim/slack"}));
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  const std::string hostile =
      "Acme <!channel> <https://evil.example|Renew now> <a href=\"https://evil.example\">x</a>";
  const auto c = company({{"name", hostile},
                          {"cs_stage", "active"},
                          {"cs_mrr", "2000"},
                          {"cs_licensed_seats", "100"},
                          {"cs_active_users_30d", "85"},
                          {"cs_renewal_date", core::format_day(s + 91)}});
  set_day(s + 1);
  ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
  const auto tasks = play_objects("tasks", "cs_alert_key");
  const auto task = tasks.find("play:renewal:" + c + ":" + core::format_day(s + 91) + ":prep");
  ASSERT_NE(task, tasks.end()) << json(tasks).dump();
  ASSERT_EQ(task->second.size(), 1u);
  for (const char* field : {"hs_task_subject", "hs_task_body"}) {
    const std::string v = task->second[0]["properties"].value(field, "");
    EXPECT_THAT(v, HasSubstr("Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt;")) << field;
    EXPECT_THAT(v, ::testing::Not(HasSubstr("<a href"))) << field;
    EXPECT_THAT(v, ::testing::Not(HasSubstr("<!channel>"))) << field;
  }
  // Slack's first post may be refused by the simulator (its setting); the retry posts it.
  int posted = 0;
  for (int attempt = 0; attempt < 30 && posted == 0; ++attempt) {
    const json log = sim("GET", "/__sim/slack");  // held: a range-for over a temporary's member would dangle
    for (const auto& m : log["messages"]) {
      const std::string text = m.value("text", "");
      if (text.find("Renewal ahead") == std::string::npos || text.find("Acme") == std::string::npos) continue;
      ++posted;
      EXPECT_THAT(text, HasSubstr("Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt;")) << text;
      EXPECT_THAT(text, ::testing::Not(HasSubstr("<!channel>"))) << text;
      EXPECT_THAT(text, ::testing::Not(HasSubstr("<https://"))) << text;
    }
    if (posted == 0) {
      std::this_thread::sleep_for(1s);
      ASSERT_NO_FATAL_FAILURE(run_and_wait(0));
    }
  }
  EXPECT_EQ(posted, 1);
}

}  // namespace
}  // namespace cshealthd
