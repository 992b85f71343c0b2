// The churn and expansion signals (DOMAIN.md §3): one table, one entry per signal with its parameters
// and their defaults, the detector and the words for what it saw. Adding a signal is one entry here, its
// defaults in config/scorecards/signals.yaml and a row in docs/scoring.md; the config reader, the list of
// names the plays and alert rules are checked against and the explanations all follow from the table.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cshealthd/core/health.hpp"
#include "health_detail.hpp"

namespace cshealthd::core {
namespace {

using detail::allowed;
using detail::fmt;
using Values = std::array<double, 5>;
using Params = std::vector<SignalParam>;
using Type = SignalParam::Type;

// What several signals look at, worked out once per company.
struct Context {
  const CompanyInputs& in;
  const HealthResult& result;
  EpochMs end = 0;       // the end of the as-of day
  std::int32_t day = 0;  // the as-of day
  const Feedback* latest_nps = nullptr;
  bool renewal_soon = false;  // the renewal falls within renewal_near's `days`
  std::optional<double> at(Metric m, std::int32_t d) const {
    return d == day ? detail::metric_now(in, m) : in.value_at(m, d);
  }
  std::optional<EpochMs> date(DateField f) const { return in.dates[static_cast<std::size_t>(f)]; }
};

struct Fired {
  std::size_t emitted = 0;  // index into Definition::emits
  Values values{};
};

struct Definition {
  const char* name;  // the key in signals.yaml
  SignalKind kind;
  const char* priority;            // the default
  Params params;                   // with their defaults; detect() reads them in this order
  std::vector<const char*> emits;  // the names it fires under (its own when it has one)
  std::optional<Fired> (*detect)(const Context&, const Params&);
  std::string (*words)(const Values&);
  std::string (*check)(const Params&) = nullptr;
};

SignalParam number(const char* name, double v) {
  return {name, Type::kNumber, v, {}};
}
SignalParam integer(const char* name, int v) {
  return {name, Type::kInteger, static_cast<double>(v), {}};
}
SignalParam texts(const char* name, std::vector<std::string> v) {
  return {name, Type::kTexts, 0, std::move(v)};
}
std::string date(double ms) {
  return format_date(static_cast<EpochMs>(ms));
}
double num(EpochMs v) {
  return static_cast<double>(v);
}

std::optional<Fired> usage_drop(const Context& c, const Params& p) {
  const double logins_ratio = p[0].number, active_rate_drop = p[1].number;
  const auto now = c.at(Metric::kLogins30d, c.day), before = c.at(Metric::kLogins30d, c.day - 30);
  if (now && before && *before > 0 && *now <= logins_ratio * *before)
    return Fired{0, {0, *now, *before, 100 * *now / *before, 0}};
  const auto seats = c.at(Metric::kLicensedSeats, c.day),
             seats_before = c.at(Metric::kLicensedSeats, c.day - 30);
  const auto act = c.at(Metric::kActiveUsers30d, c.day),
             act_before = c.at(Metric::kActiveUsers30d, c.day - 30);
  if (seats && seats_before && act && act_before && *seats > 0 && *seats_before > 0) {
    const double rate = *act / *seats, rate_before = *act_before / *seats_before;
    if (rate_before > 0 && (rate_before - rate) / rate_before >= active_rate_drop)
      return Fired{0, {1, rate * 100, rate_before * 100, 100 * (rate_before - rate) / rate_before, 0}};
  }
  return std::nullopt;
}

std::optional<Fired> ticket_surge(const Context& c, const Params& p) {
  const double factor = p[0].number, min_tickets = p[1].number;
  std::size_t now = 0, before = 0;
  for (const auto& t : c.in.tickets) {
    if (t.created >= c.end - 30 * kMsPerDay && t.created < c.end)
      ++now;
    else if (t.created >= c.end - 60 * kMsPerDay && t.created < c.end - 30 * kMsPerDay)
      ++before;
  }
  const auto n = static_cast<double>(now), b = static_cast<double>(before);
  if (n >= min_tickets && n >= factor * b) return Fired{0, {n, b, 0, 0, 0}};
  return std::nullopt;
}

// Critical bug tickets in the last 30 days, or a ticket of those days left open too long.
std::optional<Fired> bad_support(const Context& c, const Params& p) {
  const double critical_tickets = p[0].number, open_hours = p[3].number;
  const auto& priorities = p[1].texts;
  const auto& categories = p[2].texts;
  std::size_t critical = 0;
  const Ticket* slow = nullptr;
  for (const auto& t : c.in.tickets) {
    if (t.created >= c.end || t.created < c.end - 30 * kMsPerDay) continue;
    if (allowed(priorities, t.priority) && allowed(categories, t.category)) ++critical;
    const EpochMs closed = t.closed && *t.closed < c.end ? *t.closed : c.end;
    const auto open_ms = static_cast<EpochMs>(open_hours) * 3'600'000LL;
    if (closed - t.created > open_ms && (!slow || t.created < slow->created)) slow = &t;
  }
  if (static_cast<double>(critical) >= critical_tickets)
    return Fired{0, {0, static_cast<double>(critical), 0, 0, 0}};
  if (!slow) return std::nullopt;
  const bool open = !slow->closed || *slow->closed >= c.end;
  return Fired{0,
               {1, num(slow->created), open ? 1.0 : 0.0,
                open ? 0 : num(*slow->closed - slow->created) / 3.6e6, open_hours}};
}

// Never two different people's answers: the latest NPS answer against the same person's answer before
// it; when that person had not answered before (or is not known), the mean of the company's answers in
// the last `window_days` against the mean of the `window_days` before (both windows answered).
std::optional<Fired> nps_drop(const Context& c, const Params& p) {
  const double points = p[0].number;
  const auto window = static_cast<EpochMs>(p[1].number) * kMsPerDay;
  const Feedback* latest = c.latest_nps;
  if (!latest) return std::nullopt;
  const auto dropped = [&](double before, double now) { return before - now >= points || (before >= 7 && now <= 6); };
  if (latest->respondent != 0) {
    const Feedback* before = nullptr;
    for (const auto& f : c.in.feedback) {
      if (f.survey_type != "NPS" || f.respondent != latest->respondent || f.submitted >= latest->submitted) continue;
      if (!before || f.submitted > before->submitted) before = &f;
    }
    if (before) {
      if (!dropped(before->value, latest->value)) return std::nullopt;
      return Fired{0, {latest->value, before->value, num(latest->submitted), 0, 0}};
    }
  }
  double recent = 0, earlier = 0;
  int n_recent = 0, n_earlier = 0;
  for (const auto& f : c.in.feedback) {
    if (f.survey_type != "NPS" || f.submitted >= c.end || f.submitted < c.end - 2 * window) continue;
    if (f.submitted >= c.end - window) {
      recent += f.value, ++n_recent;
    } else {
      earlier += f.value, ++n_earlier;
    }
  }
  if (n_recent == 0 || n_earlier == 0) return std::nullopt;
  recent /= n_recent;
  earlier /= n_earlier;
  if (!dropped(earlier, recent)) return std::nullopt;
  return Fired{0, {recent, earlier, static_cast<double>(n_recent), static_cast<double>(n_earlier), 1}};
}

// The newest `in_a_row` meetings that were held or missed (canceled ones do not count) were all missed.
std::optional<Fired> missed_meetings(const Context& c, const Params& p) {
  const auto n = static_cast<std::size_t>(p[0].number);
  if (n == 0) return std::nullopt;
  std::vector<const Meeting*> held;
  for (const auto& m : c.in.meetings) {
    if (m.start < c.end && (m.outcome == "COMPLETED" || m.outcome == "NO_SHOW")) held.push_back(&m);
  }
  if (held.size() < n) return std::nullopt;
  const auto last = held.begin() + static_cast<std::ptrdiff_t>(n);
  std::partial_sort(held.begin(), last, held.end(),
                    [](const Meeting* a, const Meeting* b) { return a->start > b->start; });
  if (!std::all_of(held.begin(), last, [](const Meeting* m) { return m->outcome == "NO_SHOW"; }))
    return std::nullopt;
  return Fired{0, {static_cast<double>(n), 0, 0, 0, 0}};
}

std::optional<Fired> silence(const Context& c, const Params& p) {
  const auto days = static_cast<EpochMs>(p[0].number);
  const auto last = c.date(DateField::kLastContacted);
  if (!last || c.end - *last <= days * kMsPerDay) return std::nullopt;
  return Fired{0, {num(*last), num((c.end - *last) / kMsPerDay), 0, 0, 0}};
}

std::optional<Fired> key_person_left(const Context& c, const Params&) {
  for (const auto& person : c.in.contacts) {
    if (person.key_person && person.departed) return Fired{0, {num(person.id), 0, 0, 0, 0}};
  }
  return std::nullopt;
}

std::optional<Fired> renewal_near(const Context& c, const Params&) {
  if (!c.renewal_soon) return std::nullopt;
  const EpochMs renewal = *c.date(DateField::kRenewalDate);
  return Fired{0, {num(renewal), num((renewal - start_of_day(c.day)) / kMsPerDay), 0, 0, 0}};
}

// The score crossed a line since the previous score: one crossing per run, the lower line when both were.
std::optional<Fired> score_below(const Context& c, const Params& p) {
  const double alert = p[0].number, escalate = p[1].number;
  if (c.result.status == "unknown") return std::nullopt;
  const auto previous = c.in.previous ? std::optional<double>(c.in.previous->score) : std::nullopt;
  const double was = previous.value_or(std::numeric_limits<double>::quiet_NaN());
  for (const double line : {escalate, alert}) {
    if (c.result.score < line && (!previous || *previous >= line))
      return Fired{line == escalate ? 1U : 0U, {c.result.score, line, was, 0, 0}};
  }
  return std::nullopt;
}

std::optional<Fired> seats_full(const Context& c, const Params& p) {
  const double ratio = p[0].number;
  const auto seats = c.at(Metric::kLicensedSeats, c.day), act = c.at(Metric::kActiveUsers30d, c.day);
  if (seats && act && *seats > 0 && *act / *seats >= ratio)
    return Fired{0, {*act, *seats, 100 * *act / *seats, 0, 0}};
  return std::nullopt;
}

std::optional<Fired> promoter(const Context& c, const Params& p) {
  if (c.latest_nps && c.latest_nps->value >= p[0].number) return Fired{0, {c.latest_nps->value, 0, 0, 0, 0}};
  return std::nullopt;
}

std::optional<Fired> renewal_upsell(const Context& c, const Params& p) {
  if (!c.renewal_soon || c.result.status == "unknown" || c.result.score < p[0].number) return std::nullopt;
  return Fired{0, {num(*c.date(DateField::kRenewalDate)), c.result.score, 0, 0, 0}};
}

// The churn signals, in the order people read them.
std::vector<Definition> churn_definitions() {
  using K = SignalKind;
  return {
      {"usage_drop",
       K::kChurn,
       "high",
       {number("logins_ratio", 0.5), number("active_rate_drop", 0.30)},
       {"usage_drop"},
       usage_drop,
       [](const Values& v) {
         if (v[0] == 0)
           return "logins in the last 30 days " + fmt(v[1]) + " vs " + fmt(v[2]) + " the 30 days before (" +
                  fmt(v[3]) + "%)";
         return "active users / seats " + fmt(v[1]) + "% vs " + fmt(v[2]) + "% a month ago (-" + fmt(v[3]) +
                "%)";
       }},
      {"ticket_surge",
       K::kChurn,
       "medium",
       {number("factor", 2.0), integer("min_tickets", 3)},
       {"ticket_surge"},
       ticket_surge,
       [](const Values& v) {
         return fmt(v[0]) + " tickets in the last 30 days vs " + fmt(v[1]) + " in the 30 days before";
       }},
      {"bad_support",
       K::kChurn,
       "high",
       {integer("critical_tickets", 3), texts("critical_priorities", {"HIGH", "URGENT"}),
        texts("bug_categories", {"PRODUCT_ISSUE"}), integer("open_hours", 48)},
       {"bad_support"},
       bad_support,
       [](const Values& v) {
         if (v[0] == 0) return fmt(v[1]) + " critical bug tickets in the last 30 days";
         return "a ticket opened " + format_iso8601(static_cast<EpochMs>(v[1])) +
                (v[2] != 0 ? std::string(" is still open") : " took " + fmt(v[3]) + " h") + " (over " +
                fmt(v[4]) + " h)";
       }},
      {"nps_drop",
       K::kChurn,
       "high",
       {number("points", 3), integer("window_days", 180)},
       {"nps_drop"},
       nps_drop,
       [](const Values& v) {
         if (v[4] == 0)
           return "NPS " + fmt(v[0]) + " after " + fmt(v[1]) + " from the same person (" + date(v[2]) + ")";
         return "mean NPS " + fmt(v[0]) + " over " + fmt(v[2]) + " recent answers after " + fmt(v[1]) + " over " +
                fmt(v[3]) + " before";
       }},
      {"missed_meetings",
       K::kChurn,
       "medium",
       {integer("in_a_row", 2)},
       {"missed_meetings"},
       missed_meetings,
       [](const Values& v) { return "the last " + fmt(v[0]) + " CS meetings were NO_SHOW"; }},
      {"silence",
       K::kChurn,
       "medium",
       {integer("days", 60)},
       {"silence"},
       silence,
       [](const Values& v) { return "no contact since " + date(v[0]) + " (" + fmt(v[1]) + " days)"; }},
      {"key_person_left",
       K::kChurn,
       "high",
       {},
       {"key_person_left"},
       key_person_left,
       [](const Values& v) { return "key contact " + fmt(v[0]) + " left or moved"; }},
      // Its `days` also bound renewal_upsell's window.
      {"renewal_near",
       K::kChurn,
       "info",
       {integer("days", 90)},
       {"renewal_near"},
       renewal_near,
       [](const Values& v) { return "renewal on " + date(v[0]) + " (" + fmt(v[1]) + " days)"; }},
      {"score_below",
       K::kChurn,
       "high",
       {number("alert", 60), number("escalate", 40)},
       {"score_below_alert", "score_below_escalate"},
       score_below,
       [](const Values& v) {
         return "score " + fmt(v[0]) + " fell below " + fmt(v[1]) +
                (std::isnan(v[2]) ? std::string(" (first score)") : " (was " + fmt(v[2]) + ")");
       },
       [](const Params& p) {
         return p[1].number >= p[0].number
                    ? std::string("score_below.escalate must be below score_below.alert")
                    : std::string();
       }},
  };
}

// The expansion signals.
std::vector<Definition> expansion_definitions() {
  using K = SignalKind;
  return {
      {"seats_full",
       K::kExpansion,
       "medium",
       {number("ratio", 0.9)},
       {"seats_full"},
       seats_full,
       [](const Values& v) {
         return fmt(v[0]) + " of " + fmt(v[1]) + " licensed seats active (" + fmt(v[2]) +
                "%): propose an upgrade";
       }},
      {"promoter",
       K::kExpansion,
       "low",
       {number("min", 9)},
       {"promoter"},
       promoter,
       [](const Values& v) { return "latest NPS " + fmt(v[0]) + ": ask for a referral or case study"; }},
      {"renewal_upsell",
       K::kExpansion,
       "medium",
       {number("min_score", 80)},
       {"renewal_upsell"},
       renewal_upsell,
       [](const Values& v) {
         return "renewal on " + date(v[0]) + " with score " + fmt(v[1]) + ": renew with an upsell";
       }},
  };
}

const std::vector<Definition>& definitions() {
  static const std::vector<Definition> kTable = [] {
    auto all = churn_definitions();
    for (auto& d : expansion_definitions()) all.push_back(std::move(d));
    return all;
  }();
  return kTable;
}

std::size_t index_of(std::string_view name) {
  const auto& defs = definitions();
  for (std::size_t i = 0; i < defs.size(); ++i) {
    if (name == defs[i].name) return i;
  }
  return defs.size();
}

const Definition* emitting(std::string_view name) {
  for (const auto& d : definitions()) {
    for (const char* e : d.emits) {
      if (name == e) return &d;
    }
  }
  return nullptr;
}

}  // namespace

SignalConfig::SignalConfig() {
  for (const auto& d : definitions()) signals.push_back({d.name, true, d.priority, d.params});
}

SignalSettings* SignalConfig::find(std::string_view name) {
  for (auto& s : signals) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

SignalParam* SignalSettings::param(std::string_view n) {
  for (auto& p : params) {
    if (p.name == n) return &p;
  }
  return nullptr;
}

std::string SignalSettings::check() const {
  const std::size_t i = index_of(name);
  if (i == definitions().size()) return "unknown signal '" + name + "'";
  const auto& d = definitions()[i];
  return d.check ? d.check(params) : std::string();
}

std::string Signal::facts() const {
  const Definition* d = emitting(name);
  return d ? d->words(values) : std::string(name);
}

const std::vector<std::string>& signal_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> out;
    for (const auto& d : definitions()) out.insert(out.end(), d.emits.begin(), d.emits.end());
    return out;
  }();
  return kNames;
}

