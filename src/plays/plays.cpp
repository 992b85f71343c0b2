#include "cshealthd/plays/plays.hpp"

#include "cshealthd/outbox/outbox_store.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "cshealthd/store/crm_repository.hpp"
#include "play_store.hpp"

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
  return PlayStore::usage_summary(tx, company_id, day);
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

NightPlan Plays::plan(pqxx::work& tx, std::int32_t day, bool dry_run, bool catch_up) const {
  NightPlan out;
  if (!s_.enabled) return out;
  const auto won = store::CrmRepository::won_stages(tx, won_stages_);
  int longest = 0;
  for (const auto& p : s_.plays.plays) {
    for (const auto& st : p.steps) longest = std::max(longest, st.until);
  }
  auto in = PlayStore::load(tx, day, longest, ctx_.managers, won);
  out.companies = in.companies.size();
  // A play's first night: what is under way is seen, not sent, unless it catches up.
  const auto started = PlayStore::started(tx);
  std::set<std::string> skipping;
  std::vector<bool> caught_up;
  for (const auto& p : s_.plays.plays) {
    if (!p.enabled || started.count(p.name)) continue;
    out.starting.push_back(p.name);
    caught_up.push_back(p.catch_up || catch_up);
    if (!caught_up.back()) skipping.insert(p.name);
  }
  out.caught_up = catch_up;
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
  std::vector<PlayStore::StepRow> steps;
  for (const auto& c : in.companies) {
    const auto e = in.episodes.find(c.id);
    const auto d = in.done.find(c.id);
    auto decision = core::decide_plays(s_.plays, ctx, c, e == in.episodes.end() ? kNone : e->second,
                                       d == in.done.end() ? kNothing : d->second);
    for (auto& ep : decision.episodes) episodes.push_back(std::move(ep));
    for (auto& n : decision.notes) out.notes.push_back(std::move(n));
    // Texts only for the companies a step is sent at.
    std::optional<std::map<std::string, std::string>> vars;
    for (auto& fi : decision.firings) {
      const auto& spec = *fi.spec;
      PlayStore::StepRow row{c.id,   fi.play,     fi.cycle, fi.step, fi.date, core::name_of(spec.action),
                             fi.key, fi.owner_id, fi.why};
      if (skipping.count(fi.play)) {
        row.skipped = true;
        steps.push_back(std::move(row));
        ++out.under_way[fi.play];
        continue;
      }
      if (!vars)
        vars = company_vars(c, day, json::parse(in.facts[c.id]), load_summary(tx, c.id, day), s_.locale,
                            name_of);
      auto v = *vars;
      v["play"] = fi.play;
      v["cycle"] = fi.cycle;
      v["date"] = core::format_day(fi.date);
      v["days_to_date"] = std::to_string(fi.date - day);
      v["days_since"] = std::to_string(day - fi.date);
      v["owner"] = name_of(fi.owner_id);
      v["due"] = fi.due_day ? core::format_day(fi.due_day) : "";
      json item = {{"key", fi.key},     {"company_id", c.id}, {"play", fi.play},
                   {"cycle", fi.cycle}, {"step", fi.step},    {"action", core::name_of(spec.action)},
                   {"why", fi.why}};
      outbox::Item action{fi.key, c.id, intent_of(fi, v)};
      item["kind"] = outbox::name_of(outbox::kind_of(action.intent));
      item["payload"] = outbox::encode(action);
      outbox.push_back(std::move(action));
      steps.push_back(std::move(row));
      out.items.push_back(std::move(item));
      out.firings.push_back(std::move(fi));
    }
  }
  for (const auto& [play, n] : out.under_way)
    out.notes.push_back(
        std::to_string(n) + " " + play + " step(s) already under way on the play's first night: " +
        "not created (`cshealthd run --catch-up`, or `catch_up: true` on the play, creates them)");
  if (dry_run) return out;
  outbox::OutboxStore::enqueue(tx, outbox, std::nullopt);
  PlayStore::record_steps(tx, steps, day);
  PlayStore::record_episodes(tx, episodes);
  PlayStore::record_starts(tx, out.starting, day, caught_up);
  return out;
}

json Plays::plan(pqxx::work& tx, const workflow::PlanDay& day) {
  if (day.refresh()) return json::object();
  const auto night = plan(tx, day.day, false, day.catch_up);
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
  json out = {{"companies", plan.companies}, {"steps", plan.firings.size()}, {"by_play", by_play}};
  if (!plan.starting.empty()) {
    out["starting"] = plan.starting;
    out["under_way"] = plan.under_way;  // per play: steps seen, not created, on its first night
    out["caught_up"] = plan.caught_up;
  }
  return out;
}

}  // namespace cshealthd::plays
