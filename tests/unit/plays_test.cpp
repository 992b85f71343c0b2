// The shipped lifecycle plays at their boundaries (seeds 000 and 001): renewal at 91/90/89, 61/60, 31/30
// days, the lead review at 59.99/60, the escalation of a renewal date passed; seats 89.9/90 % and NPS 8/9
// through the real signal detection; a quarter boundary; churn 89/90 and 180/181 days ago. Plus whole
// cycles night after night, and plays files refused with file:line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/health.hpp"
#include "cshealthd/core/plays.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/plays/plays.hpp"

namespace cshealthd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::int32_t day(const char* text) {
  return *core::parse_day(text);
}

class PlaysTest : public ::testing::Test {
 protected:
  PlaysTest()
      : config_(plays::parse_plays(plays::shipped_plays(), "plays.yaml", "en")),
        calendar_(core::BusinessCalendar::parse(workflow::shipped_file("holidays.jp.txt"), "holidays")) {}

  // An active high-touch customer with an owner and a manager, scored 70 (yellow).
  static core::PlayCompany customer() {
    core::PlayCompany c;
    c.id = 42;
    c.name = "Acme";
    c.owner_id = "90002";
    c.manager_id = "90001";
    c.sales_owner_id = "90010";
    c.segment = "high_touch";
    c.stage = "active";
    c.status = "yellow";
    c.score = 70;
    return c;
  }

  // The steps that fire on `d` for a company whose earlier nights did `done`.
  std::vector<std::string> fired(const core::PlayCompany& c, std::int32_t d,
                                 const std::set<core::PlayStepDone>& done = {},
                                 const std::vector<core::PlayEpisode>& episodes = {}) const {
    core::PlayContext ctx;
    ctx.day = d;
    ctx.calendar = &calendar_;
    std::vector<std::string> out;
    for (const auto& f : core::decide_plays(config_, ctx, c, episodes, done).firings)
      out.push_back(f.play + "/" + f.step);
    return out;
  }

  // Runs nights `from`..`to` with the state carried over, like the service; `change(c, day)` edits the
  // company before each night. Answers the steps fired, each with its night.
  std::vector<std::pair<std::string, std::string>> nights(
      core::PlayCompany c, std::int32_t from, std::int32_t to,
      const std::function<void(core::PlayCompany&, std::int32_t)>& change = {}) const {
    std::vector<std::pair<std::string, std::string>> out;
    std::set<core::PlayStepDone> done;
    std::vector<core::PlayEpisode> episodes;
    for (std::int32_t d = from; d <= to; ++d) {
      if (change) change(c, d);
      core::PlayContext ctx;
      ctx.day = d;
      ctx.calendar = &calendar_;
      const auto decision = core::decide_plays(config_, ctx, c, episodes, done);
      for (const auto& f : decision.firings) {
        out.emplace_back(core::format_day(d), f.play + "/" + f.step + "@" + f.cycle);
        done.insert({f.play, f.cycle, f.step});
      }
      for (const auto& e : decision.episodes) {
        std::erase_if(episodes, [&](const auto& x) { return x.play == e.play; });
        episodes.push_back(e);
      }
    }
    return out;
  }

  core::PlaysConfig config_;
  core::BusinessCalendar calendar_;
};

// D = 2027-06-06: D-90 (2027-03-08) is a Monday, D-60 a Wednesday, D-30 a Friday: no holiday moves.
constexpr const char* kRenewal = "2027-06-06";

TEST_F(PlaysTest, TheWindowsAroundTheRenewalDateAreTheSeeds) {
  ASSERT_TRUE(calendar_.is_business_day(day(kRenewal) - 90));
  ASSERT_TRUE(calendar_.is_business_day(day(kRenewal) - 60));
  ASSERT_TRUE(calendar_.is_business_day(day(kRenewal) - 30));
  auto c = customer();
  c.dates["renewal_date"] = day(kRenewal);
  const struct {
    int days_before;
    std::vector<std::string> steps;
  } rows[] = {
      {91, {}},
      {90, {"renewal/prep"}},
      {89, {"renewal/prep"}},  // a night missed: caught up the next
      {61, {"renewal/prep"}},
      {60, {"renewal/proposal"}},  // not the prep as well: superseded
      {59, {"renewal/proposal"}},
      {31, {"renewal/proposal"}},
      {30, {"renewal/notice"}},
      {1, {"renewal/notice"}},
      {0, {"renewal/notice"}},
      {-1, {"renewal/escalation"}},  // the date passed without a renewal
      {-30, {"renewal/escalation"}},
      {-31, {}},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(fired(c, day(kRenewal) - row.days_before), row.steps) << row.days_before << " days before";
  }
}

