// The sync against the simulator and a real PostgreSQL.
#include "cshealthd/sync/syncer.hpp"

#include "cshealthd/sync/runner.hpp"

#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/base/system_clock.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/http/client.hpp"
#include "cshealthd/http/server.hpp"
#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/session_lock.hpp"
#include "fake_clock.hpp"
#include "in_process.hpp"
#include "sim_client.hpp"
#include "test_database.hpp"

namespace cshealthd::sync {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class SyncTest : public ::testing::Test {
 protected:
  // (Re)starts the simulator on a portal of `companies` (same seed: the same portal) with `faults`.
  void start_sim(int companies, const std::string& faults = "") {
    handle_ = {};
    client_ = nullptr;
    sim_.reset();
    auto o = sim::unlimited("T");
    o.faults = faults;
    sim_ = std::make_unique<sim::InProcessSimulator>(o, companies, 21);
    budget_ = std::make_unique<hubspot::LocalRateBudget>(hubspot::BudgetOptions{}, fake_);
    handle_ = testing::sim_client(sim_->base_url(), *budget_, fake_, metrics_);
    client_ = handle_.client.get();
  }
  Syncer syncer(SyncOptions o = {}) { return Syncer(db_, *client_, wall_, metrics_, o); }
  // Clients for a Runner's workers: each its own connection, all on one budget.
  hubspot::ClientFactory factory(int max_attempts = 8) {
    return [this, max_attempts] {
      return testing::sim_client(sim_->base_url(), *budget_, fake_, metrics_, max_attempts);
    };
  }
  std::string text(const std::string& sql) { return testing::first_text(db_, sql); }
  ObjectSpec spec(const std::string& type) {
    for (auto& s : default_specs()) {
      if (s.type == type) return s;
    }
    throw std::runtime_error("no spec " + type);
  }
  json sim_objects(const std::string& type) {
    http::ClientRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/__sim/objects/" + type;
    return json::parse(http::fetch(r).body)["results"];
  }
  int sim_call(const std::string& method, const std::string& path, const json& body = nullptr) {
    http::ClientRequest r;
    r.method = method;
    r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + path;
    r.headers = {{"Authorization", "Bearer T"}, {"Content-Type", "application/json"}};
    if (!body.is_null()) r.body = body.dump();
    return http::fetch(r).status;
  }
  json sim_post(const std::string& path, const json& body) {
    http::ClientRequest r;
    r.method = "POST";
    r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + path;
    r.headers = {{"Authorization", "Bearer T"}, {"Content-Type", "application/json"}};
    r.body = body.dump();
    return json::parse(http::fetch(r).body);
  }
  // id -> property value as stored in PostgreSQL ("" for null).
  std::map<std::string, std::string> db_values(const std::string& type, const std::string& prop,
                                               bool archived = false) {
    return db_.with_connection("t", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      std::map<std::string, std::string> out;
      for (const auto& row : tx.exec_params("SELECT id::text, coalesce(properties->>$2, '') FROM crm_objects "
                                            "WHERE object_type = $1 AND archived = $3",
                                            type, prop, archived)) {
        out[row[0].as<std::string>()] = row[1].as<std::string>();
      }
      return out;
    });
  }
  std::map<std::string, std::string> sim_values(const std::string& type, const std::string& prop,
                                                bool archived = false) {
    std::map<std::string, std::string> out;
    for (const auto& r : sim_objects(type)) {
      if (r["archived"] != archived) continue;
      const auto& v = r["properties"].value(prop, json(""));
      out[r["id"]] = v.is_string() ? v.get<std::string>() : "";
    }
    return out;
  }
  int count(const std::string& sql) {
    return db_.with_connection("t", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return tx.exec(sql)[0][0].as<int>();
    });
  }
  // Every company's stored active_users_30d days against the simulator's property history (the last
  // value of each day) and today's value.
  void expect_snapshots_match_history() {
    const std::string today = core::format_date(
        std::chrono::duration_cast<std::chrono::milliseconds>(wall_.wall_now().time_since_epoch()).count());
    for (const auto& c : sim_objects("companies")) {
      const std::string id = c["id"];
      // What the simulator's history says, the last value of each day.
      std::map<std::string, double> expected;
      const auto& history = c["propertiesWithHistory"]["cs_active_users_30d"];
      for (auto it = history.rbegin(); it != history.rend(); ++it) {
        expected[core::format_date(*core::parse_iso8601((*it)["timestamp"].get<std::string>()))] =
            std::stod((*it)["value"].get<std::string>());
      }
      expected[today] = std::stod(c["properties"]["cs_active_users_30d"].get<std::string>());
      std::map<std::string, double> stored;
      db_.with_connection("t", [&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        for (const auto& r :
             tx.exec_params("SELECT day::text, value FROM company_metric_snapshots WHERE company_id = "
                            "$1 AND metric = 'active_users_30d'",
                            std::stoll(id))) {
          stored[r[0].as<std::string>()] = r[1].as<double>();
        }
      });
      EXPECT_EQ(stored, expected) << id;
    }
  }
  void TearDown() override {
    handle_ = {};
    sim_.reset();
  }

  testing::TestDatabase tdb_;
  store::Database db_{tdb_.conninfo(), store::PoolOptions{}};
  testing::FakeClock fake_;
  SystemClock wall_;
  metrics::Registry metrics_;
  std::unique_ptr<sim::InProcessSimulator> sim_;
  std::unique_ptr<hubspot::LocalRateBudget> budget_;
  hubspot::ClientHandle handle_;
  hubspot::HubSpotClient* client_ = nullptr;
};

TEST_F(SyncTest, FullSyncMirrorsThePortal) {
  start_sim(60);
  auto s = syncer();
  for (const auto& spec : default_specs()) s.full(spec);
  for (const auto& spec : default_specs()) {
    for (const auto& p : spec.properties) {
      EXPECT_EQ(db_values(spec.type, p.name), sim_values(spec.type, p.name)) << spec.type << "." << p.name;
    }
  }
  // tickets -> companies, as the simulator holds them
  std::set<std::pair<std::string, std::string>> expected;
  for (const auto& t : sim_objects("tickets")) {
    if (!t.contains("associations") || !t["associations"].contains("companies")) continue;
    for (const auto& a : t["associations"]["companies"]["results"]) {
      expected.insert({t["id"].get<std::string>(), a["id"].get<std::string>()});
    }
  }
  std::set<std::pair<std::string, std::string>> stored;
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r :
         tx.exec("SELECT from_id::text, to_id::text FROM crm_associations WHERE from_type = 'tickets' "
                 "AND to_type = 'companies'")) {
      stored.insert({r[0].as<std::string>(), r[1].as<std::string>()});
    }
  });
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(stored, expected);
}

