// The KPIs against a real PostgreSQL, on a hand-worked portal stored the way the sync and the scoring store
// it: October's smb customers are the example (start MRR 100, contraction 5, churn 3, expansion 18
// → GRR 92 %, NRR 110 %), plus a customer won mid-month, one who churned in September and came back in
// October, and an enterprise customer churned by its CS stage while still billed. Then the churn analysis,
// the at-risk and renewal lists, a company page with a scorecard change, and reruns that change nothing.
#include "cshealthd/kpis/kpi_store.hpp"

#include <gtest/gtest.h>

#include "cshealthd/core/time.hpp"
#include "test_database.hpp"

namespace cshealthd::kpis {
namespace {

using json = nlohmann::json;

std::int32_t day(const char* text) {
  return *core::parse_day(text);
}

class KpisTest : public ::testing::Test {
 protected:
  void exec(const std::string& sql) { testing::exec_sql(db_, sql); }
  std::string text(const std::string& sql) { return testing::first_text(db_, sql); }

  void company(std::int64_t id, const json& fields) {
    exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) VALUES "
        "('companies', " +
        std::to_string(id) + ", '{}', '" + fields.dump() + "', '2025-01-01', '2026-10-25')");
  }
  // MRR from `from` on (one snapshot per day, as the nightly sync records it).
  void mrr(std::int64_t id, const char* from, const char* to, double value) {
    exec("INSERT INTO company_snapshots (company_id, day, synced) SELECT " + std::to_string(id) +
         ", d, jsonb_build_object('mrr', " + std::to_string(value) + ") FROM generate_series('" + from +
         "'::date, '" + to +
         "'::date, '1 day') d ON CONFLICT (company_id, day) DO UPDATE SET synced = "
         "EXCLUDED.synced");
  }
  std::int64_t score_run(const std::string& fingerprint) {
    exec(
        "INSERT INTO score_runs (as_of, trigger, config_fingerprint, finished_at) VALUES ('2026-10-31', "
        "'cli', '" +
        fingerprint + "', now())");
    return std::stoll(text("SELECT max(id) FROM score_runs"));
  }
  void score(std::int64_t id, const char* from, const char* to, double score, const char* status,
             const char* segment, std::int64_t run) {
    exec(
        "INSERT INTO health_scores (company_id, day, run_id, score, computed_score, status, coverage, "
        "scorecard, segment, components, signals, reasons) SELECT " +
        std::to_string(id) + ", d, " + std::to_string(run) + ", " + std::to_string(score) + ", " +
        std::to_string(score) + ", '" + status + "', 1, 'weighted', '" + segment + "', '[]', CASE WHEN " +
        std::to_string(score) +
        " < 40 THEN '[{\"name\": \"usage_drop\"}]'::jsonb ELSE '[]' END, '[\"usage: low\"]' FROM "
        "generate_series('" +
        from + "'::date, '" + to +
        "'::date, '1 day') d ON CONFLICT (company_id, day) DO UPDATE SET score = "
        "EXCLUDED.score, status = EXCLUDED.status, run_id = EXCLUDED.run_id, signals = EXCLUDED.signals");
  }
  void feedback(std::int64_t id, std::int64_t company, double value, const char* when) {
    exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) VALUES "
        "('feedback_submissions', " +
        std::to_string(id) + ", '{}', '{\"survey_type\": \"NPS\", \"value\": " + std::to_string(value) +
        ", \"submitted_at\": \"" + when + "\"}', '" + when + "', '" + when + "')");
    exec("INSERT INTO crm_associations VALUES ('feedback_submissions', " + std::to_string(id) +
         ", 'companies', " + std::to_string(company) + ")");
  }

  void SetUp() override {
    Settings s;
    s.history_months = 3;
    store_ = std::make_unique<KpiStore>(db_, s);
    exec(
        "INSERT INTO crm_owners (id, email, first_name, last_name) VALUES (101, 'aki@example.com', 'Aki', "
        "'Sato'), (102, 'ben@example.com', 'Ben', 'Ito')");
    company(1, {{"name", "Alpha"}, {"owner_id", "101"}, {"renewal_date", "2026-12-15T00:00:00.000Z"}});
    company(2, {{"name", "Bravo"}, {"owner_id", "101"}});
    company(3, {{"name", "Charlie"}, {"owner_id", "101"}, {"renewal_date", "2027-06-01T00:00:00.000Z"}});
    company(4, {{"name", "Delta"}, {"owner_id", "102"}});
    company(5, {{"name", "Echo"}, {"owner_id", "102"}});
    company(6, {{"name", "Foxtrot"},
                {"owner_id", "101"},
                {"cs_stage", "churned"},
                {"churn_date", "2026-10-25T00:00:00.000Z"},
                {"churn_reason", "cost"}});
    mrr(1, "2026-08-01", "2026-10-14", 50);  // contraction 5 in October
    mrr(1, "2026-10-15", "2026-11-01", 45);
    mrr(2, "2026-08-01", "2026-10-19", 3);  // churn 3 by MRR on Oct 20
    mrr(2, "2026-10-20", "2026-11-01", 0);
    mrr(3, "2026-08-01", "2026-10-09", 47);  // expansion 18
    mrr(3, "2026-10-10", "2026-11-01", 65);
    mrr(4, "2026-10-15", "2026-11-01", 30);  // won mid-October
    mrr(5, "2026-08-01", "2026-08-31", 20);  // churned in September, back in October
    mrr(5, "2026-09-01", "2026-10-04", 0);
    mrr(5, "2026-10-05", "2026-11-01", 25);
    mrr(6, "2026-08-01", "2026-11-01", 40);  // stage churned Oct 25, still billed
    const auto a = score_run("aaaa"), b = score_run("bbbb");
    score(1, "2026-09-01", "2026-10-31", 85, "green", "smb", a);
    score(2, "2026-09-01", "2026-09-30", 82, "green", "smb", a);
    score(2, "2026-10-01", "2026-10-31", 30, "red", "smb", a);  // red from Oct 1, churned Oct 20
    score(3, "2026-09-01", "2026-10-15", 90, "green", "smb", a);
    score(3, "2026-10-16", "2026-10-31", 70, "yellow", "smb", b);  // the scorecard config changed
    score(4, "2026-10-15", "2026-10-31", 65, "yellow", "smb", a);
    score(5, "2026-10-05", "2026-10-31", 55, "orange", "smb", a);
    score(6, "2026-09-01", "2026-10-31", 20, "red", "enterprise", a);
    feedback(901, 1, 10, "2026-10-03T00:00:00Z");
    feedback(902, 1, 9, "2026-10-04T00:00:00Z");
    feedback(903, 1, 3, "2026-10-05T00:00:00Z");
    feedback(904, 1, 0, "2026-09-05T00:00:00Z");  // September's
    exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) VALUES "
        "('tickets', 801, '{}', '{\"closed_at\": \"2026-10-03T00:00:00Z\"}', '2026-10-01T00:00:00Z', "
        "'2026-10-03T00:00:00Z')");
    exec("INSERT INTO crm_associations VALUES ('tickets', 801, 'companies', 3)");
    // Onboardings: Delta won Aug 20, its first results Sep 15 (26 days), complete Oct 10 (51 days: within
    // the 60-day target, due Oct 19); Charlie won Aug 1, due Sep 30, complete only Oct 5 (65 days: late).
    exec(
        "INSERT INTO onboardings (deal_id, company_id, source, state, segment, owner_id, started_on, "
        "completed_on, deal) VALUES (704, 4, 'webhook', 'handed_over', 'tech_touch', '102', '2026-08-20', "
        "'2026-10-10', '{}'), (703, 3, 'webhook', 'handed_over', 'tech_touch', '101', '2026-08-01', "
        "'2026-10-05', '{}')");
    exec(
        "INSERT INTO onboarding_steps (deal_id, step, position, task_key, due_day, completed) VALUES (704, "
        "'first_results', 7, 'onboarding:704:first_results', '2026-09-17', true), (703, 'first_results', 7, "
        "'onboarding:703:first_results', '2026-08-29', false)");
    exec("INSERT INTO task_completions VALUES ('onboarding:704:first_results', '2026-09-15')");
    // An alert task for Bravo, planned by the run of Oct 2 and completed Oct 5.
    exec(
        "INSERT INTO runs (kind, trigger, state, as_of) VALUES ('nightly', 'schedule', 'succeeded', "
        "'2026-10-02')");
    exec(
        "INSERT INTO outbox (key, kind, company_id, run_id, payload, state) VALUES "
        "('alert:2:score_below_60:1', "
        "'task', 2, (SELECT max(id) FROM runs), '{\"subject\": \"Bravo below 60\"}', 'done')");
    exec("INSERT INTO task_completions VALUES ('alert:2:score_below_60:1', '2026-10-05')");
  }

  PeriodKpis month(const char* m, std::optional<std::string> segment = {},
                   std::optional<std::string> owner = {}) {
    KpiQuery q;
    q.from = q.to = core::parse_month(m)->first;
    q.segment = std::move(segment);
    q.owner = std::move(owner);
    auto r = store_->kpis(q);
    EXPECT_EQ(r.size(), 1u);
    return r.front();
  }
  static const core::KpiValue& kpi(const PeriodKpis& p, const std::string& name) {
    for (const auto& v : p.values) {
      if (v.name == name) return v;
    }
    throw std::runtime_error("no KPI " + name);
  }

  testing::TestDatabase tdb_;
  store::Database db_{tdb_.conninfo(), store::PoolOptions{}};
  std::unique_ptr<KpiStore> store_;
};