TEST_F(PlaysTest, TheLeadReviewFiresBelowSixtyOnly) {
  auto c = customer();
  c.dates["renewal_date"] = day(kRenewal);
  c.score = 59.99;
  c.status = "orange";
  EXPECT_THAT(fired(c, day(kRenewal) - 90), ElementsAre("renewal/prep", "renewal/lead_review"));
  EXPECT_THAT(fired(c, day(kRenewal) - 91), IsEmpty());
  c.score = 60;
  c.status = "yellow";
  EXPECT_THAT(fired(c, day(kRenewal) - 90), ElementsAre("renewal/prep"));
  // Unknown coverage is no score at all: no review on a number that means nothing.
  c.score = 10;
  c.status = "unknown";
  EXPECT_THAT(fired(c, day(kRenewal) - 90), ElementsAre("renewal/prep"));
  // A churned customer has no renewal play.
  c.stage = "churned";
  EXPECT_THAT(fired(c, day(kRenewal) - 90), IsEmpty());
  // A portal that does not use CS stages still gets its renewals.
  c.stage = "";
  EXPECT_THAT(fired(c, day(kRenewal) - 90), ElementsAre("renewal/prep"));
}

TEST_F(PlaysTest, ARenewalCycleThatPassesItsDateEscalatesOnceAndOneThatIsRenewedEnds) {
  auto c = customer();
  c.dates["renewal_date"] = day(kRenewal);
  // Night after night, nothing renewed: each step once, on its day; the escalation the day after.
  const auto passed = nights(c, day(kRenewal) - 120, day(kRenewal) + 60);
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(passed, ElementsAre(P{"2027-03-08", "renewal/prep@2027-06-06"},
                                  P{"2027-04-07", "renewal/proposal@2027-06-06"},
                                  P{"2027-05-07", "renewal/notice@2027-06-06"},
                                  P{"2027-06-07", "renewal/escalation@2027-06-06"}));
  // Renewed by a won deal 20 days before the date: nothing after it, no escalation.
  const auto by_deal = nights(c, day(kRenewal) - 120, day(kRenewal) + 60, [&](auto& co, std::int32_t d) {
    if (d == day(kRenewal) - 20) co.won_deal_days.push_back(d);
  });
  EXPECT_THAT(by_deal, ElementsAre(P{"2027-03-08", "renewal/prep@2027-06-06"},
                                   P{"2027-04-07", "renewal/proposal@2027-06-06"},
                                   P{"2027-05-07", "renewal/notice@2027-06-06"}));
  // Renewed by a new date a year on: this cycle ends, the next one starts 90 days before its date.
  const auto by_date = nights(c, day(kRenewal) - 120, day(kRenewal) + 300, [&](auto& co, std::int32_t d) {
    if (d == day(kRenewal) - 10) co.dates["renewal_date"] = day("2028-06-06");
  });
  ASSERT_EQ(by_date.size(), 4u);
  EXPECT_EQ(by_date[2], (P{"2027-05-07", "renewal/notice@2027-06-06"}));
  // 2028-06-06 - 90 = 2028-03-08, a Wednesday.
  EXPECT_EQ(by_date[3], (P{"2028-03-08", "renewal/prep@2028-06-06"}));
  // The customer's original purchase a year before the date does not count as a renewal.
  auto bought = c;
  bought.won_deal_days = {day(kRenewal) - 365};
  EXPECT_EQ(nights(bought, day(kRenewal) - 120, day(kRenewal) + 60), passed);
}

TEST_F(PlaysTest, AStepDueOnAHolidayOrWeekendMovesToThePreviousBusinessDay) {
  auto c = customer();
  // 2027-08-09 - 90 = 2027-05-11 (Tuesday); - 60 = 2027-06-10 (Thursday); - 30 = 2027-07-10 (Saturday):
  // the notice moves to Friday 2027-07-09.
  c.dates["renewal_date"] = day("2027-08-09");
  EXPECT_THAT(fired(c, day("2027-07-08"), {{"renewal", "2027-08-09", "proposal"}}), IsEmpty());
  EXPECT_THAT(fired(c, day("2027-07-09"), {{"renewal", "2027-08-09", "proposal"}}),
              ElementsAre("renewal/notice"));
  // Golden Week: 2027-05-05 (Children's Day, a Wednesday) moves to Tuesday 2027-05-04? That is a holiday
  // too (Greenery Day), and Monday 2027-05-03 (Constitution Day): back to Friday 2027-04-30.
  c.dates["renewal_date"] = day("2027-05-05") + 90;
  EXPECT_EQ(core::step_start(day("2027-05-05") + 90, -90, calendar_), day("2027-04-30"));
  EXPECT_THAT(fired(c, day("2027-04-29")), IsEmpty());
  EXPECT_THAT(fired(c, day("2027-04-30")), ElementsAre("renewal/prep"));
}

