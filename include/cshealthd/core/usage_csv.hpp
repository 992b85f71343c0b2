#pragma once
// Usage as a CSV file (RFC 4180: quoted fields may hold commas, quotes doubled, line breaks; an optional
// UTF-8 byte order mark; LF or CRLF), one row per company and day, its columns named by the file's header
// as the configuration maps them (usage.csv.*). Pure: the importer reads the file, the store keeps rows.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cshealthd/core/usage.hpp"

namespace cshealthd::core {

// The fields a usage CSV may carry, by their canonical names: the company's key (company_id, domain,
// external_id), date, and the usage metrics.
const std::vector<std::string>& usage_csv_fields();

struct CsvRowError {
  std::size_t line = 0;  // 1-based: the line the record starts on (the header is line 1)
  std::string reason;
};

struct UsageCsvResult {
  std::size_t records = 0;          // data records read (blank lines not counted)
  std::size_t rows = 0;             // handed to on_row
  std::vector<CsvRowError> errors;  // the first max_errors, in line order
  std::size_t error_count = 0;      // all of them
  bool fatal = false;               // the header (or the quoting) made the rest unreadable
};

// Reads `text`, handing each good row to `on_row` with its line, and recording each bad one (a field
// count unlike the header's, no company, a bad date or number, a stray or unterminated quote,
// core::usage_row_error). The first company column filled names the company: company_id, else
// external_id, else domain. A row without a figure (a template's row left empty) is skipped. `columns` maps a
// canonical field to its header name (a field not mapped, or whose header the file lacks, is not read); the
// header must give a date, a company key and a metric.
UsageCsvResult read_usage_csv(std::string_view text, const std::map<std::string, std::string>& columns,
                              std::int32_t today, const std::function<void(UsageRow&&, std::size_t)>& on_row,
                              std::size_t max_errors = 1000);

// One CSV field as written: quoted when it holds a comma, a quote, a line break or leading/trailing blanks.
std::string csv_field(std::string_view value);

}  // namespace cshealthd::core
