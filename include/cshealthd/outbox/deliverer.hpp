#pragma once
#include <cstdint>
#include <stop_token>
#include <string>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/hubspot/client.hpp"
#include "cshealthd/outbox/outbox_store.hpp"
#include "cshealthd/outbox/portal_setup.hpp"
#include "cshealthd/outbox/settings.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::outbox {

struct DeliveryReport {
  std::uint64_t companies = 0;       // companies whose properties were written
  std::uint64_t tasks_created = 0;   // tasks (and records, deals) HubSpot created
  std::uint64_t tasks_existing = 0;  // found already there (upsert new:false, or by search)
  std::uint64_t closed = 0, slack = 0, dead = 0, in_doubt = 0;
  std::uint64_t calls = 0, rate_limited = 0;
  bool interrupted = false;
  std::string task_mode;
};

// Drains the outbox, one sender per kind: property updates 100 companies per batch/update (a rejected
// batch is split until the bad input is alone, and that one is dead-lettered with HubSpot's words);
// tasks, Services records and deals made exactly once; task closes; Slack messages. Each outcome is
// recorded with the HubSpot id in the transaction that marks the item done. One deliverer at a time (a
// session lock).
class Deliverer {
 public:
  Deliverer(store::Database& db, const Settings& settings, metrics::Registry& metrics, Clock& clock);
  DeliveryReport run(hubspot::HubSpotClient& client, std::stop_token stop);

 private:
  store::Database& db_;
  const Settings& settings_;
  metrics::Registry& metrics_;
  Clock& clock_;
};

}  // namespace cshealthd::outbox
