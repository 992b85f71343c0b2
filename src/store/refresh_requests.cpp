#include "cshealthd/store/refresh_requests.hpp"

#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::store {

void RefreshRequests::add(pqxx::work& tx, const std::vector<std::int64_t>& company_ids) {
  if (company_ids.empty()) return;
  tx.exec_params("INSERT INTO refresh_requests (company_id) SELECT unnest($1::bigint[])",
                 bigint_array(company_ids));
}

std::optional<std::int64_t> RefreshRequests::latest_waiting(pqxx::transaction_base& tx) {
  const auto r = tx.exec("SELECT max(id) FROM refresh_requests WHERE run_id IS NULL");
  if (r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<std::int64_t>();
}

void RefreshRequests::assign(pqxx::work& tx, std::int64_t run_id, std::int64_t last) {
  tx.exec_params("UPDATE refresh_requests SET run_id = $1 WHERE run_id IS NULL AND id <= $2", run_id, last);
}

std::vector<std::int64_t> RefreshRequests::companies_of(pqxx::transaction_base& tx, std::int64_t run_id) {
  std::vector<std::int64_t> ids;
  for (const auto& r : tx.exec_params(
           "SELECT DISTINCT company_id FROM refresh_requests WHERE run_id = $1 ORDER BY 1", run_id))
    ids.push_back(r[0].as<std::int64_t>());
  return ids;
}

std::optional<double> RefreshRequests::oldest_wait_seconds(pqxx::transaction_base& tx, std::int64_t run_id) {
  const auto r = tx.exec_params(
      "SELECT extract(epoch FROM clock_timestamp() - min(requested_at))::float8 FROM refresh_requests WHERE "
      "run_id = $1",
      run_id);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<double>();
}

}  // namespace cshealthd::store