TEST_F(SyncTest, AFirstSyncMeetingRecordsAlreadyStoredMergesThemInstead) {
  start_sim(30);
  const auto companies = sim_objects("companies");
  const std::string taken = companies[companies.size() / 2]["id"];
  // Something else stored one of them (stale) before the first sync: the straight COPY must give way.
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("INSERT INTO crm_objects (object_type, id, properties) VALUES ('companies', " + taken +
            ", '{\"name\": \"stale\"}')");
    tx.commit();
  });
  auto s = syncer();
  const auto report = s.full(spec("companies"));
  EXPECT_EQ(report.records, companies.size());
  EXPECT_EQ(count("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"),
            static_cast<int>(companies.size()));
  for (const auto& p : spec("companies").properties) {
    EXPECT_EQ(db_values("companies", p.name), sim_values("companies", p.name)) << p.name;
  }
  EXPECT_GT(count("SELECT count(*) FROM company_snapshots WHERE company_id = " + taken), 0);
}

TEST_F(SyncTest, AFirstSyncMeetingLinksAlreadyStoredMergesThemInstead) {
  start_sim(30);
  std::set<std::pair<std::string, std::string>> expected, stored;
  for (const auto& t : sim_objects("tickets")) {
    if (!t.contains("associations") || !t["associations"].contains("companies")) continue;
    for (const auto& a : t["associations"]["companies"]["results"])
      expected.insert({t["id"].get<std::string>(), a["id"].get<std::string>()});
  }
  ASSERT_FALSE(expected.empty());
  const auto& [ticket, company] = *expected.begin();
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("INSERT INTO crm_associations VALUES ('tickets', " + ticket + ", 'companies', " + company + ")");
    tx.commit();
  });
  syncer().full(spec("tickets"));
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec("SELECT from_id::text, to_id::text FROM crm_associations WHERE from_type = "
                                 "'tickets' AND to_type = 'companies'"))
      stored.insert({r[0].as<std::string>(), r[1].as<std::string>()});
  });
  EXPECT_EQ(stored, expected);
}

TEST_F(SyncTest, FullSyncMakesTheMinimumNumberOfCalls) {
  start_sim(700);
  const auto tickets = sim_objects("tickets").size();
  ASSERT_GT(tickets, 1000u);
  syncer().full(spec("tickets"));
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/__sim/requests";
  std::size_t lists = 0, assoc = 0;
  const auto res = http::fetch(r);
  ASSERT_EQ(res.status, 200) << res.error;
  const json log = json::parse(res.body);  // a named value: a temporary would die before the loop body
  for (const auto& q : log["requests"]) {
    const std::string path = q["path"];
    if (path.rfind("/crm/v3/objects/tickets?", 0) == 0) ++lists;
    if (path == "/crm/v4/associations/tickets/companies/batch/read") ++assoc;
  }
  EXPECT_EQ(lists, (tickets + 99) / 100);    // 100 per page
  EXPECT_EQ(assoc, (tickets + 999) / 1000);  // 1,000 ids per association batch, not one per page
  EXPECT_EQ(count("SELECT count(DISTINCT from_id) FROM crm_associations WHERE from_type = 'tickets'"),
            static_cast<int>(tickets));
}

TEST_F(SyncTest, IncrementalPicksUpExactlyTheChanges) {
  start_sim(30);
  auto s = syncer();
  s.full(spec("companies"));
  const auto before = db_values("companies", "cs_mrr");
  auto ids = std::vector<std::string>();
  for (const auto& [id, v] : before) ids.push_back(id);
  for (int i = 0; i < 3; ++i) {
    sim_post("/__sim/objects/companies", {{"id", ids[static_cast<std::size_t>(i)]},
                                          {"properties", {{"cs_mrr", "777" + std::to_string(i)}}}});
  }
  sim_post("/__sim/objects/companies", {{"properties", {{"name", "New A"}}}});
  sim_post("/__sim/objects/companies", {{"properties", {{"name", "New B"}}}});
  sim_post("/__sim/objects/companies", {{"id", ids[5]}, {"archived", true}});
  const auto report = s.incremental(spec("companies"));
  EXPECT_FALSE(report.full);
  EXPECT_EQ(report.records, 5u);  // 3 changed + 2 new; nothing else re-read
  EXPECT_EQ(report.archived, 1u);
  EXPECT_EQ(db_values("companies", "cs_mrr"), sim_values("companies", "cs_mrr"));
  EXPECT_EQ(db_values("companies", "name", true), sim_values("companies", "name", true));
  EXPECT_EQ(db_values("companies", "cs_mrr")[ids[0]], "7770");
}

TEST_F(SyncTest, ChangesMadeDuringASyncAreNotLost) {
  start_sim(40);
  SyncOptions o;
  o.overlap = 0ms;  // no safety margin: only a watermark taken at the sync's start can catch the change
  o.search_page = 10;
  auto s = syncer(o);
  s.full(spec("companies"));
  std::vector<std::string> ids;
  for (const auto& [id, v] : db_values("companies", "cs_mrr")) ids.push_back(id);
  for (const auto& id : ids)
    sim_post("/__sim/objects/companies", {{"id", id}, {"properties", {{"cs_mrr", "1"}}}});
  bool changed = false;
  s.on_page([&](const TypeReport&) {
    if (changed) return;
    changed = true;  // after the first page: the lowest id is already behind the sync
    sim_post("/__sim/objects/companies", {{"id", ids.front()}, {"properties", {{"cs_mrr", "999"}}}});
  });
  s.incremental(spec("companies"));
  ASSERT_TRUE(changed);
  EXPECT_EQ(db_values("companies", "cs_mrr")[ids.front()], "1");  // this run had passed it
  s.on_page(nullptr);
  s.incremental(spec("companies"));
  EXPECT_EQ(db_values("companies", "cs_mrr")[ids.front()], "999");  // the next one catches it
  EXPECT_EQ(db_values("companies", "cs_mrr"), sim_values("companies", "cs_mrr"));
}

