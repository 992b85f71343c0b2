// Migrations against a real PostgreSQL: fresh, re-run, edited, unknown, failing, and concurrent.
#include "cshealthd/store/migrations.hpp"

#include <algorithm>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "cshealthd/store/errors.hpp"
#include "test_database.hpp"

namespace cshealthd::store {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

int count(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<int>();
}

bool table_exists(const std::string& conninfo, const std::string& table) {
  return count(conninfo, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '" +
                             table + "'") == 1;
}

std::string error_of(Migrator& m) {
  try {
    m.migrate();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

const std::vector<MigrationSource> kTwo = {
    {"0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);"},
    {"0002_b.sql", "CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (1), (2);"},
};

TEST(MigrationsTest, FreshDatabaseGetsEveryEmbeddedMigration) {
  testing::TestDatabase db(/*migrated=*/false);
  Migrator m(db.conninfo());
  const auto report = m.migrate();
  ASSERT_EQ(report.applied.size(), embedded_migrations().size());
  EXPECT_EQ(report.applied.front(), embedded_migrations().front().name);
  EXPECT_TRUE(table_exists(db.conninfo(), "service_instances"));
  EXPECT_EQ(count(db.conninfo(), "SELECT count(*) FROM schema_migrations"),
            static_cast<int>(embedded_migrations().size()));
  for (const auto& s : m.status()) EXPECT_TRUE(s.applied) << s.name;
  pqxx::connection c(db.conninfo());
  EXPECT_EQ(m.pending_reason(c), "");
}

TEST(MigrationsTest, RecordsVersionNameAndChecksum) {
  testing::TestDatabase db(false);
  Migrator(db.conninfo(), kTwo).migrate();
  pqxx::connection c(db.conninfo());
  pqxx::nontransaction tx(c);
  const auto rows = tx.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0].as<int>(), 1);
  EXPECT_EQ(rows[1][1].as<std::string>(), "0002_b.sql");
  EXPECT_EQ(rows[1][2].as<std::string>(), Migrator::checksum(kTwo[1].sql));
  EXPECT_EQ(Migrator::checksum("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(MigrationsTest, RerunIsNoOp) {
  testing::TestDatabase db(false);
  Migrator m(db.conninfo(), kTwo);
  EXPECT_EQ(m.migrate().applied.size(), 2u);
  EXPECT_EQ(m.migrate().applied.size(), 0u);  // would fail on CREATE TABLE if re-applied
  EXPECT_EQ(count(db.conninfo(), "SELECT count(*) FROM b"), 2);
}

TEST(MigrationsTest, OnlyNewMigrationsApplyLater) {
  testing::TestDatabase db(false);
  Migrator(db.conninfo(), {kTwo[0]}).migrate();
  pqxx::connection c(db.conninfo());
  EXPECT_EQ(Migrator(db.conninfo(), kTwo).pending_reason(c), "1 migration(s) not applied");
  const auto report = Migrator(db.conninfo(), kTwo).migrate();
  ASSERT_EQ(report.applied.size(), 1u);
  EXPECT_EQ(report.applied[0], "0002_b.sql");
}

TEST(MigrationsTest, EditedAppliedMigrationIsRefused) {
  testing::TestDatabase db(false);
  Migrator(db.conninfo(), kTwo).migrate();
  auto edited = kTwo;
  edited[0].sql = "CREATE TABLE a (id bigint PRIMARY KEY);";
  Migrator m(db.conninfo(), edited);
  EXPECT_THAT(error_of(m), AllOf(HasSubstr("0001_a.sql"), HasSubstr("edited after it was applied")));
  pqxx::connection c(db.conninfo());
  EXPECT_NE(m.pending_reason(c), "");  // /readyz reports it too
}

TEST(MigrationsTest, DatabaseNewerThanBinaryIsRefused) {
  testing::TestDatabase db(false);
  Migrator(db.conninfo(), kTwo).migrate();
  Migrator older(db.conninfo(), {kTwo[0]});
  EXPECT_THAT(error_of(older), AllOf(HasSubstr("0002_b.sql"), HasSubstr("does not know")));
}

TEST(MigrationsTest, FailingMigrationRollsBackAndKeepsEarlierOnes) {
  testing::TestDatabase db(false);
  auto bad = kTwo;
  bad.push_back({"0003_bad.sql", "CREATE TABLE c (id int); INSERT INTO nope VALUES (1);"});
  Migrator m(db.conninfo(), bad);
  EXPECT_THAT(error_of(m), AllOf(HasSubstr("0003_bad.sql"), HasSubstr("nope")));
  EXPECT_TRUE(table_exists(db.conninfo(), "b"));
  EXPECT_FALSE(table_exists(db.conninfo(), "c"));  // its own transaction rolled back
  EXPECT_EQ(count(db.conninfo(), "SELECT count(*) FROM schema_migrations"), 2);
}

TEST(MigrationsTest, BadFileNamesRejected) {
  EXPECT_THROW(Migrator("", {{"init.sql", "SELECT 1"}}), StoreError);
  EXPECT_THROW(Migrator("", {{"0001_a.sql", "SELECT 1"}, {"0001_b.sql", "SELECT 1"}}), StoreError);
}

TEST(MigrationsTest, ConcurrentMigratorsApplyEachMigrationOnce) {
  testing::TestDatabase db(false);
  // The sleep widens the window in which two unlocked migrators would both see "not applied".
  const std::vector<MigrationSource> slow = {
      {"0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE once (id int PRIMARY KEY);"},
      {"0002_rows.sql", "INSERT INTO once VALUES (1);"},
  };
  constexpr int kReplicas = 4;
  std::vector<std::future<MigrationReport>> runs;
  for (int i = 0; i < kReplicas; ++i) {
    runs.push_back(std::async(std::launch::async, [&] { return Migrator(db.conninfo(), slow).migrate(); }));
  }
  std::size_t applied = 0;
  for (auto& r : runs) applied += r.get().applied.size();  // none throws
  EXPECT_EQ(applied, 2u);
  EXPECT_EQ(count(db.conninfo(), "SELECT count(*) FROM once"), 1);
  EXPECT_EQ(count(db.conninfo(), "SELECT count(*) FROM schema_migrations"), 2);
}

// A migrator waiting for another (a replica migrating, or stuck) gives up after lock_wait, saying why.
TEST(MigrationsTest, WaitingForAnotherMigratorIsBounded) {
  testing::TestDatabase db(false);
  const std::vector<MigrationSource> slow = {{"0001_slow.sql", "SELECT pg_sleep(3)"}};
  auto first = std::async(std::launch::async, [&] { return Migrator(db.conninfo(), slow).migrate(); });
  // Until the first holds the migration lock (in this database: the cluster is shared with other tests,
  // whose advisory locks must not end the wait early).
  for (int i = 0;
       i < 200 && count(db.conninfo(),
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                        "database = (SELECT oid FROM pg_database WHERE datname = current_database())") == 0;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  MigratorOptions o;
  o.lock_wait = std::chrono::milliseconds(300);
  Migrator second(db.conninfo(), slow, o);
  EXPECT_THAT(error_of(second), HasSubstr("held the migration lock for over 300 ms"));
  EXPECT_EQ(first.get().applied.size(), 1u);
}

// Plays that ran before play_starts existed have started (their first step, or first episode, dates them):
// upgrading does not make their next night a first night that records what fires as seen. A play that
// never fired a step nor opened an episode has its first night still to come.
TEST(PlayStartsMigration, PlaysThatRanBeforeTheUpgradeHaveStarted) {
  testing::TestDatabase tdb{false};
  const auto all = embedded_migrations();
  const auto starts = std::find_if(all.begin(), all.end(),
                                   [](const MigrationSource& m) { return m.name.rfind("0028", 0) == 0; });
  ASSERT_NE(starts, all.end());
  Migrator(tdb.conninfo(), {all.begin(), starts}).migrate();
  {
    pqxx::connection c(tdb.conninfo());
    pqxx::nontransaction tx(c);
    tx.exec(
        "INSERT INTO play_steps (company_id, play, cycle, step, cycle_date, day, action, outbox_key) VALUES "
        "(1, 'renewal', '2027-03-01', 'prep', '2027-03-01', '2026-12-01', 'task', 'k1'), "
        "(2, 'renewal', '2027-02-01', 'prep', '2027-02-01', '2026-11-03', 'task', 'k2')");
    tx.exec(
        "INSERT INTO play_episodes (company_id, play, started, last_seen, active) VALUES "
        "(1, 'upgrade', '2026-10-20', '2026-12-01', true), (2, 'renewal', '2026-10-01', '2026-10-01', "
        "false)");
  }
  Migrator(tdb.conninfo(), all).migrate();
  pqxx::connection c(tdb.conninfo());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT string_agg(play || ' ' || started_on || ' ' || caught_up, '; ' ORDER BY play) "
                    "FROM play_starts")[0][0]
                .as<std::string>(),
            "renewal 2026-10-01 false; upgrade 2026-10-20 false");
  EXPECT_EQ(tx.exec("SELECT count(*) FROM play_steps WHERE skipped")[0][0].as<int>(), 0);
}

}  // namespace
}  // namespace cshealthd::store
