// The Segment source against a real PostgreSQL: messageIds de-duplicate a retried batch, activity turns
// into each company's 30-day figures when settled (active users, logins, features), a user tied to a
// company later brings their earlier days along, unknown companies wait in the quarantine, and what no
// figure needs any more is forgotten.
#include "cshealthd/store/segment_store.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cshealthd/core/time.hpp"
#include "test_database.hpp"

namespace cshealthd::store {
namespace {

using json = nlohmann::json;

const core::EpochMs kNow = *core::parse_iso8601("2026-06-15T12:00:00Z");
const std::int32_t kToday = core::day_of(kNow);

class SegmentStoreTest : public ::testing::Test {
 protected:
  void exec(const std::string& sql) { testing::exec_sql(db_, sql); }
  std::string text(const std::string& sql) { return testing::first_text(db_, sql); }
  long long count(const std::string& sql) { return std::stoll(text(sql)); }
  void company(std::int64_t id, const std::string& domain) {
    exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at, archived) "
        "VALUES ('companies', " +
        std::to_string(id) + ", '{}', '" + json{{"domain", domain}}.dump() +
        "', '2026-01-01', '2026-01-01', false)");
  }
  core::SegmentSettings settings() const {
    core::SegmentSettings s;
    s.group_key = core::UsageKeyKind::kDomain;
    s.login_events = {"Signed In"};
    s.feature_events = {"Report Exported", "Dashboard Shared", "Invite Sent"};
    return s;
  }
  // One batch as the API takes it: the new events (by messageId) folded in and kept, in one transaction.
  std::size_t send(const std::string& events) {
    const auto parsed = core::parse_segment("{\"batch\": [" + events + "]}", true, kNow);
    EXPECT_TRUE(parsed.errors.empty());
    pqxx::connection c(tdb_.conninfo());
    pqxx::work tx(c);
    const auto fresh = SegmentStore::fresh(tx, parsed.events);
    const auto a = core::aggregate_segment(parsed.events, fresh, settings(), core::TimeZone::utc(), kToday);
    EXPECT_TRUE(a.errors.empty());
    SegmentStore::add(tx, a);
    tx.commit();
    return a.counted;
  }
  SegmentStore::Settled settle(std::size_t limit = 500) {
    pqxx::connection c(tdb_.conninfo());
    pqxx::work tx(c);
    auto r = SegmentStore::settle(tx, core::UsageKeyKind::kDomain, true, true, kToday, limit);
    tx.commit();
    return r;
  }
  // "active logins features source" of a company's day, "<null>" when none.
  std::string figures(std::int64_t company, std::int32_t day = kToday) {
    return text(
        "SELECT string_agg(value::text, ' ' ORDER BY array_position(ARRAY['active_users_30d', 'logins_30d', "
        "'features_used'], metric)) || ' ' || min(source) FROM usage_daily WHERE company_id = " +
        std::to_string(company) + " AND day = '" + core::format_day(day) + "'");
  }
  static std::string event(const std::string& id, const std::string& type, const std::string& user,
                           const std::string& rest, const std::string& when = "2026-06-15T09:00:00Z") {
    return R"({"messageId":")" + id + R"(","type":")" + type + R"(","userId":")" + user +
           R"(","timestamp":")" + when + "\"" + rest + "}";
  }

  testing::TestDatabase tdb_;
  store::Database db_{tdb_.conninfo(), store::PoolOptions{}};
};

TEST_F(SegmentStoreTest, ActivityBecomesEachCompanysThirtyDayFigures) {
  company(1, "acme.example");
  company(2, "beta.example");
  send(event("g1", "group", "ann", R"(,"groupId":"acme.example")") + "," +
       event("g2", "group", "bob", R"(,"groupId":"www.Acme.example")") + "," +
       event("g3", "group", "cy", R"(,"groupId":"beta.example")") + "," +
       event("t1", "track", "ann", R"(,"event":"Signed In")") + "," +
       event("t2", "track", "ann", R"(,"event":"Signed In")", "2026-06-01T09:00:00Z") + "," +
       event("t3", "track", "bob", R"(,"event":"Report Exported")") + "," +
       event("t4", "track", "bob", R"(,"event":"Invite Sent")", "2026-05-17T09:00:00Z") +
       "," +                                                                                  // day 29 back
       event("t5", "track", "cy", R"(,"event":"Signed In")", "2026-05-16T09:00:00Z") + "," +  // day 30 back
       event("p1", "page", "cy", R"(,"name":"Home")", "2026-06-14T09:00:00Z"));
  EXPECT_EQ(count("SELECT count(*) FROM segment_dirty"), 5);  // acme: 06-15, 06-01, 05-17; beta: 05-16, 06-14
  const auto s = settle();
  EXPECT_GT(s.rows, 0u);
  EXPECT_EQ(count("SELECT count(*) FROM segment_dirty"), 0);
  EXPECT_EQ(figures(1), "2 2 2 segment");  // ann and bob; ann's two logins; two features in the window
  EXPECT_EQ(figures(2), "1 0 0 segment");  // cy's login of 05-16 is 30 days back: out of the window
  EXPECT_EQ(figures(2, kToday - 1), "1 1 0 segment");   // 06-14: its window still holds 05-16
  EXPECT_EQ(figures(1, kToday - 14), "2 1 1 segment");  // 06-01: ann's login, bob's invite of 05-17
  EXPECT_EQ(figures(1, kToday - 29), "1 0 1 segment");  // 05-17: bob alone
  EXPECT_EQ(figures(1, kToday - 30), "<null>");
  EXPECT_EQ(count("SELECT count(*) FROM refresh_requests WHERE company_id IN (1, 2)"), 2);
  // No raw event is kept: only hashed users, days and counts.
  EXPECT_EQ(count("SELECT count(*) FROM segment_members WHERE group_key LIKE '%ann%'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM segment_activity"), 6);
}

