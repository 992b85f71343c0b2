// Scoring runs against a real PostgreSQL: inputs read through the typed views and associations,
// results and history stored, overrides audited.
#include "cshealthd/scoring/batch.hpp"

#include <gmock/gmock.h>
#include <atomic>
#include <thread>
#include <sstream>
#include <fstream>

#include <gtest/gtest.h>

#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/health_store.hpp"
#include "test_database.hpp"

namespace cshealthd::scoring {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr std::int32_t kDay = 20'619;  // 2026-06-15

class ScoringTest : public ::testing::Test {
 protected:
  void exec(const std::string& sql) { testing::exec_sql(db_, sql); }
  std::string text(const std::string& sql) { return testing::first_text(db_, sql); }
  // A CRM record as the sync stores it: raw properties are not read by scoring, typed fields are.
  void object(const std::string& type, std::int64_t id, const json& fields,
              const std::string& created = "2026-01-01", bool archived = false) {
    exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at, archived) "
        "VALUES ('" +
        type + "', " + std::to_string(id) + ", '{}', '" + fields.dump() + "', '" + created + "', '" +
        created + "', " + (archived ? "true" : "false") + ")");
  }
  void link(const std::string& from, std::int64_t from_id, const std::string& to, std::int64_t to_id) {
    exec("INSERT INTO crm_associations VALUES ('" + from + "', " + std::to_string(from_id) + ", '" + to +
         "', " + std::to_string(to_id) + ")");
  }
  void snapshot(std::int64_t company, const std::string& metric, std::int32_t day, double value) {
    exec("INSERT INTO company_snapshots (company_id, day, synced) VALUES (" + std::to_string(company) +
         ", '" + core::format_day(day) + "', jsonb_build_object('" + metric + "', " + std::to_string(value) +
         ")) ON CONFLICT (company_id, day) DO UPDATE SET synced = company_snapshots.synced || "
         "EXCLUDED.synced");
  }
  BatchReport run(std::int32_t day = kDay, std::size_t chunk = 1000,
                  std::optional<std::int64_t> company = {}) {
    BatchScorer scorer(db_, config_, metrics_);
    BatchOptions o;
    o.as_of_day = day;
    o.chunk = chunk;
    o.company = company;
    o.keep_results = true;
    return scorer.run(o);
  }
  json stored(std::int64_t company, std::int32_t day = kDay) {
    const auto t = text("SELECT row_to_json(h)::text FROM health_scores h WHERE company_id = " +
                        std::to_string(company) + " AND day = '" + core::format_day(day) + "'");
    return t == "<null>" ? json() : json::parse(t);
  }
  static json component(const json& result, const std::string& name) {
    for (const auto& c : result["components"]) {
      if (c["name"] == name) return c;
    }
    return json();
  }

  testing::TestDatabase tdb_;
  store::Database db_{tdb_.conninfo(), store::PoolOptions{}};
  metrics::Registry metrics_;
  ScoringConfig config_ = load_scoring("", core::StatusBands{});
};

// The weighted card's worked example, assembled the way the sync stores it.
// The typed view (migration 0005) has a column for every canonical input core names, of a type that
// reads as the kind core gives it: scoring's reader selects them by those names.
TEST_F(ScoringTest, TheCompaniesViewHasEveryCanonicalInputByCoresName) {
  const auto type_of = [&](const std::string& column) {
    return text(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'companies' AND column_name = "
        "'" +
        column + "'");
  };
  for (std::size_t i = 0; i < core::kTextFieldCount; ++i)
    EXPECT_EQ(type_of(core::name_of(core::TextField(i))), "text") << core::name_of(core::TextField(i));
  for (std::size_t i = 0; i < core::kDateFieldCount; ++i)
    EXPECT_EQ(type_of(core::name_of(core::DateField(i))), "timestamp with time zone")
        << core::name_of(core::DateField(i));
  for (std::size_t i = 0; i < core::kMetricCount; ++i)
    EXPECT_EQ(type_of(core::name_of(core::Metric(i))), "double precision") << core::name_of(core::Metric(i));
  EXPECT_EQ(type_of("owner_id"), "text");
}

