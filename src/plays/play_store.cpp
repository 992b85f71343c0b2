#include "play_store.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::plays {
using json = nlohmann::json;

std::optional<core::UsageSummary> PlayStore::usage_summary(pqxx::transaction_base& tx,
                                                           std::int64_t company_id, std::int32_t day) {
  const auto d = core::format_day(day);
  const auto c = store::exec_prepared(tx, "plays_company_name",
                                      "SELECT coalesce(name, '') FROM companies WHERE id = $1", company_id);
  if (c.empty()) return std::nullopt;
  core::UsageSummary s;
  s.company = c[0][0].as<std::string>();
  s.day = day;
  // Metrics as of a day: the last value recorded on or before it.
  for (const auto& r : store::exec_prepared(
           tx, "plays_metrics_as_of",
           "SELECT m.metric, p.offset_days, (SELECT value FROM company_metric_snapshots x WHERE x.company_id "
           "= $1 AND x.metric = m.metric AND x.day <= $2::date - p.offset_days ORDER BY x.day DESC LIMIT 1) "
           "FROM (VALUES ('licensed_seats'), ('active_users_30d'), ('logins_30d'), ('features_used')) "
           "m(metric), "
           "(VALUES (0), (30), (90)) p(offset_days)",
           company_id, d)) {
    if (r[2].is_null()) continue;
    const auto metric = r[0].as<std::string>();
    const int off = r[1].as<int>();
    const double v = r[2].as<double>();
    if (metric == "licensed_seats" && off == 0) s.seats = v;
    if (metric == "active_users_30d") (off == 0 ? s.active_now : off == 30 ? s.active_30 : s.active_90) = v;
    if (metric == "logins_30d") (off == 0 ? s.logins_now : off == 30 ? s.logins_30 : s.logins_90) = v;
    if (metric == "features_used" && off != 30) (off == 0 ? s.features_now : s.features_90) = v;
  }
  // Scores: now (the latest on or before the day); 90 days ago (the day scored nearest to it, within a
  // week: a company scored only since last month has no such figure); the band changes since then.
  std::optional<std::string> previous;
  int nearest = 8;
  for (const auto& r : store::exec_prepared(
           tx, "plays_scores_90d",
           "SELECT day::text, score, status FROM health_scores WHERE company_id = $1 AND day <= $2::date AND "
           "day >= $2::date - 97 ORDER BY day",
           company_id, d)) {
    const auto sd = core::parse_day(r[0].as<std::string>()).value_or(0);
    const auto status = r[2].as<std::string>();
    if (const int off = std::abs(sd - (day - 90)); off < nearest) {
      nearest = off;
      s.score_90 = r[1].as<double>();
      s.status_90 = status;
    }
    if (sd > day - 90 && previous && *previous != status) s.band_changes.emplace_back(sd, status);
    previous = status;
    s.score_now = r[1].as<double>();
    s.status_now = status;
  }
  const auto t = store::exec_prepared(
      tx, "plays_tickets",
      "SELECT count(*) FILTER (WHERE t.closed_at IS NULL OR t.closed_at > ($2::date + 1)::timestamptz), "
      "count(*) FILTER (WHERE t.priority IN ('HIGH', 'URGENT') AND t.created_at >= ($2::date - "
      "90)::timestamptz) "
      "FROM crm_associations a JOIN tickets t ON t.id = a.from_id WHERE a.from_type = 'tickets' AND "
      "a.to_type = "
      "'companies' AND a.to_id = $1 AND NOT t.archived AND t.created_at < ($2::date + 1)::timestamptz",
      company_id, d)[0];
  s.open_tickets = t[0].as<int>();
  s.critical_tickets_90d = t[1].as<int>();
  for (const auto& r : store::exec_prepared(
           tx, "plays_last_answers",
           "SELECT DISTINCT ON (f.survey_type) f.survey_type, (f.submitted_at AT TIME ZONE "
           "'UTC')::date::text, "
           "f.value FROM company_feedback l JOIN feedback_submissions f ON f.id = l.feedback_id WHERE "
           "l.company_id = $1 AND NOT f.archived AND f.value IS NOT NULL AND f.submitted_at < ($2::date + "
           "1)::timestamptz AND f.survey_type IN ('NPS', 'CSAT') ORDER BY f.survey_type, f.submitted_at DESC",
           company_id, d)) {
    const auto at = core::parse_day(r[1].as<std::string>()).value_or(0);
    (r[0].as<std::string>() == "NPS" ? s.last_nps : s.last_csat) = std::pair{at, r[2].as<double>()};
  }
  const auto m = store::exec_prepared(
      tx, "plays_last_meeting",
      "SELECT (m.start_time AT TIME ZONE 'UTC')::date::text, coalesce(m.outcome, '') FROM crm_associations a "
      "JOIN meetings m ON m.id = a.from_id WHERE a.from_type = 'meetings' AND a.to_type = 'companies' AND "
      "a.to_id = $1 AND NOT m.archived AND m.start_time < ($2::date + 1)::timestamptz ORDER BY m.start_time "
      "DESC LIMIT 1",
      company_id, d);
  if (!m.empty())
    s.last_meeting =
        std::pair{core::parse_day(m[0][0].as<std::string>()).value_or(0), m[0][1].as<std::string>()};
  return s;
}

