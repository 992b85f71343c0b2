#pragma once
#include <stdexcept>

#include "cshealthd/hubspot/client.hpp"
#include "cshealthd/outbox/settings.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::outbox {

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

// First run: the property group, the workflows' properties (created when missing, 409 = already there;
// their types checked) and the task key property (unique when the portal allows it). Remembered in
// writeback_setup with a fingerprint of what was checked, so later runs make no call until the config
// changes.
struct PortalSetup {
  TaskMode tasks = TaskMode::kUpsert;
  bool services = false;  // the portal has the Services object (0-162), set up for onboarding's records
};
PortalSetup ensure_portal(store::Database& db, hubspot::HubSpotClient& client, const Settings& settings);
// Forgets the set-up (a property was deleted in HubSpot): the next delivery sets the portal up again.
void forget_portal(store::Database& db);

// The body of a property create, as HubSpot's published spec has it (every option with `hidden`).
nlohmann::json property_create_body(const PropertySpec& spec, const std::string& group);

}  // namespace cshealthd::outbox
