#pragma once
// A usage CSV into usage_daily (and its quarantine): read by core::read_usage_csv, kept through
// UsageStore a batch of rows per transaction (a large file never holds one transaction open for all of it;
// an import stopped half-way and run again ends exactly as one clean run). A dry run keeps nothing.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cshealthd/core/usage_csv.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::store {

struct UsageImport {
  core::UsageCsvResult read;
  std::size_t figures = 0;      // stored against a company (or, in a dry run, that would be)
  std::size_t quarantined = 0;  // kept in the quarantine (or would be)
  std::size_t companies = 0;    // whose figures changed, refreshed
  bool dry_run = false;
};

UsageImport import_usage_csv(Database& db, std::string_view text,
                             const std::map<std::string, std::string>& columns, std::int32_t today,
                             core::MetricSource source, bool dry_run, std::size_t batch_rows = 20'000);

}  // namespace cshealthd::store
