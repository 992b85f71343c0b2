#include "cshealthd/scoring/batch.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <spdlog/spdlog.h>

#include "cshealthd/base/handoff.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/outcome_models.hpp"
#include "cshealthd/store/copy_writer.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/sql_params.hpp"
#include "cshealthd/store/usage_store.hpp"

namespace cshealthd::scoring {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double secs(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

const char* kind_name(core::SignalKind k) {
  return k == core::SignalKind::kChurn ? "churn" : "expansion";
}

// Epoch milliseconds of a timestamptz column, in SQL.
constexpr const char* kMs = "(extract(epoch from {})*1000)::bigint";
std::string ms(const std::string& column) {
  std::string s = kMs;
  return s.replace(s.find("{}"), 2, column);
}

template <typename T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

// A snapshot member's value: a number (a metric, or a date in epoch ms), a text, or null (cleared).
using SnapshotValue = std::variant<double, std::string_view, std::nullptr_t>;

// Calls f(name, value) for each member of a flat JSON object, as PostgreSQL prints jsonb
// ({"mrr": 100, "plan": "pro", "cs_stage": null}). Texts with escapes, and anything else, go through the
// full JSON parser.
template <typename F>
void for_each_value(const char* text, F&& f) {
  const char* p = text;
  const char* const end = text + std::strlen(text);
  auto skip = [&] {
    while (p < end && (*p == ' ' || *p == '\n')) ++p;
  };
  std::vector<std::pair<std::string_view, SnapshotValue>> found;
  bool simple = false;
  skip();
  if (p < end && *p == '{') {
    ++p;
    skip();
    simple = p < end && *p == '}';
    while (p < end && *p == '"') {
      const char* const name = ++p;
      while (p < end && *p != '"' && *p != '\\') ++p;
      if (p >= end || *p != '"') break;
      const std::string_view key(name, static_cast<std::size_t>(p - name));
      ++p;
      skip();
      if (p >= end || *p != ':') break;
      ++p;
      skip();
      if (p < end && *p == '"') {
        const char* const start = ++p;
        while (p < end && *p != '"' && *p != '\\') ++p;
        if (p >= end || *p != '"') break;
        found.emplace_back(key, std::string_view(start, static_cast<std::size_t>(p - start)));
        ++p;
      } else if (end - p >= 4 && std::memcmp(p, "null", 4) == 0) {
        found.emplace_back(key, nullptr);
        p += 4;
      } else {
        double value = 0;
        const auto [next, ec] = std::from_chars(p, end, value);
        if (ec != std::errc()) break;
        found.emplace_back(key, value);
        p = next;
      }
      skip();
      if (p < end && *p == ',') {
        ++p;
        skip();
        continue;
      }
      simple = p < end && *p == '}';
      break;
    }
  }
  if (simple) {
    for (const auto& [k, v] : found) f(k, v);
    return;
  }
  const auto object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it->is_number()) f(std::string_view(it.key()), SnapshotValue(it->template get<double>()));
    if (it->is_string())
      f(std::string_view(it.key()), SnapshotValue(it->template get_ref<const std::string&>()));
    if (it->is_null()) f(std::string_view(it.key()), SnapshotValue(nullptr));
  }
}

// When the day scored ends: its local midnight in the service's zone.
std::int64_t day_end(const BatchOptions& o) {
  return core::local_time_ms(o.as_of_day + 1, 0, o.zone);
}

// What one chunk of companies needs, read in one snapshot of the database.
struct Chunk {
  std::vector<core::CompanyInputs> inputs;  // the companies to score (those churned as of the day left out)
  std::int64_t lo = 0, hi = 0;              // the ids read
  std::size_t read = 0;                     // companies read (a chunk shorter than asked is the last)
  std::vector<std::int64_t> churned;        // left out: churned as of the day
};

struct Windows {
  std::vector<std::int32_t> probe_days;  // snapshot values needed: as of, and a window back for trends
  // Tickets created from here on (ms; nullopt: all). Meetings are always read whole: the missed-meetings
  // signal wants the last ones held, however old.
  std::optional<std::int64_t> ticket_start;
};

Windows windows_for(const ScoringConfig& config, std::int32_t day, std::int64_t end) {
  Windows w;
  w.probe_days = {day, day - 30};  // today and a month back: the usage-drop signal
  int ticket_days = 60;            // this month and last: ticket surge
  bool tickets_all = false;
  for (const auto& card : config.scorecards) {
    for (const auto& c : card.components) {
      if (c.kind == core::ComponentKind::kTrend) w.probe_days.push_back(day - c.window_days);
      auto note = [&](const core::Aggregate& a) {
        if (a.source == core::RecordSource::kTickets) {
          if (a.window_days == 0) tickets_all = true;
          ticket_days = std::max(ticket_days, a.window_days);
        }
      };
      if (c.kind == core::ComponentKind::kAggregate) note(c.aggregate);
      for (const auto& r : c.rules) note(r.when);
    }
  }
  std::sort(w.probe_days.begin(), w.probe_days.end());
  w.probe_days.erase(std::unique(w.probe_days.begin(), w.probe_days.end()), w.probe_days.end());
  if (!tickets_all) w.ticket_start = end - static_cast<std::int64_t>(ticket_days) * core::kMsPerDay;
  return w;
}

