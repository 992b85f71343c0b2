// Usage sent to cshealthd, against a real PostgreSQL: matched to companies by id, domain and external id,
// replaced (never added) when sent again, quarantined when no company or several match and released when
// a sync brings the company, and read by the scorer before or after the HubSpot property as configured.
#include "cshealthd/store/usage_store.hpp"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/store/migrations.hpp"
#include "test_database.hpp"

namespace cshealthd::store {
namespace {

using json = nlohmann::json;
using core::Metric;
using core::UsageKeyKind;
using ::testing::HasSubstr;

constexpr std::int32_t kDay = 20'619;  // 2026-06-15

class UsageStoreTest : public ::testing::Test {
 protected:
  void exec(const std::string& sql) { testing::exec_sql(db_, sql); }
  std::string text(const std::string& sql) { return testing::first_text(db_, sql); }
  long long count(const std::string& sql) { return std::stoll(text(sql)); }
  void company(std::int64_t id, const json& fields, bool archived = false) {
    exec(
        "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at, archived) "
        "VALUES ('companies', " +
        std::to_string(id) + ", '{}', '" + fields.dump() + "', '2026-01-01', '2026-01-01', " +
        (archived ? "true" : "false") + ")");
  }
  static core::UsageRow row(UsageKeyKind kind, std::string key, std::int32_t day,
                            std::vector<std::pair<Metric, double>> figures) {
    return core::UsageRow{{kind, std::move(key)}, day, std::move(figures)};
  }
  UsageStore::Stored put(const std::vector<core::UsageRow>& rows,
                         core::MetricSource source = core::MetricSource::kPush) {
    pqxx::connection c(tdb_.conninfo());
    pqxx::work tx(c);
    auto r = UsageStore::put(tx, rows, source);
    tx.commit();
    return r;
  }
  std::size_t release() {
    pqxx::connection c(tdb_.conninfo());
    pqxx::work tx(c);
    const auto n = UsageStore::release_quarantine(tx);
    tx.commit();
    return n;
  }
  std::string value(std::int64_t company, const std::string& metric, std::int32_t day = kDay) {
    return text(
        "SELECT value || ' ' || source FROM usage_daily WHERE company_id = " + std::to_string(company) +
        " AND metric = '" + metric + "' AND day = '" + core::format_day(day) + "'");
  }

