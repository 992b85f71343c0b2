#pragma once
#include <string>

#include "cshealthd/config/config.hpp"

namespace cshealthd::app {

struct UsageOptions {
  std::string action;       // import | template
  std::string file;         // import: the CSV ("-": standard input)
  bool dry_run = false;     // import: report what would be kept, keep nothing
  std::string date_column;  // import: the date column's header, over usage.csv.date
};

// `cshealthd usage import FILE.csv [--dry-run] [--date-column NAME]`: usage from a CSV, every bad row
// reported with its line; exit 0 when every row was kept, 1 when some were refused, 2 when the file is
// unreadable. `cshealthd usage template`: a CSV with every company's id, name and domain to fill in.
int run_usage(const config::Config& config, const UsageOptions& options);

}  // namespace cshealthd::app
