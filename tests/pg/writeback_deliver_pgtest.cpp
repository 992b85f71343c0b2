// The deliverer against the simulator (in process, over real HTTP) and a real PostgreSQL: a batch HubSpot
// refuses is split until the bad input stands alone, which is dead-lettered with HubSpot's words; the
// rest is written.
#include "cshealthd/outbox/deliverer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/alerts/store.hpp"
#include "cshealthd/base/system_clock.hpp"
#include "fake_clock.hpp"
#include "in_process.hpp"
#include "sim_client.hpp"
#include "test_database.hpp"

namespace cshealthd::alerts {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

class DeliverTest : public ::testing::Test {
 protected:
  DeliverTest()
      : settings_(outbox::load_settings(config::Config{},
                                        output_properties(load_settings(config::Config{}).plan), {})) {
    sim_ = std::make_unique<sim::InProcessSimulator>(sim::unlimited("T"), 6, 5);
    budget_ = std::make_unique<hubspot::LocalRateBudget>(hubspot::BudgetOptions{}, fake_);
    handle_ = testing::sim_client(sim_->base_url(), *budget_, fake_, metrics_);
    client_ = handle_.client.get();
  }
  void exec(const std::string& sql) { testing::exec_sql(db_, sql); }
  std::string text(const std::string& sql) { return testing::first_text(db_, sql); }
  void outbox_properties(const std::string& company, const json& props) {
    exec("INSERT INTO outbox (key, kind, company_id, payload) VALUES ('props:" + company +
         ":t1', 'properties', " + company + ", '" + json{{"properties", props}}.dump() + "')");
    exec("INSERT INTO writeback_companies (company_id, written) VALUES (" + company + ", '" + props.dump() +
         "')");
  }

  testing::TestDatabase tdb_;
  store::Database db_{tdb_.conninfo(), store::PoolOptions{}};
  testing::FakeClock fake_;
  SystemClock wall_;
  metrics::Registry metrics_;
  outbox::Settings settings_;
  std::unique_ptr<sim::InProcessSimulator> sim_;
  std::unique_ptr<hubspot::LocalRateBudget> budget_;
  hubspot::ClientHandle handle_;
  hubspot::HubSpotClient* client_ = nullptr;
};

// A row this version cannot read (a payload of the wrong shape) is dead-lettered with the reason, not
// sent half-understood and not left pending at the head of its queue: the rows behind it are delivered.
TEST_F(DeliverTest, AnUnreadableRowIsDeadLetteredAndTheRowsBehindItAreDelivered) {
  outbox::Deliverer d(db_, settings_, metrics_, wall_);
  d.run(*client_, {});
  std::vector<std::string> ids;
  for (const auto& r : client_->list("companies", {}).results) ids.push_back(r.id);
  ASSERT_GE(ids.size(), 2u);
  exec("INSERT INTO outbox (key, kind, company_id, payload) VALUES ('props:" + ids[0] +
       ":bad', 'properties', " + ids[0] + ", '{\"properties\": [1, 2]}')");
  exec("INSERT INTO outbox (key, kind, company_id, payload) VALUES ('task:bad', 'task', " + ids[0] +
       ", '{\"subject\": 5}')");
  outbox_properties(ids[1], {{"cs_health_score", "42"}});
  const auto report = d.run(*client_, {});
  EXPECT_EQ(report.companies, 1u);
  EXPECT_EQ(text("SELECT state FROM outbox WHERE key = 'task:bad'"), "dead");
  EXPECT_THAT(text("SELECT error FROM outbox WHERE key = 'task:bad'"), HasSubstr("cannot be read"));
  EXPECT_EQ(text("SELECT state FROM outbox WHERE key = 'props:" + ids[0] + ":bad'"), "dead");
  EXPECT_EQ(text("SELECT state FROM outbox WHERE key = 'props:" + ids[1] + ":t1'"), "done");
  const auto r = client_->batch_read("companies", {ids[1]}, {"cs_health_score"});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_NE(r[0].property("cs_health_score"), nullptr);
  EXPECT_EQ(r[0].property("cs_health_score")->text, "42");
}

TEST_F(DeliverTest, ARefusedBatchIsSplitUntilTheBadInputStandsAloneAndOnlyItIsDeadLettered) {
  outbox::Deliverer d(db_, settings_, metrics_, wall_);
  d.run(*client_, {});  // the portal's set-up first: the calls counted below are the delivery's alone
  std::vector<std::string> ids;
  for (const auto& r : client_->list("companies", {}).results) ids.push_back(r.id);
  ASSERT_EQ(ids.size(), 6u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    json props = {{"cs_health_score", std::to_string(50 + i)}, {"cs_health_status", "orange"}};
    if (i == 2) props["cs_health_status"] = "purple";  // not an option: HubSpot refuses the whole batch (400)
    outbox_properties(ids[i], props);
  }
  outbox_properties("10000099999", {{"cs_health_score", "1"}});  // no such company: a 207 names it
  const auto report = d.run(*client_, {});
  EXPECT_EQ(report.companies, 5u);
  EXPECT_EQ(report.dead, 2u);
  EXPECT_EQ(text("SELECT count(*) FROM outbox WHERE state = 'done'"), "5");
  EXPECT_THAT(text("SELECT error FROM outbox WHERE company_id = " + ids[2]), HasSubstr("cs_health_status"));
  EXPECT_EQ(text("SELECT state FROM outbox WHERE company_id = 10000099999"), "dead");
  // What died is no longer counted as written: the next plan plans it again.
  EXPECT_EQ(text("SELECT written::text FROM writeback_companies WHERE company_id = " + ids[2]), "{}");
  EXPECT_NE(text("SELECT written::text FROM writeback_companies WHERE company_id = " + ids[3]), "{}");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto r = client_->batch_read("companies", {ids[i]}, {"cs_health_score", "cs_health_status"});
    ASSERT_EQ(r.size(), 1u);
    const auto* score = r[0].property("cs_health_score");
    if (i == 2) {
      EXPECT_TRUE(!score || score->text.empty());
    } else {
      ASSERT_TRUE(score);
      EXPECT_EQ(score->text, std::to_string(50 + i));
    }
  }
  // Halving 7 inputs down to the bad one costs a handful of calls, not one per input and attempt.
  EXPECT_LE(report.calls, 20u);
  // An operator sends a dead item again once the cause is fixed.
  outbox::OutboxStore store(db_);
  const auto dead = store.list(std::string("dead"), 10, std::numeric_limits<std::int64_t>::max());
  ASSERT_EQ(dead.size(), 2u);
  const auto again = store.retry(dead[0].id);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->state, "pending");
  EXPECT_EQ(again->attempts, 0);
  EXPECT_FALSE(store.retry(dead[0].id).has_value());  // only dead items
}

}  // namespace
}  // namespace cshealthd::alerts