  testing::TestDatabase tdb_;
  store::Database db_{tdb_.conninfo(), store::PoolOptions{}};
};

TEST_F(UsageStoreTest, RowsFindTheirCompanyByIdDomainOrExternalIdAndTheirCompaniesGetARefresh) {
  company(1, {{"name", "Acme"}, {"domain", "acme.example"}});
  company(2, {{"name", "Beta"}, {"domain", "www.Beta.example."}, {"external_id", "B-2"}});
  company(3, {{"name", "Gone"}, {"domain", "gone.example"}}, true);  // archived: matched by nothing
  const auto stored = put({row(UsageKeyKind::kId, "1", kDay, {{Metric::kActiveUsers30d, 40}}),
                           row(UsageKeyKind::kDomain, core::normalise_domain("https://WWW.BETA.example./app"),
                               kDay, {{Metric::kLogins30d, 300}}),
                           row(UsageKeyKind::kExternalId, "B-2", kDay, {{Metric::kLicensedSeats, 50}}),
                           row(UsageKeyKind::kDomain, "gone.example", kDay, {{Metric::kFeaturesUsed, 3}})});
  EXPECT_EQ(stored.figures, 3u);
  EXPECT_EQ(stored.quarantined, 1u);
  EXPECT_EQ(stored.companies, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(value(1, "active_users_30d"), "40 push");
  EXPECT_EQ(value(2, "logins_30d"), "300 push");
  EXPECT_EQ(value(2, "licensed_seats"), "50 push");
  EXPECT_EQ(count("SELECT count(*) FROM refresh_requests WHERE company_id IN (1, 2) AND run_id IS NULL"), 2);
  EXPECT_EQ(text("SELECT reason FROM usage_quarantine WHERE key = 'gone.example'"),
            "no synced company has this domain");
}

TEST_F(UsageStoreTest, TheSameFiguresAgainReplaceNeverAddAndTheLastOfABatchWins) {
  company(1, {{"domain", "acme.example"}});
  const std::vector<core::UsageRow> rows = {
      row(UsageKeyKind::kId, "1", kDay, {{Metric::kLogins30d, 10}}),
      row(UsageKeyKind::kId, "1", kDay - 1, {{Metric::kLogins30d, 7}}),
      row(UsageKeyKind::kDomain, "acme.example", kDay, {{Metric::kLogins30d, 12}})};  // the same figure
  EXPECT_EQ(put(rows).figures, 2u);
  const auto again = put(rows);
  EXPECT_EQ(again.figures, 0u);  // nothing changed: nothing written, nobody to refresh
  EXPECT_TRUE(again.companies.empty());
  EXPECT_EQ(count("SELECT count(*) FROM usage_daily"), 2);
  EXPECT_EQ(value(1, "logins_30d"), "12 push");  // the batch's last
  EXPECT_EQ(value(1, "logins_30d", kDay - 1), "7 push");
  put({row(UsageKeyKind::kId, "1", kDay, {{Metric::kLogins30d, 99}})}, core::MetricSource::kCsv);
  EXPECT_EQ(value(1, "logins_30d"), "99 csv");
  EXPECT_EQ(count("SELECT count(*) FROM usage_daily"), 2);
}

TEST_F(UsageStoreTest, QuarantinedFiguresWaitForTheirCompanyAndAnAmbiguousDomainIsNotGuessed) {
  company(1, {{"domain", "twin.example"}});
  company(2, {{"domain", "WWW.twin.example"}});
  const auto stored = put({row(UsageKeyKind::kDomain, "later.example", kDay, {{Metric::kActiveUsers30d, 5}}),
                           row(UsageKeyKind::kExternalId, "X-9", kDay, {{Metric::kActiveUsers30d, 6}}),
                           row(UsageKeyKind::kDomain, "twin.example", kDay, {{Metric::kActiveUsers30d, 7}})});
  EXPECT_EQ(stored.figures, 0u);
  EXPECT_EQ(stored.quarantined, 3u);
  EXPECT_EQ(text("SELECT reason FROM usage_quarantine WHERE key = 'twin.example'"),
            "domain matches 2 companies: 1, 2");
  {
    pqxx::connection c(tdb_.conninfo());
    pqxx::read_transaction tx(c);
    EXPECT_EQ(UsageStore::quarantine_size(tx), 3);
    EXPECT_EQ(UsageStore::quarantine(tx, 2).size(), 2u);
  }
  EXPECT_EQ(release(), 0u);  // nothing new came
  // A sync brings both companies.
  company(7, {{"domain", "Later.Example"}});
  company(8, {{"external_id", "X-9"}});
  EXPECT_EQ(release(), 2u);
  EXPECT_EQ(value(7, "active_users_30d"), "5 push");
  EXPECT_EQ(value(8, "active_users_30d"), "6 push");
  EXPECT_EQ(count("SELECT count(*) FROM usage_quarantine"), 1);  // the twins still wait
  EXPECT_EQ(count("SELECT count(*) FROM refresh_requests WHERE company_id IN (7, 8)"), 2);
  EXPECT_EQ(release(), 0u);
}

// The database's rule for a stored domain is core's rule for a domain that arrives.
TEST_F(UsageStoreTest, TheDatabaseNormalisesADomainAsCoreDoes) {
  for (const std::string d :
       {"acme.example", " ACME.Example ", "www.acme.example.", "https://www.acme.example/x?y",
        "http://Acme.example#top", "wwwacme.example", "acme.example..", "WWW.www.acme.example"}) {
    pqxx::connection c(tdb_.conninfo());
    pqxx::nontransaction tx(c);
    EXPECT_EQ(tx.exec_params("SELECT usage_domain_key($1)", d)[0][0].as<std::string>(),
              core::normalise_domain(d))
        << d;
  }
}

class UsageScoringTest : public UsageStoreTest {
 protected:
  json score(bool usage_first) {
    auto config = scoring::load_scoring("", core::StatusBands{});
    config.usage_first = usage_first;
    metrics::Registry metrics;
    scoring::BatchScorer scorer(db_, config, metrics);
    scoring::BatchOptions o;
    o.as_of_day = kDay;
    o.keep_results = true;
    const auto report = scorer.run(o);
    EXPECT_EQ(report.results.size(), 1u);
    for (const auto& c : report.results.at(0)["components"])
      if (c["name"] == "usage") return c;
    return json();
  }
};

TEST_F(UsageScoringTest, PushedUsageIsScoredBeforeTheHubSpotPropertyAndTheExplanationNamesItsSource) {
  // HubSpot says 10 of 100 seats are active; the product says 90.
  company(1, {{"licensed_seats", 100}, {"active_users_30d", 10}});
  put({row(UsageKeyKind::kId, "1", kDay - 3, {{Metric::kActiveUsers30d, 90}})});
  auto usage = score(true);
  EXPECT_DOUBLE_EQ(usage["raw"].get<double>(), 90);
  EXPECT_EQ(usage["sources"], json::array({"hubspot", "push"}));  // seats from HubSpot, users pushed
  usage = score(false);                                           // hubspot first: it has a value
  EXPECT_DOUBLE_EQ(usage["raw"].get<double>(), 10);
  EXPECT_EQ(usage["sources"], json::array({"hubspot"}));
}

TEST_F(UsageScoringTest, UsageFillsWhatHubSpotLacksAndAFigureAfterTheDayOrLongStaleIsNotRead) {
  company(1, {{"licensed_seats", 100}});
  put({row(UsageKeyKind::kId, "1", kDay - 400, {{Metric::kActiveUsers30d, 5}})});  // long stale
  EXPECT_EQ(score(false)["raw"], nullptr);
  put({row(UsageKeyKind::kId, "1", kDay - 1, {{Metric::kActiveUsers30d, 70}})});
  EXPECT_DOUBLE_EQ(score(false)["raw"].get<double>(), 70);  // HubSpot has none: usage fills in
  // A figure dated after the day scored is not known then (a backfilled past is).
  exec("INSERT INTO usage_days (company_id, day, active_users_30d, active_users_30d_source) VALUES (1, '" +
       core::format_day(kDay + 1) + "', 99, 'csv')");
  EXPECT_DOUBLE_EQ(score(true)["raw"].get<double>(), 70);
}

// Figures stored a row per metric (before 0027) are a row per company and day after it, each metric with
// its own source, and read through the view as before.
TEST(UsageDaysMigration, FiguresStoredARowPerMetricBecomeARowPerDay) {
  testing::TestDatabase tdb{false};
  const auto all = embedded_migrations();
  const auto wide = std::find_if(all.begin(), all.end(),
                                 [](const MigrationSource& m) { return m.name.rfind("0027", 0) == 0; });
  ASSERT_NE(wide, all.end());
  Migrator(tdb.conninfo(), {all.begin(), wide}).migrate();
  store::Database db{tdb.conninfo(), store::PoolOptions{}};
  testing::exec_sql(db,
                    "INSERT INTO usage_daily (company_id, metric, day, value, source, received_at) VALUES "
                    "(1, 'active_users_30d', '2026-06-15', 5, 'push', '2026-06-15 10:00Z'), "
                    "(1, 'logins_30d', '2026-06-15', 70, 'csv', '2026-06-16 10:00Z'), "
                    "(1, 'licensed_seats', '2026-06-14', 40, 'segment', '2026-06-14 10:00Z'), "
                    "(2, 'features_used', '2026-06-15', 3, 'push', '2026-06-15 10:00Z')");
  Migrator(tdb.conninfo(), all).migrate();
  EXPECT_EQ(testing::first_text(db, "SELECT count(*) FROM usage_days"), "3");
  EXPECT_EQ(
      testing::first_text(db,
                          "SELECT active_users_30d || ' ' || active_users_30d_source || ' ' || logins_30d || "
                          "' ' || logins_30d_source || ' ' || coalesce(licensed_seats::text, '-') || ' ' || "
                          "received_at::date FROM usage_days WHERE company_id = 1 AND day = '2026-06-15'"),
      "5 push 70 csv - 2026-06-16");
  EXPECT_EQ(
      testing::first_text(db,
                          "SELECT string_agg(company_id || ' ' || metric || ' ' || day || ' ' || value || "
                          "' ' || source, '; ' ORDER BY company_id, day, metric) FROM usage_daily"),
      "1 licensed_seats 2026-06-14 40 segment; 1 active_users_30d 2026-06-15 5 push; "
      "1 logins_30d 2026-06-15 70 csv; 2 features_used 2026-06-15 3 push");
}

}  // namespace
}  // namespace cshealthd::store