// Seats and NPS go through the scoring engine's own signal detection, as in a real night.
TEST_F(PlaysTest, SeatsAtNinetyPercentAndNpsNineOpenTheExpansionPlays) {
  const core::SignalConfig signals;
  const auto with_signals = [&](double active, std::optional<double> nps) {
    core::CompanyInputs in;
    in.company_id = 42;
    in.as_of_day = day("2027-02-10");
    in.metrics[static_cast<std::size_t>(core::Metric::kLicensedSeats)] = 1000;
    in.metrics[static_cast<std::size_t>(core::Metric::kActiveUsers30d)] = active;
    if (nps) in.feedback.push_back({core::EpochMs{day("2027-02-01")} * 86'400'000, "NPS", *nps});
    core::HealthResult r;
    r.score = 70;
    r.status = "yellow";
    core::evaluate_signals(signals, in, r);
    auto c = customer();
    for (const auto& s : r.signals) c.signals.insert(s.name);
    return c;
  };
  EXPECT_THAT(fired(with_signals(899, std::nullopt), day("2027-02-10")), IsEmpty());  // 89.9 %
  EXPECT_THAT(fired(with_signals(900, std::nullopt), day("2027-02-10")), ElementsAre("upgrade/proposal"));
  EXPECT_THAT(fired(with_signals(500, 8), day("2027-02-10")), IsEmpty());
  EXPECT_THAT(fired(with_signals(500, 9), day("2027-02-10")), ElementsAre("advocacy/ask"));
  EXPECT_THAT(fired(with_signals(500, 10), day("2027-02-10")), ElementsAre("advocacy/ask"));
}

TEST_F(PlaysTest, AnExpansionEpisodeAsksOnceAndAgainOnlyAfterItEnded) {
  auto c = customer();
  const auto from = day("2027-02-01");
  // Seats full for 10 days, gone for 5 (a flicker: the same episode), back, gone for 40, back.
  const auto steps = nights(c, from, from + 100, [&](auto& co, std::int32_t d) {
    const int i = d - from;
    const bool full = i < 10 || (i >= 15 && i < 40) || i >= 80;
    co.signals.clear();
    if (full) co.signals.insert("seats_full");
  });
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(steps,
              ElementsAre(P{"2027-02-01", "upgrade/proposal@2027-02-01"},
                          P{core::format_day(from + 80), "upgrade/proposal@" + core::format_day(from + 80)}));
}

TEST_F(PlaysTest, TheQbrComesOncePerQuarterForGreenHighTouchCustomers) {
  auto c = customer();
  c.status = "green";
  c.score = 85;
  // The window opens a week into the quarter (2027-01-08, a Friday) and stays open for 45 days.
  EXPECT_THAT(fired(c, day("2027-01-07")), IsEmpty());
  EXPECT_THAT(fired(c, day("2027-01-08")), ElementsAre("qbr/review"));
  EXPECT_THAT(fired(c, day("2027-02-15")), ElementsAre("qbr/review"));
  EXPECT_THAT(fired(c, day("2027-02-16")), IsEmpty());
  // The quarter boundary: Q4's review done on the last day of Q4 is not Q1's.
  EXPECT_THAT(fired(c, day("2026-12-31")), IsEmpty());  // Q4's window closed on 2026-11-15
  EXPECT_THAT(fired(c, day("2027-01-08"), {{"qbr", "2026-Q4", "review"}}), ElementsAre("qbr/review"));
  EXPECT_THAT(fired(c, day("2027-01-08"), {{"qbr", "2027-Q1", "review"}}), IsEmpty());
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(nights(c, day("2026-12-01"), day("2027-04-30")),
              ElementsAre(P{"2027-01-08", "qbr/review@2027-Q1"}, P{"2027-04-08", "qbr/review@2027-Q2"}));
  // Not for yellow, not for tech-touch, not for a customer still onboarding.
  auto yellow = c;
  yellow.status = "yellow";
  EXPECT_THAT(fired(yellow, day("2027-01-08")), IsEmpty());
  auto tech = c;
  tech.segment = "tech_touch";
  EXPECT_THAT(fired(tech, day("2027-01-08")), IsEmpty());
  auto onboarding = c;
  onboarding.stage = "onboarding";
  EXPECT_THAT(fired(onboarding, day("2027-01-08")), IsEmpty());
}

