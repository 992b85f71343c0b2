#include "cshealthd/scoring/health_store.hpp"

#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::scoring {
namespace {

using json = nlohmann::json;

std::optional<double> number_or_null(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<double>();
}

json document(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json::parse(f.c_str());
}

StoredResult stored_result(const pqxx::row& r) {
  // company_id, day, score, computed_score, status, coverage, scorecard, segment, previous_score, delta,
  // components, signals, reasons, score_override, computed_at, churn_risk, expansion_likelihood
  StoredResult s;
  s.company_id = r[0].as<std::int64_t>();
  s.as_of = r[1].as<std::string>();
  s.score = r[2].as<double>();
  s.computed_score = r[3].as<double>();
  s.status = r[4].as<std::string>();
  s.coverage = r[5].as<double>();
  s.scorecard = r[6].as<std::string>();
  s.segment = r[7].as<std::string>();
  s.previous_score = number_or_null(r[8]);
  s.delta = number_or_null(r[9]);
  s.components = document(r[10]);
  s.signals = document(r[11]);
  s.reasons = document(r[12]);
  s.score_override = document(r[13]);
  s.computed_at = r[14].as<std::string>();
  s.churn_risk = number_or_null(r[15]);
  s.expansion_likelihood = number_or_null(r[16]);
  return s;
}

constexpr const char* kColumns =
    "company_id, day::text, score, computed_score, status, coverage, scorecard, segment, "
    "previous_score, "
    "delta, components::text, signals::text, reasons::text, score_override::text, "
    "to_char(computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), churn_risk, expansion_likelihood";

}  // namespace

std::map<std::string, std::int64_t> HealthStore::statuses(pqxx::transaction_base& tx, std::int32_t day) {
  std::map<std::string, std::int64_t> out;
  for (const auto& r :
       tx.exec_params("SELECT status, count(*) FROM health_scores WHERE day = $1::date GROUP BY 1",
                      core::format_day(day)))
    out[r[0].as<std::string>()] = r[1].as<std::int64_t>();
  return out;
}

HealthStore::DayChanges HealthStore::changes(pqxx::transaction_base& tx, std::int32_t day) {
  const auto r = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE t.status <> y.status), count(*) FILTER (WHERE t.score < y.score), "
      "count(*) FILTER (WHERE t.score > y.score) FROM health_scores t JOIN health_scores y "
      "ON y.company_id = t.company_id AND y.day = t.day - 1 WHERE t.day = $1::date",
      core::format_day(day));
  return {r[0].as<std::int64_t>(), r[1].as<std::int64_t>(), r[2].as<std::int64_t>()};
}

std::optional<std::int32_t> HealthStore::latest_day(pqxx::transaction_base& tx) {
  const auto r = tx.exec("SELECT max(day)::text FROM health_scores");
  if (r[0][0].is_null()) return std::nullopt;
  return core::parse_day(r[0][0].as<std::string>());
}

bool HealthStore::company_exists(std::int64_t id) {
  return db_.with_connection("company_exists", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return !store::exec_prepared(tx, "health_company_exists",
                                 "SELECT 1 FROM crm_objects WHERE object_type = 'companies' AND id = $1", id)
                .empty();
  });
}

std::optional<StoredResult> HealthStore::latest(std::int64_t company_id) {
  return db_.with_connection("health_latest", [&](pqxx::connection& c) -> std::optional<StoredResult> {
    pqxx::read_transaction tx(c);
    static const std::string kLatest = std::string("SELECT ") + kColumns +
                                       " FROM health_scores WHERE company_id = $1 ORDER BY day DESC LIMIT 1";
    const auto r = store::exec_prepared(tx, "health_latest", kLatest, company_id);
    if (r.empty()) return std::nullopt;
    return stored_result(r[0]);
  });
}

std::vector<HistoryEntry> HealthStore::history(std::int64_t company_id, int days) {
  return db_.with_connection("health_history", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<HistoryEntry> out;
    for (const auto& r : store::exec_prepared(
             tx, "health_history",
             "SELECT day::text, score, status, coverage, delta, scorecard, reasons::text FROM health_scores "
             "WHERE company_id = $1 AND day > (SELECT max(day) FROM health_scores WHERE company_id = $1) - "
             "$2::int ORDER BY day DESC",
             company_id, days)) {
      HistoryEntry e;
      e.as_of = r[0].as<std::string>();
      e.score = r[1].as<double>();
      e.status = r[2].as<std::string>();
      e.coverage = r[3].as<double>();
      e.delta = number_or_null(r[4]);
      e.scorecard = r[5].as<std::string>();
      e.reasons = document(r[6]);
      out.push_back(std::move(e));
    }
    return out;
  });
}

ScorePage HealthStore::list(const ScoreListQuery& q) {
  return db_.with_connection("health_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::optional<std::string> day;
    if (q.day) {
      day = core::format_day(*q.day);
    } else {
      const auto r = tx.exec("SELECT max(day)::text FROM health_scores");
      if (!r[0][0].is_null()) day = r[0][0].as<std::string>();
    }
    ScorePage out;
    out.as_of = day;
    if (!day) return out;
    const auto rows = tx.exec_params(
        "SELECT company_id, score, status, coverage, scorecard, segment, delta, reasons::text, "
        "signals::text, churn_risk, expansion_likelihood "
        "FROM health_scores WHERE day = $1::date AND company_id > $2 AND ($3::text IS NULL OR status = $3) "
        "AND ($4::text IS NULL OR segment = $4) ORDER BY company_id LIMIT $5",
        *day, q.after, q.status, q.segment, static_cast<long long>(q.limit + 1));
    for (std::size_t i = 0; i < rows.size() && i < q.limit; ++i) {
      const auto& r = rows[static_cast<int>(i)];
      ScoreListItem item;
      item.company_id = r[0].as<std::int64_t>();
      item.score = r[1].as<double>();
      item.status = r[2].as<std::string>();
      item.coverage = r[3].as<double>();
      item.scorecard = r[4].as<std::string>();
      item.segment = r[5].as<std::string>();
      item.delta = number_or_null(r[6]);
      item.reasons = document(r[7]);
      item.signals = document(r[8]);
      item.churn_risk = number_or_null(r[9]);
      item.expansion_likelihood = number_or_null(r[10]);
      out.results.push_back(std::move(item));
    }
    if (rows.size() > q.limit) out.next_after = out.results.back().company_id;
    return out;
  });
}

