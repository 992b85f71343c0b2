#include "cshealthd/core/alerts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <tuple>

namespace cshealthd::core {
namespace {

int priority_rank(std::string_view p) {
  if (p == "HIGH") return 0;
  if (p == "MEDIUM") return 1;
  return 2;
}

std::string percent(double share) {
  return format_decimal(share * 100) + "%";
}

}  // namespace

std::string format_decimal(double value) {
  if (!std::isfinite(value)) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", std::round(value * 100) / 100);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

// ---- Planner --------------------------------------------------------------------------------------

std::map<std::string, std::string> Planner::desired_properties(const PlanCompany& c) const {
  std::map<std::string, std::string> m;
  m[config_.score_property] = format_decimal(c.score);
  m[config_.status_property] = std::string(trim(c.status));
  std::string reasons;
  for (int i = 0; i < config_.reasons && i < static_cast<int>(c.reasons.size()); ++i)
    reasons += (reasons.empty() ? "" : "\n") + std::string(trim(c.reasons[static_cast<std::size_t>(i)]));
  if (reasons.size() > 2000) reasons.resize(2000);  // HubSpot allows 65,536; a CSM reads the first lines
  m[config_.reasons_property] = reasons;
  m[config_.coverage_property] = format_decimal(c.coverage);
  // In percent with one decimal: a CSM reads "12.5", and a tenth of a point does not rewrite every night.
  if (!config_.churn_risk_property.empty() && c.churn_risk)
    m[config_.churn_risk_property] = format_decimal(std::round(*c.churn_risk * 1000) / 10);
  if (!config_.expansion_likelihood_property.empty() && c.expansion_likelihood)
    m[config_.expansion_likelihood_property] = format_decimal(std::round(*c.expansion_likelihood * 1000) / 10);
  // The usage summary, each figure once known: counts as they are, the seats' utilisation in percent with
  // one decimal, the last active day as HubSpot takes a date (midnight UTC).
  const auto& u = config_.usage_properties;
  const auto put = [&](const std::string& name, const std::optional<double>& v) {
    if (!name.empty() && v) m[name] = format_decimal(*v);
  };
  put(u.active_users, c.usage.active_users);
  put(u.logins, c.usage.logins);
  put(u.features, c.usage.features);
  if (c.usage.active_users && c.usage.seats && *c.usage.seats > 0)
    put(u.seat_utilisation, std::round(*c.usage.active_users / *c.usage.seats * 1000) / 10);
  if (!u.last_active.empty() && c.usage.last_active_day)
    m[u.last_active] = std::to_string(start_of_day(*c.usage.last_active_day));
  if (config_.managed_stages.count(std::string(trim(c.stage))) && c.status != "unknown" && !c.status.empty())
    m[config_.stage_property] = config_.at_risk_statuses.count(c.status) ? "at_risk" : "active";
  return m;
}

namespace {

constexpr int kDigestLines = 50;

struct Candidate {
  TaskIntent task;
  std::size_t episode = 0;  // index into the plan's episodes
  double score = 0;
  bool escalation = false;
};

// One plan being made: the day's context, the earlier episodes and snoozes by (company, rule), and what
// it has decided so far.
class PlanRun {
 public:
  PlanRun(const PlanConfig& plan_config, const PlanContext& context, const std::vector<Episode>& episodes,
          const std::vector<Snooze>& snoozes, const Planner& owner)
      : config(plan_config),
        ctx(context),
        cal(context.calendar ? *context.calendar : weekdays()),
        planner(owner),
        day_text(format_day(context.day)) {
    for (const auto& e : episodes) by_key[{e.company_id, e.rule}] = &e;
    for (const auto& s : snoozes) {
      auto& u = snoozed_until[{s.company_id, s.rule}];
      u = std::max(u, s.until_day);
    }
  }

  // Properties: only what differs from what was last written.
  void properties(const PlanCompany& c) {
    const auto desired = planner.desired_properties(c);
    std::map<std::string, std::string> changed;
    auto written = c.written;
    bool written_changed = false;
    for (const auto& [name, value] : desired) {
      const auto w = c.written.find(name);
      const bool same_as_written = w != c.written.end() && w->second == value;
      if (name == config.stage_property) {
        // A stage HubSpot already shows (set by a person, or by us earlier) needs no write; a value a
        // person changed after our write is theirs until the band moves.
        if (trim(c.stage) == value) {
          if (!same_as_written) {
            written[name] = value;
            written_changed = true;
          }
          continue;
        }
      }
      if (!same_as_written) changed[name] = value;
    }
    if (!changed.empty()) changed[config.updated_property] = std::to_string(ctx.now_ms);
    for (const auto& [name, value] : changed) written[name] = value;
    if (!changed.empty() || written_changed) p.written[c.id] = written;
    if (!changed.empty())
      p.properties.push_back({c.id, changed});
    else
      ++p.counts.unchanged_companies;
  }

  // One rule at one company: its episode opens a task, escalates it, closes it or re-arms.
  void alert(const PlanCompany& c, const AlertRule& rule) {
    bool cond = false, margin = false;
    std::string facts;
    if (rule.below) {
      const bool known = c.status != "unknown" && !c.status.empty();
      cond = known && c.score < *rule.below;
      margin = known && c.score >= *rule.below + config.hysteresis;
      facts = "score " + format_decimal(c.score) + " < " + format_decimal(*rule.below);
    } else {
      const auto s = std::find_if(c.signals.begin(), c.signals.end(),
                                  [&](const PlanSignal& sig) { return sig.name == rule.name; });
      cond = s != c.signals.end();
      if (cond) facts = s->facts;
    }
    const auto found = by_key.find({c.id, rule.name});
    Episode e = found != by_key.end() ? *found->second : Episode{};
    e.company_id = c.id;
    e.rule = rule.name;
    bool changed_episode = false;
    if (e.active) {
      if (cond) {
        if (e.cleared_since) {
          e.cleared_since.reset();
          changed_episode = true;
        }
        // A snoozed rule escalates nothing either, until its date.
        const auto snooze = snoozed_until.find({c.id, rule.name});
        const bool snoozed = snooze != snoozed_until.end() && snooze->second >= ctx.day;
        const bool due_follow =
            rule.follow_through && rule.assignee == Assignee::kOwner && !e.task_key.empty() && e.task_open &&
            !e.escalated && !e.closed && !snoozed &&
            cal.business_days_between(e.opened_day, ctx.day) >= config.follow_through_days;
        if (due_follow) {
          const std::string assignee = c.manager_id.empty() ? c.owner_id : c.manager_id;
          Candidate cand;
          cand.task =
              make_task(config.escalation, c, e.task_key + ":escalation", assignee,
                        {{"facts", facts},
                         {"alert", rule.name},
                         {"days_open", std::to_string(cal.business_days_between(e.opened_day, ctx.day))},
                         {"owner", c.owner_id}});
          cand.task.rule = "escalation";
          cand.score = c.score;
          cand.escalation = true;
          e.escalated = true;
          changed_episode = true;
          p.episodes.push_back(e);
          cand.episode = p.episodes.size() - 1;
          candidates.push_back(std::move(cand));
          ++p.counts.escalations;
          return;
        }
      } else {
        if (!e.cleared_since) {
          e.cleared_since = ctx.day;
          changed_episode = true;
        }
        const int clear_days = ctx.day - *e.cleared_since;
        if (config.auto_close && e.task_open && !e.closed && !e.task_key.empty() &&
            clear_days >= config.auto_close_days) {
          std::map<std::string, std::string> vars{{"rule", rule.name},
                                                  {"day", day_text},
                                                  {"score", format_decimal(c.score)},
                                                  {"cleared", format_day(*e.cleared_since)},
                                                  {"days", std::to_string(clear_days)}};
          p.closes.push_back(
              {e.task_key, c.id, rule.name,
               e.task_body + "\n\n" + render_template(config.close_note, vars, Markup::kHtml)});
          e.closed = true;
          e.task_open = false;
          changed_episode = true;
          ++p.counts.closes;
        }
        const bool rearm = rule.below ? margin : clear_days >= config.signal_rearm_days;
        if (rearm) {
          e.active = false;
          changed_episode = true;
          ++p.counts.rearmed;
        }
      }
    } else if (cond) {
      const auto until = snoozed_until.find({c.id, rule.name});
      if (until != snoozed_until.end() && until->second >= ctx.day) {
        ++p.counts.snoozed;
      } else if (!(e.task_open && !e.closed)) {  // no new task while the last one is open
        ++e.number;
        e.active = true;
        e.opened_day = ctx.day;
        e.cleared_since.reset();
        e.escalated = e.closed = false;
        const std::string assignee =
            rule.assignee == Assignee::kManager && !c.manager_id.empty() ? c.manager_id : c.owner_id;
        Candidate cand;
        cand.task = make_task(
            rule, c, "alert:" + std::to_string(c.id) + ":" + rule.name + ":" + std::to_string(e.number),
            assignee, {{"facts", facts}, {"owner", c.owner_id}});
        cand.score = c.score;
        e.assignee = assignee;
        p.episodes.push_back(e);
        cand.episode = p.episodes.size() - 1;
        candidates.push_back(std::move(cand));
        ++p.counts.alerts;
        return;
      }
    }
    if (changed_episode) p.episodes.push_back(e);
  }

  // The cap: per assignee, the most urgent first; the rest go into one digest task.
  void cap() {
    std::map<std::string, std::vector<Candidate*>> by_assignee;
    for (auto& cand : candidates) by_assignee[cand.task.owner_id].push_back(&cand);
    for (auto& [assignee, list] : by_assignee) {
      std::sort(list.begin(), list.end(), [](const Candidate* a, const Candidate* b) {
        return std::make_tuple(priority_rank(a->task.priority), a->score, a->task.company_id, a->task.key) <
               std::make_tuple(priority_rank(b->task.priority), b->score, b->task.company_id, b->task.key);
      });
      const auto today = ctx.created_today.find(assignee);
      const int allowed =
          std::max(0, config.daily_cap - (today == ctx.created_today.end() ? 0 : today->second));
      std::string items;
      std::string top_priority;
      int overflow = 0;
      for (std::size_t i = 0; i < list.size(); ++i) {
        Candidate& cand = *list[i];
        Episode& e = p.episodes[cand.episode];
        if (static_cast<int>(i) < allowed) {
          if (!cand.escalation) {
            e.task_key = cand.task.key;
            e.task_open = true;
            e.task_body = cand.task.body;
          }
          p.tasks.push_back(cand.task);
          continue;
        }
        if (!cand.escalation) {
          e.task_key.clear();
          e.task_open = false;
          e.task_body.clear();
        }
        if (top_priority.empty()) top_priority = cand.task.priority;
        // A digest lists the most urgent; a task body has room for a few thousand lines at most, a reader
        // for far fewer.
        if (overflow < kDigestLines)
          items += "- [" + cand.task.priority + "] " + cand.task.title + " (due " +
                   format_day(cand.task.due_day) + ")\n";
        ++overflow;
        ++p.counts.digested;
      }
      if (overflow == 0) continue;
      if (overflow > kDigestLines) items += "- (+" + std::to_string(overflow - kDigestLines) + ")\n";
      const auto done = ctx.digests_today.find(assignee);
      const int n = (done == ctx.digests_today.end() ? 0 : done->second) + 1;
      PlanCompany nobody;
      nobody.name = assignee;
      AlertRule digest = config.digest;
      digest.priority = top_priority;
      TaskIntent t =
          make_task(digest, nobody,
                    "digest:" + (assignee.empty() ? std::string("unassigned") : assignee) + ":" +
                        format_day(ctx.day) + ":" + std::to_string(n),
                    assignee, {{"items", items}, {"count", std::to_string(overflow)}, {"owner", assignee}});
      t.company_id = 0;
      t.rule = "digest";
      p.tasks.push_back(std::move(t));
    }
  }

  Plan p;

 private:
  static const BusinessCalendar& weekdays() {
    static const BusinessCalendar kWeekdays;
    return kWeekdays;
  }

  TaskIntent make_task(const AlertRule& rule, const PlanCompany& c, const std::string& key,
                       const std::string& assignee, std::map<std::string, std::string> vars) const {
    TaskIntent t;
    t.key = key;
    t.company_id = c.id;
    t.rule = rule.name;
    t.owner_id = assignee;
    t.priority = rule.priority;
    t.due_day = cal.add_business_days(ctx.day, rule.due_business_days);
    t.due_ms = local_time_ms(t.due_day, config.due_hour, ctx.zone);
    t.slack = rule.slack;
    std::string reasons;
    for (const auto& r : c.reasons) reasons += "- " + r + "\n";
    vars.emplace("company", c.name.empty() ? "#" + std::to_string(c.id) : c.name);
    vars.emplace("company_id", std::to_string(c.id));
    vars.emplace("score", format_decimal(c.score));
    vars.emplace("status", c.status);
    vars.emplace("coverage", percent(c.coverage));
    vars.emplace("reasons", reasons.empty() ? "-\n" : reasons);
    vars.emplace("rule", rule.name);
    vars.emplace("due", format_day(t.due_day));
    vars.emplace("day", day_text);
    vars.emplace("key", key);
    // Each destination gets the values escaped for it: HubSpot's rich text, Slack's markup.
    t.title = std::string(trim(render_template(rule.subject, vars, Markup::kPlain)));
    t.subject = std::string(trim(render_template(rule.subject, vars, Markup::kHtml)));
    t.body = render_template(rule.body, vars, Markup::kHtml) + "\n\n[cshealthd " + key + "]";
    if (t.slack)
      t.slack_text = "*" + std::string(trim(render_template(rule.subject, vars, Markup::kSlack))) + "*\n" +
                     render_template(rule.body, vars, Markup::kSlack) + "\n\n[cshealthd " + key + "]";
    return t;
  }

  const PlanConfig& config;
  const PlanContext& ctx;
  const BusinessCalendar& cal;
  const Planner& planner;
  const std::string day_text;
  std::map<std::pair<std::int64_t, std::string>, const Episode*> by_key;
  std::map<std::pair<std::int64_t, std::string>, std::int32_t> snoozed_until;
  std::vector<Candidate> candidates;
};

}  // namespace

Plan Planner::plan(const PlanContext& ctx, const std::vector<PlanCompany>& companies,
                   const std::vector<Episode>& episodes, const std::vector<Snooze>& snoozes) const {
  PlanRun run(config_, ctx, episodes, snoozes, *this);
  for (const auto& c : companies) {
    run.properties(c);
    for (const auto& rule : config_.rules) run.alert(c, rule);
  }
  run.cap();
  return std::move(run.p);
}

}  // namespace cshealthd::core