// The company's activity as known at the day's end (`end`, ms): tickets (from the window's start), NPS/CSAT
// answers (directly or through its contacts), meetings, key contacts. Point in time: a record created
// after the day is not read, a ticket closed after it was open then, and a meeting's outcome or a
// contact's departure is read only from a record not changed since (when it was set is not known).
template <typename Find>
void read_activity(pqxx::transaction_base& tx, std::int64_t lo, std::int64_t hi, std::int64_t end,
                   const std::optional<std::int64_t>& ticket_start, Find& find) {
  for (const auto& r : tx.exec_params(
           "SELECT a.to_id, " + ms("t.created_at") +
               ", CASE WHEN t.closed_at < to_timestamp($3 / "
               "1000.0) THEN " +
               ms("t.closed_at") +
               " END, coalesce(t.priority, ''), coalesce(t.category, '') FROM crm_associations a JOIN "
               "tickets t ON "
               "t.id = a.from_id WHERE a.to_type = 'companies' AND a.to_id BETWEEN $1 AND $2 AND "
               "a.from_type = "
               "'tickets' AND NOT t.archived AND t.created_at < to_timestamp($3 / 1000.0) "
               "AND ($4::bigint IS NULL OR t.created_at >= to_timestamp($4 / 1000.0))",
           lo, hi, end, ticket_start)) {
    auto* in = find(r[0].as<std::int64_t>());
    if (!in) continue;
    core::Ticket t;
    t.created = r[1].as<std::int64_t>();
    t.closed = opt<std::int64_t>(r[2]);
    t.priority = r[3].as<std::string>();
    t.category = r[4].as<std::string>();
    in->tickets.push_back(std::move(t));
  }

  // Feedback reaches a company directly or through its contacts (HubSpot associates answers to contacts);
  // the contact an answer is associated with is its respondent (nps_drop compares a person with themself).
  for (const auto& r : tx.exec_params(
           "SELECT l.company, " + ms("f.submitted_at") +
               ", coalesce(f.survey_type, ''), f.value, coalesce((SELECT min(r.to_id) FROM crm_associations "
               "r "
               "WHERE r.from_type = 'feedback_submissions' AND r.from_id = f.id AND r.to_type = 'contacts'), "
               "0) "
               "FROM ("
               "SELECT a.to_id AS company, a.from_id AS fid FROM crm_associations a WHERE a.to_type = "
               "'companies' "
               "AND a.to_id BETWEEN $1 AND $2 AND a.from_type = 'feedback_submissions' "
               "UNION SELECT cc.to_id, fc.from_id FROM crm_associations cc JOIN crm_associations fc ON "
               "fc.to_type = 'contacts' AND fc.to_id = cc.from_id AND fc.from_type = 'feedback_submissions' "
               "WHERE cc.to_type = 'companies' AND cc.to_id BETWEEN $1 AND $2 AND cc.from_type = 'contacts') "
               "l "
               "JOIN feedback_submissions f ON f.id = l.fid WHERE NOT f.archived AND f.value IS NOT NULL "
               "AND f.submitted_at < to_timestamp($3 / 1000.0) AND coalesce(f.created_at < to_timestamp($3 / "
               "1000.0), true)",
           lo, hi, end)) {
    auto* in = find(r[0].as<std::int64_t>());
    if (!in) continue;
    in->feedback.push_back(
        {r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<double>(), r[4].as<std::int64_t>()});
  }

  for (const auto& r : tx.exec_params(
           "SELECT a.to_id, " + ms("m.start_time") +
               ", CASE WHEN coalesce(m.updated_at < to_timestamp($3 / 1000.0), true) THEN "
               "coalesce(m.outcome, "
               "'') ELSE '' END FROM crm_associations a JOIN meetings m ON m.id = a.from_id "
               "WHERE a.to_type = 'companies' AND a.to_id BETWEEN $1 AND $2 AND a.from_type = 'meetings' "
               "AND NOT m.archived AND m.start_time < to_timestamp($3 / 1000.0) AND coalesce(m.created_at < "
               "to_timestamp($3 / 1000.0), true)",
           lo, hi, end)) {
    auto* in = find(r[0].as<std::int64_t>());
    if (in) in->meetings.push_back({r[1].as<std::int64_t>(), r[2].as<std::string>()});
  }

  for (const auto& r : tx.exec_params(
           "SELECT a.to_id, c.id, coalesce(c.departed AND coalesce(c.updated_at < to_timestamp($3 / 1000.0), "
           "true), false) FROM crm_associations a JOIN contacts c ON c.id = a.from_id WHERE a.to_type = "
           "'companies' AND a.to_id BETWEEN $1 AND $2 AND a.from_type = 'contacts' AND c.key_person AND NOT "
           "c.archived AND coalesce(c.created_at < to_timestamp($3 / 1000.0), true)",
           lo, hi, end)) {
    auto* in = find(r[0].as<std::int64_t>());
    if (in) in->contacts.push_back({true, r[2].as<bool>(), r[1].as<std::int64_t>()});
  }
}