TEST_F(SegmentStoreTest, ARetriedBatchAddsNothing) {
  company(1, "acme.example");
  const std::string body = event("g1", "group", "ann", R"(,"groupId":"acme.example")") + "," +
                           event("t1", "track", "ann", R"(,"event":"Signed In")") + "," +
                           event("t2", "track", "ann", R"(,"event":"Signed In")");
  EXPECT_EQ(send(body), 3u);
  settle();
  EXPECT_EQ(figures(1), "1 2 0 segment");
  EXPECT_EQ(send(body), 0u);  // Segment retried it: every messageId seen
  EXPECT_EQ(send(event("t3", "track", "ann", R"(,"event":"Signed In")") + "," +
                 event("t3", "track", "ann", R"(,"event":"Signed In")")),
            1u);  // repeated within a batch: counted once
  settle();
  EXPECT_EQ(figures(1), "1 3 0 segment");
}

TEST_F(SegmentStoreTest, AUserTiedToACompanyLaterBringsTheirDaysAlong) {
  company(1, "acme.example");
  send(event("t1", "track", "ann", R"(,"event":"Signed In")", "2026-06-10T09:00:00Z"));
  EXPECT_EQ(count("SELECT count(*) FROM segment_dirty"), 0);  // no company yet
  EXPECT_EQ(settle().rows, 0u);
  send(event("g1", "group", "ann", R"(,"groupId":"acme.example")"));
  settle();
  EXPECT_EQ(figures(1, kToday - 5), "1 1 0 segment");
  EXPECT_EQ(figures(1), "1 1 0 segment");
}

TEST_F(SegmentStoreTest, AnUnknownCompanyWaitsInTheQuarantine) {
  send(event("g1", "group", "ann", R"(,"groupId":"later.example")") + "," +
       event("t1", "track", "ann", R"(,"event":"Signed In")"));
  const auto s = settle();
  EXPECT_EQ(s.stored.figures, 0u);
  EXPECT_EQ(
      count("SELECT count(*) FROM usage_quarantine WHERE key = 'later.example' AND source = 'segment' AND "
            "day = '2026-06-15'"),
      3);
  company(7, "later.example");
  pqxx::connection c(tdb_.conninfo());
  pqxx::work tx(c);
  UsageStore::release_quarantine(tx);
  tx.commit();
  EXPECT_EQ(figures(7), "1 1 0 segment");
}

TEST_F(SegmentStoreTest, SettlingTakesItsBatchAndLeavesTheRest) {
  company(1, "acme.example");
  send(event("g1", "group", "ann", R"(,"groupId":"acme.example")") + "," +
       event("t1", "page", "ann", "", "2026-06-13T09:00:00Z") + "," + event("t2", "page", "ann", ""));
  const auto first = settle(1);
  EXPECT_EQ(first.marks, 1u);
  EXPECT_EQ(count("SELECT count(*) FROM segment_dirty"), 1);
  EXPECT_EQ(settle(1).marks, 1u);
  EXPECT_EQ(settle(1).marks, 0u);
  EXPECT_EQ(figures(1, kToday - 2), "1 0 0 segment");
  EXPECT_EQ(figures(1), "1 0 0 segment");
  // A company day marked by several batches is settled once, with all its marks.
  send(event("t3", "page", "ann", ""));
  send(event("t4", "track", "ann", R"(,"event":"Signed In")"));
  EXPECT_EQ(count("SELECT count(*) FROM segment_dirty"), 2);
  const auto both = settle(1);
  EXPECT_EQ(both.marks, 2u);
  EXPECT_EQ(both.days, 1u);
  EXPECT_EQ(count("SELECT count(*) FROM segment_dirty"), 0);
  EXPECT_EQ(figures(1), "1 1 0 segment");
}

TEST_F(SegmentStoreTest, WhatNoFigureNeedsIsForgotten) {
  company(1, "acme.example");
  send(event("g1", "group", "ann", R"(,"groupId":"acme.example")") + "," + event("t1", "page", "ann", ""));
  exec("INSERT INTO segment_activity (user_key, day) VALUES (1, '2026-03-01'), (1, '2026-04-17')");
  exec(
      "INSERT INTO segment_members (user_key, group_key, updated_at) VALUES (1, 'old.example', "
      "'2026-03-01'), "
      "(2, 'old.example', '2026-03-01')");
  exec("INSERT INTO segment_messages (message_id, received_at) VALUES ('old', '2026-04-01')");
  pqxx::connection c(tdb_.conninfo());
  pqxx::work tx(c);
  const auto gone = SegmentStore::prune(tx, kToday - 30, 100);  // 05-16: windows reach back to 04-17
  tx.commit();
  EXPECT_EQ(gone, 3u);  // 03-01's activity, the old messageId, user 2 (no activity left)
  EXPECT_EQ(count("SELECT count(*) FROM segment_activity WHERE user_key = 1"), 1);  // 04-17 is kept
  EXPECT_EQ(count("SELECT count(*) FROM segment_members WHERE user_key = 1"), 1);   // still active
  EXPECT_EQ(count("SELECT count(*) FROM segment_messages"), 2);
}

}  // namespace
}  // namespace cshealthd::store