TEST_F(ScoringTest, ReadsInputsThroughViewsAndAssociationsAndStoresTheExplainedResult) {
  const std::string day = core::format_day(kDay);
  object("companies", 1,
         {{"name", "Acme"},
          {"licensed_seats", 100},
          {"active_users_30d", 65},
          {"mrr", 900},
          {"renewal_date", core::format_iso8601(core::start_of_day(kDay) + 122 * core::kMsPerDay)}});
  snapshot(1, "licensed_seats", kDay - 30, 100);
  snapshot(1, "licensed_seats", kDay, 100);
  snapshot(1, "active_users_30d", kDay, 65);
  // Three feature requests this month (one archived ticket that must not count), an NPS 8 answered by a
  // contact of the company (associated to the contact only), and an older NPS 10.
  for (int i = 0; i < 4; ++i) {
    object("tickets", 100 + i, {{"category", "FEATURE_REQUEST"}, {"priority", "LOW"}},
           core::format_iso8601(core::start_of_day(kDay) - (i + 1) * core::kMsPerDay), i == 3);
    link("tickets", 100 + i, "companies", 1);
  }
  object("contacts", 10, {{"email", "a@acme.example"}});
  link("contacts", 10, "companies", 1);
  object("feedback_submissions", 200,
         {{"survey_type", "NPS"}, {"value", 8}, {"submitted_at", day + "T09:00:00.000Z"}});
  link("feedback_submissions", 200, "contacts", 10);
  object("feedback_submissions", 201,
         {{"survey_type", "NPS"}, {"value", 10}, {"submitted_at", "2026-01-10T09:00:00.000Z"}});
  link("feedback_submissions", 201, "companies", 1);

  const auto report = run();
  ASSERT_EQ(report.companies, 1u);
  const auto r = stored(1);
  EXPECT_DOUBLE_EQ(r["score"].get<double>(), 62.5);  // 0.4×70 + 0.2×50 + 0.15×60 + 0.15×70 + 0.1×50
  EXPECT_EQ(r["status"], "yellow");
  EXPECT_DOUBLE_EQ(r["coverage"].get<double>(), 1.0);
  EXPECT_EQ(r["scorecard"], "weighted");
  EXPECT_EQ(r["segment"], "tech_touch");
  EXPECT_EQ(component(r, "support")["points"], 60);
  EXPECT_EQ(component(r, "support")["raw"], 3);
  EXPECT_EQ(component(r, "nps")["raw"], 8);  // the latest answer, reached through the contact
  EXPECT_EQ(component(r, "expansion")["rule"], "flat");
  EXPECT_THAT(r["reasons"][0].get<std::string>(), HasSubstr("usage"));
  EXPECT_EQ(report.results[0]["company_id"], "1");
  EXPECT_EQ(text("SELECT companies FROM score_runs WHERE id = " + std::to_string(report.run_id)), "1");
  EXPECT_NE(text("SELECT finished_at FROM score_runs WHERE id = " + std::to_string(report.run_id)), "<null>");
}

TEST_F(ScoringTest, EveryLiveCompanyIsScoredAcrossChunksAndARerunReplacesTheDay) {
  for (int id = 1; id <= 7; ++id)
    object("companies", id, {{"licensed_seats", 10}, {"active_users_30d", id}}, "2026-01-01", id == 4);
  const auto first = run(kDay, 2);
  EXPECT_EQ(first.companies, 6u);  // the archived company is not scored
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE day = '2026-06-15'"), "6");
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE company_id = 4"), "0");
  const auto second = run(kDay, 3);
  EXPECT_EQ(text("SELECT count(*) FROM health_scores"), "6");  // one row per company per day
  EXPECT_EQ(text("SELECT count(DISTINCT run_id) FROM health_scores"), "1");
  EXPECT_EQ(text("SELECT min(run_id) FROM health_scores"), std::to_string(second.run_id));
}