// What earlier days left: each company's previous result, and the overrides live on the day.
template <typename Find>
void read_earlier(pqxx::transaction_base& tx, const Chunk& chunk, const std::string& day, std::int64_t end,
                  Find& find) {
  // Each company's latest result before the day: one backward step on the primary key per company, so
  // the cost stays the same however many days of history are kept (DISTINCT ON read them all).
  std::vector<std::int64_t> ids;
  ids.reserve(chunk.inputs.size());
  for (const auto& in : chunk.inputs) ids.push_back(in.company_id);
  for (const auto& r : tx.exec_params(
           "SELECT c.id, h.day - date '1970-01-01', h.score, h.status FROM unnest($1::bigint[]) AS c(id) "
           "CROSS JOIN LATERAL (SELECT day, score, status FROM health_scores WHERE company_id = c.id "
           "AND day < $2::date ORDER BY day DESC LIMIT 1) h",
           store::bigint_array(ids), day)) {
    auto* in = find(r[0].as<std::int64_t>());
    if (in)
      in->previous = core::PreviousResult{r[1].as<std::int32_t>(), r[2].as<double>(), r[3].as<std::string>()};
  }

  // Overrides live on that day: created before its end, not yet expired, not revoked by then.
  for (const auto& r : tx.exec_params(
           "SELECT company_id, component, value, reason, author, expires_on - date '1970-01-01' FROM "
           "score_overrides WHERE company_id BETWEEN $1 AND $2 AND expires_on >= $3::date AND created_at < "
           "to_timestamp($4 / 1000.0) AND (revoked_at IS NULL OR revoked_at >= to_timestamp($4 / 1000.0)) "
           "ORDER BY id",
           chunk.lo, chunk.hi, day, end)) {
    auto* in = find(r[0].as<std::int64_t>());
    if (!in) continue;
    in->overrides.push_back({r[1].as<std::string>(), r[2].as<double>(), r[3].as<std::string>(),
                             r[4].as<std::string>(), r[5].as<std::int32_t>()});
  }
}

// What each company's latest snapshot on or before the day says of its dates and texts (a value, or
// null: cleared), and whether its record changed after the day.
struct AsOf {
  std::int32_t day = std::numeric_limits<std::int32_t>::min();
  std::array<std::optional<std::optional<std::string>>, core::kTextFieldCount> texts{};
  std::array<std::optional<std::optional<core::EpochMs>>, core::kDateFieldCount> dates{};
  bool changed_since = false;
};

// Snapshot values on each probe day: per company the running merge of its days (every metric's latest
// value so far), kept on the last day at or before each probe day. Read in key order (no sort).
void read_snapshots(pqxx::transaction_base& tx, Chunk& chunk,
                    const std::unordered_map<std::int64_t, std::size_t>& index, const Windows& w,
                    const std::string& day, std::vector<AsOf>& as_of) {
  std::string keep;
  for (const auto d : w.probe_days) {
    const std::string p = "date '1970-01-01' + " + std::to_string(d);
    keep += (keep.empty() ? "" : " OR ") + std::string("(day <= ") + p +
            " AND (next_day IS NULL OR next_day > " + p + "))";
  }
  for (const auto& r :
       tx.exec_params("SELECT company_id, day - date '1970-01-01', state::text FROM (SELECT company_id, day, "
                      "jsonb_merge_agg(backfilled || synced) OVER w AS state, lead(day) OVER w AS next_day "
                      "FROM company_snapshots WHERE company_id BETWEEN $1 AND $2 AND day <= $3::date "
                      "WINDOW w AS (PARTITION BY company_id ORDER BY day)) s WHERE " +
                          keep,
                      chunk.lo, chunk.hi, day)) {
    const auto at = index.find(r[0].as<std::int64_t>());
    if (at == index.end()) continue;
    auto& in = chunk.inputs[at->second];
    auto& state = as_of[at->second];
    const auto snapshot_day = r[1].as<std::int32_t>();
    // The latest row is the state as of the day (each row is the running merge up to its day).
    const bool latest = snapshot_day > state.day;
    if (latest) state = AsOf{snapshot_day, {}, {}, state.changed_since};
    for_each_value(r[2].c_str(), [&](std::string_view name, const SnapshotValue& value) {
      const auto* number = std::get_if<double>(&value);
      if (const auto metric = core::metric_from_name(name)) {
        if (number) in.history[static_cast<std::size_t>(*metric)].push_back({snapshot_day, *number});
      } else if (!latest) {
        return;
      } else if (const auto date = core::date_field_from_name(name)) {
        auto& d = state.dates[static_cast<std::size_t>(*date)];
        if (number) d = std::optional(static_cast<core::EpochMs>(*number));
        if (std::holds_alternative<std::nullptr_t>(value)) d = std::optional<core::EpochMs>();
      } else if (const auto text = core::text_field_from_name(name)) {
        auto& t = state.texts[static_cast<std::size_t>(*text)];
        if (const auto* s = std::get_if<std::string_view>(&value)) t = std::optional(std::string(*s));
        if (std::holds_alternative<std::nullptr_t>(value)) t = std::optional<std::string>();
      }
    });
  }
}

