// `cshealthd sync` against the hubspot-sim binary and a real PostgreSQL, as an operator runs it.
#include <signal.h>

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/http/client.hpp"
#include "daemon.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::Daemon;
using ::testing::HasSubstr;
using testing::TempDir;

using Sim = testing::SimProcess;

std::vector<std::string> env_for(const Sim& sim, const testing::TestDatabase& db) {
  return {"CSHEALTHD_HUBSPOT_BASE_URL=http://127.0.0.1:" + std::to_string(sim.port),
          "CSHEALTHD_HUBSPOT_TOKEN=T", "CSHEALTHD_DATABASE_URL=" + db.conninfo(),
          "CSHEALTHD_LOG_FORMAT=text"};
}

std::vector<std::string> rows(const testing::TestDatabase& db, const std::string& sql) {
  pqxx::connection c(db.conninfo());
  pqxx::nontransaction tx(c);
  std::vector<std::string> out;
  for (const auto& r : tx.exec(sql)) out.push_back(r[0].as<std::string>());
  return out;
}

int count(const testing::TestDatabase& db, const std::string& type) {
  pqxx::connection c(db.conninfo());
  pqxx::nontransaction tx(c);
  const auto r = tx.exec("SELECT count(*) FROM crm_objects WHERE object_type = " + tx.quote(type));
  return r[0][0].as<int>();
}

TEST(SyncCliTest, SyncsAGeneratedPortalAndReports) {
  TempDir dir;
  Sim sim(dir, {"--seed", "5", "--generate", "40"});
  ASSERT_NE(sim.port, 0);
  testing::TestDatabase db(/*migrated=*/false);  // the command migrates it
  const auto r = testing::run_cshealthd({"sync"}, env_for(sim, db));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("companies"));
  EXPECT_THAT(r.output, HasSubstr("full"));  // the first sync of a type is a full one
  EXPECT_THAT(r.output, HasSubstr("api calls"));
  EXPECT_EQ(count(db, "companies"), 40);
  EXPECT_EQ(static_cast<std::size_t>(count(db, "tickets")),
            sim.get("/__sim/objects/tickets")["results"].size());
  const auto again = testing::run_cshealthd({"sync", "--objects", "companies"}, env_for(sim, db));
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("incremental"));
}

TEST(SyncCliTest, MissingTokenOrUnknownTypeIsAConfigError) {
  testing::TestDatabase db;
  const auto no_token = testing::run_cshealthd({"sync"}, {"CSHEALTHD_DATABASE_URL=" + db.conninfo()});
  EXPECT_EQ(no_token.status, 2);
  EXPECT_THAT(no_token.output, HasSubstr("hubspot.token"));
  const auto bad_type =
      testing::run_cshealthd({"sync", "--objects", "companies,widgets"},
                             {"CSHEALTHD_DATABASE_URL=" + db.conninfo(), "CSHEALTHD_HUBSPOT_TOKEN=T"});
  EXPECT_EQ(bad_type.status, 2);
  EXPECT_THAT(bad_type.output, HasSubstr("widgets"));
}

TEST(SyncCliTest, KillNineMidSyncResumesAndReadsOnlyThePageInFlightAgain) {
  TempDir dir;
  // 3,000 companies = 60 pages (history pages hold 50), each answered after 40 ms: time to kill it midway.
  Sim sim(dir,
          {"--seed", "5", "--generate", "3000", "--faults", "route=/crm/v3/objects/companies,latency=1x40"});
  ASSERT_NE(sim.port, 0);
  testing::TestDatabase db(false);
  testing::DaemonOptions o;
  o.args = {"sync", "--full", "--objects", "companies"};
  o.env = env_for(sim, db);
  o.log_path = dir.path() / "sync1.log";
  {
    Daemon first(o);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int stored = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        stored = count(db, "companies");
      } catch (const std::exception&) {
        stored = 0;  // not migrated yet
      }
      if (stored >= 500) break;
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_GE(stored, 500) << first.log();
    first.signal(SIGKILL);
    first.wait_exit(10s);
  }
  const int before = count(db, "companies");
  ASSERT_LT(before, 3000);  // it really was interrupted
  const auto log_before = sim.get("/__sim/requests")["last"].get<std::uint64_t>();

  const auto second = testing::run_cshealthd({"sync", "--full", "--objects", "companies"}, env_for(sim, db));
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(count(db, "companies"), 3000);
  // The list calls of the second run (it also reads the property definitions first).
  std::vector<std::string> lists;
  const json log = sim.get("/__sim/requests?since=" + std::to_string(log_before));
  for (const auto& q : log["requests"]) {
    const std::string path = q["path"];
    if (path.rfind("/crm/v3/objects/companies?", 0) == 0) lists.push_back(path);
  }
  ASSERT_FALSE(lists.empty());
  EXPECT_THAT(lists[0], HasSubstr("after="));  // resumed, not restarted
  // Pages still to read after the `before` records already stored, plus at most the one in flight.
  // A first full sync reads property history, which HubSpot pages by 50.
  const std::size_t remaining_pages = static_cast<std::size_t>((3000 - before + 49) / 50);
  EXPECT_LE(lists.size(), remaining_pages + 1);

  // Back-filled days are written beside the pages, so the kill can leave committed pages whose days
  // were not written yet; the second run reads those companies again by id. Either way the snapshots
  // end exactly as a clean run leaves them.
  EXPECT_EQ(rows(db, "SELECT count(*) FROM sync_pending_backfill"), std::vector<std::string>{"0"});
  testing::TestDatabase clean_db(false);
  const auto clean =
      testing::run_cshealthd({"sync", "--full", "--objects", "companies"}, env_for(sim, clean_db));
  ASSERT_EQ(clean.status, 0) << clean.output;
  const std::string snapshots =
      "SELECT company_id || ' ' || day || ' ' || synced::text || ' ' || backfilled::text FROM "
      "company_snapshots "
      "ORDER BY company_id, day";
  const auto resumed_rows = rows(db, snapshots);
  EXPECT_GT(resumed_rows.size(), 3000u * 6);  // months of history per company
  EXPECT_EQ(resumed_rows, rows(clean_db, snapshots));
}

}  // namespace
}  // namespace cshealthd
