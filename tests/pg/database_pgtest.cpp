// The connection pool and error translation against a real PostgreSQL.
#include "cshealthd/store/database.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