// Each input as of the day: its snapshot then; else, for a record not changed since, its current value;
// else unknown (a value read now from a record changed since could be one the day never saw).
void settle_as_of(Chunk& chunk, const std::vector<AsOf>& as_of, std::int32_t as_of_day) {
  for (std::size_t i = 0; i < chunk.inputs.size(); ++i) {
    auto& in = chunk.inputs[i];
    const auto& state = as_of[i];
    for (std::size_t m = 0; m < core::kMetricCount; ++m) {
      auto& h = in.history[m];
      std::sort(h.begin(), h.end(), [](const auto& a, const auto& b) { return a.day < b.day; });
      if (auto v = in.value_at(static_cast<core::Metric>(m), as_of_day)) {
        in.metrics[m] = v;
      } else if (state.changed_since) {
        in.metrics[m].reset();
      }
    }
    for (std::size_t t = 0; t < core::kTextFieldCount; ++t) {
      if (state.texts[t]) {
        in.texts[t] = *state.texts[t];
      } else if (state.changed_since) {
        in.texts[t].reset();
      }
    }
    for (std::size_t d = 0; d < core::kDateFieldCount; ++d) {
      if (state.dates[d]) {
        in.dates[d] = *state.dates[d];
      } else if (state.changed_since) {
        in.dates[d].reset();
      }
    }
  }
}

// A usage figure older than this before the earliest day a score looks at is stale: not read.
constexpr std::int32_t kUsageStaleDays = 31;

// Usage sent to cshealthd (store::UsageStore), merged with the snapshots by the configured precedence:
// per company and metric one source's values make its whole history (never a mix), usage's when it is
// first or the HubSpot property has no value. The source is kept for the explanation.
void read_usage(pqxx::transaction_base& tx, Chunk& chunk,
                const std::unordered_map<std::int64_t, std::size_t>& index, const Windows& w,
                std::int32_t as_of_day, bool usage_first) {
  const std::int32_t earliest =
      w.probe_days.empty() ? as_of_day : *std::min_element(w.probe_days.begin(), w.probe_days.end());
  std::int64_t company = 0;
  std::optional<core::Metric> metric;
  std::vector<core::SnapshotPoint> points;
  core::MetricSource source = core::MetricSource::kPush;
  const auto settle = [&] {
    if (!metric || points.empty()) return;
    const auto at = index.find(company);
    if (at == index.end()) return;
    auto& in = chunk.inputs[at->second];
    const auto m = static_cast<std::size_t>(*metric);
    if (!usage_first && (!in.history[m].empty() || in.metrics[m])) return;
    in.history[m] = std::move(points);
    in.metrics[m].reset();
    in.sources[m] = source;
  };
  store::UsageStore::read(tx, chunk.lo, chunk.hi, earliest - kUsageStaleDays, as_of_day,
                          [&](const store::UsageStore::Figure& f) {
                            if (f.company_id != company || f.metric != metric) {
                              settle();
                              points.clear();
                              company = f.company_id;
                              metric = f.metric;
                            }
                            points.push_back({f.day, f.value});
                            source = f.source;  // the latest figure's
                          });
  settle();
}

