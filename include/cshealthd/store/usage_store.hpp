#pragma once
// Product usage sent to cshealthd (tables usage_days and usage_quarantine; the view usage_daily): figures
// per company, metric and day, each replacing the one before (kept a row per company and day), and the
// figures whose company no synced company matches yet. Each call joins the caller's transaction.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/core/usage.hpp"

namespace cshealthd::store {

class UsageStore {
 public:
  struct Stored {
    std::size_t figures = 0;              // new or changed in usage_daily (one equal to the stored: not)
    std::size_t quarantined = 0;          // kept in the quarantine (no company, or several)
    std::vector<std::int64_t> companies;  // the companies whose figures changed, ascending
    // With `with_matches`: each key (its value) that matched exactly one company, and that company.
    std::vector<std::pair<std::string, std::int64_t>> matched;
  };
  // Keeps checked rows (core::usage_row_error): a figure replaces the one of its company, metric and day
  // (within the rows too, the last one wins); a row no synced company matches, or more than one, goes to
  // the quarantine with the reason. The companies whose figures changed get a refresh request.
  static Stored put(pqxx::work& tx, const std::vector<core::UsageRow>& rows, core::MetricSource source,
                    bool with_matches = false);

  // Quarantined figures whose company a sync has since brought, moved into usage_daily (their
  // companies get a refresh request); returns how many moved.
  static std::size_t release_quarantine(pqxx::work& tx);

  struct Quarantined {
    std::string key_kind, key, metric, day, source, reason, received_at;
    double value = 0;
  };
  // The quarantine, the latest first, and its size.
  static std::vector<Quarantined> quarantine(pqxx::transaction_base& tx, std::size_t limit);
  static std::int64_t quarantine_size(pqxx::transaction_base& tx);

  struct Figure {
    std::int64_t company_id = 0;
    core::Metric metric = core::Metric::kActiveUsers30d;
    std::int32_t day = 0;
    double value = 0;
    core::MetricSource source = core::MetricSource::kPush;
  };
  // The figures of companies lo..hi on days from..to, by company, metric and day.
  static void read(pqxx::transaction_base& tx, std::int64_t lo, std::int64_t hi, std::int32_t from,
                   std::int32_t to, const std::function<void(const Figure&)>& f);

  // A company's usage as its HubSpot properties show it (the write-through): its latest figure of each
  // metric on days `day` - 30 to `day`, from usage sent to cshealthd only, and the last day one of its
  // users was active (known from the Segment source).
  struct Summary {
    std::optional<double> active_users, logins, seats, features;
    std::optional<std::int32_t> last_active_day;
  };
  static std::map<std::int64_t, Summary> summaries(pqxx::transaction_base& tx, std::int32_t day,
                                                   const std::optional<std::vector<std::int64_t>>& only);
  // Records the last day a company's users were active (kept when an earlier day is given).
  static void set_last_active(pqxx::work& tx, const std::vector<std::pair<std::int64_t, std::int32_t>>& days);
};

}  // namespace cshealthd::store
