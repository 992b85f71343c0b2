#include "cshealthd/store/usage_store.hpp"

#include <algorithm>
#include <array>

#include "cshealthd/core/time.hpp"
#include "cshealthd/store/copy_writer.hpp"
#include "cshealthd/store/refresh_requests.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::store {
namespace {

// Each staged row with the companies its key names (`ids`, ascending; null when none): each distinct key
// is looked up once, by kind through its own index (the HubSpot id, the normalised domain with
// usage_domain_key, the external id). Archived companies are not matched.
std::string matched(const std::string& table) {
  const std::string companies =
      "(SELECT array_agg(o.id ORDER BY o.id) FROM crm_objects o WHERE o.object_type = 'companies' AND NOT "
      "o.archived AND ";
  return "WITH k AS (SELECT DISTINCT key_kind, key FROM " + table + "), r AS (SELECT key_kind, key, " +
         companies +
         "o.id = k.key::bigint) AS ids FROM k WHERE key_kind = 'id' UNION ALL SELECT key_kind, key, " +
         companies +
         "usage_domain_key(o.fields->>'domain') = k.key) FROM k WHERE key_kind = 'domain' UNION ALL SELECT "
         "key_kind, key, " +
         companies +
         "o.fields->>'external_id' = k.key) FROM k WHERE key_kind = 'external_id') SELECT s.*, r.ids FROM " +
         table + " s JOIN r USING (key_kind, key)";
}

std::vector<std::int64_t> ids_of(const pqxx::result& r) {
  std::vector<std::int64_t> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(row[0].as<std::int64_t>());
  return out;
}

}  // namespace

namespace {

// The usage metrics in usage_days' column order, by their canonical names.
constexpr std::array<core::Metric, 4> kColumns{core::Metric::kActiveUsers30d, core::Metric::kLogins30d,
                                               core::Metric::kLicensedSeats, core::Metric::kFeaturesUsed};

// `pattern` once per metric column, "%" standing for the column's name, joined by `sep`.
std::string each_metric(const std::string& pattern, const std::string& sep = ", ") {
  std::string out;
  for (const auto m : kColumns) {
    std::string part = pattern;
    for (std::size_t at; (at = part.find('%')) != std::string::npos;) part.replace(at, 1, core::name_of(m));
    out += (out.empty() ? "" : sep) + part;
  }
  return out;
}

std::size_t column_of(core::Metric m) {
  return static_cast<std::size_t>(std::find(kColumns.begin(), kColumns.end(), m) - kColumns.begin());
}

// The quarantine's per-figure rows of a wide table of rows (n, key_kind, key, day, one column per
// metric, ids), each figure that is there.
std::string figures_of(const std::string& table, const std::string& where) {
  return "SELECT w.n, w.key_kind, w.key, w.day, w.ids, f.metric, f.value FROM " + table +
         " w CROSS JOIN LATERAL (VALUES " + each_metric("('%', w.%)") + ") AS f (metric, value) WHERE " +
         where + " AND f.value IS NOT NULL";
}

}  // namespace