TEST_F(PlaysTest, WinBackComesThreeToSixMonthsAfterTheChurnWithTheReasonsTemplate) {
  auto c = customer();
  c.stage = "churned";
  c.status = "red";
  c.score = 20;
  // Churned 2026-10-01: +90 = 2026-12-30 (Wednesday), +180 = 2027-03-30.
  const auto churn = day("2026-10-01");
  c.dates["churn_date"] = churn;
  ASSERT_TRUE(calendar_.is_business_day(churn + 90));
  const auto episode = std::vector<core::PlayEpisode>{{42, "winback", churn, churn + 88, true}};
  EXPECT_THAT(fired(c, churn + 89, {}, episode), IsEmpty());
  EXPECT_THAT(fired(c, churn + 90, {}, episode), ElementsAre("winback/outreach"));
  EXPECT_THAT(fired(c, churn + 180, {}, episode), ElementsAre("winback/outreach"));
  EXPECT_THAT(fired(c, churn + 181, {}, episode), IsEmpty());
  // The template follows the churn reason, as mapped in the plays file.
  core::PlayContext ctx;
  ctx.day = churn + 90;
  ctx.calendar = &calendar_;
  const std::pair<const char*, const char*> reasons[] = {{"price", "winback_cost"},
                                                         {"missing_feature", "winback_feature"},
                                                         {"poor_support", "winback_support"},
                                                         {"acquired", "winback_business"},
                                                         {"", "winback_other"},
                                                         {"something else", "winback_other"}};
  for (const auto& [reason, tmpl] : reasons) {
    c.churn_reason = reason;
    const auto d = core::decide_plays(config_, ctx, c, episode, {});
    ASSERT_EQ(d.firings.size(), 1u) << reason;
    EXPECT_EQ(d.firings[0].template_name, tmpl) << reason;
    EXPECT_EQ(d.firings[0].owner_id, "90002");
    EXPECT_EQ(d.firings[0].key, "play:winback:42:2026-10-01:outreach");
  }
  // Without a churn date, the night the stage was first seen dates it.
  c.dates.erase("churn_date");
  using P = std::pair<std::string, std::string>;
  // 2027-01-04 + 90 = 2027-04-04, a Sunday: the Friday before.
  EXPECT_THAT(nights(c, day("2027-01-04"), day("2027-08-01")),
              ElementsAre(P{"2027-04-02", "winback/outreach@2027-01-04"}));
}

// A churned customer (not scored: PlayStore loads it marked churned) gets win-back and nothing else: not
// the QBR its last green score would have earned, not the renewal of a date still on record, not the
// upgrade its last seats signal would open.
TEST_F(PlaysTest, AChurnedCustomerGetsWinBackAndNoOtherPlay) {
  auto c = customer();
  c.status = "green";
  c.score = 85;
  c.signals.insert("seats_full");
  c.dates["renewal_date"] = day("2027-04-09");  // 90 days after 2027-01-08: the prep's window
  const auto churn = day("2026-10-10");
  c.dates["churn_date"] = churn;
  const auto episode = std::vector<core::PlayEpisode>{{42, "winback", churn, day("2027-01-07"), true}};
  // The same customer active: the expansion, QBR and renewal plays fire.
  const auto active = fired(c, day("2027-01-08"), {}, episode);
  EXPECT_THAT(active, ::testing::Contains("upgrade/proposal"));
  EXPECT_THAT(active, ::testing::Contains("qbr/review"));
  c.stage = "churned";
  c.churned = true;
  EXPECT_THAT(fired(c, day("2027-01-08"), {}, episode), ElementsAre("winback/outreach"));
  EXPECT_THAT(fired(c, day("2027-01-07"), {}, episode), IsEmpty());
}