TEST_F(ScoringTest, PastDaysRescoreFromSnapshotsWithPreviousAndDelta) {
  object("companies", 1, {{"licensed_seats", 100}, {"active_users_30d", 30}});  // today's synced values
  snapshot(1, "licensed_seats", kDay - 10, 100);
  snapshot(1, "active_users_30d", kDay - 10, 90);  // ten days ago: 90 % active
  snapshot(1, "active_users_30d", kDay, 30);
  run(kDay - 10);
  const auto then = stored(1, kDay - 10);
  EXPECT_EQ(component(then, "usage")["points"], 100);
  EXPECT_EQ(component(then, "usage")["raw"], 90);
  run(kDay);
  const auto now = stored(1, kDay);
  EXPECT_EQ(component(now, "usage")["points"], 10);
  EXPECT_DOUBLE_EQ(now["previous_score"].get<double>(), then["score"].get<double>());
  EXPECT_DOUBLE_EQ(now["delta"].get<double>(), now["score"].get<double>() - then["score"].get<double>());
  HealthStore store(db_, config_);
  const auto history = store.history(1, 30);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].as_of, "2026-06-15");  // newest first
  EXPECT_EQ(history[1].as_of, "2026-06-05");
  // A day scored in between (and one after, which must not count) changes what "previous" is.
  snapshot(1, "active_users_30d", kDay - 5, 60);
  run(kDay - 5);
  run(kDay + 3);
  run(kDay);
  const auto middle = stored(1, kDay - 5);
  const auto again = stored(1, kDay);
  EXPECT_NE(middle["score"], then["score"]);
  EXPECT_DOUBLE_EQ(again["previous_score"].get<double>(), middle["score"].get<double>());
}

TEST_F(ScoringTest, APastDaySeesEachMetricsLatestValueWhicheverDayRecordedIt) {
  object("companies", 1, {{"licensed_seats", 100}, {"active_users_30d", 100}});  // today's: not used
  snapshot(1, "licensed_seats", kDay - 40, 50);                                  // recorded once, long before
  snapshot(1, "active_users_30d", kDay - 20, 45);  // 45 of 50 seats: 90 % on day -10
  snapshot(1, "active_users_30d", kDay - 5, 10);   // after the day scored: ignored
  run(kDay - 10);
  EXPECT_EQ(component(stored(1, kDay - 10), "usage")["raw"], 90);
  run(kDay);
  EXPECT_EQ(component(stored(1, kDay), "usage")["raw"], 20);  // 10 of the 50 seats still on record
}