TEST_F(KpisTest, OctoberFromTheDailySnapshotsMatchesTheHandWorkedExample) {
  const auto progress = store_->compute(day("2026-11-01"));
  EXPECT_EQ(progress["from"], "2026-09-01");  // 3 months back
  const auto smb = month("2026-10", "smb");
  ASSERT_TRUE(smb.computed);
  EXPECT_DOUBLE_EQ(smb.facts.start_mrr, 100);
  EXPECT_DOUBLE_EQ(smb.facts.contraction_mrr, 5);
  EXPECT_DOUBLE_EQ(smb.facts.churn_mrr, 3);
  EXPECT_DOUBLE_EQ(smb.facts.expansion_mrr, 18);
  EXPECT_DOUBLE_EQ(*kpi(smb, "grr").value, 92);
  EXPECT_DOUBLE_EQ(*kpi(smb, "nrr").value, 110);
  EXPECT_EQ(smb.facts.new_customers, 1);  // Delta, mid-month
  EXPECT_DOUBLE_EQ(smb.facts.new_mrr, 30);
  EXPECT_EQ(smb.facts.reactivated, 1);  // Echo came back: not a new logo
  EXPECT_DOUBLE_EQ(smb.facts.reactivation_mrr, 25);
  // Every customer at once: Foxtrot (enterprise) churned by its stage while still billed 40.
  const auto all = month("2026-10");
  EXPECT_DOUBLE_EQ(all.facts.start_mrr, 140);
  EXPECT_DOUBLE_EQ(all.facts.churn_mrr, 43);
  EXPECT_EQ(all.facts.churned, 2);
  EXPECT_NEAR(*kpi(all, "grr").value, 100.0 * 92 / 140, 1e-9);
  EXPECT_NEAR(*kpi(all, "churn_rate").value, 100.0 * 2 / 4, 1e-9);
  // NPS: October's three answers (10, 9, 3), not September's 0.
  EXPECT_EQ(all.facts.nps_promoters, 2);
  EXPECT_EQ(all.facts.nps_detractors, 1);
  EXPECT_NEAR(*kpi(all, "nps").value, 100.0 / 3, 1e-9);
  EXPECT_EQ(all.facts.tickets_resolved, 1);
  EXPECT_DOUBLE_EQ(*kpi(all, "ticket_resolution_hours").value, 48);
  // Bands at October's end of its customers (Alpha green, Charlie yellow, Delta yellow, Echo orange).
  EXPECT_EQ(all.facts.customers_end, 4);
  EXPECT_EQ(all.facts.bands[0], 1);
  EXPECT_EQ(all.facts.bands[1], 2);
  EXPECT_EQ(all.facts.bands[2], 1);
  EXPECT_EQ(all.facts.bands[3], 0);  // the red ones churned
  // Per CSM (seed 004): Aki's revenue churn, Bravo's 3 and Foxtrot's 40 of the 140 Aki started with.
  const auto aki = month("2026-10", std::nullopt, "101");
  EXPECT_NEAR(*kpi(aki, "revenue_churn").value, 100.0 * 43 / 140, 1e-9);
  const auto ben = month("2026-10", std::nullopt, "102");
  EXPECT_FALSE(kpi(ben, "revenue_churn").value.has_value());  // Ben started October with no MRR
  EXPECT_DOUBLE_EQ(*kpi(all, "customers_per_csm").value, 2);  // 4 customers, 2 CSMs
  // Onboarding: October's due one (Delta) was on time; both completed in October, 51 and 65 days.
  EXPECT_DOUBLE_EQ(*kpi(all, "onboarding_completion").value, 100);
  EXPECT_DOUBLE_EQ(*kpi(all, "onboarding_days").value, 58);
  EXPECT_FALSE(kpi(all, "time_to_value").value.has_value());  // no first value reached in October
  // September: Echo's churn; Charlie's onboarding due and late; Delta's first value after 26 days.
  const auto sep = month("2026-09");
  EXPECT_DOUBLE_EQ(*kpi(sep, "onboarding_completion").value, 0);
  EXPECT_FALSE(*kpi(sep, "onboarding_completion").met);
  EXPECT_DOUBLE_EQ(*kpi(sep, "time_to_value").value, 26);
  EXPECT_TRUE(*kpi(sep, "time_to_value").met);
  EXPECT_EQ(sep.facts.churned, 1);
  EXPECT_DOUBLE_EQ(sep.facts.churn_mrr, 20);
  // The quarter compares its first and last day: Q4 so far (through Nov 1).
  KpiQuery q;
  q.granularity = core::Granularity::kQuarter;
  q.from = q.to = day("2026-10-01");
  const auto q4 = store_->kpis(q).front();
  ASSERT_TRUE(q4.computed);
  EXPECT_DOUBLE_EQ(q4.facts.start_mrr, 140);
  // A period no run kept answers without values.
  const auto old = month("2026-01");
  EXPECT_FALSE(old.computed);
  EXPECT_FALSE(kpi(old, "grr").value.has_value());
}

