#pragma once
// Companies a webhook said changed, waiting for a refresh run to read them by id (table
// refresh_requests). Each call joins the caller's transaction.
#include <cstdint>
#include <optional>
#include <vector>

#include <pqxx/pqxx>

namespace cshealthd::store {

class RefreshRequests {
 public:
  static void add(pqxx::work& tx, const std::vector<std::int64_t>& company_ids);
  // The newest request no run has taken yet.
  static std::optional<std::int64_t> latest_waiting(pqxx::transaction_base& tx);
  // The requests up to `last` become the run's.
  static void assign(pqxx::work& tx, std::int64_t run_id, std::int64_t last);
  // The companies of a run's requests, ascending.
  static std::vector<std::int64_t> companies_of(pqxx::transaction_base& tx, std::int64_t run_id);
  // Seconds since the oldest of a run's requests was made; nullopt when it has none.
  static std::optional<double> oldest_wait_seconds(pqxx::transaction_base& tx, std::int64_t run_id);
};

}  // namespace cshealthd::store