// The point-in-time rule: a score for a day uses only what was known that day. Whatever is created or
// changed after it (a renewal signed, a ticket closed, a key person leaving, a meeting's outcome, an
// answer, a new company) never moves a score for it, and a company changed since without a snapshot
// of an input has that input unknown then, not its value of today.
TEST_F(ScoringTest, AScoreForADayNeverSeesWhatWasCreatedOrChangedAfterIt) {
  const auto at = [](std::int32_t day, int hour = 12) {
    return core::format_iso8601(core::start_of_day(day) + hour * 3'600'000LL);
  };
  const auto updated = [&](const std::string& type, std::int64_t id, std::int32_t day) {
    exec("UPDATE crm_objects SET updated_at = '" + at(day) + "' WHERE object_type = '" + type +
         "' AND id = " + std::to_string(id));
  };
  const auto renewal_then = core::start_of_day(kDay) + 20 * core::kMsPerDay;
  const auto renewal_now = core::start_of_day(kDay) + 400 * core::kMsPerDay;
  // As known on the day: 90 of 100 seats active, renewal in 20 days, an open critical bug, a key person
  // in place, a meeting without an outcome yet, an NPS 8.
  object("companies", 1,
         {{"name", "Acme"},
          {"plan", "starter"},
          {"licensed_seats", 100},
          {"active_users_30d", 90},
          {"renewal_date", core::format_iso8601(renewal_then)}});
  updated("companies", 1, kDay - 1);
  exec("INSERT INTO company_snapshots (company_id, day, synced) VALUES (1, '" + core::format_day(kDay - 40) +
       "', '{\"licensed_seats\": 100, \"active_users_30d\": 90, \"plan\": \"starter\", \"renewal_date\": " +
       std::to_string(renewal_then) + "}')");
  object("tickets", 100, {{"category", "PRODUCT_ISSUE"}, {"priority", "HIGH"}}, at(kDay - 3));
  link("tickets", 100, "companies", 1);
  object("contacts", 10, {{"email", "key@acme.example"}, {"key_person", true}}, at(kDay - 30));
  link("contacts", 10, "companies", 1);
  object("meetings", 300, {{"start_time", at(kDay - 10)}}, at(kDay - 12));
  link("meetings", 300, "companies", 1);
  object("feedback_submissions", 200, {{"survey_type", "NPS"}, {"value", 8}, {"submitted_at", at(kDay - 5)}},
         at(kDay - 5));
  link("feedback_submissions", 200, "companies", 1);
  // Changed after the day, with no snapshot of its inputs: they are unknown on the day.
  object("companies", 3, {{"licensed_seats", 10}, {"active_users_30d", 10}}, "2026-01-01");
  updated("companies", 3, kDay + 5);

  ASSERT_EQ(run(kDay).companies, 2u);
  const auto before = stored(1);
  EXPECT_EQ(component(before, "usage")["raw"], 90);
  EXPECT_EQ(component(before, "renewal")["points"], 20);  // the renewal month, as it was then
  EXPECT_EQ(component(stored(3), "usage")["has_data"], false);

  // After the day: the renewal signed and usage fallen (with today's snapshot), the ticket closed, a new
  // urgent ticket, the key person gone and another one arrived gone, the meeting marked a no-show, a
  // meeting logged late for the day before, a detractor's answer, a new company.
  exec("UPDATE crm_objects SET fields = fields || '{\"plan\": \"enterprise\", \"active_users_30d\": 10, "
       "\"renewal_date\": \"" + core::format_iso8601(renewal_now) + "\"}' WHERE id = 1 AND object_type = 'companies'");
  updated("companies", 1, kDay + 5);
  exec("INSERT INTO company_snapshots (company_id, day, synced) VALUES (1, '" + core::format_day(kDay + 5) +
       "', '{\"active_users_30d\": 10, \"plan\": \"enterprise\", \"renewal_date\": " +
       std::to_string(renewal_now) + "}')");
  exec("UPDATE crm_objects SET fields = fields || '{\"closed_at\": \"" + at(kDay + 2) +
       "\"}' WHERE id = 100 AND object_type = 'tickets'");
  updated("tickets", 100, kDay + 2);
  object("tickets", 101, {{"category", "PRODUCT_ISSUE"}, {"priority", "URGENT"}}, at(kDay + 1));
  link("tickets", 101, "companies", 1);
  exec("UPDATE crm_objects SET fields = fields || '{\"departed\": true}' WHERE id = 10 AND object_type = "
       "'contacts'");
  updated("contacts", 10, kDay + 3);
  object("contacts", 11, {{"email", "new@acme.example"}, {"key_person", true}, {"departed", true}},
         at(kDay + 2));
  link("contacts", 11, "companies", 1);
  exec("UPDATE crm_objects SET fields = fields || '{\"outcome\": \"NO_SHOW\"}' WHERE id = 300 AND "
       "object_type = 'meetings'");
  updated("meetings", 300, kDay + 1);
  object("meetings", 301, {{"start_time", at(kDay - 1)}, {"outcome", "NO_SHOW"}}, at(kDay + 1));
  link("meetings", 301, "companies", 1);
  object("feedback_submissions", 201, {{"survey_type", "NPS"}, {"value", 0}, {"submitted_at", at(kDay + 1)}},
         at(kDay + 1));
  link("feedback_submissions", 201, "companies", 1);
  object("companies", 2, {{"licensed_seats", 10}, {"active_users_30d", 10}}, at(kDay + 1));

  ASSERT_EQ(run(kDay).companies, 2u);  // company 2 did not exist on the day
  const auto again = stored(1);
  EXPECT_EQ(again["score"], before["score"]);
  EXPECT_EQ(again["components"], before["components"]);
  EXPECT_EQ(again["signals"], before["signals"]);
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE company_id = 2"), "0");

  // A day after the changes sees them all: the rule is about the day, not a frozen record.
  run(kDay + 6);
  const auto later = stored(1, kDay + 6);
  EXPECT_EQ(component(later, "usage")["raw"], 10);
  EXPECT_EQ(component(later, "renewal")["points"], 100);
  EXPECT_NE(later["signals"], before["signals"]);
  EXPECT_EQ(component(stored(3, kDay + 6), "usage")["has_data"], true);
}

