#pragma once
// HubSpot's webhook events as stored (table webhook_events): every statement on it. Each call joins the
// caller's transaction. Private to src/onboarding.
#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/core/onboarding.hpp"

namespace cshealthd::onboarding {

class WebhookEventStore {
 public:
  struct Stored {
    std::int64_t id = 0, object_id = 0;
    std::string object_type, property_name, property_value, subscription_type;
    std::int64_t age_ms = 0;  // from its occurredAt to now (the database's clock)
  };
  // Until the transaction ends, the only one processing events (across replicas).
  static void lock_processing(pqxx::work& tx);
  // Inserts the events whose dedup key is new; returns how many were.
  static std::size_t insert(pqxx::work& tx, const std::vector<core::WebhookEvent>& events);
  // The oldest unprocessed events, in occurredAt order.
  static std::vector<Stored> unprocessed(pqxx::transaction_base& tx, std::size_t limit);
  static void mark_processed(pqxx::work& tx, const std::vector<std::int64_t>& ids,
                             const std::vector<std::string>& outcomes);
  // Processed events older than `days` leave.
  static void prune(pqxx::work& tx, std::int64_t days);
};

}  // namespace cshealthd::onboarding
