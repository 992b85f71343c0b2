#include "cshealthd/core/plays.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cshealthd::core {

const char* name_of(TriggerKind k) {
  switch (k) {
    case TriggerKind::kDate:
      return "date";
    case TriggerKind::kSignal:
      return "signal";
    case TriggerKind::kBand:
      return "band";
    case TriggerKind::kStage:
      return "stage";
    case TriggerKind::kQuarterly:
      return "quarterly";
  }
  return "?";
}

const char* name_of(PlayAction a) {
  switch (a) {
    case PlayAction::kTask:
      return "task";
    case PlayAction::kProperties:
      return "properties";
    case PlayAction::kDeal:
      return "deal";
    case PlayAction::kSlack:
      return "slack";
  }
  return "?";
}

std::string to_string(const OwnerChoice& o) {
  switch (o.kind) {
    case OwnerChoice::Kind::kCsm:
      return "csm";
    case OwnerChoice::Kind::kManager:
      return "manager";
    case OwnerChoice::Kind::kSalesOwner:
      return "sales_owner";
    case OwnerChoice::Kind::kTeam:
      return "team:" + o.id;
    case OwnerChoice::Kind::kOwner:
      return "owner:" + o.id;
  }
  return "?";
}

const std::set<std::string>& play_date_fields() {
  static const std::set<std::string> kFields = {"renewal_date", "contract_start_date", "churn_date",
                                                "last_nps_date"};
  return kFields;
}

const std::set<std::string>& play_placeholders() {
  static const std::set<std::string> kNames = {
      "company",     "company_id",   "owner",      "csm",     "manager",      "sales_owner",
      "score",       "status",       "segment",    "stage",   "day",          "due",
      "date",        "days_to_date", "days_since", "cycle",   "play",         "renewal_date",
      "churn_date",  "churn_reason", "plan",       "mrr",     "seats",        "active_users",
      "usage_rate",  "nps",          "summary",    "quarter", "last_quarter", "score_90d",
      "open_tickets"};
  return kNames;
}

std::vector<std::string> placeholders_in(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      ++i;
      continue;
    }
    if (text[i] != '{') continue;
    const auto close = text.find('}', i + 1);
    if (close == std::string_view::npos) break;
    out.emplace_back(text.substr(i + 1, close - i - 1));
    i = close;
  }
  return out;
}