TEST_F(SyncTest, MoreThanTenThousandChangesInOneWindow) {
  start_sim(1);
  auto s = syncer();
  s.full(spec("tickets"));
  for (int done = 0; done < 10'050; done += 100) {
    json inputs = json::array();
    for (int i = 0; i < 100; ++i)
      inputs.push_back(
          {{"properties", {{"subject", "t" + std::to_string(done + i)}}}, {"associations", json::array()}});
    sim_post("/crm/v3/objects/tickets/batch/create", {{"inputs", inputs}});
  }
  const auto report = s.incremental(spec("tickets"));
  EXPECT_GE(report.records, 10'050u);
  EXPECT_EQ(db_values("tickets", "subject"), sim_values("tickets", "subject"));
}

TEST_F(SyncTest, FaultsGiveTheSameResultAsACleanRun) {
  start_sim(80, "seed=5;5xx=0.1,429=0.05,drop_before=0.05,drop_after=0.05,truncate=0.05");
  auto s = syncer();
  for (const auto& spec : default_specs()) s.full(spec);
  EXPECT_GT(client_->stats().retries, 0u);
  for (const auto& spec : default_specs()) {
    for (const auto& p : spec.properties) {
      EXPECT_EQ(db_values(spec.type, p.name), sim_values(spec.type, p.name)) << spec.type << "." << p.name;
    }
  }
}

TEST_F(SyncTest, InterruptedFullSyncResumesAtItsCursor) {
  start_sim(250, "route=/crm/v3/objects/companies,skip=2,5xx=1");  // every call after the second fails
  EXPECT_THROW(syncer().full(spec("companies")), hubspot::ApiError);
  // Two pages before the failure; a first full sync reads property history, which HubSpot pages by 50.
  EXPECT_EQ(count("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"), 100);
  start_sim(250);  // HubSpot is back (the same portal)
  syncer().full(spec("companies"));
  EXPECT_EQ(db_values("companies", "cs_mrr"), sim_values("companies", "cs_mrr"));
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/__sim/requests";
  const auto log = json::parse(http::fetch(r).body)["requests"];
  ASSERT_FALSE(log.empty());
  EXPECT_THAT(log[0]["path"].get<std::string>(), ::testing::HasSubstr("after="));  // not from the start
  EXPECT_EQ(log.size(), 3u);  // 150 records left at 50 a page: the page in flight, then the two after it
}

TEST_F(SyncTest, AssociationsStillToReadSurviveAFailureAndAreReadNextTime) {
  start_sim(40, "route=/crm/v4/associations,5xx=1");  // records can be read, their associations not
  EXPECT_THROW(syncer().full(spec("tickets")), hubspot::ApiError);
  const int tickets = count("SELECT count(*) FROM crm_objects WHERE object_type = 'tickets'");
  ASSERT_GT(tickets, 0);
  EXPECT_EQ(count("SELECT cardinality(pending_associations) FROM sync_state WHERE object_type = 'tickets'"),
            tickets);  // every one of them waits, committed with its page
  EXPECT_EQ(count("SELECT count(*) FROM crm_associations WHERE from_type = 'tickets'"), 0);
  start_sim(40);  // HubSpot is back (the same portal)
  syncer().incremental(spec("tickets"));
  EXPECT_EQ(count("SELECT cardinality(pending_associations) FROM sync_state WHERE object_type = 'tickets'"),
            0);
  std::set<std::pair<std::string, std::string>> expected, stored;
  for (const auto& t : sim_objects("tickets")) {
    if (!t.contains("associations") || !t["associations"].contains("companies")) continue;
    for (const auto& a : t["associations"]["companies"]["results"])
      expected.insert({t["id"].get<std::string>(), a["id"].get<std::string>()});
  }
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec("SELECT from_id::text, to_id::text FROM crm_associations WHERE from_type = "
                                 "'tickets' AND to_type = 'companies'"))
      stored.insert({r[0].as<std::string>(), r[1].as<std::string>()});
  });
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(stored, expected);
}

TEST_F(SyncTest, MissingMappedPropertiesAreListedNotFatal) {
  start_sim(2);
  auto specs = default_specs();
  specs[0].properties.push_back({"cs_not_in_this_portal", ValueKind::kNumber, ""});
  const auto missing = syncer().missing_properties(specs);
  // cs_stage is one of the outputs the service creates on first run; the other is the planted one.
  EXPECT_EQ(missing, (std::vector<std::string>{"companies.cs_stage", "companies.cs_not_in_this_portal"}));
  EXPECT_NO_THROW(syncer().full(specs[0]));
}

TEST_F(SyncTest, FirstFullSyncBackfillsDailySnapshotsFromHistory) {
  start_sim(15);
  syncer().full(spec("companies"));
  expect_snapshots_match_history();
  EXPECT_GE(count("SELECT max(n) FROM (SELECT count(*) AS n FROM company_metric_snapshots "
                  "WHERE metric = 'active_users_30d' GROUP BY company_id) x"),
            12);  // a year of monthly history for the oldest customers
  EXPECT_EQ(count("SELECT count(*) FROM sync_pending_backfill"), 0);
}

TEST_F(SyncTest, BackfilledDaysLeftUnwrittenAreReadAgainByIdNextTime) {
  start_sim(400);
  // The days are written beside the page chain; make that writer fail (the records still commit).
  db_.with_connection("t", [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec(
        "CREATE FUNCTION planted_failure() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'planted failure'; END$$");
    tx.exec(
        "CREATE TRIGGER planted_failure BEFORE INSERT ON company_snapshots "
        "FOR EACH STATEMENT EXECUTE FUNCTION planted_failure()");
    tx.commit();
  });
  EXPECT_THROW(syncer().full(spec("companies")), std::exception);  // the sync stops with its writer
  const int pages = count("SELECT count(*) FROM sync_pending_backfill WHERE object_type = 'companies'");
  EXPECT_GE(pages, 1);
  EXPECT_EQ(count("SELECT count(*) FROM company_snapshots"), 0);
  // Every committed page either had its days written or left its ids: here none were written.
  EXPECT_EQ(count("SELECT coalesce(sum(cardinality(ids)), 0) FROM sync_pending_backfill"),
            count("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"));
  db_.with_connection("t", [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("DROP TRIGGER planted_failure ON company_snapshots");
    tx.commit();
  });
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/__sim/requests";
  const auto before = json::parse(http::fetch(r).body)["last"].get<std::uint64_t>();
  syncer().incremental(spec("companies"));  // resumes the full sync, or runs an incremental one
  EXPECT_EQ(count("SELECT count(*) FROM sync_pending_backfill"), 0);
  expect_snapshots_match_history();
  // The pending companies were read by id with their history, one batch read per page they came in.
  r.url += "?since=" + std::to_string(before);
  int batch_reads = 0;
  const json log = json::parse(http::fetch(r).body);
  for (const auto& q : log["requests"]) {
    const std::string path = q["path"];
    if (path != "/crm/v3/objects/companies/batch/read") continue;
    ++batch_reads;
    EXPECT_THAT(q["body"].get<std::string>(), ::testing::HasSubstr("propertiesWithHistory"));
  }
  EXPECT_EQ(batch_reads, pages);
}