StoredOverride HealthStore::set_override(const OverrideRequest& r, std::int32_t today) {
  if (r.reason.empty()) throw InvalidRequest("reason: required (why the score is overridden)");
  if (r.reason.size() > 1000) throw InvalidRequest("reason: at most 1000 characters");
  if (r.expires_day < today) throw InvalidRequest("expires_on: must be today or later");
  if (r.expires_day > today + 366) throw InvalidRequest("expires_on: at most a year ahead");
  double max = 100;
  if (!r.component.empty()) {
    const core::Component* found = nullptr;
    std::string known;
    for (const auto& card : config_.scorecards) {
      for (const auto& c : card.components) {
        known += (known.empty() ? "" : ", ") + card.name + "." + c.name;
        if (c.name == r.component && (!found || c.max_points > found->max_points)) found = &c;
      }
    }
    if (!found)
      throw InvalidRequest("component: no scorecard has a component '" + r.component + "' (" + known + ")");
    max = found->max_points;
  }
  if (!(r.value >= 0 && r.value <= max))
    throw InvalidRequest("value: must be within [0, " + std::to_string(static_cast<int>(max)) + "]");
  return db_.with_retry("override_set", [&](pqxx::connection& c) {
    pqxx::work tx(c, "override_set");
    tx.exec_params(
        "UPDATE score_overrides SET revoked_at = now(), revoked_by = $3 WHERE company_id = $1 AND component "
        "= $2 "
        "AND revoked_at IS NULL",
        r.company_id, r.component, r.author);
    const auto row = tx.exec_params1(
        "INSERT INTO score_overrides (company_id, component, value, reason, author, expires_on) "
        "VALUES ($1, $2, $3, $4, $5, $6::date) RETURNING id, to_char(created_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        r.company_id, r.component, r.value, r.reason, r.author, core::format_day(r.expires_day));
    StoredOverride o;
    o.id = row[0].as<std::int64_t>();
    o.company_id = r.company_id;
    o.component = r.component;
    o.value = r.value;
    o.reason = r.reason;
    o.author = r.author;
    o.expires_on = core::format_day(r.expires_day);
    o.created_at = row[1].as<std::string>();
    const json detail = {{"id", o.id},
                         {"company_id", std::to_string(r.company_id)},
                         {"component", r.component.empty() ? json(nullptr) : json(r.component)},
                         {"value", r.value},
                         {"reason", r.reason},
                         {"author", r.author},
                         {"expires_on", o.expires_on},
                         {"created_at", o.created_at}};
    tx.exec_params(
        "INSERT INTO score_override_audit (override_id, company_id, action, actor, detail) VALUES ($1, $2, "
        "'set', "
        "$3, $4::jsonb)",
        o.id, r.company_id, r.author, detail.dump());
    tx.commit();
    return o;
  });
}

bool HealthStore::revoke_override(std::int64_t company_id, const std::string& component,
                                  const std::string& actor) {
  return db_.with_retry("override_revoke", [&](pqxx::connection& c) {
    pqxx::work tx(c, "override_revoke");
    const auto r = tx.exec_params(
        "UPDATE score_overrides SET revoked_at = now(), revoked_by = $3 WHERE company_id = $1 AND component "
        "= $2 "
        "AND revoked_at IS NULL RETURNING id, value, reason",
        company_id, component, actor);
    for (const auto& row : r) {
      tx.exec_params(
          "INSERT INTO score_override_audit (override_id, company_id, action, actor, detail) VALUES ($1, $2, "
          "'revoke', $3, $4::jsonb)",
          row[0].as<std::int64_t>(), company_id, actor,
          json({{"component", component},
                {"value", row[1].as<double>()},
                {"reason", row[2].as<std::string>()}})
              .dump());
    }
    tx.commit();
    return !r.empty();
  });
}

std::vector<StoredOverride> HealthStore::overrides(std::int64_t company_id) {
  return db_.with_connection("overrides_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<StoredOverride> out;
    for (const auto& r : tx.exec_params(
             "SELECT id, component, value, reason, author, expires_on::text, to_char(created_at AT TIME ZONE "
             "'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), revoked_at IS NOT NULL, revoked_by FROM score_overrides "
             "WHERE company_id = $1 ORDER BY id",
             company_id)) {
      StoredOverride o;
      o.id = r[0].as<std::int64_t>();
      o.company_id = company_id;
      o.component = r[1].as<std::string>();
      o.value = r[2].as<double>();
      o.reason = r[3].as<std::string>();
      o.author = r[4].as<std::string>();
      o.expires_on = r[5].as<std::string>();
      o.created_at = r[6].as<std::string>();
      o.revoked = r[7].as<bool>();
      if (!r[8].is_null()) o.revoked_by = r[8].as<std::string>();
      out.push_back(std::move(o));
    }
    return out;
  });
}

}  // namespace cshealthd::scoring