// Leaves out the companies churned as of the day (ScoringConfig::churn_by_*): a CS stage `churned` as
// known then, or an MRR of zero as known then after an earlier snapshot above zero.
void drop_churned(pqxx::transaction_base& tx, Chunk& chunk, std::int32_t as_of_day, bool by_stage,
                  bool by_mrr) {
  const auto mrr = static_cast<std::size_t>(core::Metric::kMrr);
  const auto stage = static_cast<std::size_t>(core::TextField::kCsStage);
  std::vector<std::int64_t> zero;
  for (const auto& in : chunk.inputs)
    if (by_mrr && in.metrics[mrr] && *in.metrics[mrr] == 0) zero.push_back(in.company_id);
  std::unordered_set<std::int64_t> churned;
  if (!zero.empty()) {
    for (const auto& r :
         tx.exec_params("SELECT DISTINCT company_id FROM company_snapshots WHERE company_id = "
                        "ANY($1::bigint[]) AND day < "
                        "$2::date AND jsonb_typeof((backfilled || synced) -> 'mrr') = 'number' AND "
                        "((backfilled || synced) ->> 'mrr')::float8 > 0",
                        store::bigint_array(zero), core::format_day(as_of_day)))
      churned.insert(r[0].as<std::int64_t>());
  }
  std::erase_if(chunk.inputs, [&](const core::CompanyInputs& in) {
    const bool out = churned.count(in.company_id) > 0 || (by_stage && in.texts[stage] == "churned");
    if (out) chunk.churned.push_back(in.company_id);
    return out;
  });
}

Chunk read_chunk(pqxx::transaction_base& tx, const BatchOptions& o, const Windows& w, std::int64_t after,
                 bool usage_first, bool churn_by_stage, bool churn_by_mrr) {
  Chunk chunk;
  const std::string day = core::format_day(o.as_of_day);
  const std::int64_t end = day_end(o);
  // The columns in core's order of each kind (texts, dates, metrics), named by core: the positions read
  // below follow from the same tables.
  static const std::string columns = [] {
    std::string c = "id";
    for (std::size_t t = 0; t < core::kTextFieldCount; ++t)
      c += std::string(", ") + core::name_of(core::TextField(t));
    for (std::size_t d = 0; d < core::kDateFieldCount; ++d) c += ", " + ms(core::name_of(core::DateField(d)));
    for (std::size_t m = 0; m < core::kMetricCount; ++m)
      c += std::string(", ") + core::name_of(core::Metric(m));
    return c;
  }();
  // Point in time: a company created after the day did not exist then; one changed since holds values
  // that were not known then (see below).
  const auto companies = tx.exec_params(
      "SELECT " + columns +
          ", coalesce(updated_at >= to_timestamp($5 / 1000.0), false) FROM companies WHERE NOT archived AND "
          "id > $1 AND ($2::bigint IS NULL OR id = $2) AND ($4::bigint[] IS NULL OR id = ANY($4::bigint[])) "
          "AND coalesce(created_at < to_timestamp($5 / 1000.0), true) ORDER BY id LIMIT $3",
      after, o.company, static_cast<long long>(o.chunk),
      store::nullable(o.companies ? std::optional(store::bigint_array(*o.companies)) : std::nullopt), end);
  if (companies.empty()) return chunk;
  std::unordered_map<std::int64_t, std::size_t> index;
  chunk.inputs.resize(companies.size());
  std::vector<AsOf> as_of(companies.size());
  for (std::size_t i = 0; i < companies.size(); ++i) {
    const auto& row = companies[i];
    auto& in = chunk.inputs[i];
    in.company_id = row[0].as<std::int64_t>();
    in.as_of_day = o.as_of_day;
    int col = 1;
    for (std::size_t t = 0; t < core::kTextFieldCount; ++t) in.texts[t] = opt<std::string>(row[col++]);
    for (std::size_t d = 0; d < core::kDateFieldCount; ++d) in.dates[d] = opt<std::int64_t>(row[col++]);
    for (std::size_t m = 0; m < core::kMetricCount; ++m) in.metrics[m] = opt<double>(row[col++]);
    as_of[i].changed_since = row[col].as<bool>();
    index[in.company_id] = i;
  }
  chunk.lo = chunk.inputs.front().company_id;
  chunk.hi = chunk.inputs.back().company_id;
  auto find = [&](std::int64_t id) -> core::CompanyInputs* {
    const auto it = index.find(id);
    return it == index.end() ? nullptr : &chunk.inputs[it->second];
  };

  read_snapshots(tx, chunk, index, w, day, as_of);
  read_usage(tx, chunk, index, w, o.as_of_day, usage_first);
  settle_as_of(chunk, as_of, o.as_of_day);
  read_activity(tx, chunk.lo, chunk.hi, end, w.ticket_start, find);
  read_earlier(tx, chunk, day, end, find);
  chunk.read = chunk.inputs.size();
  drop_churned(tx, chunk, o.as_of_day, churn_by_stage, churn_by_mrr);
  return chunk;
}

using OutcomeModels = std::map<std::string, ScorecardModels>;

// One result, serialised on the scoring thread so the writer only streams it.
struct Scored {
  core::HealthResult result;
  const std::string* segment = nullptr;
  std::string coverage, previous, delta, components, signals, reasons, score_override;
  nlohmann::json kept;  // BatchOptions::keep_results
};

