#pragma once
#include <cstdint>
#include <stdexcept>
#include <stop_token>
#include <string>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/hubspot/client.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/writeback/settings.hpp"

namespace cshealthd::writeback {

// How tasks are made exactly once in this portal: by batch/upsert on a unique key property, or by a
// create whose unknown outcome is settled by searching for its key after the search lag.
enum class TaskMode { kUpsert, kSearch };
const char* name_of(TaskMode m);

// The portal cannot take what the service writes (a property of another type, an enumeration without
// the values written): an operator must act, so retrying is pointless.
class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// First run: the property group, the output properties (created when missing, 409 = already there; their
// types checked) and the task key property (unique when the portal allows it). Remembered in
// writeback_setup with a fingerprint of what was checked, so later runs make no call until the config
// changes.
struct PortalSetup {
  TaskMode tasks = TaskMode::kUpsert;
  bool services = false;  // the portal has the Services object (0-162), set up for onboarding's records
};
PortalSetup ensure_portal(store::Database& db, hubspot::HubSpotClient& client, const Settings& settings);

// The properties of the Services record onboarding creates (besides Settings::service_key_property).
inline constexpr const char* kServicePlan = "cs_plan";
inline constexpr const char* kServiceMrr = "cs_mrr";
inline constexpr const char* kServiceSeats = "cs_licensed_seats";
inline constexpr const char* kServiceContractStart = "cs_contract_start_date";
inline constexpr const char* kServiceOnboardingStart = "cs_onboarding_start_date";
inline constexpr const char* kServiceOnboardingTarget = "cs_onboarding_target_date";

struct DeliveryReport {
  std::uint64_t companies = 0;       // companies whose properties were written
  std::uint64_t tasks_created = 0;   // tasks HubSpot created
  std::uint64_t tasks_existing = 0;  // tasks found already there (upsert new:false, or by search)
  std::uint64_t closed = 0, slack = 0, dead = 0, in_doubt = 0;
  std::uint64_t calls = 0, rate_limited = 0;
  bool interrupted = false;
  std::string task_mode;
};

// Drains the outbox: property updates 100 companies per batch/update (a rejected batch is split until
// the bad input is alone, and that one is dead-lettered with HubSpot's words), tasks 100 per call with
// their company association, task closes, Slack messages. Each outcome is recorded with the HubSpot id
// in the transaction that marks the item done. One deliverer at a time (a session lock).
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

}  // namespace cshealthd::writeback