UsageStore::Stored UsageStore::put(pqxx::work& tx, const std::vector<core::UsageRow>& rows,
                                   core::MetricSource source, bool with_matches) {
  Stored out;
  if (rows.empty()) return out;
  tx.exec("CREATE TEMP TABLE IF NOT EXISTS usage_staging (n bigint, key_kind text, key text, day date, " +
          each_metric("% float8") + ") ON COMMIT DROP");
  tx.exec("TRUNCATE usage_staging");
  {
    std::vector<std::string> columns{"n", "key_kind", "key", "day"};
    for (const auto m : kColumns) columns.emplace_back(core::name_of(m));
    CopyWriter copy(tx, "usage_staging", columns);
    std::int64_t n = 0;
    for (const auto& row : rows) {
      std::array<std::optional<double>, kColumns.size()> values;
      for (const auto& [metric, value] : row.figures) values[column_of(metric)] = value;  // the row's last
      copy.number(n++).text(core::name_of(row.key.kind)).text(row.key.value).text(core::format_day(row.day));
      for (const auto& v : values) {
        if (v) {
          copy.number(*v);
        } else {
          copy.null();
        }
      }
      copy.end_row();
    }
    copy.complete();
  }
  tx.exec("CREATE TEMP TABLE usage_matched ON COMMIT DROP AS " + matched("usage_staging"));
  // Per company and day, each metric's last figure in the rows (one upsert cannot touch a row twice);
  // a metric the rows do not carry keeps its stored figure; a row whose figures equal the stored ones is
  // not written again (a re-sent batch, a re-imported file: no dead tuples, no refresh).
  const std::string src = std::string("'") + core::name_of(source) + "'";
  const auto kept = tx.exec(
      "WITH one AS (SELECT ids[1] AS company_id, day, " +
      each_metric("(array_agg(% ORDER BY n DESC) FILTER (WHERE % IS NOT NULL))[1] AS %") +
      " FROM usage_matched WHERE cardinality(ids) = 1 GROUP BY 1, 2), "
      "up AS (INSERT INTO usage_days AS u (company_id, day, " +
      each_metric("%, %_source") + ") SELECT company_id, day, " +
      each_metric("%, CASE WHEN % IS NULL THEN NULL ELSE " + src + " END") +
      " FROM one ON CONFLICT (company_id, day) DO UPDATE SET " +
      each_metric("% = coalesce(EXCLUDED.%, u.%), %_source = coalesce(EXCLUDED.%_source, u.%_source)") +
      ", received_at = now() WHERE " +
      each_metric(
          "(EXCLUDED.% IS NOT NULL AND (u.%, u.%_source) IS DISTINCT FROM (EXCLUDED.%, EXCLUDED.%_source))",
          " OR ") +
      " RETURNING company_id, day) "
      "SELECT up.company_id, sum(" +
      each_metric("(one.% IS NOT NULL)::int", " + ") +
      ") FROM up JOIN one USING (company_id, day) GROUP BY 1 ORDER BY 1");
  for (const auto& r : kept) {
    out.companies.push_back(r[0].as<std::int64_t>());
    out.figures += r[1].as<std::size_t>();
  }
  const auto q = tx.exec_params(
      "WITH last AS (SELECT DISTINCT ON (key_kind, key, metric, day) * FROM (" +
          figures_of("usage_matched", "(w.ids IS NULL OR cardinality(w.ids) > 1)") +
          ") f ORDER BY key_kind, key, metric, day, n DESC) "
          "INSERT INTO usage_quarantine (key_kind, key, metric, day, value, source, reason) SELECT key_kind, "
          "key, metric, day, value, $1, CASE WHEN ids IS NULL THEN 'no synced company has this ' || "
          "replace(key_kind, '_', ' ') ELSE replace(key_kind, '_', ' ') || ' matches ' || cardinality(ids) "
          "|| "
          "' companies: ' || array_to_string(ids[1:5], ', ') END FROM last ON CONFLICT (key_kind, key, "
          "metric, "
          "day) DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source, reason = EXCLUDED.reason, "
          "received_at = now()",
      core::name_of(source));
  out.quarantined = static_cast<std::size_t>(q.affected_rows());
  if (with_matches) {
    for (const auto& r :
         tx.exec("SELECT DISTINCT key, ids[1] FROM usage_matched WHERE cardinality(ids) = 1 ORDER BY 1"))
      out.matched.emplace_back(r[0].as<std::string>(), r[1].as<std::int64_t>());
  }
  tx.exec("DROP TABLE usage_matched");
  RefreshRequests::add(tx, out.companies);
  return out;
}

std::size_t UsageStore::release_quarantine(pqxx::work& tx) {
  // Per company and day, each metric's latest quarantined figure; a stored figure received after it
  // stays.
  const auto moved = tx.exec(
      "WITH m AS (" + matched("usage_quarantine") +
      "), gone AS (DELETE FROM usage_quarantine q USING m WHERE cardinality(m.ids) = 1 AND q.key_kind = "
      "m.key_kind AND q.key = m.key AND q.metric = m.metric AND q.day = m.day RETURNING m.ids[1] AS "
      "company_id, q.metric, q.day, q.value, q.source, q.received_at), "
      "last AS (SELECT DISTINCT ON (company_id, metric, day) * FROM gone ORDER BY company_id, metric, day, "
      "received_at DESC), "
      "wide AS (SELECT company_id, day, " +
      each_metric("max(value) FILTER (WHERE metric = '%') AS %, max(source) FILTER (WHERE metric = '%') AS "
                  "%_source") +
      ", max(received_at) AS received_at FROM last GROUP BY 1, 2), "
      "up AS (INSERT INTO usage_days AS u (company_id, day, " +
      each_metric("%, %_source") + ", received_at) SELECT company_id, day, " + each_metric("%, %_source") +
      ", received_at FROM wide ON CONFLICT (company_id, day) DO UPDATE SET " +
      each_metric(
          "% = CASE WHEN EXCLUDED.% IS NOT NULL AND (u.% IS NULL OR u.received_at < EXCLUDED.received_at) "
          "THEN EXCLUDED.% ELSE u.% END, %_source = CASE WHEN EXCLUDED.% IS NOT NULL AND (u.% IS NULL OR "
          "u.received_at < EXCLUDED.received_at) THEN EXCLUDED.%_source ELSE u.%_source END") +
      ", received_at = greatest(u.received_at, EXCLUDED.received_at) RETURNING company_id) "
      "SELECT DISTINCT company_id FROM up ORDER BY 1");
  RefreshRequests::add(tx, ids_of(moved));
  return static_cast<std::size_t>(moved.size());
}