TEST_F(PlaysTest, OwnersResolveInOrderAndDueDatesCountBusinessDays) {
  auto c = customer();
  c.dates["renewal_date"] = day(kRenewal);
  core::PlayContext ctx;
  ctx.calendar = &calendar_;
  ctx.day = day(kRenewal) - 30;  // Friday 2027-05-07: the notice, to the sales owner, due in 3 business days
  auto d = core::decide_plays(config_, ctx, c, {}, {});
  ASSERT_EQ(d.firings.size(), 1u);
  EXPECT_EQ(d.firings[0].owner_id, "90010");
  EXPECT_EQ(core::format_day(d.firings[0].due_day), "2027-05-12");
  EXPECT_EQ(d.firings[0].why, "renewal_date 2027-06-06 is 30 days away");
  c.sales_owner_id.clear();  // no won deal with an owner: the CSM
  d = core::decide_plays(config_, ctx, c, {}, {});
  EXPECT_EQ(d.firings[0].owner_id, "90002");
  ctx.day = day(kRenewal) + 1;  // the escalation goes to the manager
  d = core::decide_plays(config_, ctx, c, {}, {});
  ASSERT_EQ(d.firings.size(), 1u);
  EXPECT_EQ(d.firings[0].owner_id, "90001");
  EXPECT_EQ(d.firings[0].key, "play:renewal:42:2027-06-06:escalation");
}

TEST_F(PlaysTest, ADryRunSaysWhatWasHeldBackAndWhyANightDoesNot) {
  auto c = customer();
  c.dates["renewal_date"] = day(kRenewal);
  c.stage = "churned";
  core::PlayContext ctx;
  ctx.day = day(kRenewal) - 90;
  ctx.calendar = &calendar_;
  EXPECT_THAT(core::decide_plays(config_, ctx, c, {}, {}).notes, IsEmpty());
  ctx.explain = true;
  EXPECT_THAT(core::decide_plays(config_, ctx, c, {}, {}).notes,
              ElementsAre("play:renewal:42:2027-06-06:prep: held back (stage churned)",
                          "play:renewal:42:2027-06-06:lead_review: held back (stage churned)"));
}

TEST_F(PlaysTest, TheJapaneseTemplatesParseAndTheShippedFileUsesOnlyKnownPlaceholders) {
  const auto ja = plays::parse_plays(plays::shipped_plays(), "plays.yaml", "ja");
  EXPECT_EQ(ja.plays.size(), config_.plays.size());
  EXPECT_THAT(ja.templates.at("renewal_prep").subject, HasSubstr("更新準備"));
  EXPECT_THAT(core::placeholders_in("a {x} {{y}} {z}"), ElementsAre("x", "z"));
}