// The rows of `scored` into `table` (health_scores, or the staging table shaped like it) with one COPY.
void write_results(pqxx::work& tx, const char* table, const std::vector<Scored>& scored,
                   const std::string& day, std::int64_t run_id) {
  store::CopyWriter copy(tx, table,
                         {"company_id", "day", "run_id", "score", "computed_score", "status", "coverage",
                          "scorecard", "segment", "previous_score", "delta", "components", "signals",
                          "reasons", "score_override", "churn_risk", "expansion_likelihood"});
  for (const auto& s : scored) {
    copy.number(s.result.company_id)
        .text(day)
        .number(run_id)
        .number(s.result.score)
        .number(s.result.computed_score);
    copy.text(s.result.status).text(s.coverage).text(s.result.scorecard).text(*s.segment);
    copy.text_or_null(s.previous).text_or_null(s.delta).text(s.components).text(s.signals).text(s.reasons);
    if (s.score_override == "null") {
      copy.null();
    } else {
      copy.text(s.score_override);
    }
    for (const auto& p : {s.result.churn_risk, s.result.expansion_likelihood}) {
      if (p) {
        copy.number(*p);
      } else {
        copy.null();
      }
    }
    copy.end_row();
  }
  copy.complete();
}

// Scores and serialises a chunk on `threads` threads: the engine is pure, each company independent.
// serialise: the JSON columns stored (off for an evaluation, which reads the results themselves).
std::vector<Scored> score_chunk(const ScoringConfig& config, const OutcomeModels& models, const Chunk& chunk,
                                int threads, bool keep, bool serialise = true) {
  std::vector<Scored> scored(chunk.inputs.size());
  auto work = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const auto& in = chunk.inputs[i];
      auto& s = scored[i];
      const auto [segment, card_name] = config.segments.select(in);
      const core::Scorecard* card = config.find(*card_name);
      core::score(*card, config.bands, in, s.result);
      core::evaluate_signals(config.signals, in, s.result);
      if (const auto m = models.find(*card_name); m != models.end()) {
        if (m->second.churn) s.result.churn_risk = m->second.churn->probability(s.result);
        if (m->second.expansion) s.result.expansion_likelihood = m->second.expansion->probability(s.result);
      }
      s.segment = segment;
      if (!serialise) continue;
      const auto j = to_json(s.result, *segment);
      s.coverage = j["coverage"].dump();
      s.previous = s.result.previous_score ? j["previous_score"].dump() : std::string();
      s.delta = s.result.delta ? j["delta"].dump() : std::string();
      s.components = j["components"].dump();
      s.signals = j["signals"].dump();
      s.reasons = j["reasons"].dump();
      s.score_override = j["override"].dump();
      if (keep) s.kept = j;
    }
  };
  const std::size_t n = chunk.inputs.size(), per = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int t = 1; t < threads && per * t < n; ++t)
    pool.emplace_back(work, per * t, std::min(n, per * (t + 1)));
  work(0, std::min(n, per));
  for (auto& t : pool) t.join();
  return scored;
}

// Writes a chunk's results (and the caller's checkpoint, `o.in_chunk_commit`, in the same transaction).
void write_chunk(store::Database& db, const Chunk& chunk, const std::vector<Scored>& scored,
                 const std::string& day, std::int64_t run_id, const BatchOptions& o,
                 std::uint64_t companies_after) {
  // A day's first scoring of these companies COPYs straight into health_scores; a rerun (rows of the
  // day exist in the chunk's id range, or a concurrent run wrote them first) goes through a staging
  // table and one upsert, replacing them.
  bool staged = false;
  for (int attempt = 0;; ++attempt) {
    try {
      db.with_retry("score_write_chunk", [&](pqxx::connection& c) {
        pqxx::work tx(c, "score_write_chunk");
        if (!staged) {
          staged = tx.exec_params1(
                         "SELECT EXISTS (SELECT 1 FROM health_scores WHERE company_id BETWEEN $1 AND "
                         "$2 AND day = $3::date)",
                         chunk.lo, chunk.hi, day)[0]
                       .as<bool>();
        }
        if (staged) {
          tx.exec(
              "CREATE TEMP TABLE IF NOT EXISTS health_stage (LIKE health_scores INCLUDING DEFAULTS) "
              "ON COMMIT DELETE ROWS");
        }
        write_results(tx, staged ? "health_stage" : "health_scores", scored, day, run_id);
        // A company that churned since an earlier run scored it today leaves today's scores too.
        if (staged && !chunk.churned.empty())
          tx.exec_params("DELETE FROM health_scores WHERE day = $1::date AND company_id = ANY($2::bigint[])",
                         day, store::bigint_array(chunk.churned));
        if (staged) {
          tx.exec(
              "INSERT INTO health_scores SELECT * FROM health_stage "
              "ON CONFLICT (company_id, day) DO UPDATE SET run_id = EXCLUDED.run_id, score = "
              "EXCLUDED.score, "
              "computed_score = EXCLUDED.computed_score, status = EXCLUDED.status, "
              "coverage = EXCLUDED.coverage, scorecard = EXCLUDED.scorecard, segment = EXCLUDED.segment, "
              "previous_score = EXCLUDED.previous_score, delta = EXCLUDED.delta, "
              "components = EXCLUDED.components, signals = EXCLUDED.signals, reasons = EXCLUDED.reasons, "
              "score_override = EXCLUDED.score_override, churn_risk = EXCLUDED.churn_risk, "
              "expansion_likelihood = EXCLUDED.expansion_likelihood, computed_at = now()");
        }
        if (o.in_chunk_commit) o.in_chunk_commit(tx, chunk.hi, companies_after);
        tx.commit();
      });
      break;
    } catch (const store::StoreError& e) {
      // Another run wrote some of these rows between the check and the COPY: stage and upsert.
      if (e.kind() != store::StoreError::Kind::kConflict || staged || attempt > 0 ||
          dynamic_cast<const store::LeaseLost*>(&e) != nullptr)
        throw;
      staged = true;
    }
  }
}

}  // namespace

