#pragma once
#include <memory>
#include <string>

#include "cshealthd/store/database.hpp"

namespace cshealthd::testing {

// A database of its own for one test, in the cluster the test run shares (see pg_harness.cpp), dropped
// when the object goes. `migrated` clones the template that has every migration applied; otherwise the
// database is empty. Without CSHEALTHD_TEST_PG_INFO (a test binary run by hand) the process starts a
// private cluster of its own on first use.
class TestDatabase {
 public:
  explicit TestDatabase(bool migrated = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& conninfo() const { return conninfo_; }
  // The maintenance database of the same cluster (for CREATE/DROP DATABASE, pg_stat_activity).
  static std::string admin_conninfo();

 private:
  std::string name_;
  std::string conninfo_;
};

// One statement in a transaction of its own, on a pooled connection of `db`.
void exec_sql(store::Database& db, const std::string& sql);
// The first column of the first row as text: "<null>" when there is no row or it is NULL.
std::string first_text(store::Database& db, const std::string& sql);

}  // namespace cshealthd::testing