// The day ends at midnight in the service's zone: in Tokyo (UTC+9) a ticket opened at 20:00 UTC on the
// day was opened the next morning, and a company created then did not exist yet.
TEST_F(ScoringTest, TheDayEndsAtMidnightInTheServicesZone) {
  object("companies", 1, {{"licensed_seats", 10}, {"active_users_30d", 10}});
  const auto evening = core::format_iso8601(core::start_of_day(kDay) + 20 * 3'600'000LL);
  object("tickets", 100, {{"category", "PRODUCT_ISSUE"}, {"priority", "HIGH"}}, evening);
  link("tickets", 100, "companies", 1);
  object("companies", 2, {{"licensed_seats", 10}, {"active_users_30d", 10}}, evening);
  std::ifstream f("/usr/share/zoneinfo/Asia/Tokyo", std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  const auto tokyo = core::TimeZone::from_tzif("Asia/Tokyo", bytes.str());
  BatchScorer scorer(db_, config_, metrics_);
  BatchOptions o;
  o.as_of_day = kDay;
  o.zone = &tokyo;
  EXPECT_EQ(scorer.run(o).companies, 1u);
  EXPECT_EQ(component(stored(1), "support")["points"], 100);
  EXPECT_EQ(run(kDay).companies, 2u);  // in UTC both were there by the day's end
  EXPECT_EQ(component(stored(1), "support")["points"], 20);
}

std::int32_t today() {
  return core::day_of(std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
}

TEST_F(ScoringTest, OverridesApplyExpireAndAreAudited) {
  // Overrides apply from when they were made: score today (a backfilled past day never sees them).
  const std::int32_t day = today();
  object("companies", 1, {{"licensed_seats", 100}, {"active_users_30d", 10}});
  HealthStore store(db_, config_);
  EXPECT_EQ(component(run(day - 1).results.at(0), "usage")["points"], 10);
  OverrideRequest r{1, "usage", 100, "billing miscounts seats", "lead@vendor.example", day + 5};
  store.set_override(r, day);
  auto result = run(day).results.at(0);
  EXPECT_EQ(component(result, "usage")["points"], 100);
  EXPECT_EQ(component(result, "usage")["overridden"], true);
  EXPECT_THAT(component(result, "usage")["rule"].get<std::string>(), HasSubstr("billing miscounts seats"));

  result = run(day + 6).results.at(0);  // the day after it expired
  EXPECT_EQ(component(result, "usage")["points"], 10);

  OverrideRequest whole{1, "", 90, "renewal signed early", "lead@vendor.example", day};
  store.set_override(whole, day);
  result = run(day).results.at(0);
  EXPECT_DOUBLE_EQ(result["score"].get<double>(), 90);
  EXPECT_EQ(result["override"]["reason"], "renewal signed early");
  EXPECT_EQ(stored(1, day)["score_override"]["author"], "lead@vendor.example");

  EXPECT_TRUE(store.revoke_override(1, "", "lead@vendor.example"));
  EXPECT_FALSE(store.revoke_override(1, "", "lead@vendor.example"));
  EXPECT_EQ(text("SELECT string_agg(action, ',' ORDER BY id) FROM score_override_audit"), "set,set,revoke");
  EXPECT_EQ(store.overrides(1).size(), 2u);  // kept, revoked ones included

  // Replacing an override revokes the one it replaces.
  store.set_override(r, day);
  store.set_override(OverrideRequest{1, "usage", 70, "second thoughts", "lead@vendor.example", day + 5}, day);
  EXPECT_EQ(text("SELECT count(*) FROM score_overrides WHERE component = 'usage' AND revoked_at IS NULL"),
            "1");
  EXPECT_EQ(component(run(day).results.at(0), "usage")["points"], 70);
}

TEST_F(ScoringTest, BadOverridesAreRefusedWithTheReason) {
  object("companies", 1, {});
  HealthStore store(db_, config_);
  auto error = [&](OverrideRequest r) {
    try {
      store.set_override(r, kDay);
    } catch (const InvalidRequest& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(error({1, "happiness", 5, "x", "a", kDay}), HasSubstr("component"));
  EXPECT_THAT(error({1, "", 101, "x", "a", kDay}), HasSubstr("value"));
  EXPECT_THAT(error({1, "", -1, "x", "a", kDay}), HasSubstr("value"));
  EXPECT_THAT(error({1, "depth", 16, "x", "a", kDay}), HasSubstr("[0, 15]"));  // the points card's scale
  EXPECT_THAT(error({1, "", 50, "", "a", kDay}), HasSubstr("reason"));
  EXPECT_THAT(error({1, "", 50, "x", "a", kDay - 1}), HasSubstr("expires_on"));
  EXPECT_EQ(text("SELECT count(*) FROM score_overrides"), "0");
}

TEST_F(ScoringTest, ScoreListFiltersAndPagesByKeyset) {
  for (int id = 1; id <= 5; ++id)
    object("companies", id, {{"licensed_seats", 10}, {"active_users_30d", id * 2}, {"mrr", id * 2000}});
  run();
  HealthStore store(db_, config_);
  ScoreListQuery q;
  q.limit = 2;
  auto page = store.list(q);
  EXPECT_EQ(page.as_of, "2026-06-15");
  ASSERT_EQ(page.results.size(), 2u);
  EXPECT_EQ(page.next_after, 2);
  q.after = 2;
  page = store.list(q);
  EXPECT_EQ(page.results[0].company_id, 3);
  q = {};
  q.segment = "high_touch";  // mrr >= 5000: companies 3, 4, 5
  EXPECT_EQ(store.list(q).results.size(), 3u);
  q.status = "green";  // 80 %+ active: companies 4 and 5 (support 100, usage 100; coverage 55 %)
  page = store.list(q);
  ASSERT_EQ(page.results.size(), 2u);
  EXPECT_EQ(page.results[0].company_id, 4);
  EXPECT_FALSE(page.next_after);
}

TEST_F(ScoringTest, AFirstRunCopiesARerunReplacesAndTwoAtOnceLeaveOneRowPerCompany) {
  exec(
      "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) "
      "SELECT 'companies', g, '{}', jsonb_build_object('licensed_seats', 10, 'active_users_30d', g % 10), "
      "'2026-01-01', '2026-01-01' FROM generate_series(1, 600) g");  // known on the day scored
  run(kDay, 100);
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE day = '2026-06-15'"), "600");
  const auto first = text("SELECT max(run_id) FROM health_scores");
  exec("UPDATE crm_objects SET fields = fields || '{\"active_users_30d\": 10}' WHERE id <= 300");
  run(kDay, 100);  // a rerun of the day: every row replaced by the new run's
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE day = '2026-06-15'"), "600");
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE run_id = " + first), "0");
  // ...with the new inputs: the first 300 now use every seat, and all of them are green.
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE company_id <= 300 AND status = 'green'"), "300");
  // Two runs of a new day at once: whichever writes a chunk second replaces the first's rows.
  std::vector<std::thread> runs;
  std::atomic<int> failed{0};
  for (int i = 0; i < 2; ++i) {
    runs.emplace_back([&] {
      try {
        run(kDay + 1, 50);
      } catch (const std::exception& e) {
        ++failed;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : runs) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(text("SELECT count(*) FROM health_scores WHERE day = '2026-06-16'"), "600");
}

TEST_F(ScoringTest, AFailedRunIsRecordedAndTheErrorRaised) {
  object("companies", 1, {{"licensed_seats", 10}});
  exec("ALTER TABLE company_snapshots RENAME TO snapshots_gone");
  EXPECT_THROW(run(), std::exception);
  EXPECT_THAT(text("SELECT error FROM score_runs ORDER BY id DESC LIMIT 1"), HasSubstr("company_snapshots"));
  EXPECT_NE(text("SELECT finished_at FROM score_runs ORDER BY id DESC LIMIT 1"), "<null>");
  EXPECT_EQ(metrics_.counter("cshealthd_scoring_failures_total", "").value(), 1u);
  exec("ALTER TABLE snapshots_gone RENAME TO company_snapshots");
  EXPECT_EQ(run().companies, 1u);  // healed: the day scores
}

}  // namespace
}  // namespace cshealthd::scoring