std::string refusal(const std::string& text) {
  try {
    plays::parse_plays(text, "my-plays.yaml", "en");
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(PlaysFileTest, AnUnknownTriggerAStepWithoutAnOwnerAndAnUnknownPlaceholderAreRefusedWithFileAndLine) {
  const std::string head = "templates:\n  en:\n    t: {subject: \"s {company}\", body: b}\nplays:\n  p:\n";
  EXPECT_THAT(refusal(head + "    trigger: {weekly: true}\n    steps: {}\n"),
              HasSubstr("plays.p.trigger.weekly: unknown key (my-plays.yaml:6)"));
  EXPECT_THAT(refusal(head + "    trigger: {}\n    steps: {}\n"), HasSubstr("expected exactly one trigger"));
  EXPECT_THAT(
      refusal(head +
              "    trigger: {date: renewal_date}\n    steps:\n      a: {at: -5, task: {template: t}}\n"),
      HasSubstr("plays.p.steps.a.task: a task needs an owner (my-plays.yaml:8)"));
  EXPECT_THAT(refusal(head + "    trigger: {date: renewal_date}\n    steps:\n      a: {at: -5, task: {owner: "
                             "[], template: t}}\n"),
              HasSubstr("a task needs an owner"));
  EXPECT_THAT(
      refusal(head + "    trigger: {date: renewal_date}\n    steps:\n"
                     "      a: {at: -5, task: {owner: [boss], template: t}}\n"),
      HasSubstr("expected csm, manager, sales_owner, team:ID or owner:ID, got 'boss' (my-plays.yaml:8)"));
  EXPECT_THAT(
      refusal("templates:\n  en:\n    t:\n      subject: ok\n      body: \"Hi {compnay}\"\nplays: {}\n"),
      HasSubstr("templates.en.t.body: unknown placeholder {compnay} (my-plays.yaml:5)"));
  EXPECT_THAT(refusal(head + "    trigger: {date: renewal_date}\n    steps:\n"
                             "      a: {at: -5, task: {owner: csm, template: nope}}\n"),
              HasSubstr("no template 'nope'"));
  EXPECT_THAT(refusal(head + "    trigger: {date: birthday}\n    steps: {}\n"),
              HasSubstr("unknown date 'birthday'"));
  EXPECT_THAT(refusal(head + "    trigger: {signal: moon_phase}\n    steps: {}\n"),
              HasSubstr("unknown signal 'moon_phase'"));
  // The engine emits score_below_alert / score_below_escalate: `score_below` passed once and never fired.
  EXPECT_THAT(refusal(head + "    trigger: {signal: score_below}\n    steps: {}\n"),
              HasSubstr("unknown signal 'score_below' (my-plays.yaml:6)"));
  for (const auto& name : core::signal_names())
    EXPECT_NO_THROW(
        plays::parse_plays(head + "    trigger: {signal: " + name + "}\n    steps: {}\n", "x.yaml", "en"))
        << name;
  EXPECT_THAT(refusal(head + "    trigger: {date: renewal_date}\n    steps:\n"
                             "      a: {at: 5, until: 1, task: {owner: csm, template: t}}\n"),
              HasSubstr("until must not be before at"));
  EXPECT_THAT(refusal(head + "    trigger: {date: renewal_date}\n    steps:\n      a: {at: 5, slack: t, "
                             "task: {owner: csm, template: t}}\n"),
              HasSubstr("exactly one action"));
  EXPECT_THAT(
      refusal(head + "    trigger: {quarterly: true}\n    steps:\n"
                     "      a: {at: -5, task: {owner: csm, template: t}}\n"),
      HasSubstr("plays.p.steps.a.at: a quarterly play's steps start at 0 or later (my-plays.yaml:8)"));
  EXPECT_THAT(refusal("plays: [unclosed\n"), HasSubstr("my-plays.yaml:"));
  // catch_up: a boolean; off unless said.
  EXPECT_THAT(refusal(head + "    trigger: {date: renewal_date}\n    catch_up: maybe\n    steps: {}\n"),
              HasSubstr("plays.p.catch_up"));
  EXPECT_FALSE(plays::parse_plays(head + "    trigger: {date: renewal_date}\n    steps: {}\n", "x.yaml", "en")
                   .plays.at(0)
                   .catch_up);
  EXPECT_TRUE(
      plays::parse_plays(head + "    trigger: {date: renewal_date}\n    catch_up: true\n    steps: {}\n",
                         "x.yaml", "en")
          .plays.at(0)
          .catch_up);
  EXPECT_EQ(refusal(head + "    trigger: {date: renewal_date}\n    steps:\n      a: {at: -5, task: {owner: "
                           "[team:301, csm], template: t}}\n"),
            "accepted");
}

TEST(PlaysSummaryTest, TheDigestSaysWhatItKnowsAndThatDataIsMissing) {
  core::UsageSummary s;
  s.company = "Acme";
  s.day = day("2027-03-08");
  s.seats = 100;
  s.active_now = 92;
  s.active_90 = 70;
  s.logins_now = 1500;
  s.logins_90 = 1000;
  s.score_now = 84;
  s.status_now = "green";
  s.score_90 = 72;
  s.status_90 = "yellow";
  s.band_changes = {{day("2027-01-20"), "green"}};
  s.open_tickets = 2;
  s.last_nps = std::pair{day("2027-02-01"), 9.0};
  const auto en = core::render_summary(s, "en");
  EXPECT_THAT(en, HasSubstr("- Active users / seats: 92 / 100 (92%), 90 days ago 70 (70%)\n"));
  EXPECT_THAT(en, HasSubstr("- Logins (30 days): 1500 (+50% vs 90 days ago)\n"));
  EXPECT_THAT(en, HasSubstr("- Features used: no data\n"));
  EXPECT_THAT(en, HasSubstr("- Health score: 84 (green), 90 days ago 72 (yellow)\n"));
  EXPECT_THAT(en, HasSubstr("- Status changes: 2027-01-20 → green\n"));
  EXPECT_THAT(en, HasSubstr("- Open tickets: 2, critical in the last 90 days: 0\n"));
  EXPECT_THAT(en, HasSubstr("- Last NPS: 9 (2027-02-01), last CSAT: no data\n"));
  EXPECT_THAT(en, HasSubstr("- Last CS meeting: no data\n"));
  const auto ja = core::render_summary(s, "ja");
  EXPECT_THAT(ja, HasSubstr("アクティブユーザー / 契約席数: 92 / 100 (92%)"));
  EXPECT_THAT(ja, HasSubstr("利用機能数: データなし"));
}

}  // namespace
}  // namespace cshealthd