TEST_F(SyncTest, LaterSyncsRecordTodayWithoutReadingHistoryAgain) {
  start_sim(5);
  auto s = syncer();
  s.full(spec("companies"));
  const std::string id = sim_objects("companies")[0]["id"];
  sim_post("/__sim/objects/companies", {{"id", id}, {"properties", {{"cs_active_users_30d", "4242"}}}});
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/__sim/requests";
  const auto before = json::parse(http::fetch(r).body)["last"].get<std::uint64_t>();
  s.incremental(spec("companies"));
  r.url += "?since=" + std::to_string(before);
  const json log = json::parse(http::fetch(r).body);
  for (const auto& q : log["requests"]) {
    EXPECT_THAT(q["path"].get<std::string>() + q["body"].get<std::string>(),
                ::testing::Not(::testing::HasSubstr("propertiesWithHistory")));
  }
  EXPECT_EQ(count("SELECT value::int FROM company_metric_snapshots WHERE company_id = " + id +
                  " AND metric = 'active_users_30d' AND day = (now() AT TIME ZONE 'UTC')::date"),
            4242);  // today's row now holds the new value
}

// The day today's values are recorded under is the service's day in its zone (the day scores are
// computed for), not the UTC date: at 01:00 in Tokyo it is already tomorrow there.
TEST_F(SyncTest, TodaysValuesAreRecordedUnderTheServicesDayInItsZone) {
  start_sim(3);
  class At final : public Clock {
   public:
    std::chrono::steady_clock::time_point steady_now() override { return std::chrono::steady_clock::now(); }
    std::chrono::system_clock::time_point wall_now() override {
      return std::chrono::system_clock::time_point(
          std::chrono::milliseconds(*core::parse_iso8601("2026-12-06T16:00:00Z")));
    }
    void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
  } at;
  std::ifstream f("/usr/share/zoneinfo/Asia/Tokyo", std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  const auto tokyo = core::TimeZone::from_tzif("Asia/Tokyo", bytes.str());
  SyncOptions o;
  o.zone = &tokyo;
  Syncer(db_, *client_, at, metrics_, o).full(spec("companies"));
  EXPECT_GT(
      count("SELECT count(*) FROM company_metric_snapshots WHERE source = 'sync' AND day = '2026-12-07'"), 0);
  EXPECT_EQ(
      count("SELECT count(*) FROM company_metric_snapshots WHERE source = 'sync' AND day <> '2026-12-07'"),
      0);
}

TEST_F(SyncTest, SnapshotsKeepOneRowPerDayAndASyncedValueOutranksHistory) {
  auto write = [&](std::vector<store::SnapshotRow> rows) {
    db_.with_connection("t", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      store::CrmRepository::upsert_snapshots(tx, rows);
      tx.commit();
    });
  };
  auto value = [&](const std::string& metric) {
    return text(
        "SELECT value || ' ' || source FROM company_metric_snapshots WHERE company_id = 7 AND day = "
        "'2026-03-01' AND metric = '" +
        metric + "'");
  };
  write({{7, "2026-03-01", "mrr", 1.0, "backfill"},
         {7, "2026-03-01", "licensed_seats", 2.0, "backfill"},
         {7, "2026-03-01", "mrr", 1.5, "backfill"},  // later in the batch: wins
         {7, "2026-03-02", "mrr", 9.0, "backfill"}});
  EXPECT_EQ(value("mrr"), "1.5 backfill");
  EXPECT_EQ(count("SELECT count(*) FROM company_snapshots WHERE company_id = 7"), 2);
  write({{7, "2026-03-01", "mrr", 5.0, "sync"}});
  write({{7, "2026-03-01", "mrr", 3.0, "backfill"}, {7, "2026-03-01", "licensed_seats", 4.0, "backfill"}});
  EXPECT_EQ(value("mrr"), "5 sync");                 // history does not replace what the sync saw
  EXPECT_EQ(value("licensed_seats"), "4 backfill");  // but fills what it did not
  const auto before =
      text("SELECT xmin::text FROM company_snapshots WHERE company_id = 7 AND day = '2026-03-01'");
  write({{7, "2026-03-01", "mrr", 5.0, "sync"}});  // nothing new: the row is not rewritten
  EXPECT_EQ(text("SELECT xmin::text FROM company_snapshots WHERE company_id = 7 AND day = '2026-03-01'"),
            before);

  // A first sync replaces what its companies had, and only theirs.
  write({{8, "2026-03-01", "mrr", 80.0, "sync"}});
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    store::CrmRepository::replace_snapshots(tx, {7, 9},
                                            {{7, "2026-02-01", "mrr", 2.0, "backfill"},
                                             {7, "2026-02-01", "mrr", 3.0, "backfill"},
                                             {7, "2026-03-05", "mrr", 4.0, "sync"},
                                             {9, "2026-03-05", "mrr", 6.0, "sync"}});
    tx.commit();
  });
  EXPECT_EQ(
      text("SELECT string_agg(company_id || ' ' || day || ' ' || metric || '=' || value || ' ' || source, "
           "', ' ORDER BY company_id, day) FROM company_metric_snapshots"),
      "7 2026-02-01 mrr=3 backfill, 7 2026-03-05 mrr=4 sync, 8 2026-03-01 mrr=80 sync, "
      "9 2026-03-05 mrr=6 sync");

  // Dates, texts (escaped as JSON) and cleared values share the day's row; the metrics view shows
  // metrics only.
  write({{9, "2026-03-06", "plan", std::string("pro \"plus\"\n\\"), "sync"},
         {9, "2026-03-06", "renewal_date", 1803859200000.0, "sync"},
         {9, "2026-03-06", "cs_stage", nullptr, "sync"},
         {9, "2026-03-06", "mrr", 7.0, "sync"}});
  EXPECT_EQ(text("SELECT synced::text FROM company_snapshots WHERE company_id = 9 AND day = '2026-03-06'"),
            R"({"mrr": 7, "plan": "pro \"plus\"\n\\", "cs_stage": null, "renewal_date": 1803859200000})");
  EXPECT_EQ(text("SELECT string_agg(metric, ',') FROM company_metric_snapshots WHERE company_id = 9 AND day = "
                 "'2026-03-06'"),
            "mrr");
}

