#include "cshealthd/core/time.hpp"
#include "cshealthd/review/quarterly_review.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::review {

bool ReviewStore::reviewed(pqxx::transaction_base& tx, const std::string& quarter) {
  return !tx.exec_params("SELECT 1 FROM quarterly_reviews WHERE quarter = $1", quarter).empty();
}

bool ReviewStore::ran_by(pqxx::transaction_base& tx, std::int32_t day) {
  return !tx.exec_params("SELECT 1 FROM runs WHERE state = 'succeeded' AND kind <> 'refresh' AND as_of <= "
                         "$1::date LIMIT 1",
                         core::format_day(day))
              .empty();
}

bool ReviewStore::record(pqxx::work& tx, const std::string& quarter, std::int32_t day,
                         std::optional<std::int64_t> backtest_id, std::optional<std::int64_t> calibration_id,
                         const std::string& outcome) {
  std::string b, c;
  return !tx
              .exec_params(
                  "INSERT INTO quarterly_reviews (quarter, day, backtest_id, calibration_id, outcome) VALUES ($1, "
                  "$2::date, $3::bigint, $4::bigint, $5) ON CONFLICT (quarter) DO NOTHING RETURNING 1",
                  quarter, core::format_day(day), store::nullable(backtest_id, b), store::nullable(calibration_id, c),
                  outcome)
              .empty();
}

}  // namespace cshealthd::review