TEST_F(KpisTest, ChurnEventsAndTheChurnAnalysis) {
  store_->compute(day("2026-11-01"));
  EXPECT_EQ(
      text("SELECT source || ' ' || churn_day || ' ' || mrr_lost FROM churn_events WHERE company_id = 2"),
      "mrr 2026-10-20 3");
  EXPECT_EQ(
      text("SELECT source || ' ' || churn_day || ' ' || coalesce(returned_on::text, '-') FROM churn_events "
           "WHERE company_id = 5"),
      "mrr 2026-09-01 2026-10-31");
  EXPECT_EQ(
      text("SELECT source || ' ' || churn_day || ' ' || reason || ' ' || mrr_lost FROM churn_events WHERE "
           "company_id = 6"),
      "stage 2026-10-25 cost 40");
  const auto a = store_->churn_analysis(day("2026-10-01"), day("2026-10-31"), 100);
  ASSERT_EQ(a["churns"].size(), 2u);  // Foxtrot (Oct 25), Bravo (Oct 20); Echo churned in September
  const auto& fox = a["churns"][0];
  EXPECT_EQ(fox["name"], "Foxtrot");
  EXPECT_EQ(fox["reason"], "cost");
  EXPECT_EQ(fox["band_before"]["30"], "red");
  const auto& bravo = a["churns"][1];
  EXPECT_EQ(bravo["name"], "Bravo");
  EXPECT_EQ(bravo["warning_lead_days"], 19);  // red since Oct 1
  EXPECT_EQ(bravo["band_before"]["30"], "green");
  EXPECT_EQ(bravo["signals"][0]["name"], "usage_drop");
  EXPECT_EQ(bravo["signals"][0]["first_day"], "2026-10-01");
  ASSERT_EQ(bravo["alerts"].size(), 1u);
  EXPECT_EQ(bravo["alerts"][0]["created"], "2026-10-02");
  EXPECT_EQ(bravo["alerts"][0]["completed"], "2026-10-05");
  EXPECT_TRUE(bravo["alerts"][0]["acted_on"].get<bool>());
  EXPECT_FALSE(bravo["history"].empty());
  const auto& s = a["summary"];
  EXPECT_EQ(s["churned"], 2);
  EXPECT_EQ(s["red_or_orange_before"][0]["at_risk"], 1);  // 30 days before: Foxtrot red, Bravo green
  EXPECT_EQ(s["alerts_acted_on"], 1);
  EXPECT_DOUBLE_EQ(s["alerts_acted_on_share"].get<double>(), 100);
  EXPECT_EQ(s["reasons"]["cost"], 1);
  // Foxtrot's stage goes back to active: its churn has ended.
  exec("UPDATE crm_objects SET fields = fields || '{\"cs_stage\": \"active\"}' WHERE id = 6");
  store_->compute(day("2026-11-03"));
  EXPECT_EQ(text("SELECT returned_on FROM churn_events WHERE company_id = 6"), "2026-11-03");
  EXPECT_EQ(text("SELECT count(*) FROM company_churned_stage"), "0");
}