const Play* PlaysConfig::find(std::string_view name) const {
  for (const auto& p : plays) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::int32_t step_start(std::int32_t date, int at, const BusinessCalendar& calendar) {
  std::int32_t d = date + at;
  while (!calendar.is_business_day(d)) --d;
  return d;
}

std::string quarter_of(std::int32_t day) {
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(day, y, m, d);
  return std::to_string(y) + "-Q" + std::to_string((m - 1) / 3 + 1);
}

std::int32_t quarter_start(std::int32_t day) {
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(day, y, m, d);
  return static_cast<std::int32_t>(days_from_civil(y, (m - 1) / 3 * 3 + 1, 1));
}

std::string churn_category(const PlaysConfig& config, const std::string& reason) {
  const auto it = config.churn_reasons.find(reason);
  return it == config.churn_reasons.end() ? "other" : it->second;
}

namespace {

bool scored(const PlayCompany& c) {
  return !c.status.empty() && c.status != "unknown";
}

// Whether `cond` holds; when not, `why` says which part failed.
bool holds(const PlayConditions& cond, const PlayCompany& c, bool past_unrenewed, std::string& why) {
  if (!cond.segments.empty() && !cond.segments.count(c.segment)) {
    why = "segment " + (c.segment.empty() ? std::string("(none)") : c.segment);
    return false;
  }
  if (!cond.bands.empty() && !cond.bands.count(c.status)) {
    why = "status " + (c.status.empty() ? std::string("(not scored)") : c.status);
    return false;
  }
  if (!cond.stages.empty() && !cond.stages.count(c.stage)) {
    why = "stage " + (c.stage.empty() ? std::string("(none)") : c.stage);
    return false;
  }
  if (cond.exclude_stages.count(c.stage)) {
    why = "stage " + c.stage;
    return false;
  }
  if ((cond.score_below || cond.score_at_least) && !scored(c)) {
    why = "no usable score";
    return false;
  }
  if (cond.score_below && !(c.score < *cond.score_below)) {
    why = "score " + format_decimal(c.score) + " is not below " + format_decimal(*cond.score_below);
    return false;
  }
  if (cond.score_at_least && !(c.score >= *cond.score_at_least)) {
    why = "score " + format_decimal(c.score) + " is below " + format_decimal(*cond.score_at_least);
    return false;
  }
  if (cond.not_renewed && !past_unrenewed) {
    why = "the date has not passed";
    return false;
  }
  return true;
}

std::string resolve_owner(const std::vector<OwnerChoice>& choices, const PlayCompany& c,
                          const PlayContext& ctx) {
  for (const auto& o : choices) {
    std::string id;
    switch (o.kind) {
      case OwnerChoice::Kind::kCsm:
        id = c.owner_id;
        break;
      case OwnerChoice::Kind::kManager:
        id = c.manager_id;
        break;
      case OwnerChoice::Kind::kSalesOwner:
        id = c.sales_owner_id;
        break;
      case OwnerChoice::Kind::kOwner:
        id = o.id;
        break;
      case OwnerChoice::Kind::kTeam: {
        const auto it = ctx.team_members.find(o.id);
        if (it != ctx.team_members.end()) id = it->second;
        break;
      }
    }
    if (!id.empty()) return id;
  }
  return "";
}

std::string describe(const Play& play, const PlayCompany& c, std::int32_t date, std::int32_t day) {
  const auto& t = play.trigger;
  const int delta = date - day;
  switch (t.kind) {
    case TriggerKind::kDate:
      return t.field + " " + format_day(date) +
             (delta > 0   ? " is " + std::to_string(delta) + " days away"
              : delta < 0 ? " was " + std::to_string(-delta) + " days ago"
                          : " is today");
    case TriggerKind::kQuarterly:
      return "quarter " + quarter_of(day) + " began " + format_day(date);
    case TriggerKind::kSignal:
      return "signal " + t.signal + " since " + format_day(date) + " (" + std::to_string(-delta) + " days)";
    case TriggerKind::kBand:
      return "status " + c.status + " since " + format_day(date) + " (" + std::to_string(-delta) + " days)";
    case TriggerKind::kStage:
      return "stage " + t.stage + " since " + format_day(date) + " (" + std::to_string(-delta) + " days)";
  }
  return "";
}

}  // namespace

PlayDecision decide_plays(const PlaysConfig& config, const PlayContext& ctx, const PlayCompany& c,
                          const std::vector<PlayEpisode>& episodes, const std::set<PlayStepDone>& done) {
  PlayDecision out;
  const std::int32_t day = ctx.day;
  for (const auto& play : config.plays) {
    if (!play.enabled) continue;
    const auto& t = play.trigger;
    // A churned customer gets the plays about churned customers (win-back) and no other.
    if (c.churned && !((t.kind == TriggerKind::kStage && t.stage == "churned") ||
                       (t.kind == TriggerKind::kDate && t.field == "churn_date")))
      continue;
    std::int32_t date = 0;
    std::string cycle;
    switch (t.kind) {
      case TriggerKind::kDate: {
        const auto it = c.dates.find(t.field);
        if (it == c.dates.end()) continue;
        date = it->second;
        cycle = format_day(date);
        break;
      }
      case TriggerKind::kQuarterly:
        date = quarter_start(day);
        cycle = quarter_of(day);
        break;
      case TriggerKind::kSignal:
      case TriggerKind::kBand:
      case TriggerKind::kStage: {
        const bool now = t.kind == TriggerKind::kSignal ? c.signals.count(t.signal) > 0
                         : t.kind == TriggerKind::kBand ? t.bands.count(c.status) > 0
                                                        : c.stage == t.stage;
        const PlayEpisode* last = nullptr;
        for (const auto& e : episodes) {
          if (e.company_id == c.id && e.play == play.name) last = &e;
        }
        if (!now) {
          // Gone: the episode ends once it has stayed away rearm_days (a flicker is the same episode).
          if (last && last->active && day - last->last_seen > t.rearm_days) {
            PlayEpisode ended = *last;
            ended.active = false;
            out.episodes.push_back(ended);
          }
          continue;
        }
        PlayEpisode e;
        if (last && last->active) {
          e = *last;
        } else {
          e = {c.id, play.name, day, day, true};
        }
        e.last_seen = day;
        out.episodes.push_back(e);
        date = e.started;
        if (t.kind == TriggerKind::kStage && !t.since.empty()) {
          const auto it = c.dates.find(t.since);
          if (it != c.dates.end() && it->second <= day) date = it->second;
        }
        cycle = format_day(date);
        break;
      }
    }
    bool renewed = false;
    if (play.ends_when_renewed) {
      for (const auto d : c.won_deal_days)
        renewed = renewed || (d >= date - config.renewal_deal_days && d <= date + config.renewal_deal_days);
    }
    for (const auto& step : play.steps) {
      const std::int32_t start = step_start(date, step.at, *ctx.calendar);
      const std::int32_t end = date + step.until;
      if (day < start || day > end) continue;
      const std::string key =
          "play:" + play.name + ":" + std::to_string(c.id) + ":" + cycle + ":" + step.name;
      if (done.count({play.name, cycle, step.name})) continue;
      if (renewed) {
        if (ctx.explain) out.notes.push_back(key + ": the cycle was renewed by a won deal");
        continue;
      }
      std::string why;
      const bool past_unrenewed = day > date;
      if (!holds(play.conditions, c, past_unrenewed, why) || !holds(step.when, c, past_unrenewed, why)) {
        if (ctx.explain) out.notes.push_back(key + ": held back (" + why + ")");
        continue;
      }
      PlayFiring f;
      f.company_id = c.id;
      f.play = play.name;
      f.cycle = cycle;
      f.step = step.name;
      f.key = key;
      f.spec = &step;
      f.date = date;
      f.template_name = step.template_name;
      if (!step.template_by.empty()) {
        const auto cat = churn_category(config, c.churn_reason);
        auto it = step.templates.find(cat);
        if (it == step.templates.end()) it = step.templates.find("other");
        if (it != step.templates.end()) f.template_name = it->second;
      }
      if (step.action == PlayAction::kTask) {
        f.owner_id = resolve_owner(step.owner, c, ctx);
        f.due_day = ctx.calendar->add_business_days(day, step.due_business_days);
      }
      f.why = describe(play, c, date, day);
      out.firings.push_back(std::move(f));
    }
  }
  return out;
}

// ---- The usage summary -----------------------------------------------------------------------------

namespace {

std::string num(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string pct(std::optional<double> active, std::optional<double> seats) {
  if (!active || !seats || *seats <= 0) return "";
  return num(std::round(*active / *seats * 1000) / 10) + "%";
}

std::string opt(const std::optional<double>& v, const char* none) {
  return v ? num(*v) : none;
}

}  // namespace

std::string render_summary(const UsageSummary& s, std::string_view locale) {
  const bool ja = locale == "ja";
  const char* none = ja ? "データなし" : "no data";
  std::string out;
  auto line = [&](const std::string& l) { out += "- " + l + "\n"; };
  // Active users against seats, now and 30/90 days ago.
  {
    std::string l = ja ? "アクティブユーザー / 契約席数: " : "Active users / seats: ";
    if (s.active_now && s.seats) {
      l += num(*s.active_now) + " / " + num(*s.seats) + " (" + pct(s.active_now, s.seats) + ")";
    } else {
      l += none;
    }
    const auto then = [&](const std::optional<double>& a, const char* en, const char* jp) {
      if (!a) return;
      l += std::string(ja ? "、" : ", ") + (ja ? jp : en) + " " + num(*a);
      if (const auto p = pct(a, s.seats); !p.empty()) l += " (" + p + ")";
    };
    then(s.active_30, "30 days ago", "30日前");
    then(s.active_90, "90 days ago", "90日前");
    line(l);
  }
  {
    std::string l = ja ? "ログイン数(30日): " : "Logins (30 days): ";
    l += opt(s.logins_now, none);
    if (s.logins_now && s.logins_90 && *s.logins_90 > 0) {
      const double change = std::round((*s.logins_now / *s.logins_90 - 1) * 1000) / 10;
      l += ja ? "(90日前比 " : " (";
      l += (change > 0 ? "+" : "") + num(change) + "%";
      l += ja ? ")" : " vs 90 days ago)";
    }
    line(l);
  }
  {
    std::string l = ja ? "利用機能数: " : "Features used: ";
    l += opt(s.features_now, none);
    if (s.features_90) l += (ja ? "(90日前 " : " (90 days ago ") + num(*s.features_90) + ")";
    line(l);
  }
  {
    std::string l = ja ? "ヘルススコア: " : "Health score: ";
    l += s.score_now ? num(*s.score_now) + " (" + s.status_now + ")" : none;
    if (s.score_90) l += (ja ? "、90日前 " : ", 90 days ago ") + num(*s.score_90) + " (" + s.status_90 + ")";
    line(l);
  }
  if (!s.band_changes.empty()) {
    std::string l = ja ? "ステータスの変化: " : "Status changes: ";
    for (std::size_t i = 0; i < s.band_changes.size(); ++i)
      l += (i ? ", " : "") + format_day(s.band_changes[i].first) + " → " + s.band_changes[i].second;
    line(l);
  }
  line((ja ? "未解決チケット: " : "Open tickets: ") + std::to_string(s.open_tickets) +
       (ja ? "、90日間の重大チケット: " : ", critical in the last 90 days: ") +
       std::to_string(s.critical_tickets_90d));
  line((ja ? "直近のNPS: " : "Last NPS: ") +
       (s.last_nps ? num(s.last_nps->second) + " (" + format_day(s.last_nps->first) + ")" : none) +
       (ja ? "、直近のCSAT: " : ", last CSAT: ") +
       (s.last_csat ? num(s.last_csat->second) + " (" + format_day(s.last_csat->first) + ")" : none));
  line((ja ? "直近のCSミーティング: " : "Last CS meeting: ") +
       (s.last_meeting ? format_day(s.last_meeting->first) + " (" + s.last_meeting->second + ")" : none));
  return out;
}

}  // namespace cshealthd::core