json to_json(const core::HealthResult& r, const std::string& segment) {
  json components = json::array();
  for (const auto& c : r.components) {
    json j = {{"name", c.component->name},
              {"label", c.component->label},
              {"has_data", c.has_data},
              {"weight", c.weight},
              {"max_points", c.component->max_points}};
    if (c.has_data) {
      j["raw"] = c.raw_text.empty() ? json(c.raw) : json(std::string(c.raw_text));
      j["points"] = c.points;
      j["effective_weight"] = std::round(c.effective_weight * 10000) / 10000;
      j["rule"] = std::string(c.rule_text());
      j["lost"] = c.lost;
    } else {
      j["raw"] = nullptr;
      j["points"] = nullptr;
      j["rule"] = c.rule_text().empty() ? std::string("no data") : std::string(c.rule_text());
    }
    if (c.overridden) j["overridden"] = true;
    if (c.sources) {  // where the metrics it read came from
      json sources = json::array();
      for (std::size_t i = 0; i < core::kMetricSourceCount; ++i)
        if (c.sources & (1u << i)) sources.push_back(core::name_of(core::MetricSource(i)));
      j["sources"] = std::move(sources);
    }
    components.push_back(std::move(j));
  }
  json signals = json::array();
  for (const auto& s : r.signals)
    signals.push_back({{"name", s.name},
                       {"kind", kind_name(s.kind)},
                       {"priority", std::string(s.priority)},
                       {"facts", s.facts()}});
  json out = {
      {"company_id", std::to_string(r.company_id)},
      {"as_of", core::format_day(r.as_of_day)},
      {"score", r.score},
      {"computed_score", r.computed_score},
      {"status", r.status},
      {"coverage", std::round(r.coverage * 10000) / 10000},
      {"scorecard", r.scorecard},
      {"segment", segment},
      {"previous_score", r.previous_score ? json(*r.previous_score) : json(nullptr)},
      {"delta", r.delta ? json(*r.delta) : json(nullptr)},
      {"components", std::move(components)},
      {"signals", std::move(signals)},
      {"reasons", core::reasons(r)},
      {"override", nullptr},
      {"churn_risk", r.churn_risk ? json(std::round(*r.churn_risk * 10000) / 10000) : json(nullptr)},
      {"expansion_likelihood",
       r.expansion_likelihood ? json(std::round(*r.expansion_likelihood * 10000) / 10000) : json(nullptr)}};
  if (r.score_override) {
    out["override"] = {{"value", r.score_override->value},
                       {"reason", r.score_override->reason},
                       {"author", r.score_override->author},
                       {"expires_on", core::format_day(r.score_override->expires_day)}};
  }
  return out;
}

BatchScorer::BatchScorer(store::Database& db, const ScoringConfig& config, metrics::Registry& metrics)
    : db_(db), config_(config), metrics_(metrics) {}

std::int64_t BatchScorer::start_run(pqxx::work& tx, std::int32_t day, const std::string& trigger) {
  return tx
      .exec_params1(
          "INSERT INTO score_runs (as_of, trigger, config_fingerprint) VALUES ($1::date, $2, $3) RETURNING "
          "id",
          core::format_day(day), trigger, config_.fingerprint)[0]
      .as<std::int64_t>();
}