TEST_F(SyncTest, AwkwardTextAndFiguresAreStoredExactly) {
  start_sim(1);
  const std::string awkward = "Q\"uote \\ back\nline\ttab \x01\x1f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x88";
  const auto c =
      sim_post("/__sim/objects/companies",
               {{"properties", {{"name", awkward}, {"cs_mrr", "1234.5"}, {"cs_licensed_seats", "1e3"}}}});
  syncer().full(spec("companies"));
  const std::string id = c["id"];
  EXPECT_EQ(db_values("companies", "name")[id], awkward);
  EXPECT_EQ(text("SELECT name FROM companies WHERE id = " + id), awkward);
  EXPECT_EQ(text("SELECT mrr || ' ' || licensed_seats FROM companies WHERE id = " + id), "1234.5 1000");
  EXPECT_EQ(text("SELECT jsonb_typeof(fields->'mrr') FROM crm_objects WHERE id = " + id), "number");
}

TEST_F(SyncTest, MalformedValuesAreStoredAsNullAndCounted) {
  start_sim(3);
  const auto bad = sim_post(
      "/__sim/objects/companies",
      {{"properties", {{"name", "Broken Import"}, {"cs_mrr", "lots"}, {"cs_renewal_date", "2024-02-30"}}}});
  // Words a number parser reads as numbers are still not figures.
  const auto odd =
      sim_post("/__sim/objects/companies",
               {{"properties", {{"name", "Odd Import"}, {"cs_mrr", "inf"}, {"cs_licensed_seats", "nan"}}}});
  auto s = syncer();
  const auto report = s.full(spec("companies"));
  EXPECT_EQ(report.rejected_values, 4u);
  EXPECT_EQ(db_values("companies", "cs_mrr")[odd["id"]], "");
  EXPECT_EQ(db_values("companies", "cs_licensed_seats")[odd["id"]], "");
  const std::string id = bad["id"];
  EXPECT_EQ(db_values("companies", "name")[id], "Broken Import");  // the record is kept
  EXPECT_EQ(db_values("companies", "cs_mrr")[id], "");
  EXPECT_EQ(db_values("companies", "cs_renewal_date")[id], "");
  EXPECT_EQ(metrics_
                .counter("cshealthd_sync_rejected_values_total", "",
                         {{"object_type", "companies"}, {"property", "cs_mrr"}})
                .value(),
            2u);  // "lots" and "inf"
}

// PostgreSQL's jsonb refuses a NUL character: written as it came, it failed the page's transaction and
// stopped the type's sync for good. It is a malformed value like any other.
TEST_F(SyncTest, ANulCharacterIsAMalformedValueNotAStuckSync) {
  start_sim(3);
  const auto bad = sim_post("/__sim/objects/companies",
                            {{"properties", {{"name", std::string("Nul\0Corp", 8)}, {"cs_plan", "Pro"}}}});
  auto s = syncer();
  const auto report = s.full(spec("companies"));
  EXPECT_EQ(report.records, 4u);
  EXPECT_EQ(report.rejected_values, 1u);
  const std::string id = bad["id"];
  EXPECT_EQ(text("SELECT coalesce(properties->>'name', '<json null>') FROM crm_objects WHERE id = " + id),
            "<json null>");
  EXPECT_EQ(db_values("companies", "cs_plan")[id], "Pro");  // the rest of the record is kept
  EXPECT_EQ(text("SELECT name FROM companies WHERE id = " + id), "<null>");
}

TEST_F(SyncTest, ProgressKnowsTheTotalForAnEta) {
  start_sim(25);
  SyncOptions o;
  o.count_first = true;  // what the CLI asks on a terminal: one search call per type
  std::vector<std::int64_t> seen;
  auto s = syncer(o);
  s.on_page([&](const TypeReport& r) { seen.push_back(r.expected); });
  const auto full = s.full(spec("tickets"));
  EXPECT_EQ(full.expected, static_cast<std::int64_t>(sim_objects("tickets").size()));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), full.expected);  // known from the first page on
  const auto incremental = syncer().incremental(spec("tickets"));
  EXPECT_GE(incremental.expected, 0);  // the search total of the changes
}

TEST_F(SyncTest, TypedViewsCarryCanonicalValues) {
  start_sim(3);
  const auto c = sim_post("/__sim/objects/companies", {{"properties",
                                                        {{"name", "Typed Co"},
                                                         {"cs_mrr", "1234.5"},
                                                         {"cs_renewal_date", "2027-03-31"},
                                                         {"cs_licensed_seats", "not a number"},
                                                         {"notes_last_contacted", "1790000000000"},
                                                         {"cs_plan", "enterprise"}}}});
  const auto k = sim_post(
      "/__sim/objects/contacts",
      {{"properties", {{"email", "k@x.example"}, {"cs_key_person", "true"}, {"cs_departed", "maybe"}}}});
  syncer().full(spec("companies"));
  syncer().full(spec("contacts"));
  const std::string id = c["id"];
  EXPECT_EQ(text("SELECT mrr FROM companies WHERE id = " + id), "1234.5");
  EXPECT_EQ(text("SELECT renewal_date AT TIME ZONE 'UTC' FROM companies WHERE id = " + id),
            "2027-03-31 00:00:00");
  // HubSpot's epoch milliseconds and ISO dates both become timestamps.
  EXPECT_EQ(text("SELECT extract(epoch FROM last_contacted)::bigint FROM companies WHERE id = " + id),
            "1790000000");
  EXPECT_EQ(text("SELECT plan FROM companies WHERE id = " + id), "enterprise");
  EXPECT_EQ(text("SELECT licensed_seats FROM companies WHERE id = " + id), "<null>");  // rejected, not 0
  EXPECT_EQ(text("SELECT name FROM companies WHERE id = " + id), "Typed Co");
  const std::string kid = k["id"];
  EXPECT_EQ(text("SELECT key_person::text FROM contacts WHERE id = " + kid), "true");
  EXPECT_EQ(text("SELECT departed::text FROM contacts WHERE id = " + kid), "<null>");
  // Every view casts every stored row without an error.
  for (const auto* v : {"companies", "contacts", "deals", "tickets", "meetings", "feedback_submissions"}) {
    EXPECT_NO_THROW(count(std::string("SELECT count(*) FROM ") + v + " WHERE row(" + v + ".*) IS NOT NULL"))
        << v;
  }
}

