#include "cshealthd/scoring/health_store.hpp"

#include "cshealthd/scoring/batch.hpp"

namespace cshealthd::scoring {
namespace {

using json = nlohmann::json;

json number_or_null(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(f.as<double>());
}

json row_json(const pqxx::row& r) {
  // company_id, day, score, computed_score, status, coverage, scorecard, segment, previous_score, delta,
  // components, signals, reasons, score_override, computed_at
  return {{"company_id", r[0].as<std::string>()},
          {"as_of", r[1].as<std::string>()},
          {"score", r[2].as<double>()},
          {"computed_score", r[3].as<double>()},
          {"status", r[4].as<std::string>()},
          {"coverage", r[5].as<double>()},
          {"scorecard", r[6].as<std::string>()},
          {"segment", r[7].as<std::string>()},
          {"previous_score", number_or_null(r[8])},
          {"delta", number_or_null(r[9])},
          {"components", json::parse(r[10].as<std::string>())},
          {"signals", json::parse(r[11].as<std::string>())},
          {"reasons", json::parse(r[12].as<std::string>())},
          {"override", r[13].is_null() ? json(nullptr) : json::parse(r[13].as<std::string>())},
          {"computed_at", r[14].as<std::string>()}};
}

constexpr const char* kColumns =
    "company_id::text, day::text, score, computed_score, status, coverage, scorecard, segment, "
    "previous_score, "
    "delta, components::text, signals::text, reasons::text, score_override::text, "
    "to_char(computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

}  // namespace

bool HealthStore::company_exists(std::int64_t id) {
  return db_.with_connection("company_exists", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return !tx.exec_params("SELECT 1 FROM crm_objects WHERE object_type = 'companies' AND id = $1", id)
                .empty();
  });
}

std::optional<json> HealthStore::latest(std::int64_t company_id) {
  return db_.with_connection("health_latest", [&](pqxx::connection& c) -> std::optional<json> {
    pqxx::read_transaction tx(c);
    const auto r = tx.exec_params(std::string("SELECT ") + kColumns +
                                      " FROM health_scores WHERE company_id = $1 ORDER BY day DESC LIMIT 1",
                                  company_id);
    if (r.empty()) return std::nullopt;
    return row_json(r[0]);
  });
}

json HealthStore::history(std::int64_t company_id, int days) {
  return db_.with_connection("health_history", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    json out = json::array();
    for (const auto& r : tx.exec_params(
             "SELECT day::text, score, status, coverage, delta, scorecard, reasons::text FROM health_scores "
             "WHERE company_id = $1 AND day > (SELECT max(day) FROM health_scores WHERE company_id = $1) - "
             "$2::int "
             "ORDER BY day DESC",
             company_id, days)) {
      out.push_back({{"as_of", r[0].as<std::string>()},
                     {"score", r[1].as<double>()},
                     {"status", r[2].as<std::string>()},
                     {"coverage", r[3].as<double>()},
                     {"delta", number_or_null(r[4])},
                     {"scorecard", r[5].as<std::string>()},
                     {"reasons", json::parse(r[6].as<std::string>())}});
    }
    return out;
  });
}

json HealthStore::list(const ScoreListQuery& q) {
  return db_.with_connection("health_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::optional<std::string> day;
    if (q.day) {
      day = core::format_day(*q.day);
    } else {
      const auto r = tx.exec("SELECT max(day)::text FROM health_scores");
      if (!r[0][0].is_null()) day = r[0][0].as<std::string>();
    }
    json out = {
        {"as_of", day ? json(*day) : json(nullptr)}, {"results", json::array()}, {"next_after", nullptr}};
    if (!day) return out;
    const auto rows = tx.exec_params(
        "SELECT company_id::text, score, status, coverage, scorecard, segment, delta, reasons::text, "
        "signals::text "
        "FROM health_scores WHERE day = $1::date AND company_id > $2 AND ($3::text IS NULL OR status = $3) "
        "AND ($4::text IS NULL OR segment = $4) ORDER BY company_id LIMIT $5",
        *day, q.after, q.status, q.segment, static_cast<long long>(q.limit + 1));
    for (std::size_t i = 0; i < rows.size() && i < q.limit; ++i) {
      const auto& r = rows[static_cast<int>(i)];
      out["results"].push_back({{"company_id", r[0].as<std::string>()},
                                {"score", r[1].as<double>()},
                                {"status", r[2].as<std::string>()},
                                {"coverage", r[3].as<double>()},
                                {"scorecard", r[4].as<std::string>()},
                                {"segment", r[5].as<std::string>()},
                                {"delta", number_or_null(r[6])},
                                {"reasons", json::parse(r[7].as<std::string>())},
                                {"signals", json::parse(r[8].as<std::string>())}});
    }
    if (rows.size() > q.limit) out["next_after"] = out["results"].back()["company_id"];
    return out;
  });
}

json HealthStore::set_override(const OverrideRequest& r, std::int32_t today) {
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
    const json o = {{"id", row[0].as<std::int64_t>()},
                    {"company_id", std::to_string(r.company_id)},
                    {"component", r.component.empty() ? json(nullptr) : json(r.component)},
                    {"value", r.value},
                    {"reason", r.reason},
                    {"author", r.author},
                    {"expires_on", core::format_day(r.expires_day)},
                    {"created_at", row[1].as<std::string>()}};
    tx.exec_params(
        "INSERT INTO score_override_audit (override_id, company_id, action, actor, detail) VALUES ($1, $2, "
        "'set', "
        "$3, $4::jsonb)",
        row[0].as<std::int64_t>(), r.company_id, r.author, o.dump());
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

json HealthStore::overrides(std::int64_t company_id) {
  return db_.with_connection("overrides_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    json out = json::array();
    for (const auto& r : tx.exec_params(
             "SELECT id, component, value, reason, author, expires_on::text, to_char(created_at AT TIME ZONE "
             "'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), revoked_at IS NOT NULL, revoked_by FROM score_overrides "
             "WHERE company_id = $1 ORDER BY id",
             company_id)) {
      out.push_back(
          {{"id", r[0].as<std::int64_t>()},
           {"component", r[1].as<std::string>().empty() ? json(nullptr) : json(r[1].as<std::string>())},
           {"value", r[2].as<double>()},
           {"reason", r[3].as<std::string>()},
           {"author", r[4].as<std::string>()},
           {"expires_on", r[5].as<std::string>()},
           {"created_at", r[6].as<std::string>()},
           {"revoked", r[7].as<bool>()},
           {"revoked_by", r[8].is_null() ? json(nullptr) : json(r[8].as<std::string>())}});
    }
    return out;
  });
}

}  // namespace cshealthd::scoring