PlayStore::Loaded PlayStore::load(pqxx::transaction_base& tx, std::int32_t day, int longest_until,
                                  const workflow::Managers& managers, const std::set<std::string>& won) {
  Loaded in;
  const auto d = core::format_day(day);
  std::map<std::int64_t, std::size_t> index;
  for (
      const auto& r : tx.exec_params(
          "SELECT h.company_id, coalesce(c.name, ''), coalesce(c.owner_id, ''), coalesce(o.teams::text, "
          "'[]'), "
          "h.segment, coalesce(c.cs_stage, ''), h.status, h.score, h.signals::text, "
          "(c.renewal_date AT TIME ZONE 'UTC')::date::text, (c.contract_start_date AT TIME ZONE "
          "'UTC')::date::text, "
          "(c.churn_date AT TIME ZONE 'UTC')::date::text, coalesce(c.churn_reason, ''), "
          "json_build_object('plan', c.plan, 'mrr', c.mrr, 'seats', c.licensed_seats, 'active_users', "
          "c.active_users_30d)::text, h.churned "
          // The companies scored that day, and those left unscored because they churned (win-back's),
          // with the segment and score they had last.
          "FROM (SELECT company_id, segment, status, score, signals, false AS churned FROM health_scores "
          "WHERE day = $1::date UNION ALL SELECT k.id, coalesce(l.segment, ''), 'churned', coalesce(l.score, "
          "0), '[]'::jsonb, true FROM companies k LEFT JOIN LATERAL (SELECT segment, score FROM "
          "health_scores "
          "x WHERE x.company_id = k.id AND x.day < $1::date ORDER BY x.day DESC LIMIT 1) l ON true WHERE NOT "
          "k.archived AND k.cs_stage = 'churned' AND NOT EXISTS (SELECT 1 FROM health_scores y WHERE "
          "y.company_id = k.id AND y.day = $1::date)) h "
          "JOIN companies c ON c.id = h.company_id AND NOT c.archived "
          "LEFT JOIN crm_owners o ON o.id::text = c.owner_id ORDER BY h.company_id",
          d)) {
    core::PlayCompany c;
    c.id = r[0].as<std::int64_t>();
    c.name = r[1].as<std::string>();
    c.owner_id = r[2].as<std::string>();
    c.manager_id = managers.manager_of_owner(c.owner_id, r[3].as<std::string>());
    c.segment = r[4].as<std::string>();
    c.stage = r[5].as<std::string>();
    c.status = r[6].as<std::string>();
    c.score = r[7].as<double>();
    for (const auto& sig : json::parse(r[8].as<std::string>())) {
      if (sig.is_object() && sig.contains("name") && sig["name"].is_string()) c.signals.insert(sig["name"]);
    }
    const std::pair<const char*, int> dates[] = {
        {"renewal_date", 9}, {"contract_start_date", 10}, {"churn_date", 11}};
    for (const auto& [field, col] : dates) {
      if (!r[col].is_null()) {
        if (const auto v = core::parse_day(r[col].as<std::string>())) c.dates[field] = *v;
      }
    }
    c.churn_reason = r[12].as<std::string>();
    in.facts[c.id] = r[13].as<std::string>();  // parsed only where a step fires
    c.churned = r[14].as<bool>();
    index[c.id] = in.companies.size();
    in.companies.push_back(std::move(c));
  }
  auto find = [&](std::int64_t id) -> core::PlayCompany* {
    const auto it = index.find(id);
    return it == index.end() ? nullptr : &in.companies[it->second];
  };
  // Won deals: their close days (a renewal), and the sales owner of the latest.
  for (const auto& r : tx.exec_params(
           "SELECT a.to_id, (d.close_date AT TIME ZONE 'UTC')::date::text, coalesce(d.owner_id, '') FROM "
           "crm_associations a JOIN deals d ON d.id = a.from_id WHERE a.from_type = 'deals' AND a.to_type = "
           "'companies' AND NOT d.archived AND d.stage = ANY($1::text[]) AND d.close_date IS NOT NULL "
           "AND d.close_date < ($2::date + 1)::timestamptz ORDER BY a.to_id, d.close_date",
           store::text_array(std::vector<std::string>(won.begin(), won.end())), d)) {
    auto* c = find(r[0].as<std::int64_t>());
    if (!c) continue;
    if (const auto v = core::parse_day(r[1].as<std::string>())) c->won_deal_days.push_back(*v);
    if (!r[2].as<std::string>().empty()) c->sales_owner_id = r[2].as<std::string>();
  }
  // The last NPS answer: its day starts the advocacy cycle of a date trigger on last_nps_date.
  for (const auto& r :
       tx.exec_params("SELECT l.company_id, max((f.submitted_at AT TIME ZONE 'UTC')::date)::text FROM "
                      "company_feedback l "
                      "JOIN feedback_submissions f ON f.id = l.feedback_id WHERE NOT f.archived AND "
                      "f.survey_type = 'NPS' "
                      "AND f.value IS NOT NULL AND f.submitted_at < ($1::date + 1)::timestamptz GROUP BY 1",
                      d)) {
    auto* c = find(r[0].as<std::int64_t>());
    if (c && !r[1].is_null()) {
      if (const auto v = core::parse_day(r[1].as<std::string>())) c->dates["last_nps_date"] = *v;
    }
  }
  for (const auto& r :
       tx.exec("SELECT company_id, play, started::text, last_seen::text, active FROM play_episodes")) {
    core::PlayEpisode e;
    e.company_id = r[0].as<std::int64_t>();
    e.play = r[1].as<std::string>();
    e.started = core::parse_day(r[2].as<std::string>()).value_or(0);
    e.last_seen = core::parse_day(r[3].as<std::string>()).value_or(0);
    e.active = r[4].as<bool>();
    in.episodes[e.company_id].push_back(std::move(e));
  }
  // Steps done in cycles that can still fire: none ends later than its date plus the longest `until`.
  for (const auto& r : tx.exec_params(
           "SELECT company_id, play, cycle, step FROM play_steps WHERE cycle_date >= $1::date - $2::int - 7",
           d, longest_until)) {
    in.done[r[0].as<std::int64_t>()].insert(
        {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()});
  }
  for (const auto& r : tx.exec("SELECT t->>'id', min(o.id)::text FROM crm_owners o, "
                               "jsonb_array_elements(CASE jsonb_typeof(o.teams) "
                               "WHEN 'array' THEN o.teams ELSE '[]' END) t WHERE NOT o.archived AND t->>'id' "
                               "IS NOT NULL GROUP BY 1")) {
    in.team_members[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  return in;
}

void PlayStore::record_steps(pqxx::work& tx, const std::vector<StepRow>& steps, std::int32_t day) {
  if (steps.empty()) return;
  std::vector<std::string> cols[10];
  for (const auto& s : steps) {
    cols[0].push_back(std::to_string(s.company_id));
    cols[1].push_back(s.play);
    cols[2].push_back(s.cycle);
    cols[3].push_back(s.step);
    cols[4].push_back(core::format_day(s.cycle_date));
    cols[5].push_back(s.action);
    cols[6].push_back(s.outbox_key);
    cols[7].push_back(s.owner_id);
    cols[8].push_back(s.why);
    cols[9].push_back(s.skipped ? "t" : "f");
  }
  tx.exec_params(
      "INSERT INTO play_steps (company_id, play, cycle, step, cycle_date, day, action, outbox_key, owner_id, "
      "why, skipped) "
      "SELECT c::bigint, p, cy, st, cd::date, $10::date, a, k, nullif(o, ''), w, sk::boolean FROM "
      "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
      "$8::text[], "
      "$9::text[], $11::text[]) AS u (c, p, cy, st, cd, a, k, o, w, sk) ON CONFLICT DO NOTHING",
      store::text_array(cols[0]), store::text_array(cols[1]), store::text_array(cols[2]),
      store::text_array(cols[3]), store::text_array(cols[4]), store::text_array(cols[5]),
      store::text_array(cols[6]), store::text_array(cols[7]), store::text_array(cols[8]),
      core::format_day(day), store::text_array(cols[9]));
}

std::set<std::string> PlayStore::started(pqxx::transaction_base& tx) {
  std::set<std::string> out;
  for (const auto& r : tx.exec("SELECT play FROM play_starts")) out.insert(r[0].as<std::string>());
  return out;
}

void PlayStore::record_starts(pqxx::work& tx, const std::vector<std::string>& plays, std::int32_t day,
                              const std::vector<bool>& caught_up) {
  if (plays.empty()) return;
  std::vector<std::string> flags;
  for (const bool b : caught_up) flags.push_back(b ? "t" : "f");
  tx.exec_params(
      "INSERT INTO play_starts (play, started_on, caught_up) SELECT p, $2::date, c::boolean FROM "
      "unnest($1::text[], $3::text[]) AS u (p, c) ON CONFLICT (play) DO NOTHING",
      store::text_array(plays), core::format_day(day), store::text_array(flags));
}

void PlayStore::record_episodes(pqxx::work& tx, const std::vector<core::PlayEpisode>& episodes) {
  if (episodes.empty()) return;
  {
    std::vector<std::int64_t> ids;
    std::vector<std::string> plays, started, seen, active;
    for (const auto& e : episodes) {
      ids.push_back(e.company_id);
      plays.push_back(e.play);
      started.push_back(core::format_day(e.started));
      seen.push_back(core::format_day(e.last_seen));
      active.push_back(e.active ? "t" : "f");
    }
    tx.exec_params(
        "INSERT INTO play_episodes (company_id, play, started, last_seen, active) SELECT c, p, s::date, "
        "l::date, "
        "a::boolean FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u (c, p, s, "
        "l, a) "
        "ON CONFLICT (company_id, play) DO UPDATE SET started = excluded.started, last_seen = "
        "excluded.last_seen, "
        "active = excluded.active",
        store::bigint_array(ids), store::text_array(plays), store::text_array(started),
        store::text_array(seen), store::text_array(active));
  }
}

}  // namespace cshealthd::plays