// The settings are the table's entries in its order (SignalConfig's constructor); a reader changes their
// values, never their order.
void evaluate_signals(const SignalConfig& config, const CompanyInputs& in, HealthResult& result) {
  const auto& defs = definitions();
  Context c{in, result, detail::end_of(in), in.as_of_day};
  for (const auto& f : in.feedback) {  // the newest NPS answer up to the day
    if (f.survey_type != "NPS" || f.submitted >= c.end) continue;
    if (!c.latest_nps || f.submitted > c.latest_nps->submitted) c.latest_nps = &f;
  }
  static const std::size_t kRenewalNear = index_of("renewal_near");
  const auto renewal = c.date(DateField::kRenewalDate);
  const auto days = static_cast<EpochMs>(config.signals[kRenewalNear].params[0].number);
  // A monthly contract renews every month: its renewal is no event to prepare for or to upsell at.
  c.renewal_soon = renewal && *renewal >= start_of_day(c.day) &&
                   *renewal - start_of_day(c.day) <= days * kMsPerDay &&
                   !monthly_term(in.texts[static_cast<std::size_t>(TextField::kContractTerm)]);
  for (std::size_t i = 0; i < defs.size(); ++i) {
    const auto& s = config.signals[i];
    if (!s.enabled) continue;
    if (const auto fired = defs[i].detect(c, s.params))
      result.signals.push_back({defs[i].emits[fired->emitted], defs[i].kind, s.priority, fired->values});
  }
}

}  // namespace cshealthd::core