// A stage found churned on the first run, with no churn date: dated from `cs_stage`'s property history
// (the back-filled snapshots), the last time it became `churned` (Golf left and came back in between),
// not from HubSpot's last modification of the company (Oct 25); with no history (Hotel), from that
// modification; a stage churned only in tonight's sync snapshot is not history (India).
TEST_F(KpisTest, AFirstRunDatesAStageChurnFromItsPropertyHistory) {
  company(7, {{"name", "Golf"}, {"cs_stage", "churned"}});
  company(8, {{"name", "Hotel"}, {"cs_stage", "churned"}});
  company(9, {{"name", "India"}, {"cs_stage", "churned"}});
  exec(
      "INSERT INTO company_snapshots (company_id, day, backfilled) VALUES "
      "(7, '2026-03-01', '{\"cs_stage\": \"churned\"}'), (7, '2026-04-01', '{\"cs_stage\": \"active\"}'), "
      "(7, '2026-09-01', '{\"mrr\": 10}'), (7, '2026-10-12', '{\"cs_stage\": \"churned\"}'), "
      "(7, '2026-10-20', '{\"cs_stage\": \"churned\"}'), (9, '2026-05-01', '{\"cs_stage\": \"active\"}')");
  exec(
      "INSERT INTO company_snapshots (company_id, day, synced) VALUES (7, '2026-11-01', "
      "'{\"cs_stage\": \"churned\"}'), (9, '2026-11-01', '{\"cs_stage\": \"churned\"}')");
  store_->compute(day("2026-11-01"));
  EXPECT_EQ(text("SELECT churned_on FROM company_churned_stage WHERE company_id = 7"), "2026-10-12");
  EXPECT_EQ(text("SELECT churned_on FROM company_churned_stage WHERE company_id = 8"), "2026-10-25");
  EXPECT_EQ(text("SELECT churned_on FROM company_churned_stage WHERE company_id = 9"), "2026-10-25");
  EXPECT_EQ(text("SELECT churn_day FROM churn_events WHERE company_id = 7 AND source = 'stage'"),
            "2026-10-12");
  // After the first run a stage churn is dated the night it is seen, history or not.
  company(10, {{"name", "Juliet"}, {"cs_stage", "churned"}});
  exec(
      "INSERT INTO company_snapshots (company_id, day, backfilled) VALUES (10, '2026-10-01', "
      "'{\"cs_stage\": \"churned\"}')");
  store_->compute(day("2026-11-02"));
  EXPECT_EQ(text("SELECT churned_on FROM company_churned_stage WHERE company_id = 10"), "2026-11-02");
}

