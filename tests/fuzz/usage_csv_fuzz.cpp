// Usage CSVs from outside (a spreadsheet export, an upload to POST /v1/usage.csv): any bytes read without a
// crash; every row handed on passes core's row rules and names its company; errors come in line order,
// within the file's lines, and are all counted; and a file written back with csv_field reads the same keys.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "cshealthd/core/usage.hpp"
#include "cshealthd/core/usage_csv.hpp"
#include "fuzz_check.hpp"

using namespace cshealthd::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::int32_t kToday = 20'619;
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) +
                            static_cast<std::size_t>(std::count(text.begin(), text.end(), '\r')) + 1;
  std::vector<UsageRow> rows;
  std::size_t last_line = 0;
  const auto r = read_usage_csv(
      text, {}, kToday,
      [&](UsageRow&& row, std::size_t line) {
        FUZZ_CHECK(!usage_row_error(row, kToday));
        FUZZ_CHECK(!row.key.value.empty());
        FUZZ_CHECK(line > last_line && line <= lines);
        last_line = line;
        rows.push_back(std::move(row));
      },
      5);
  FUZZ_CHECK(r.rows == rows.size());
  FUZZ_CHECK(r.errors.size() <= 5 && r.errors.size() <= r.error_count);
  FUZZ_CHECK(r.rows + r.error_count <= r.records + 1);  // a header error is the one not a record
  for (std::size_t i = 0; i < r.errors.size(); ++i) {
    FUZZ_CHECK(r.errors[i].line >= 1 && r.errors[i].line <= lines);
    if (i > 0) FUZZ_CHECK(r.errors[i].line >= r.errors[i - 1].line);
  }
  // Written back field by field, the rows read again with the same keys and days.
  if (rows.empty()) return 0;
  std::string out = "company_id,domain,external_id,date,logins_30d\n";
  for (const auto& row : rows) {
    const std::string key = csv_field(row.key.value);
    out += row.key.kind == UsageKeyKind::kId       ? key + ",,,"
           : row.key.kind == UsageKeyKind::kDomain ? "," + key + ",,"
                                                   : ",," + key + ",";
    out += format_day(row.day) + ",1\n";
  }
  std::size_t i = 0;
  read_usage_csv(out, {}, kToday, [&](UsageRow&& again, std::size_t) {
    FUZZ_CHECK(i < rows.size());
    FUZZ_CHECK(again.key.kind == rows[i].key.kind);
    FUZZ_CHECK(again.day == rows[i].day);
    ++i;
  });
  return 0;
}