TEST_F(SyncTest, RemappedPropertyFeedsTheCanonicalFieldAndSnapshots) {
  start_sim(2);
  const auto c = sim_post("/__sim/objects/companies",
                          {{"properties", {{"name", "Remapped"}, {"cs_mrr", "10"}, {"billing_mrr", "777"}}}});
  config::MappingConfig mapping;
  mapping.company["mrr"] = "billing_mrr";
  auto company_spec = specs(mapping)[0];
  syncer().full(company_spec);
  const std::string id = c["id"];
  EXPECT_EQ(text("SELECT mrr FROM companies WHERE id = " + id), "777");
  EXPECT_EQ(
      count("SELECT value::int FROM company_metric_snapshots WHERE metric = 'mrr' AND company_id = " + id),
      777);
}

TEST_F(SyncTest, AMappingChangeRereadsTheTypeWhole) {
  start_sim(4);
  const auto c =
      sim_post("/__sim/objects/companies",
               {{"properties", {{"name", "Remap Later"}, {"cs_mrr", "10"}, {"billing_mrr", "555"}}}});
  auto s = syncer();
  s.full(spec("companies"));
  const std::string id = c["id"];
  EXPECT_EQ(text("SELECT mrr FROM companies WHERE id = " + id), "10");
  EXPECT_FALSE(s.incremental(spec("companies")).full);  // same mapping: incremental
  config::MappingConfig mapping;
  mapping.company["mrr"] = "billing_mrr";
  const auto remapped = s.incremental(specs(mapping)[0]);
  EXPECT_TRUE(remapped.full);  // nothing changed in HubSpot, yet every record is re-read
  EXPECT_EQ(text("SELECT mrr FROM companies WHERE id = " + id), "555");
  EXPECT_FALSE(s.incremental(specs(mapping)[0]).full);
  // Records stored before the typed fields existed (no fingerprint) are re-read once the same way.
  db_.with_connection("t", [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec("UPDATE sync_state SET spec_fingerprint = NULL");
    tx.exec("UPDATE crm_objects SET fields = '{}'");
    tx.commit();
  });
  EXPECT_TRUE(s.incremental(spec("companies")).full);
  EXPECT_EQ(text("SELECT mrr FROM companies WHERE id = " + id), "10");
}

TEST_F(SyncTest, OwnersAndPipelinesAreStoredAndVanishedOnesArchived) {
  start_sim(10);
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("INSERT INTO crm_owners (id, email) VALUES (1, 'left@vendor.example')");
    tx.exec(
        "INSERT INTO crm_pipelines (object_type, pipeline_id, label, stages) VALUES ('deals', 'gone', 'Old', "
        "'[]')");
    tx.commit();
  });
  const auto report = syncer().reference_data();
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/__sim/objects/companies";
  EXPECT_GT(report.owners, 0u);
  EXPECT_EQ(count("SELECT count(*) FROM crm_owners WHERE NOT archived"), static_cast<int>(report.owners));
  EXPECT_EQ(count("SELECT count(*) FROM crm_owners WHERE archived AND id = 1"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM crm_owners WHERE email IS NULL OR first_name IS NULL"),
            1);  // only id 1
  EXPECT_EQ(count("SELECT count(*) FROM crm_pipelines WHERE NOT archived"),
            static_cast<int>(report.pipelines));
  EXPECT_EQ(count("SELECT count(*) FROM crm_pipelines WHERE object_type = 'deals' AND stages @> "
                  "'[{\"id\": \"closedwon\"}]'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM crm_pipelines WHERE archived AND pipeline_id = 'gone'"), 1);
}

TEST_F(SyncTest, RunnerSyncsEveryTypeInParallelLikeOneSyncerWould) {
  start_sim(60);
  Runner runner(db_, factory(), wall_, metrics_);
  RunOptions o;
  o.full = true;
  o.parallelism = 3;
  std::atomic<int> pages{0};
  const auto report = runner.run(default_specs(), o, [&](const TypeReport&) { ++pages; });
  ASSERT_TRUE(report.ok()) << report.failures[0];
  ASSERT_EQ(report.types.size(), default_specs().size());
  std::uint64_t total_pages = 0;
  for (std::size_t i = 0; i < report.types.size(); ++i) {
    EXPECT_EQ(report.types[i].type, default_specs()[i].type);  // in spec order, whoever finished first
    total_pages += report.types[i].pages;
  }
  EXPECT_EQ(static_cast<std::uint64_t>(pages.load()), total_pages);
  for (const auto& spec : default_specs()) {
    for (const auto& p : spec.properties) {
      EXPECT_EQ(db_values(spec.type, p.name), sim_values(spec.type, p.name)) << spec.type << "." << p.name;
    }
  }
  EXPECT_GT(report.reference.owners, 0u);
  EXPECT_EQ(report.missing_properties, (std::vector<std::string>{"companies.cs_stage"}));
  EXPECT_GE(report.api.calls, total_pages);
}

TEST_F(SyncTest, ATypeThatFailsLeavesItsCursorAndTheOthersFinish) {
  // Every tickets list call fails (after retries): tickets fail, the rest are synced.
  start_sim(20, "seed=1;route=/crm/v3/objects/tickets,5xx=1");
  Runner runner(db_, factory(2), wall_, metrics_);
  RunOptions o;
  o.full = true;
  const auto report = runner.run(default_specs(), o);
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_THAT(report.failures[0], ::testing::StartsWith("tickets: "));
  EXPECT_EQ(count("SELECT count(*) FROM crm_objects WHERE object_type = 'tickets'"), 0);
  EXPECT_EQ(db_values("companies", "name"), sim_values("companies", "name"));
  EXPECT_EQ(db_values("meetings", "hs_meeting_outcome"), sim_values("meetings", "hs_meeting_outcome"));
  EXPECT_EQ(metrics_.counter("cshealthd_sync_failures_total", "", {{"object_type", "tickets"}}).value(), 1u);
  // Healed, the next run syncs tickets from the beginning (no watermark was stored for them).
  start_sim(20);
  const auto healed = Runner(db_, factory(), wall_, metrics_).run({spec("tickets")}, o);
  EXPECT_TRUE(healed.ok());
  EXPECT_EQ(db_values("tickets", "hs_ticket_priority"), sim_values("tickets", "hs_ticket_priority"));
}