// Expansions: a rise of MRR while paying (Charlie, Oct 10), not a return from zero (Echo) nor a first MRR
// (Delta); a won deal of an upsell type, dated by its close day in UTC, and not an open, archived or
// new-business one; a custom type counts once kpis.upsell_deal_types names it.
TEST_F(KpisTest, ExpansionOutcomesFromMrrRisesAndWonUpsellDeals) {
  auto deal = [&](std::int64_t id, const char* stage, const char* type, const char* closed, bool archived,
                  std::int64_t company) {
    exec("INSERT INTO crm_objects (object_type, id, properties, fields, archived) VALUES ('deals', " +
         std::to_string(id) + ", '{}', '" +
         json({{"stage", stage}, {"deal_type", type}, {"close_date", closed}}).dump() + "', " +
         (archived ? "true" : "false") + ")");
    exec("INSERT INTO crm_associations VALUES ('deals', " + std::to_string(id) + ", 'companies', " +
         std::to_string(company) + ")");
  };
  deal(1001, "closedwon", "existingbusiness", "2026-09-20T23:30:00Z", false, 1);
  deal(1002, "closedwon", "newbusiness", "2026-10-15T00:00:00Z", false, 4);
  deal(1003, "appointmentscheduled", "existingbusiness", "2026-10-01T00:00:00Z", false, 2);
  deal(1004, "closedwon", "existingbusiness", "2026-10-02T00:00:00Z", true, 2);
  deal(1005, "closedwon", "upsell", "2026-10-20T00:00:00Z", false, 4);
  auto seen = [](const std::vector<ExpansionOutcome>& all) {
    std::vector<std::string> out;
    for (const auto& e : all)
      out.push_back(std::to_string(e.company_id) + " " + core::format_day(e.day) + " " + e.source);
    return out;
  };
  EXPECT_EQ(seen(store_->expansion_outcomes()),
            (std::vector<std::string>{"1 2026-09-20 deal", "3 2026-10-10 mrr"}));
  Settings custom;
  custom.upsell_deal_types = {"existingbusiness", "upsell"};
  KpiStore with_upsell(db_, custom);
  EXPECT_EQ(seen(with_upsell.expansion_outcomes()),
            (std::vector<std::string>{"1 2026-09-20 deal", "3 2026-10-10 mrr", "4 2026-10-20 deal"}));
}