void BatchScorer::run_chunks(const BatchOptions& o, BatchReport& report, const EachResult* each) {
  const std::string day = core::format_day(o.as_of_day);
  const Windows windows = windows_for(config_, o.as_of_day, day_end(o));
  const int threads = std::max(1, o.threads);
  const auto models = db_.with_retry("score_churn_models", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "score_churn_models");
    return OutcomeModelStore::all(tx);
  });
  // A reader thread fetches the next chunk (its own connection and snapshot) while this one is scored
  // and written: reading and writing are the database's work, and they overlap on its cores.
  Handoff<Chunk> ready(2);
  std::thread reader([&] {
    std::int64_t after = o.after;
    try {
      while (true) {
        const auto t0 = Clock::now();
        Chunk chunk = db_.with_retry("score_read_chunk", [&](pqxx::connection& c) {
          pqxx::read_transaction tx(c, "score_read_chunk");
          return read_chunk(tx, o, windows, after, config_.usage_first, config_.churn_by_stage,
                            config_.churn_by_mrr);
        });
        report.read_seconds += secs(t0);  // only this thread writes it until the join
        const bool last = chunk.read < o.chunk;
        if (chunk.read == 0) break;
        after = chunk.hi;
        if (!ready.push(std::move(chunk)) || last) break;  // false: scoring stopped
      }
      ready.close();
    } catch (...) {
      ready.close(std::current_exception());
    }
  });
  struct JoinReader {
    std::thread& t;
    Handoff<Chunk>& ready;
    ~JoinReader() {
      ready.close();  // a reader waiting for room stops
      if (t.joinable()) t.join();
    }
  } join_reader{reader, ready};

  while (auto next = ready.pop()) {  // the reader's error, if it failed, once its chunks are scored
    Chunk chunk = std::move(*next);

    auto t0 = Clock::now();
    std::vector<Scored> scored =
        score_chunk(config_, models, chunk, threads, o.keep_results, each == nullptr);
    report.score_seconds += secs(t0);
    if (each != nullptr) {
      for (const auto& s : scored) (*each)(s.result, *s.segment);
      report.companies += scored.size();
      if (o.stop.stop_requested()) {
        report.interrupted = true;
        break;
      }
      continue;
    }

    t0 = Clock::now();
    write_chunk(db_, chunk, scored, day, report.run_id, o, o.done_before + report.companies + scored.size());
    report.write_seconds += secs(t0);

    for (auto& s : scored) {
      ++report.by_status[s.result.status];
      if (o.keep_results) report.results.push_back(std::move(s.kept));
    }
    report.companies += scored.size();
    report.last_id = chunk.hi;
    metrics_.counter("cshealthd_scoring_companies_total", "Companies scored").inc(scored.size());
    if (o.stop.stop_requested()) {
      report.interrupted = true;
      break;
    }
  }
}

std::uint64_t BatchScorer::evaluate(const BatchOptions& o, const EachResult& each) {
  BatchReport report;
  run_chunks(o, report, &each);
  return report.companies;
}

BatchReport BatchScorer::run(const BatchOptions& o) {
  const auto started = Clock::now();
  BatchReport report;
  report.as_of_day = o.as_of_day;
  const std::string day = core::format_day(o.as_of_day);
  if (o.run_id) {
    report.run_id = *o.run_id;
  } else {
    report.run_id = db_.with_retry("score_run_start", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      const auto id = start_run(tx, o.as_of_day, o.trigger);
      tx.commit();
      return id;
    });
  }
  try {
    run_chunks(o, report);
  } catch (const std::exception& e) {
    // The run is marked failed; the chunks it wrote stay (a rerun of the day replaces them).
    try {
      db_.with_retry("score_run_failed", [&](pqxx::connection& c) {
        pqxx::work tx(c);
        tx.exec_params("UPDATE score_runs SET finished_at = now(), companies = $2, error = $3 WHERE id = $1",
                       report.run_id, static_cast<long long>(report.companies),
                       std::string(e.what()).substr(0, 2000));
        tx.commit();
      });
    } catch (const std::exception& again) {
      spdlog::error("scoring: could not record the failure of run {}: {}", report.run_id, again.what());
    }
    metrics_.counter("cshealthd_scoring_failures_total", "Scoring runs that ended in an error").inc();
    throw;
  }

  report.seconds = secs(started);
  if (report.interrupted) {
    spdlog::info("scoring: run {} stopped on request after company {} ({} scored)", report.run_id,
                 report.last_id, report.companies);
    return report;
  }
  db_.with_retry("score_run_finish", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE score_runs SET finished_at = now(), companies = $2, error = NULL WHERE id = $1",
                   report.run_id, static_cast<long long>(o.done_before + report.companies));
    tx.commit();
  });
  metrics_.gauge("cshealthd_scoring_last_run_seconds", "Wall time of the last scoring run")
      .set(report.seconds);
  metrics_.gauge("cshealthd_scoring_last_run_companies", "Companies in the last scoring run")
      .set(static_cast<double>(report.companies));
  spdlog::info("scoring: run {} as of {}: {} companies in {:.1f} s (read {:.1f}, score {:.1f}, write {:.1f})",
               report.run_id, day, report.companies, report.seconds, report.read_seconds,
               report.score_seconds, report.write_seconds);
  return report;
}

}  // namespace cshealthd::scoring
