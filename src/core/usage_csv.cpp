#include "cshealthd/core/usage_csv.hpp"

#include <charconv>
#include <optional>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {
namespace {

// One record at a time; `line` is the line the record starts on. A record's error (a stray quote) is
// reported with it; an unterminated quote ends the file.
class Records {
 public:
  explicit Records(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }
  bool next(std::vector<std::string>& fields, std::size_t& line, std::string& error) {
    fields.clear();
    error.clear();
    if (pos_ >= text_.size()) return false;
    line = line_;
    std::string field;
    bool quoted = false, was_quoted = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (quoted) {
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            field += '"';
            ++pos_;
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line_;
          field += c;
        }
        continue;
      }
      if (c == '"') {
        if (field.empty() && !was_quoted) {
          quoted = was_quoted = true;
        } else if (error.empty()) {
          error = "a quote inside an unquoted field (quote the whole field and double the quote)";
        }
      } else if (c == ',') {
        fields.push_back(std::move(field));
        field.clear();
        was_quoted = false;
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
        ++line_;
        fields.push_back(std::move(field));
        return true;
      } else if (was_quoted) {
        if (error.empty()) error = "text after a closing quote";
      } else {
        field += c;
      }
    }
    if (quoted) {
      error = "a quote opened here is never closed";
      unterminated_ = true;
    }
    fields.push_back(std::move(field));
    return true;
  }
  bool unterminated() const { return unterminated_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0, line_ = 1;
  bool unterminated_ = false;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool blank(const std::vector<std::string>& fields) {
  for (const auto& f : fields)
    if (!trim(f).empty()) return false;
  return true;
}

// A whole or decimal number as written in a sheet: digits, an optional sign and point, no thousands
// separators; nullopt otherwise.
std::optional<double> number(std::string_view s) {
  s = trim(s);
  double v = 0;
  if (s.empty() || s.front() == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// YYYY-MM-DD, or YYYY/MM/DD as spreadsheets in Japan write it.
std::optional<std::int32_t> day_of(std::string_view s) {
  std::string d(trim(s));
  if (d.size() == 10 && d[4] == '/' && d[7] == '/') d[4] = d[7] = '-';
  return parse_day(d);
}

}  // namespace

const std::vector<std::string>& usage_csv_fields() {
  static const std::vector<std::string> fields = [] {
    std::vector<std::string> f = {"company_id", "domain", "external_id", "date"};
    for (std::size_t m = 0; m < kMetricCount; ++m)
      if (usage_metric(Metric(m))) f.emplace_back(name_of(Metric(m)));
    return f;
  }();
  return fields;
}

UsageCsvResult read_usage_csv(std::string_view text, const std::map<std::string, std::string>& columns,
                              std::int32_t today, const std::function<void(UsageRow&&, std::size_t)>& on_row,
                              std::size_t max_errors) {
  UsageCsvResult out;
  const auto fail = [&](std::size_t line, std::string reason) {
    ++out.error_count;
    if (out.errors.size() < max_errors) out.errors.push_back({line, std::move(reason)});
  };
  Records records(text);
  std::vector<std::string> fields;
  std::size_t line = 0;
  std::string error;
  if (!records.next(fields, line, error) || blank(fields)) {
    fail(1, "no header: the first line names the columns");
    out.fatal = true;
    return out;
  }
  if (!error.empty()) {
    fail(line, "header: " + error);
    out.fatal = true;
    return out;
  }
  // Where each canonical field is in the file.
  std::map<std::string, std::size_t> at;
  for (const auto& field : usage_csv_fields()) {
    const auto mapped = columns.find(field);
    const std::string header = mapped == columns.end() ? field : mapped->second;
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (!header.empty() && trim(fields[i]) == header) at.emplace(field, i);
  }
  std::vector<std::pair<Metric, std::size_t>> metrics;
  for (const auto& [field, i] : at)
    if (const auto m = metric_from_name(field)) metrics.emplace_back(*m, i);
  const bool keyed = at.count("company_id") || at.count("domain") || at.count("external_id");
  if (!at.count("date") || !keyed || metrics.empty()) {
    std::string want;
    for (const auto& field : usage_csv_fields()) {
      const auto mapped = columns.find(field);
      want += (want.empty() ? "" : ", ") + (mapped == columns.end() ? field : mapped->second);
    }
    fail(1, "header: needs a date column, a company column and a metric column (the columns: " + want + ")");
    out.fatal = true;
    return out;
  }
  const std::size_t width = fields.size();
  while (records.next(fields, line, error)) {
    if (blank(fields) && error.empty()) continue;
    ++out.records;
    if (!error.empty()) {
      fail(line, error);
      if (records.unterminated()) out.fatal = true;
      continue;
    }
    if (fields.size() != width) {
      fail(line, std::to_string(fields.size()) + " fields where the header has " + std::to_string(width));
      continue;
    }
    // The first company column filled names the company: the HubSpot id, else the external id, else the
    // domain (a sheet may carry all three, as the template does).
    UsageRow row;
    std::optional<std::variant<UsageKey, std::string>> key;
    for (const auto& [field, kind] :
         {std::pair{"company_id", UsageKeyKind::kId}, std::pair{"external_id", UsageKeyKind::kExternalId},
          std::pair{"domain", UsageKeyKind::kDomain}}) {
      const auto i = at.find(field);
      if (!key && i != at.end() && !trim(fields[i->second]).empty()) key = usage_key(kind, fields[i->second]);
    }
    if (!key) {
      fail(line, "no company: fill one of its company columns");
      continue;
    }
    if (const auto* e = std::get_if<std::string>(&*key)) {
      fail(line, *e);
      continue;
    }
    row.key = std::get<UsageKey>(std::move(*key));
    const auto day = day_of(fields[at.at("date")]);
    if (!day) {
      fail(line, "date: expected YYYY-MM-DD, got '" + std::string(trim(fields[at.at("date")])) + "'");
      continue;
    }
    row.day = *day;
    bool bad = false;
    for (const auto& [metric, i] : metrics) {
      if (trim(fields[i]).empty()) continue;  // not given
      const auto v = number(fields[i]);
      if (!v) {
        fail(line, std::string(name_of(metric)) + ": expected a number, got '" +
                       std::string(trim(fields[i])) + "'");
        bad = true;
        break;
      }
      row.figures.emplace_back(metric, *v);
    }
    if (bad) continue;
    if (row.figures.empty()) continue;  // a row of the template left empty: nothing to keep
    if (const auto e = usage_row_error(row, today)) {
      fail(line, *e);
      continue;
    }
    ++out.rows;
    on_row(std::move(row), line);
  }
  return out;
}

std::string csv_field(std::string_view value) {
  const bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) return std::string(value);
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace cshealthd::core