TEST_F(KpisTest, Reruns) {
  store_->compute(day("2026-11-01"));
  const auto before = text(
      "SELECT md5(string_agg(granularity || period_start || segment || owner_id || facts, "
      "',' ORDER BY 1)) FROM kpi_facts WHERE period_start < '2026-11-01'");
  const auto rows = text("SELECT count(*) FROM kpi_facts");
  // The next night recomputes only November and Q4; October stays as it was.
  const auto next = store_->compute(day("2026-11-02"));
  EXPECT_EQ(next["from"], "2026-11-01");
  EXPECT_EQ(next["periods"], 2);
  // A second run of the same night changes nothing.
  store_->compute(day("2026-11-02"));
  EXPECT_EQ(
      text("SELECT md5(string_agg(granularity || period_start || segment || owner_id || facts, ',' ORDER "
           "BY 1)) FROM kpi_facts WHERE period_start < '2026-11-01'"),
      before);
  EXPECT_EQ(text("SELECT count(*) FROM kpi_facts"), rows);
  EXPECT_EQ(text("SELECT count(*) FROM churn_events"), "3");
  EXPECT_EQ(text("SELECT through FROM kpi_state"), "2026-11-02");
  // A manual rerun of an earlier day leaves every period covering what it did.
  store_->compute(day("2026-10-15"));
  EXPECT_EQ(
      text("SELECT min(through) FROM kpi_facts WHERE granularity = 'month' AND period_start = '2026-10-01'"),
      "2026-10-31");
  EXPECT_EQ(text("SELECT through FROM kpi_state"), "2026-11-02");
}

