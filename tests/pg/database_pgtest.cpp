// The connection pool and error translation against a real PostgreSQL.
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/sql_params.hpp"

#include <cmath>
#include <limits>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/store/copy_writer.hpp"
#include "test_database.hpp"

namespace cshealthd::store {
namespace {

using ::testing::HasSubstr;

StoreError::Kind kind_of(Database& db, const std::string& sql) {
  try {
    db.with_connection("probe", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec(sql);
      tx.commit();
    });
  } catch (const StoreError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << sql;
  return StoreError::Kind::kPermanent;
}

// Copies ids into unique_ids in one transaction: the error's kind, if any.
std::optional<StoreError::Kind> kind_of_copy(Database& db, const std::vector<std::int64_t>& ids) {
  try {
    db.with_connection("copy", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      CopyWriter copy(tx, "unique_ids", {"id"});
      for (const auto id : ids) copy.number(id).end_row();
      copy.complete();
      tx.commit();
    });
  } catch (const StoreError& e) {
    return e.kind();
  }
  return std::nullopt;
}

TEST(DatabaseTest, ErrorsTranslatedByKind) {
  testing::TestDatabase tdb;
  Database db(tdb.conninfo(), PoolOptions{2, 200, 5});
  db.with_connection("setup", [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)");
    tx.commit();
  });
  EXPECT_EQ(kind_of(db, "INSERT INTO u VALUES (1)"), StoreError::Kind::kConflict);
  EXPECT_EQ(kind_of(db, "SELEC 1"), StoreError::Kind::kPermanent);
  EXPECT_EQ(kind_of(db, "SELECT pg_sleep(2)"), StoreError::Kind::kTransient);  // statement_timeout 200 ms
}

// COPY lines built by CopyWriter read back exactly: the characters COPY treats specially, nulls, numbers
// at their limits, and enough rows to be sent in several blocks.
// A hot-path statement is prepared once per connection: run again (in this and a later transaction) it
// is executed under its name, and the server holds one prepared statement for it.
TEST(DatabaseTest, AHotPathStatementIsPreparedOncePerConnection) {
  testing::TestDatabase tdb;
  pqxx::connection c(tdb.conninfo());
  for (int i = 0; i < 3; ++i) {
    pqxx::work tx(c);
    const auto r = exec_prepared(tx, "test_plus_one", "SELECT $1::int + 1", i);
    EXPECT_EQ(r[0][0].as<int>(), i + 1);
    EXPECT_EQ(
        tx.exec("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_plus_one'")[0][0].as<int>(),
        1);
    tx.commit();
  }
}

TEST(CopyWriterTest, WhatIsWrittenReadsBackExactly) {
  testing::TestDatabase tdb;
  Database db(tdb.conninfo(), PoolOptions{});
  const std::vector<std::string> texts = {"",
                                          "plain",
                                          "tab\there",
                                          "new\nline\r\n",
                                          "back\\slash \\N \\.",
                                          "\\",
                                          "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                          std::string(300 * 1024, 'x') + "\t"};
  db.with_connection("copy", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE copied (n int, t text, i bigint, d float8, b boolean)");
    CopyWriter copy(tx, "copied", {"n", "t", "i", "d", "b"});
    int n = 0;
    for (const auto& t : texts)
      copy.number(std::int64_t{n++}).text(t).null().number(0.1).boolean(true).end_row();
    copy.number(std::int64_t{n++}).null().number(std::numeric_limits<std::int64_t>::min());
    copy.number(-1.7976931348623157e308).boolean(false).end_row();
    for (int i = 0; i < 20000; ++i) copy.number(std::int64_t{n++}).text("row").null().null().null().end_row();
    copy.complete();
    EXPECT_THROW(copy.number(std::nan("")), std::invalid_argument);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const auto r =
          tx.exec_params1("SELECT t, i IS NULL, d, b FROM copied WHERE n = $1", static_cast<int>(i));
      EXPECT_EQ(r[0].as<std::string>(), texts[i]) << i;
      EXPECT_TRUE(r[1].as<bool>());
      EXPECT_EQ(r[2].as<double>(), 0.1);
      EXPECT_TRUE(r[3].as<bool>());
    }
    const auto r =
        tx.exec_params1("SELECT t IS NULL, i, d, b FROM copied WHERE n = $1", static_cast<int>(texts.size()));
    EXPECT_TRUE(r[0].as<bool>());
    EXPECT_EQ(r[1].as<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(r[2].as<double>(), -1.7976931348623157e308);
    EXPECT_FALSE(r[3].as<bool>());
    const auto counts = tx.exec1("SELECT count(*), count(t), count(d) FROM copied");
    EXPECT_EQ(counts[0].as<int>(), static_cast<int>(texts.size()) + 1 + 20000);
    EXPECT_EQ(counts[1].as<int>(), static_cast<int>(texts.size()) + 20000);  // the one null text
    EXPECT_EQ(counts[2].as<int>(), static_cast<int>(texts.size()) + 1);      // the rows' null figures
    EXPECT_EQ(
        tx.exec1("SELECT count(*) FROM copied WHERE t = 'row' AND d IS NULL AND b IS NULL")[0].as<int>(),
        20000);
  });
}

