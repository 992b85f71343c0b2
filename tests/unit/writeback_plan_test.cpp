#include "cshealthd/core/alerts.hpp"

#include <gmock/gmock.h>

#include "cshealthd/alerts/settings.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace cshealthd::core {
namespace {

std::int32_t d(const char* ymd) {
  return *parse_day(ymd);
}

BusinessCalendar shipped_calendar() {
  std::ifstream f(std::string(CSHEALTHD_SOURCE_DIR) + "/config/writeback/holidays.jp.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  return BusinessCalendar::parse(ss.str(), "holidays.jp.txt");
}

TEST(BusinessCalendarTest, ShipsJapaneseHolidaysFor2026To2028) {
  const auto cal = shipped_calendar();
  EXPECT_GE(cal.holidays(), 50u);
  for (const char* h :
       {"2026-01-01", "2026-05-06", "2026-09-22", "2027-03-22", "2027-07-19", "2028-10-09", "2028-11-23"})
    EXPECT_FALSE(cal.is_business_day(d(h))) << h;
  for (const char* w : {"2026-05-07", "2026-12-01", "2027-03-23", "2028-12-28"})
    EXPECT_TRUE(cal.is_business_day(d(w))) << w;
  EXPECT_FALSE(cal.is_business_day(d("2026-12-05")));  // Saturday
  EXPECT_FALSE(cal.is_business_day(d("2026-12-06")));  // Sunday
}

TEST(BusinessCalendarTest, AddsBusinessDaysAcrossWeekendsAndHolidays) {
  const auto cal = shipped_calendar();
  struct Row {
    const char* from;
    int n;
    const char* expect;
  } rows[] = {
      {"2026-12-01", 0, "2026-12-01"},  // a Tuesday is its own 0th business day
      {"2026-12-05", 0, "2026-12-07"},  // a Saturday's is the Monday
      {"2026-12-01", 3, "2026-12-04"}, {"2026-12-03", 3, "2026-12-08"},  // over a weekend
      {"2026-05-01", 1, "2026-05-07"},                                   // Golden Week: 2-6 May are off
      {"2026-09-18", 1, "2026-09-24"},                                   // Silver Week: 19-23 September
      {"2026-12-30", 1, "2026-12-31"}, {"2026-12-31", 1, "2027-01-04"},  // New Year's Day
  };
  for (const auto& r : rows) EXPECT_EQ(format_day(cal.add_business_days(d(r.from), r.n)), r.expect) << r.from;
  EXPECT_EQ(cal.business_days_between(d("2026-12-01"), d("2026-12-08")), 5);
  EXPECT_EQ(cal.business_days_between(d("2026-12-08"), d("2026-12-01")), 0);
  EXPECT_EQ(cal.business_days_between(d("2026-05-01"), d("2026-05-07")), 1);
}

TEST(BusinessCalendarTest, NamesTheBadLine) {
  try {
    BusinessCalendar::parse("# ok\n2026-01-01 New Year\n2026-13-01 nope\n", "mine.txt");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("mine.txt:3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(BusinessCalendar::parse("2026-01-02\n", "x").holidays(), 1u);
}

// CRM text is hostile: a company name that is Slack markup or HTML stays text wherever it is shown. The
// template itself (config) is kept as written.
TEST(TemplateTest, EscapesEachValueForWhereTheTextGoes) {
  const std::map<std::string, std::string> v = {
      {"company", "Acme <!channel> <https://evil.example|Renew now> & \"Co\" 'x'"}};
  EXPECT_EQ(
      render_template("<b>{company}</b>", v, Markup::kHtml),
      "<b>Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt; &amp; &quot;Co&quot; &#39;x&#39;</b>");
  EXPECT_EQ(render_template("*{company}*", v, Markup::kSlack),
            "*Acme &lt;!channel&gt; &lt;https://evil.example|Renew now&gt; &amp; \"Co\" 'x'*");
  EXPECT_EQ(render_template("{company}", v, Markup::kPlain), v.at("company"));
  EXPECT_EQ(escape("a<a href=x>b</a>", Markup::kHtml), "a&lt;a href=x&gt;b&lt;/a&gt;");
}

TEST(TemplateTest, FillsKnownPlaceholdersAndKeepsTheRest) {
  EXPECT_EQ(render_template("{a} and {b} {{c}} {unknown} {", {{"a", "1"}, {"b", "二"}}, Markup::kPlain),
            "1 and 二 {c} {unknown} {");
  EXPECT_EQ(format_decimal(72.5), "72.5");
  EXPECT_EQ(format_decimal(80), "80");
  EXPECT_EQ(format_decimal(0.8333), "0.83");
  EXPECT_EQ(format_decimal(59.999), "60");
  EXPECT_EQ(format_decimal(-0.001), "0");
}

// ---- The planner ---------------------------------------------------------------------------------

PlanConfig config() {
  PlanConfig c;
  AlertRule below60{"score_below_60",      60.0,     Assignee::kOwner, "HIGH", 3, true, false,
                    "below 60: {company}", "{facts}"};
  AlertRule below40{"score_below_40", 40.0,     Assignee::kManager, "HIGH", 1, false, true,
                    "red: {company}", "{facts}"};
  AlertRule usage{"usage_drop", std::nullopt, Assignee::kOwner,   "HIGH",   3,
                  true,         false,        "usage: {company}", "{facts}"};
  AlertRule silence{"silence", std::nullopt, Assignee::kOwner,     "MEDIUM", 5,
                    true,      false,        "silence: {company}", "{facts}"};
  c.rules = {below60, below40, usage, silence};
  c.escalation = {"escalation",
                  std::nullopt,
                  Assignee::kManager,
                  "HIGH",
                  1,
                  false,
                  true,
                  "open {days_open} days: {company}",
                  "{alert}"};
  c.digest = {"digest", std::nullopt, Assignee::kOwner, "MEDIUM", 1, false, false, "{count} more", "{items}"};
  c.close_note = "closed: clear since {cleared}";
  return c;
}

PlanCompany company(std::int64_t id, double score, const char* status = nullptr) {
  PlanCompany c;
  c.id = id;
  c.name = "Co" + std::to_string(id);
  c.owner_id = "101";
  c.manager_id = "900";
  c.stage = "active";
  c.score = score;
  c.coverage = 1;
  c.status = status        ? status
             : score >= 80 ? "green"
             : score >= 60 ? "yellow"
             : score >= 40 ? "orange"
                           : "red";
  c.reasons = {"usage: 30% of seats active (-12 points)"};
  return c;
}

// Runs the planner day after day, carrying episodes and written properties the way the store does.
struct World {
  PlanConfig cfg = config();
  BusinessCalendar cal;
  std::map<std::pair<std::int64_t, std::string>, Episode> episodes;
  std::map<std::int64_t, std::map<std::string, std::string>> written;
  std::vector<Snooze> snoozes;
  std::map<std::string, int> created_today;
  std::int32_t day = d("2026-12-01");

  Plan run(std::vector<PlanCompany> cs, int days_later = 1) {
    day += days_later;
    for (auto& c : cs) c.written = written[c.id];
    std::vector<Episode> eps;
    for (const auto& [k, e] : episodes) eps.push_back(e);
    PlanContext ctx;
    ctx.day = day;
    ctx.now_ms = start_of_day(day) + 3'600'000;
    ctx.calendar = &cal;
    ctx.created_today = created_today;
    Planner planner(cfg);
    Plan p = planner.plan(ctx, cs, eps, snoozes);
    for (const auto& e : p.episodes) episodes[{e.company_id, e.rule}] = e;
    for (const auto& [id, w] : p.written) written[id] = w;
    return p;
  }
  void complete_task(std::int64_t id, const std::string& rule) { episodes[{id, rule}].task_open = false; }
};

std::size_t tasks_for(const Plan& p, const std::string& rule) {
  return static_cast<std::size_t>(
      std::count_if(p.tasks.begin(), p.tasks.end(), [&](const TaskIntent& t) { return t.rule == rule; }));
}

TEST(PlannerTest, WritesOnlyWhatChangedAndStampsTheChange) {
  World w;
  auto p = w.run({company(1, 72.5)});
  ASSERT_EQ(p.properties.size(), 1u);
  const auto& props = p.properties[0].properties;
  EXPECT_EQ(props.at("cs_health_score"), "72.5");
  EXPECT_EQ(props.at("cs_health_status"), "yellow");
  EXPECT_EQ(props.at("cs_health_coverage"), "1");
  EXPECT_EQ(props.at("cs_health_reasons"), "usage: 30% of seats active (-12 points)");
  EXPECT_EQ(props.at("cs_health_updated_at"), std::to_string(start_of_day(w.day) + 3'600'000));
  EXPECT_EQ(props.count("cs_stage"), 0u);  // HubSpot already shows `active`
  // The same result again writes nothing, not even the timestamp.
  p = w.run({company(1, 72.5)});
  EXPECT_TRUE(p.properties.empty());
  EXPECT_EQ(p.counts.unchanged_companies, 1u);
  // A new score writes the score and the stamp, nothing else.
  p = w.run({company(1, 73)});
  ASSERT_EQ(p.properties.size(), 1u);
  EXPECT_EQ(p.properties[0].properties.size(), 2u);
  EXPECT_EQ(p.properties[0].properties.at("cs_health_score"), "73");
}

// The churn risk and the expansion likelihood are written only when their properties are configured,
// in percent with one decimal, and only for a company that has the probability.
TEST(PlannerTest, OptionalProbabilityPropertiesInPercentWhenConfigured) {
  World off;
  auto c = company(1, 72.5);
  c.churn_risk = 0.12345;
  c.expansion_likelihood = 0.5;
  auto p = off.run({c});
  ASSERT_EQ(p.properties.size(), 1u);
  EXPECT_EQ(p.properties[0].properties.count("cs_churn_risk"), 0u);
  EXPECT_EQ(p.properties[0].properties.count("cs_expansion_likelihood"), 0u);

  World on;
  on.cfg.churn_risk_property = "cs_churn_risk";
  on.cfg.expansion_likelihood_property = "cs_expansion_likelihood";
  auto without = company(2, 60);
  p = on.run({c, without});
  ASSERT_EQ(p.properties.size(), 2u);
  EXPECT_EQ(p.properties[0].properties.at("cs_churn_risk"), "12.3");
  EXPECT_EQ(p.properties[0].properties.at("cs_expansion_likelihood"), "50");
  EXPECT_EQ(p.properties[1].properties.count("cs_churn_risk"), 0u);  // no model: nothing written
  EXPECT_EQ(p.properties[1].properties.count("cs_expansion_likelihood"), 0u);
}

// The usage summary written through: each figure once known, utilisation in percent with one decimal
// (none without seats), the last active day as midnight UTC; written again only when it changes.
TEST(PlannerTest, UsageSummaryIsWrittenThroughWhenKnownAndOnlyWhenChanged) {
  World w;
  w.cfg.usage_properties = {"cs_usage_active_users_30d", "cs_usage_logins_30d", "cs_usage_seat_utilisation",
                            "cs_usage_features_used", "cs_usage_last_active_date"};
  auto c = company(1, 72);
  c.usage = {42, 610, 50, 7, 20'619};
  auto none = company(2, 60);
  auto no_seats = company(3, 60);
  no_seats.usage.active_users = 5;
  auto p = w.run({c, none, no_seats});
  ASSERT_EQ(p.properties.size(), 3u);
  const auto& props = p.properties[0].properties;
  EXPECT_EQ(props.at("cs_usage_active_users_30d"), "42");
  EXPECT_EQ(props.at("cs_usage_logins_30d"), "610");
  EXPECT_EQ(props.at("cs_usage_seat_utilisation"), "84");
  EXPECT_EQ(props.at("cs_usage_features_used"), "7");
  EXPECT_EQ(props.at("cs_usage_last_active_date"), "1781481600000");  // 2026-06-15T00:00:00Z
  for (const char* name : {"cs_usage_active_users_30d", "cs_usage_logins_30d", "cs_usage_seat_utilisation",
                           "cs_usage_features_used", "cs_usage_last_active_date"})
    EXPECT_EQ(p.properties[1].properties.count(name), 0u) << name;  // nothing sent: nothing written
  EXPECT_EQ(p.properties[2].properties.at("cs_usage_active_users_30d"), "5");
  EXPECT_EQ(p.properties[2].properties.count("cs_usage_seat_utilisation"), 0u);
  // The same again: nothing to write. One more login: that figure and the stamp only.
  p = w.run({c});
  EXPECT_TRUE(p.properties.empty());
  c.usage.logins = 611;
  c.usage.seats = 48;
  p = w.run({c});
  ASSERT_EQ(p.properties.size(), 1u);
  EXPECT_EQ(p.properties[0].properties.size(), 3u);
  EXPECT_EQ(p.properties[0].properties.at("cs_usage_logins_30d"), "611");
  EXPECT_EQ(p.properties[0].properties.at("cs_usage_seat_utilisation"), "87.5");
}

TEST(PlannerTest, MovesTheStageByBandAndLeavesOnboardingAndChurnedAlone) {
  struct Row {
    const char* stage;
    double score;
    const char* status;
    const char* expect;  // "" = no stage write
  } rows[] = {
      {"active", 45, nullptr, "at_risk"}, {"active", 39, nullptr, "at_risk"}, {"active", 60, nullptr, ""},
      {"at_risk", 60, nullptr, "active"}, {"at_risk", 85, nullptr, "active"}, {"at_risk", 59.99, nullptr, ""},
      {"onboarding", 20, nullptr, ""},    {"churned", 95, nullptr, ""},       {"", 20, nullptr, ""},
      {"active", 20, "unknown", ""},
  };
  for (const auto& r : rows) {
    World w;
    auto c = company(1, r.score, r.status);
    c.stage = r.stage;
    const auto p = w.run({c});
    const auto& props = p.properties.at(0).properties;
    const auto it = props.find("cs_stage");
    EXPECT_EQ(it == props.end() ? "" : it->second, r.expect) << r.stage << " " << r.score;
  }
  // A person moved it back to active after we set at_risk: theirs until the band changes.
  World w;
  auto c = company(1, 45);
  EXPECT_EQ(w.run({c}).properties.at(0).properties.at("cs_stage"), "at_risk");
  c.stage = "active";
  c.score = 44;
  EXPECT_EQ(w.run({c}).properties.at(0).properties.count("cs_stage"), 0u);
  c.score = 70;  // recovered: HubSpot already says active; nothing to write, but remembered
  c.status = "yellow";
  EXPECT_EQ(w.run({c}).properties.at(0).properties.count("cs_stage"), 0u);
  c.score = 45;
  c.status = "orange";
  EXPECT_EQ(w.run({c}).properties.at(0).properties.at("cs_stage"), "at_risk");
}

TEST(PlannerTest, OneTaskPerEpisodeRearmedPastTheMargin) {
  World w;
  auto p = w.run({company(1, 58)});  // crosses below 60
  EXPECT_EQ(tasks_for(p, "score_below_60"), 1u);
  EXPECT_EQ(p.tasks[0].key, "alert:1:score_below_60:1");
  EXPECT_EQ(p.tasks[0].owner_id, "101");
  EXPECT_EQ(tasks_for(w.run({company(1, 55)}), "score_below_60"), 0u);  // still the same episode
  w.complete_task(1, "score_below_60");
  EXPECT_EQ(tasks_for(w.run({company(1, 62)}), "score_below_60"), 0u);  // above 60, within the margin
  EXPECT_EQ(tasks_for(w.run({company(1, 59)}), "score_below_60"), 0u);  // a wobble is not a new episode
  EXPECT_EQ(tasks_for(w.run({company(1, 65)}), "score_below_60"), 0u);  // past 60 + 5: re-armed
  p = w.run({company(1, 50)});
  ASSERT_EQ(tasks_for(p, "score_below_60"), 1u);
  EXPECT_EQ(p.tasks[0].key, "alert:1:score_below_60:2");
}

TEST(PlannerTest, NoNewTaskWhileTheLastOneIsOpen) {
  World w;
  w.cfg.auto_close = false;
  EXPECT_EQ(tasks_for(w.run({company(1, 50)}), "score_below_60"), 1u);
  w.run({company(1, 70)});  // re-armed, but the CSM has not closed the task
  EXPECT_EQ(tasks_for(w.run({company(1, 50)}), "score_below_60"), 0u);
  w.complete_task(1, "score_below_60");
  EXPECT_EQ(tasks_for(w.run({company(1, 50)}), "score_below_60"), 1u);
}

TEST(PlannerTest, BelowFortyAlsoEscalatesToTheManager) {
  World w;
  const auto p = w.run({company(1, 35)});
  ASSERT_EQ(p.tasks.size(), 2u);
  EXPECT_EQ(tasks_for(p, "score_below_40"), 1u);
  for (const auto& t : p.tasks) EXPECT_EQ(t.owner_id, t.rule == "score_below_40" ? "900" : "101");
  // No manager known: the owner gets it.
  World w2;
  auto c = company(2, 35);
  c.manager_id.clear();
  for (const auto& t : w2.run({c}).tasks) EXPECT_EQ(t.owner_id, "101");
}

TEST(PlannerTest, ClosesATaskWhoseConditionClearedForNDays) {
  World w;
  w.cfg.auto_close_days = 2;
  auto p = w.run({company(1, 50)});
  EXPECT_EQ(p.tasks.size(), 1u);
  EXPECT_TRUE(w.run({company(1, 61)}).closes.empty());  // cleared today
  EXPECT_TRUE(w.run({company(1, 61)}).closes.empty());  // 1 day
  p = w.run({company(1, 61)});                          // 2 days
  ASSERT_EQ(p.closes.size(), 1u);
  EXPECT_EQ(p.closes[0].task_key, "alert:1:score_below_60:1");
  EXPECT_NE(p.closes[0].body.find("closed: clear since 2026-12-03"), std::string::npos) << p.closes[0].body;
  EXPECT_TRUE(w.run({company(1, 61)}).closes.empty());  // once
  // A condition that comes back before N days keeps the task open.
  World w2;
  w2.cfg.auto_close_days = 2;
  w2.run({company(1, 50)});
  w2.run({company(1, 61)});
  w2.run({company(1, 55)});
  EXPECT_TRUE(w2.run({company(1, 61)}).closes.empty());
  EXPECT_TRUE(w2.run({company(1, 61)}).closes.empty());
  EXPECT_EQ(w2.run({company(1, 61)}).closes.size(), 1u);
}

TEST(PlannerTest, SnoozeSilencesOneRuleUntilItsDate) {
  World w;
  w.snoozes.push_back({1, "score_below_60", d("2026-12-04")});
  EXPECT_EQ(w.run({company(1, 50), company(2, 50)}).tasks.size(), 1u);  // 12-02: company 2 only
  EXPECT_EQ(tasks_for(w.run({company(1, 50)}), "score_below_60"), 0u);  // 12-03
  auto p = w.run({company(1, 50)});                                     // 12-04: the last day
  EXPECT_EQ(p.tasks.size(), 0u);
  EXPECT_EQ(p.counts.snoozed, 1u);
  EXPECT_EQ(tasks_for(w.run({company(1, 50)}), "score_below_60"), 1u);  // 12-05
}

TEST(PlannerTest, CapsNewTasksPerAssigneeWithOneDigestMostUrgentFirst) {
  World w;
  w.cfg.daily_cap = 3;
  std::vector<PlanCompany> cs;
  for (int i = 1; i <= 6; ++i) cs.push_back(company(i, 50 + i));  // 51..56
  auto silent = company(7, 70);
  silent.signals.push_back({"silence", "medium", "no contact for 61 days"});
  cs.push_back(silent);
  auto usage = company(8, 75);
  usage.signals.push_back({"usage_drop", "high", "logins 40% of the previous 30 days"});
  cs.push_back(usage);
  w.created_today["101"] = 1;  // one alert already went out today
  const auto p = w.run(cs);
  std::vector<std::string> own;
  const TaskIntent* digest = nullptr;
  for (const auto& t : p.tasks) {
    if (t.rule == "digest")
      digest = &t;
    else
      own.push_back(t.key);
  }
  // 2 slots left: HIGH first, lowest score first.
  EXPECT_EQ(own, (std::vector<std::string>{"alert:1:score_below_60:1", "alert:2:score_below_60:1"}));
  ASSERT_NE(digest, nullptr);
  EXPECT_EQ(digest->key, "digest:101:2026-12-02:1");
  EXPECT_EQ(digest->owner_id, "101");
  EXPECT_EQ(digest->subject, "6 more");
  EXPECT_EQ(digest->priority, "HIGH");
  // In the digest: the other HIGH ones (usage at 75 last among them), then the MEDIUM silence.
  const auto pos = [&](const std::string& s) { return digest->body.find(s); };
  EXPECT_LT(pos("below 60: Co3"), pos("below 60: Co6"));
  EXPECT_LT(pos("below 60: Co6"), pos("usage: Co8"));
  EXPECT_LT(pos("usage: Co8"), pos("silence: Co7"));
  EXPECT_EQ(p.counts.digested, 6u);
  EXPECT_EQ(p.counts.alerts, 8u);
}

TEST(PlannerTest, ADigestListsTheFiftyMostUrgentAndCountsTheRest) {
  World w;
  w.cfg.daily_cap = 0;
  std::vector<PlanCompany> cs;
  for (int i = 1; i <= 80; ++i) cs.push_back(company(i, 59 - i * 0.1));
  const auto p = w.run(cs);
  ASSERT_EQ(p.tasks.size(), 1u);
  const auto& body = p.tasks[0].body;
  EXPECT_EQ(p.tasks[0].subject, "80 more");
  EXPECT_NE(body.find("below 60: Co80 "), std::string::npos);  // the lowest score first
  EXPECT_EQ(body.find("below 60: Co30 "), std::string::npos);  // the 51st is only counted
  EXPECT_NE(body.find("- (+30)"), std::string::npos) << body;
}

TEST(PlannerTest, EscalatesAnAlertStillOpenAfterFiveBusinessDays) {
  World w;
  w.day = d("2026-11-30");
  const auto p = w.run({company(1, 55)});  // Tuesday 12-01
  ASSERT_EQ(p.tasks.size(), 1u);
  EXPECT_EQ(format_day(p.tasks[0].due_day), "2026-12-04");                         // 3 business days
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(w.run({company(1, 55)}).tasks.empty());  // to Saturday 12-05
  EXPECT_TRUE(w.run({company(1, 55)}, 2).tasks.empty());  // Monday 12-07: 4 business days
  auto e = w.run({company(1, 55)});                       // Tuesday 12-08: 5
  ASSERT_EQ(e.tasks.size(), 1u);
  EXPECT_EQ(e.tasks[0].key, "alert:1:score_below_60:1:escalation");
  EXPECT_EQ(e.tasks[0].owner_id, "900");
  EXPECT_EQ(e.tasks[0].subject, "open 5 days: Co1");
  EXPECT_TRUE(w.run({company(1, 55)}).tasks.empty());  // once
  // Snoozed, an open alert is not escalated until the snooze ends.
  World w3;
  w3.day = d("2026-11-30");
  w3.run({company(1, 55)});  // Tuesday 12-01
  w3.snoozes.push_back({1, "score_below_60", d("2026-12-08")});
  for (int i = 0; i < 4; ++i) w3.run({company(1, 55)});
  EXPECT_TRUE(w3.run({company(1, 55)}, 2).tasks.empty());  // Monday 12-07
  EXPECT_TRUE(w3.run({company(1, 55)}).tasks.empty());     // Tuesday 12-08: 5 days, but snoozed
  EXPECT_EQ(w3.run({company(1, 55)}).tasks.size(), 1u);    // 12-09: the snooze is over
  // A task the CSM completed in time is not escalated.
  World w2;
  w2.run({company(1, 55)});
  w2.complete_task(1, "score_below_60");
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(w2.run({company(1, 55)}).tasks.empty());
}

TEST(PlannerTest, SignalRulesRearmAfterDaysClear) {
  World w;
  w.cfg.signal_rearm_days = 2;
  auto c = company(1, 75);
  c.signals.push_back({"usage_drop", "high", "logins fell"});
  auto clear = company(1, 75);
  EXPECT_EQ(tasks_for(w.run({c}), "usage_drop"), 1u);
  w.complete_task(1, "usage_drop");
  w.run({clear});
  EXPECT_EQ(tasks_for(w.run({c}), "usage_drop"), 0u);  // clear for 1 day only
  w.run({clear});
  w.run({clear});
  w.run({clear});  // 2 days clear: re-armed
  EXPECT_EQ(tasks_for(w.run({c}), "usage_drop"), 1u);
}

TEST(PlannerTest, DueDatesAreLocalAtTheDueHour) {
  World w;
  const auto p = w.run({company(1, 55)});
  EXPECT_EQ(p.tasks.at(0).due_ms, start_of_day(p.tasks[0].due_day) + 9 * 3'600'000);
}

}  // namespace
}  // namespace cshealthd::core

namespace cshealthd::alerts {
namespace {

// An alert rule names a signal the engine emits, or is refused at load (a rule that can never fire).
TEST(AlertsFile, ASignalRuleNamesASignalTheEngineEmits) {
  const std::string head = "rules:\n  escalation: {assignee: manager}\n  digest: {assignee: owner}\n";
  const std::string templates =
      "templates:\n  en:\n    escalation: {subject: e, body: e}\n    digest: {subject: d, body: d}\n"
      "    close_note: n\n";
  core::PlanConfig plan;
  try {
    parse_alerts(head + "  score_below: {signal: score_below}\n" + templates +
                     "    score_below: {subject: s, body: b}\n",
                 "alerts.yaml", "en", plan);
    ADD_FAILURE() << "accepted a rule for a signal the engine never emits";
  } catch (const config::ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("unknown signal 'score_below'"));
  }
  core::PlanConfig ok;
  EXPECT_NO_THROW(parse_alerts(head + "  score_below_alert: {signal: score_below_alert}\n" + templates +
                                   "    score_below_alert: {subject: s, body: b}\n",
                               "alerts.yaml", "en", ok));
  EXPECT_EQ(ok.rules.size(), 1u);
}

}  // namespace
}  // namespace cshealthd::alerts