TEST_F(KpisTest, AtRiskRenewalsAndCompanyPage) {
  store_->compute(day("2026-11-01"));
  ListQuery q;
  const auto risk = store_->at_risk(q);
  EXPECT_EQ(risk["as_of"], "2026-10-31");
  ASSERT_EQ(risk["total"], 3);  // Foxtrot 20, Bravo 30, Echo 55
  EXPECT_EQ(risk["companies"][0]["name"], "Foxtrot");
  EXPECT_EQ(risk["companies"][0]["owner"], "Aki Sato");
  EXPECT_EQ(risk["companies"][2]["name"], "Echo");
  q.segment = "smb";
  q.sort = "score";
  q.descending = true;
  const auto smb = store_->at_risk(q);
  ASSERT_EQ(smb["total"], 2);
  EXPECT_EQ(smb["companies"][0]["name"], "Echo");
  ListQuery ben;
  ben.owner = "102";
  EXPECT_EQ(store_->at_risk(ben)["total"], 1);
  // Renewals within 90 days of Nov 1: Alpha (Dec 15), not Charlie (next June).
  const auto r = store_->renewals(day("2026-11-01"), 90, ListQuery{});
  ASSERT_EQ(r["total"], 1);
  EXPECT_EQ(r["renewals"][0]["name"], "Alpha");
  EXPECT_EQ(r["renewals"][0]["days_left"], 44);
  EXPECT_EQ(r["renewals"][0]["status"], "green");
  EXPECT_EQ(store_->renewals(day("2026-11-01"), 43, ListQuery{})["total"], 0);
  ListQuery smb_renewals, enterprise_renewals, past_the_end;
  smb_renewals.segment = "smb";
  enterprise_renewals.segment = "enterprise";
  past_the_end.offset = 5;
  EXPECT_EQ(store_->renewals(day("2026-11-01"), 90, smb_renewals)["total"], 1);
  EXPECT_EQ(store_->renewals(day("2026-11-01"), 90, enterprise_renewals)["total"], 0);
  const auto beyond = store_->renewals(day("2026-11-01"), 90, past_the_end);
  EXPECT_EQ(beyond["total"], 1);
  EXPECT_TRUE(beyond["renewals"].empty());
  ListQuery risk_beyond;
  risk_beyond.offset = 10;
  EXPECT_EQ(store_->at_risk(risk_beyond)["total"], 3);
  ListQuery by_owner;
  by_owner.sort = "owner";
  EXPECT_EQ(store_->at_risk(by_owner)["companies"][0]["owner"], "Aki Sato");
  EXPECT_EQ(store_->renewals(day("2026-11-01"), 44, ListQuery{})["total"], 1);
  // Charlie's page marks Oct 16, when the configuration that scores it changed.
  const auto page = store_->company_page(3, 180);
  ASSERT_TRUE(page);
  ASSERT_EQ((*page)["config_changes"].size(), 1u);
  EXPECT_EQ((*page)["config_changes"][0]["day"], "2026-10-16");
  EXPECT_EQ((*page)["config_changes"][0]["kind"], "config");
  EXPECT_EQ((*page)["history"].size(), 61u);
  EXPECT_FALSE(store_->company_page(999, 180));
  const auto fresh = store_->freshness();
  EXPECT_EQ(fresh["kpis_through"], "2026-11-01");
  EXPECT_FALSE(fresh["last_score_run"].is_null());
  const auto dims = store_->dimensions();
  EXPECT_EQ(dims["segments"], json::array({"enterprise", "smb"}));
  EXPECT_EQ(dims["owners"][0]["name"], "Aki Sato");
}

}  // namespace
}  // namespace cshealthd::kpis