// A row the table refuses fails the COPY, at complete() at the latest, and nothing of it is stored.
TEST(CopyWriterTest, ARefusedRowFailsTheCopy) {
  testing::TestDatabase tdb;
  Database db(tdb.conninfo(), PoolOptions{});
  db.with_connection("setup", [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE unique_ids (id bigint PRIMARY KEY)");
    tx.commit();
  });
  const auto refused = kind_of_copy(db, {1, 2, 2});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(*refused, StoreError::Kind::kConflict);
  EXPECT_FALSE(kind_of_copy(db, {1, 2}).has_value());  // the refused rows left nothing behind
}

TEST(DatabaseTest, ErrorNamesTheOperation) {
  testing::TestDatabase tdb;
  Database db(tdb.conninfo(), PoolOptions{});
  try {
    db.with_connection("load_companies", [](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec("SELECT * FROM no_such_table");
    });
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("load_companies"));
    EXPECT_THAT(e.what(), HasSubstr("no_such_table"));
  }
}

TEST(DatabaseTest, UnreachableServerIsTransientAndPingFalse) {
  Database db("host=/nonexistent-socket-dir port=1 dbname=x", PoolOptions{1, 1000, 1});
  EXPECT_FALSE(db.ping());
  try {
    db.with_connection("connect", [](pqxx::connection&) {});
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.transient());
  }
}

TEST(DatabaseTest, KilledConnectionIsReplacedOnRetry) {
  testing::TestDatabase tdb;
  Database db(tdb.conninfo(), PoolOptions{1, 5000, 5});
  const int pid = db.with_connection("pid", [](pqxx::connection& c) { return c.backendpid(); });
  {
    pqxx::connection admin(testing::TestDatabase::admin_conninfo());
    pqxx::nontransaction tx(admin);
    tx.exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  }
  int attempts = 0;
  const int value = db.with_retry("after_kill", [&](pqxx::connection& c) {
    ++attempts;
    pqxx::work tx(c);
    return tx.exec("SELECT 42")[0][0].as<int>();
  });
  EXPECT_EQ(value, 42);
  EXPECT_EQ(attempts, 2);  // the first try hit the dead connection, the retry got a new one
  EXPECT_TRUE(db.ping());
}

TEST(DatabaseTest, PoolNeverExceedsItsSize) {
  testing::TestDatabase tdb;
  Database db(tdb.conninfo(), PoolOptions{2, 5000, 5, std::chrono::milliseconds(200)});
  auto a = db.acquire();
  auto b = db.acquire();
  try {
    db.acquire();
    FAIL() << "a third connection from a pool of two";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.transient());
  }
}

TEST(DatabaseTest, ConnectTimeoutAddedToUrlAndConninfo) {
  EXPECT_EQ(with_connect_timeout("host=x", 5), "host=x connect_timeout=5");
  EXPECT_EQ(with_connect_timeout("postgresql://h/db", 5), "postgresql://h/db?connect_timeout=5");
  EXPECT_EQ(with_connect_timeout("postgresql://h/db?sslmode=require", 5),
            "postgresql://h/db?sslmode=require&connect_timeout=5");
  EXPECT_EQ(with_connect_timeout("host=x connect_timeout=2", 5), "host=x connect_timeout=2");
}

}  // namespace
}  // namespace cshealthd::store