// Hard-deleted and merged records vanish from the list and the archive alike: only the id sweep finds
// them. They are archived here with the reason, and no longer scored; their history stays.
TEST_F(SyncTest, TheIdSweepFindsDeletedAndMergedRecordsAndTheyAreNoLongerScored) {
  start_sim(30);
  auto s = syncer();
  s.full(spec("companies"));
  EXPECT_FALSE(s.sweep_due("companies", 24h));  // a first sync has just read everything
  std::vector<std::string> ids;
  for (const auto& c : sim_objects("companies")) ids.push_back(c["id"]);
  ASSERT_GE(ids.size(), 4u);
  const std::string deleted = ids[0], merged = ids[1], survivor = ids[2], archived = ids[3];
  ASSERT_EQ(sim_call("DELETE", "/__sim/objects/companies/" + deleted), 204);
  ASSERT_EQ(sim_call("POST", "/crm/v3/objects/companies/merge",
                     {{"primaryObjectId", survivor}, {"objectIdToMerge", merged}}),
            200);
  ASSERT_EQ(sim_call("DELETE", "/crm/v3/objects/companies/" + archived), 204);
  // What a sync alone sees: nothing of the deleted or merged ones.
  s.incremental(spec("companies"));
  EXPECT_EQ(text("SELECT archived::text FROM crm_objects WHERE id = " + deleted), "false");

  const auto scoring_config = scoring::load_scoring("", core::StatusBands{});
  scoring::BatchScorer scorer(db_, scoring_config, metrics_);
  scoring::BatchOptions bo;
  bo.as_of_day = 20'000;
  const auto before = scorer.run(bo);

  const auto calls = client_->stats().calls;
  TypeReport report;
  s.sweep(spec("companies"), report);
  EXPECT_EQ(report.swept, 29u);  // the live ones stored: all but the archived one
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_EQ(report.merged, 1u);
  EXPECT_EQ(client_->stats().calls - calls, 2u);  // one batch read of ids, one of the archive for the rest
  EXPECT_EQ(text("SELECT archived::text || ' ' || (deleted_at IS NOT NULL)::text || ' ' || "
                 "coalesce(merged_into::text, '-') FROM crm_objects WHERE id = " +
                 deleted),
            "true true -");
  EXPECT_EQ(text("SELECT archived::text || ' ' || (deleted_at IS NOT NULL)::text || ' ' || "
                 "coalesce(merged_into::text, '-') FROM crm_objects WHERE id = " +
                 merged),
            "true true " + survivor);
  EXPECT_EQ(
      text("SELECT archived::text || ' ' || (deleted_at IS NOT NULL)::text FROM crm_objects WHERE id = " +
           survivor),
      "false false");
  EXPECT_EQ(text("SELECT (deleted_at IS NOT NULL)::text FROM crm_objects WHERE id = " + archived), "false");
  // Scored before, not after; the earlier score stays as history.
  bo.as_of_day = 20'001;
  const auto after = scorer.run(bo);
  EXPECT_EQ(before.companies - after.companies, 2u);
  EXPECT_EQ(count("SELECT count(*) FROM health_scores WHERE day = '2024-10-05' AND company_id IN (" +
                  deleted + ", " + merged + ")"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM health_scores WHERE company_id = " + deleted), 1);
  // A sweep that finds nothing changes nothing; none is due again until the interval passes.
  TypeReport again;
  s.sweep(spec("companies"), again);
  EXPECT_EQ(again.deleted + again.merged, 0u);
  EXPECT_FALSE(s.sweep_due("companies", 24h));
  EXPECT_FALSE(s.sweep_due("companies", 0ms));  // an interval of 0: never by itself
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(s.sweep_due("companies", 10ms));  // older than the interval: due
}

// Two syncs of one type never interleave its cursor: the second skips (or waits for the first).
TEST_F(SyncTest, ASecondSyncOfATypeSkipsOrWaitsWhileOneRuns) {
  start_sim(20);
  RunOptions o;
  o.full = true;
  auto held = std::make_unique<store::SessionLock>(tdb_.conninfo(), "cshealthd.sync.companies", 0ms);
  ASSERT_TRUE(held->held());
  const auto skipped = Runner(db_, factory(), wall_, metrics_).run({spec("companies"), spec("tickets")}, o);
  EXPECT_TRUE(skipped.ok());
  EXPECT_EQ(skipped.skipped, (std::vector<std::string>{"companies"}));
  EXPECT_TRUE(skipped.types[0].skipped);
  EXPECT_EQ(count("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"), 0);
  EXPECT_GT(count("SELECT count(*) FROM crm_objects WHERE object_type = 'tickets'"), 0);
  // Waiting: the holder lets go after a moment and the run goes on.
  o.lock_wait = 10s;
  auto release = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(300ms);
    held.reset();
  });
  const auto waited = Runner(db_, factory(), wall_, metrics_).run({spec("companies")}, o);
  release.get();
  EXPECT_TRUE(waited.skipped.empty());
  EXPECT_EQ(db_values("companies", "name"), sim_values("companies", "name"));
}

// An asynchronous commit lost in a server crash: the database forgets pages the syncer was told were
// committed. Found killing the embedded postmaster mid-sync: the syncer went on from its cursor in
// memory, and the lost page was never read again. Now the next state save sees the stored version
// behind its own, and the type resumes from what is stored.
TEST_F(SyncTest, PagesTheDatabaseLostInACrashAreReadAgainNotSkipped) {
  start_sim(300);  // companies with history: 50 a page, 6 pages
  std::string cursor_after_first;
  long version_after_first = 0;
  std::int64_t last_id_after_first = 0;
  int companies_pages = 0;
  auto exec = [&](const std::string& sql) {
    db_.with_connection("t", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec(sql);
      tx.commit();
    });
  };
  Runner runner(db_, factory(), wall_, metrics_);
  RunOptions o;
  o.parallelism = 1;
  const auto report = runner.run({spec("companies")}, o, [&](const TypeReport& r) {
    if (r.type != "companies") return;
    ++companies_pages;
    if (companies_pages == 1) {
      cursor_after_first = text("SELECT full_cursor FROM sync_state WHERE object_type = 'companies'");
      version_after_first = std::stol(text("SELECT version FROM sync_state WHERE object_type = 'companies'"));
      last_id_after_first =
          std::stoll(text("SELECT max(id) FROM crm_objects WHERE object_type = 'companies'"));
    } else if (companies_pages == 3) {
      // What the database holds after a crash that lost pages 2 and 3's commits.
      const std::string after = std::to_string(last_id_after_first);
      exec("UPDATE sync_state SET full_cursor = '" + cursor_after_first +
           "', version = " + std::to_string(version_after_first) + " WHERE object_type = 'companies'");
      exec("DELETE FROM crm_objects WHERE object_type = 'companies' AND id > " + after);
      exec("DELETE FROM sync_pending_backfill WHERE object_type = 'companies' AND first_id > " + after);
    }
  });
  ASSERT_TRUE(report.ok()) << report.failures[0];
  EXPECT_EQ(db_values("companies", "name"), sim_values("companies", "name"));
  EXPECT_EQ(count("SELECT count(*) FROM crm_objects WHERE object_type = 'companies'"), 300);
  EXPECT_EQ(
      metrics_.counter("cshealthd_sync_state_restarts_total", "", {{"object_type", "companies"}}).value(),
      1u);
  expect_snapshots_match_history();
}

