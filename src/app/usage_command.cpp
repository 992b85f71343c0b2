#include "cshealthd/app/usage_command.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include "cshealthd/app/components.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/core/usage_csv.hpp"
#include "cshealthd/store/usage_import.hpp"

namespace cshealthd::app {
namespace {

// The header of a field as the configuration names it ("" when left out).
std::string header(const config::Config& config, const std::string& field) {
  const auto it = config.usage.csv.find(field);
  return it == config.usage.csv.end() ? field : it->second;
}

int print_template(const config::Config& config, Components& c) {
  // The company columns to fill in are the id's; name and domain are there to find one's way.
  std::vector<std::string> columns = {header(config, "company_id"), "name", header(config, "domain"),
                                      header(config, "date")};
  for (const auto& field : core::usage_csv_fields())
    if (core::metric_from_name(field)) columns.push_back(header(config, field));
  std::string line;
  for (const auto& col : columns)
    if (!col.empty()) line += (line.empty() ? "" : ",") + core::csv_field(col);
  std::cout << line << "\n";
  const std::string today = core::format_day(c.service_day());
  const std::size_t metrics = columns.size() - 4;
  c.db().with_retry("usage_template", [&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn, "usage_template");
    std::ostringstream out;
    for (const auto& r :
         tx.exec("SELECT id::text, coalesce(name, ''), coalesce(domain, '') FROM companies WHERE NOT "
                 "archived ORDER BY id")) {
      out << r[0].c_str() << "," << core::csv_field(r[1].c_str()) << "," << core::csv_field(r[2].c_str())
          << "," << today << std::string(metrics, ',') << "\n";
    }
    std::cout << out.str();
    return 0;
  });
  return 0;
}

}  // namespace

int run_usage(const config::Config& config, const UsageOptions& o) {
  ComponentOptions co;
  co.scoring = false;
  Components c(config, co);
  if (o.action == "template") return print_template(config, c);
  std::string text;
  if (o.file == "-") {
    std::ostringstream in;
    in << std::cin.rdbuf();
    text = in.str();
  } else {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) throw config::ConfigError("usage import: cannot read '" + o.file + "'");
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  auto columns = config.usage.csv;
  if (!o.date_column.empty()) columns["date"] = o.date_column;
  const auto r =
      store::import_usage_csv(c.db(), text, columns, c.service_day(), core::MetricSource::kCsv, o.dry_run);
  for (const auto& e : r.read.errors) std::cerr << o.file << ":" << e.line << ": " << e.reason << "\n";
  if (r.read.error_count > r.read.errors.size())
    std::cerr << o.file << ": " << (r.read.error_count - r.read.errors.size())
              << " more bad rows not shown\n";
  std::cout << (o.dry_run ? "dry run (nothing kept): " : "") << r.read.rows << " of " << r.read.records
            << " rows " << (o.dry_run ? "would be kept" : "kept") << ": " << r.figures << " figures, "
            << r.quarantined << " quarantined (no company matched), " << r.read.error_count << " refused; "
            << r.companies << " companies " << (o.dry_run ? "would be refreshed" : "to refresh") << "\n";
  if (r.read.fatal && r.read.rows == 0) return 2;
  return r.read.error_count == 0 ? 0 : 1;
}

}  // namespace cshealthd::app
