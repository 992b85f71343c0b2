#include "cshealthd/plays/plays.hpp"

#include "cshealthd/outbox/outbox_store.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::plays {
using json = nlohmann::json;

Settings load_settings(const config::Config& config) {
  Settings s;
  s.enabled = config.plays.enabled;
  s.locale = config.writeback.locale;
  s.deal_key_property = config.plays.deal_key_property;
  std::string path = config.plays.file;
  if (path.empty() && !config.scoring.scorecards_dir.empty()) {
    const auto candidate = std::filesystem::path(config.scoring.scorecards_dir) / "plays.yaml";
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) path = candidate.string();
  }
  if (path.empty()) {
    s.source = "shipped";
    s.plays = parse_plays(shipped_plays(), "plays.yaml (shipped)", s.locale);
  } else {
    s.source = path;
    s.plays = parse_plays(workflow::read_config_file("plays.file", path), path, s.locale);
  }
  return s;
}

// ---- The usage summary -----------------------------------------------------------------------------

std::optional<core::UsageSummary> load_summary(pqxx::transaction_base& tx, std::int64_t company_id,
                                               std::int32_t day) {
  const auto d = core::format_day(day);
  const auto c = tx.exec_params("SELECT coalesce(name, '') FROM companies WHERE id = $1", company_id);
  if (c.empty()) return std::nullopt;
  core::UsageSummary s;
  s.company = c[0][0].as<std::string>();
  s.day = day;
  // Metrics as of a day: the last value recorded on or before it.
  for (const auto& r : tx.exec_params(
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
  for (const auto& r : tx.exec_params(
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
  const auto t = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE t.closed_at IS NULL OR t.closed_at > ($2::date + 1)::timestamptz), "
      "count(*) FILTER (WHERE t.priority IN ('HIGH', 'URGENT') AND t.created_at >= ($2::date - "
      "90)::timestamptz) "
      "FROM crm_associations a JOIN tickets t ON t.id = a.from_id WHERE a.from_type = 'tickets' AND "
      "a.to_type = "
      "'companies' AND a.to_id = $1 AND NOT t.archived AND t.created_at < ($2::date + 1)::timestamptz",
      company_id, d);
  s.open_tickets = t[0].as<int>();
  s.critical_tickets_90d = t[1].as<int>();
  for (const auto& r : tx.exec_params(
           "SELECT DISTINCT ON (f.survey_type) f.survey_type, (f.submitted_at AT TIME ZONE "
           "'UTC')::date::text, "
           "f.value FROM company_feedback l JOIN feedback_submissions f ON f.id = l.feedback_id WHERE "
           "l.company_id = $1 AND NOT f.archived AND f.value IS NOT NULL AND f.submitted_at < ($2::date + "
           "1)::timestamptz AND f.survey_type IN ('NPS', 'CSAT') ORDER BY f.survey_type, f.submitted_at DESC",
           company_id, d)) {
    const auto at = core::parse_day(r[1].as<std::string>()).value_or(0);
    (r[0].as<std::string>() == "NPS" ? s.last_nps : s.last_csat) = std::pair{at, r[2].as<double>()};
  }
  const auto m = tx.exec_params(
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

json summary_json(const core::UsageSummary& s, const std::string& locale) {
  const auto o = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json changes = json::array();
  for (const auto& [d, status] : s.band_changes)
    changes.push_back({{"day", core::format_day(d)}, {"status", status}});
  const auto dated = [](const std::optional<std::pair<std::int32_t, double>>& v) {
    return v ? json{{"day", core::format_day(v->first)}, {"value", v->second}} : json(nullptr);
  };
  return {
      {"company", s.company},
      {"day", core::format_day(s.day)},
      {"seats", o(s.seats)},
      {"active_users", {{"now", o(s.active_now)}, {"days_30", o(s.active_30)}, {"days_90", o(s.active_90)}}},
      {"logins_30d", {{"now", o(s.logins_now)}, {"days_30", o(s.logins_30)}, {"days_90", o(s.logins_90)}}},
      {"features_used", {{"now", o(s.features_now)}, {"days_90", o(s.features_90)}}},
      {"score",
       {{"now", o(s.score_now)},
        {"status_now", s.status_now},
        {"days_90", o(s.score_90)},
        {"status_90", s.status_90},
        {"band_changes", changes}}},
      {"tickets", {{"open", s.open_tickets}, {"critical_90d", s.critical_tickets_90d}}},
      {"last_nps", dated(s.last_nps)},
      {"last_csat", dated(s.last_csat)},
      {"last_meeting", s.last_meeting ? json{{"day", core::format_day(s.last_meeting->first)},
                                             {"outcome", s.last_meeting->second}}
                                      : json(nullptr)},
      {"locale", locale},
      {"text", core::render_summary(s, locale)}};
}

// ---- A night ---------------------------------------------------------------------------------------

namespace {

struct Loaded {
  std::vector<core::PlayCompany> companies;
  std::map<std::int64_t, std::vector<core::PlayEpisode>> episodes;
  std::map<std::int64_t, std::set<core::PlayStepDone>> done;
  std::map<std::int64_t, std::string> facts;  // plan, mrr, seats, active users (JSON): template values
  std::map<std::string, std::string> team_members;
};

Loaded load(pqxx::work& tx, std::int32_t day, const core::PlaysConfig& cfg, const workflow::Context& wb,
            const std::set<std::string>& won) {
  Loaded in;
  const auto d = core::format_day(day);
  std::map<std::int64_t, std::size_t> index;
  for (const auto& r : tx.exec_params(
           "SELECT h.company_id, coalesce(c.name, ''), coalesce(c.owner_id, ''), coalesce(o.teams::text, "
           "'[]'), "
           "h.segment, coalesce(c.cs_stage, ''), h.status, h.score, h.signals::text, "
           "(c.renewal_date AT TIME ZONE 'UTC')::date::text, (c.contract_start_date AT TIME ZONE "
           "'UTC')::date::text, "
           "(c.churn_date AT TIME ZONE 'UTC')::date::text, coalesce(c.churn_reason, ''), "
           "json_build_object('plan', c.plan, 'mrr', c.mrr, 'seats', c.licensed_seats, 'active_users', "
           "c.active_users_30d)::text "
           "FROM health_scores h JOIN companies c ON c.id = h.company_id AND NOT c.archived "
           "LEFT JOIN crm_owners o ON o.id::text = c.owner_id WHERE h.day = $1::date ORDER BY h.company_id",
           d)) {
    core::PlayCompany c;
    c.id = r[0].as<std::int64_t>();
    c.name = r[1].as<std::string>();
    c.owner_id = r[2].as<std::string>();
    c.manager_id = wb.managers.manager_of_owner(c.owner_id, r[3].as<std::string>());
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
  int longest = 0;
  for (const auto& p : cfg.plays) {
    for (const auto& s : p.steps) longest = std::max(longest, s.until);
  }
  for (const auto& r : tx.exec_params(
           "SELECT company_id, play, cycle, step FROM play_steps WHERE cycle_date >= $1::date - $2::int - 7",
           d, longest)) {
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

std::string quarter_before(std::int32_t day) {
  return core::quarter_of(core::quarter_start(day) - 1);
}

// The template values of a company a step fires at (the step adds its own).
std::map<std::string, std::string> company_vars(
    const core::PlayCompany& c, std::int32_t day, const json& f,
    const std::optional<core::UsageSummary>& summary, const std::string& locale,
    const std::function<std::string(const std::string&)>& name_of) {
  const auto fnum = [&](const char* k) {
    return f.contains(k) && f[k].is_number() ? core::format_decimal(f[k].get<double>()) : std::string();
  };
  std::map<std::string, std::string> vars = {
      {"company", c.name},
      {"company_id", std::to_string(c.id)},
      {"csm", name_of(c.owner_id)},
      {"manager", name_of(c.manager_id)},
      {"sales_owner", name_of(c.sales_owner_id.empty() ? c.owner_id : c.sales_owner_id)},
      {"score", core::format_decimal(c.score)},
      {"status", c.status},
      {"segment", c.segment},
      {"stage", c.stage},
      {"day", core::format_day(day)},
      {"play", ""},
      {"renewal_date", c.dates.count("renewal_date") ? core::format_day(c.dates.at("renewal_date")) : ""},
      {"churn_date", c.dates.count("churn_date") ? core::format_day(c.dates.at("churn_date")) : ""},
      {"churn_reason", c.churn_reason},
      {"plan", f.contains("plan") && f["plan"].is_string() ? f["plan"].get<std::string>() : ""},
      {"mrr", fnum("mrr")},
      {"seats", fnum("seats")},
      {"active_users", fnum("active_users")},
      {"quarter", core::quarter_of(day)},
      {"last_quarter", quarter_before(day)},
      {"summary", summary ? core::render_summary(*summary, locale) : ""},
      {"score_90d", summary && summary->score_90 ? core::format_decimal(*summary->score_90) : "-"},
      {"open_tickets", summary ? std::to_string(summary->open_tickets) : "0"},
      {"nps", summary && summary->last_nps ? core::format_decimal(summary->last_nps->second) : "-"},
  };
  if (f.contains("seats") && f["seats"].is_number() && f["seats"].get<double>() > 0 &&
      f.contains("active_users") && f["active_users"].is_number())
    vars["usage_rate"] =
        core::format_decimal(std::round(f["active_users"].get<double>() / f["seats"].get<double>() * 1000) /
                             10) +
        "%";
  else
    vars["usage_rate"] = "-";
  while (vars.at("summary").size() && vars.at("summary").back() == '\n') vars["summary"].pop_back();
  return vars;
}

// The steps a night fired (their columns), each once.
void record_steps(pqxx::work& tx, const std::vector<std::string> (&step_cols)[9], std::int32_t day) {
  if (step_cols[0].empty()) return;
  {
    tx.exec_params(
        "INSERT INTO play_steps (company_id, play, cycle, step, cycle_date, day, action, outbox_key, "
        "owner_id, why) "
        "SELECT c::bigint, p, cy, st, cd::date, $10::date, a, k, nullif(o, ''), w FROM unnest($1::text[], "
        "$2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS u (c, p, cy, "
        "st, cd, a, "
        "k, o, w) ON CONFLICT DO NOTHING",
        store::text_array(step_cols[0]), store::text_array(step_cols[1]), store::text_array(step_cols[2]),
        store::text_array(step_cols[3]), store::text_array(step_cols[4]), store::text_array(step_cols[5]),
        store::text_array(step_cols[6]), store::text_array(step_cols[7]), store::text_array(step_cols[8]),
        core::format_day(day));
  }
}

void record_episodes(pqxx::work& tx, const std::vector<core::PlayEpisode>& episodes) {
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

}  // namespace

outbox::Intent Plays::intent_of(const core::PlayFiring& fi,
                                const std::map<std::string, std::string>& v) const {
  const auto& spec = *fi.spec;
  switch (spec.action) {
    case core::PlayAction::kTask: {
      const auto& t = s_.plays.templates.at(fi.template_name);
      return outbox::Task{core::render_template(t.subject, v, core::Markup::kHtml),
                          core::render_template(t.body, v, core::Markup::kHtml),
                          fi.owner_id,
                          spec.priority,
                          "play:" + fi.play,
                          fi.due_day,
                          ctx_.due_ms(fi.due_day),
                          0};
    }
    case core::PlayAction::kProperties: {
      outbox::PropertyUpdate update;
      for (const auto& [k, val] : spec.properties)
        update.properties[k] = core::render_template(val, v, core::Markup::kPlain);
      return update;
    }
    case core::PlayAction::kDeal: {
      outbox::Deal deal{{{"dealname", core::render_template(spec.deal_name, v, core::Markup::kPlain)},
                         {"pipeline", spec.deal_pipeline},
                         {"dealstage", spec.deal_stage}}};
      const auto amount = core::render_template(spec.deal_amount, v, core::Markup::kPlain);
      if (!amount.empty()) deal.properties["amount"] = amount;
      return deal;
    }
    case core::PlayAction::kSlack: {
      const auto& t = s_.plays.templates.at(fi.template_name);
      return outbox::SlackMessage{core::render_template(t.subject, v, core::Markup::kSlack) + "\n" +
                                  core::render_template(t.body, v, core::Markup::kSlack)};
    }
  }
  throw std::logic_error("plays: an action without an intent");
}

NightPlan Plays::plan(pqxx::work& tx, std::int32_t day, bool dry_run) const {
  NightPlan out;
  if (!s_.enabled) return out;
  const auto won = store::CrmRepository::won_stages(tx, won_stages_);
  auto in = load(tx, day, s_.plays, ctx_, won);
  out.companies = in.companies.size();
  core::PlayContext ctx;
  ctx.day = day;
  ctx.calendar = &ctx_.calendar;
  ctx.team_members = std::move(in.team_members);
  ctx.explain = dry_run;
  std::vector<core::PlayEpisode> episodes;
  static const std::vector<core::PlayEpisode> kNone;
  static const std::set<core::PlayStepDone> kNothing;
  std::map<std::string, std::string> names;
  const auto name_of = [&](const std::string& id) -> std::string {
    if (id.empty()) return "";
    auto it = names.find(id);
    if (it == names.end()) it = names.emplace(id, store::CrmRepository::owner_name(tx, id)).first;
    return it->second;
  };
  std::vector<outbox::Item> outbox;
  std::vector<std::string> step_cols[9];
  for (const auto& c : in.companies) {
    const auto e = in.episodes.find(c.id);
    const auto d = in.done.find(c.id);
    auto decision = core::decide_plays(s_.plays, ctx, c, e == in.episodes.end() ? kNone : e->second,
                                       d == in.done.end() ? kNothing : d->second);
    for (auto& ep : decision.episodes) episodes.push_back(std::move(ep));
    for (auto& n : decision.notes) out.notes.push_back(std::move(n));
    if (decision.firings.empty()) continue;
    // Texts only for the companies a step fires at.
    const auto vars =
        company_vars(c, day, json::parse(in.facts[c.id]), load_summary(tx, c.id, day), s_.locale, name_of);
    for (auto& fi : decision.firings) {
      auto v = vars;
      v["play"] = fi.play;
      v["cycle"] = fi.cycle;
      v["date"] = core::format_day(fi.date);
      v["days_to_date"] = std::to_string(fi.date - day);
      v["days_since"] = std::to_string(day - fi.date);
      v["owner"] = name_of(fi.owner_id);
      v["due"] = fi.due_day ? core::format_day(fi.due_day) : "";
      const auto& spec = *fi.spec;
      json item = {{"key", fi.key},     {"company_id", c.id}, {"play", fi.play},
                   {"cycle", fi.cycle}, {"step", fi.step},    {"action", core::name_of(spec.action)},
                   {"why", fi.why}};
      outbox::Item action{fi.key, c.id, intent_of(fi, v)};
      item["kind"] = outbox::name_of(outbox::kind_of(action.intent));
      item["payload"] = outbox::encode(action);
      outbox.push_back(std::move(action));
      step_cols[0].push_back(std::to_string(c.id));
      step_cols[1].push_back(fi.play);
      step_cols[2].push_back(fi.cycle);
      step_cols[3].push_back(fi.step);
      step_cols[4].push_back(core::format_day(fi.date));
      step_cols[5].push_back(core::name_of(spec.action));
      step_cols[6].push_back(fi.key);
      step_cols[7].push_back(fi.owner_id);
      step_cols[8].push_back(fi.why);
      out.items.push_back(std::move(item));
      out.firings.push_back(std::move(fi));
    }
  }
  if (dry_run) return out;
  outbox::OutboxStore::enqueue(tx, outbox, std::nullopt);
  record_steps(tx, step_cols, day);
  record_episodes(tx, episodes);
  return out;
}

json Plays::plan(pqxx::work& tx, const workflow::PlanDay& day) {
  if (day.refresh()) return json::object();
  const auto night = plan(tx, day.day, false);
  if (metrics_) {
    for (const auto& f : night.firings)
      metrics_
          ->counter("cshealthd_play_steps_total",
                    "Lifecycle play steps planned (once per company, play, cycle and step)",
                    {{"play", f.play}, {"action", core::name_of(f.spec->action)}})
          .inc();
  }
  return {{"plays", progress(night)}};
}

json Plays::progress(const NightPlan& plan) {
  std::map<std::string, int> by_play;
  for (const auto& f : plan.firings) ++by_play[f.play];
  return {{"companies", plan.companies}, {"steps", plan.firings.size()}, {"by_play", by_play}};
}

}  // namespace cshealthd::plays