// A HubSpot that answers what a test scripts (routes added before start()), with a client on it, and a
// type stored as synced before (a watermark and the spec's fingerprint): what an incremental sync meets
// when HubSpot, or something in between, answers oddly.
struct ScriptedHubSpot {
  explicit ScriptedHubSpot(Clock& clock, metrics::Registry& metrics) : clock_(clock), metrics_(metrics) {}
  ~ScriptedHubSpot() { server.shutdown(2s); }
  hubspot::HubSpotClient& start() {
    server.start();
    http::TransportOptions to;
    to.base_url = "http://" + server.address();
    transport = http::make_transport(to);
    client = std::make_unique<hubspot::HubSpotClient>(*transport, budget, clock_, Secret("T"), metrics_);
    return *client;
  }
  static void synced_before(store::Database& db, const ObjectSpec& spec) {
    db.with_connection("t", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params(
          "INSERT INTO sync_state (object_type, watermark, spec_fingerprint, version) VALUES ($1, now(), $2, "
          "1)",
          spec.type, spec.fingerprint());
      tx.commit();
    });
  }

  Clock& clock_;
  metrics::Registry& metrics_;
  http::Router router;
  WorkerPool workers{1, "fake-hubspot"};
  metrics::Registry server_metrics;
  http::Server server{{}, router, workers, server_metrics};
  hubspot::LocalRateBudget budget{hubspot::BudgetOptions{}, clock_};
  std::unique_ptr<http::Transport> transport;
  std::unique_ptr<hubspot::HubSpotClient> client;
};

// A search that ignores its hs_object_id filter would hand back the same records forever: the walk ends
// with an error naming the call instead. (HubSpot, or a proxy, answering from a cache, say.)
TEST_F(SyncTest, ASearchThatIgnoresItsIdFilterEndsWithATypedError) {
  ScriptedHubSpot hs(fake_, metrics_);
  std::atomic<int> searches{0};
  hs.router.add("POST", "/crm/v3/objects/{type}/search", [&](const http::Request&) {
    ++searches;
    return http::Response::text(
        200, R"({"total": 2, "results": [{"id": "5", "properties": {}}, {"id": "6", "properties": {}}]})",
        "application/json");
  });
  auto& client = hs.start();
  const auto companies = spec("companies");
  ScriptedHubSpot::synced_before(db_, companies);
  SyncOptions o;
  o.search_page = 2;
  Syncer s(db_, client, wall_, metrics_, o);
  try {
    s.incremental(companies);
    FAIL() << "no error";
  } catch (const hubspot::ApiError& e) {
    EXPECT_EQ(e.kind(), hubspot::ApiError::Kind::kRejected);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("objects.search companies: HubSpot ignored the filter"));
  }
  EXPECT_EQ(searches.load(), 2);
}

// Per-id errors in a 207 associations answer: an id HubSpot says has none loses its stored links, an id
// with any other error keeps them, and a link to something that is not an id is left out; none of it
// ends the sync.
TEST_F(SyncTest, AssociationErrorsKeepStoredLinksAndNeverEndTheSync) {
  ScriptedHubSpot hs(fake_, metrics_);
  hs.router.add("POST", "/crm/v3/objects/{type}/search", [&](const http::Request&) {
    return http::Response::text(200, R"({"total": 3, "results": [{"id": "101", "properties": {}},
        {"id": "102", "properties": {}}, {"id": "103", "properties": {}}]})",
                                "application/json");
  });
  hs.router.add("GET", "/crm/v3/objects/{type}", [&](const http::Request&) {
    return http::Response::text(200, R"({"results": []})", "application/json");
  });
  hs.router.add("POST", "/crm/v4/associations/{from}/{to}/batch/read", [&](const http::Request&) {
    return http::Response::text(207, R"({"status": "COMPLETE",
        "results": [{"from": {"id": "101"}, "to": [{"toObjectId": 9001}, {"toObjectId": "not-an-id"}]}],
        "numErrors": 2, "errors": [
          {"status": "error", "category": "OBJECT_NOT_FOUND",
           "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND", "context": {"fromObjectId": ["102"]}},
          {"status": "error", "category": "INTERNAL_ERROR", "context": {"fromObjectId": ["103"]}}]})",
                                "application/json");
  });
  auto& client = hs.start();
  const auto tickets = spec("tickets");
  ScriptedHubSpot::synced_before(db_, tickets);
  db_.with_connection("t", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // Links stored by an earlier sync.
    tx.exec(
        "INSERT INTO crm_associations VALUES ('tickets', 101, 'companies', 1), "
        "('tickets', 102, 'companies', 2), ('tickets', 103, 'companies', 3)");
    tx.commit();
  });
  SyncOptions o;
  o.search_page = 10;
  Syncer s(db_, client, wall_, metrics_, o);
  EXPECT_NO_THROW(s.incremental(tickets));
  const auto links = [&](int id) {
    return text(
        "SELECT coalesce(string_agg(to_id::text, ',' ORDER BY to_id), '-') FROM crm_associations "
        "WHERE from_type = 'tickets' AND from_id = " +
        std::to_string(id));
  };
  EXPECT_EQ(links(101), "9001");  // replaced by what HubSpot said, less the link that is not an id
  EXPECT_EQ(links(102), "-");     // HubSpot: none
  EXPECT_EQ(links(103), "3");     // unknown: kept
  EXPECT_EQ(metrics_
                .counter("cshealthd_sync_rejected_values_total", "",
                         {{"object_type", "tickets"}, {"property", "associations.companies"}})
                .value(),
            2u);
}

}  // namespace
}  // namespace cshealthd::sync