std::vector<UsageStore::Quarantined> UsageStore::quarantine(pqxx::transaction_base& tx, std::size_t limit) {
  std::vector<Quarantined> out;
  for (const auto& r : tx.exec_params(
           "SELECT key_kind, key, metric, day::text, value, source, reason, to_char(received_at AT TIME ZONE "
           "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM usage_quarantine ORDER BY received_at DESC, "
           "key_kind, "
           "key, metric, day LIMIT $1",
           static_cast<long long>(limit))) {
    Quarantined q;
    q.key_kind = r[0].as<std::string>();
    q.key = r[1].as<std::string>();
    q.metric = r[2].as<std::string>();
    q.day = r[3].as<std::string>();
    q.value = r[4].as<double>();
    q.source = r[5].as<std::string>();
    q.reason = r[6].as<std::string>();
    q.received_at = r[7].as<std::string>();
    out.push_back(std::move(q));
  }
  return out;
}

std::int64_t UsageStore::quarantine_size(pqxx::transaction_base& tx) {
  return tx.exec("SELECT count(*) FROM usage_quarantine")[0][0].as<std::int64_t>();
}

void UsageStore::read(pqxx::transaction_base& tx, std::int64_t lo, std::int64_t hi, std::int32_t from,
                      std::int32_t to, const std::function<void(const Figure&)>& f) {
  for (const auto& r : tx.exec_params(
           "SELECT company_id, metric, day - date '1970-01-01', value, source FROM usage_daily WHERE "
           "company_id "
           "BETWEEN $1 AND $2 AND day BETWEEN $3::date AND $4::date ORDER BY company_id, metric, day",
           lo, hi, core::format_day(from), core::format_day(to))) {
    const auto metric = core::metric_from_name(r[1].c_str());
    const auto source = core::metric_source_from_name(r[4].c_str());
    if (!metric || !source) continue;  // a name this version does not know
    f(Figure{r[0].as<std::int64_t>(), *metric, r[2].as<std::int32_t>(), r[3].as<double>(), *source});
  }
}

std::map<std::int64_t, UsageStore::Summary> UsageStore::summaries(
    pqxx::transaction_base& tx, std::int32_t day, const std::optional<std::vector<std::int64_t>>& only) {
  std::map<std::int64_t, Summary> out;
  const std::string d = core::format_day(day);
  const std::string ids = only ? bigint_array(*only) : std::string("{}");
  for (const auto& r : tx.exec_params("SELECT DISTINCT ON (company_id, metric) company_id, metric, value "
                                      "FROM usage_daily WHERE day BETWEEN "
                                      "$1::date - 30 AND $1::date AND ($2 OR company_id = ANY($3::bigint[])) "
                                      "ORDER BY company_id, metric, "
                                      "day DESC",
                                      d, !only.has_value(), ids)) {
    auto& s = out[r[0].as<std::int64_t>()];
    const auto metric = core::metric_from_name(r[1].c_str());
    const double v = r[2].as<double>();
    if (metric == core::Metric::kActiveUsers30d) s.active_users = v;
    if (metric == core::Metric::kLogins30d) s.logins = v;
    if (metric == core::Metric::kLicensedSeats) s.seats = v;
    if (metric == core::Metric::kFeaturesUsed) s.features = v;
  }
  for (const auto& r : tx.exec_params("SELECT company_id, day - date '1970-01-01' FROM usage_last_active "
                                      "WHERE day <= $1::date AND ($2 OR "
                                      "company_id = ANY($3::bigint[]))",
                                      d, !only.has_value(), ids))
    out[r[0].as<std::int64_t>()].last_active_day = r[1].as<std::int32_t>();
  return out;
}

void UsageStore::set_last_active(pqxx::work& tx,
                                 const std::vector<std::pair<std::int64_t, std::int32_t>>& days) {
  if (days.empty()) return;
  std::vector<std::int64_t> ids;
  std::vector<std::string> dates;
  for (const auto& [id, day] : days) {
    ids.push_back(id);
    dates.push_back(core::format_day(day));
  }
  tx.exec_params(
      "INSERT INTO usage_last_active AS l (company_id, day) SELECT id, max(d) FROM unnest($1::bigint[], "
      "$2::date[]) AS x(id, d) GROUP BY id ORDER BY id ON CONFLICT (company_id) DO UPDATE SET day = "
      "greatest(l.day, EXCLUDED.day)",
      bigint_array(ids), text_array(dates));
}

}  // namespace cshealthd::store
