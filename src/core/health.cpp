#include "cshealthd/core/health.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace cshealthd::core {
namespace {

constexpr double kDaysPerMonth = 365.25 / 12;

constexpr std::array<const char*, kMetricCount> kMetricNames = {"mrr", "licensed_seats", "active_users_30d",
                                                                "logins_30d", "features_used"};
constexpr std::array<const char*, kTextFieldCount> kTextNames = {"plan", "goal_status", "cs_stage"};
constexpr std::array<const char*, kDateFieldCount> kDateNames = {"renewal_date", "contract_start_date",
                                                                 "last_contacted"};

template <typename E, std::size_t N>
std::optional<E> find_name(const std::array<const char*, N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

bool allowed(const std::vector<std::string>& set, const std::string& v) {
  return set.empty() || std::find(set.begin(), set.end(), v) != set.end();
}

// A number as people read it: at most two decimals, no trailing zeros. to_chars, not printf: this runs
// for every reason and signal of every company.
std::string fmt(double v) {
  char buf[64];
  const double r = std::round(v * 100) / 100;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, r, std::chars_format::fixed, 2);
  if (ec != std::errc()) return "?";
  while (end > buf && end[-1] == '0') --end;
  if (end > buf && end[-1] == '.') --end;
  std::string out(buf, end);
  return out == "-0" ? "0" : out;
}

double round2(double v) {
  return std::round(v * 100.0) / 100.0;
}

// Related records of one source inside an aggregate's window, newest first.
template <typename T, typename Time, typename Match>
std::vector<const T*> select(const std::vector<T>& all, EpochMs end, int window_days, int last_n, Time time,
                             Match match) {
  std::vector<const T*> out;
  const EpochMs start = window_days > 0 ? end - window_days * kMsPerDay : INT64_MIN;
  for (const auto& r : all) {
    const EpochMs t = time(r);
    if (t >= start && t < end && match(r)) out.push_back(&r);
  }
  std::stable_sort(out.begin(), out.end(), [&](const T* a, const T* b) { return time(*a) > time(*b); });
  if (last_n > 0 && out.size() > static_cast<std::size_t>(last_n)) out.resize(last_n);
  return out;
}

bool ticket_matches(const RecordFilter& f, const Ticket& t) {
  return allowed(f.priorities, t.priority) && allowed(f.categories, t.category);
}
bool feedback_matches(const RecordFilter& f, const Feedback& x) {
  return allowed(f.survey_types, x.survey_type);
}
bool meeting_matches(const RecordFilter& f, const Meeting& m) {
  return allowed(f.outcomes, m.outcome);
}

const char* source_name(RecordSource s) {
  switch (s) {
    case RecordSource::kTickets:
      return "tickets";
    case RecordSource::kFeedback:
      return "feedback";
    case RecordSource::kMeetings:
      return "meetings";
  }
  return "?";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "/") + s;
  return out;
}

// The end of the as-of day: events strictly before it count.
EpochMs end_of(const CompanyInputs& in) {
  return start_of_day(in.as_of_day + 1);
}

std::optional<double> metric_now(const CompanyInputs& in, Metric m) {
  if (auto v = in.value_at(m, in.as_of_day)) return v;
  return in.metrics[static_cast<std::size_t>(m)];
}

}  // namespace

std::optional<Metric> metric_from_name(std::string_view name) {
  return find_name<Metric>(kMetricNames, name);
}
std::optional<TextField> text_field_from_name(std::string_view name) {
  return find_name<TextField>(kTextNames, name);
}
std::optional<DateField> date_field_from_name(std::string_view name) {
  return find_name<DateField>(kDateNames, name);
}
const char* name_of(Metric m) {
  return kMetricNames[static_cast<std::size_t>(m)];
}
const char* name_of(TextField f) {
  return kTextNames[static_cast<std::size_t>(f)];
}
const char* name_of(DateField f) {
  return kDateNames[static_cast<std::size_t>(f)];
}

std::optional<double> CompanyInputs::value_at(Metric m, std::int32_t day) const {
  const auto& h = history[static_cast<std::size_t>(m)];
  // The last point on or before `day`.
  auto it = std::upper_bound(h.begin(), h.end(), day,
                             [](std::int32_t d, const SnapshotPoint& p) { return d < p.day; });
  if (it == h.begin()) return std::nullopt;
  return std::prev(it)->value;
}

bool Band::contains(double v) const {
  if (min && (min_inclusive ? v < *min : v <= *min)) return false;
  if (max && (max_inclusive ? v > *max : v >= *max)) return false;
  return true;
}

std::string status_of(double score, double coverage, const StatusBands& b) {
  if (coverage < b.min_coverage) return "unknown";
  if (score >= b.green) return "green";
  if (score >= b.yellow) return "yellow";
  if (score >= b.orange) return "orange";
  return "red";
}

double Aggregate::evaluate(const CompanyInputs& in, bool& has_data) const {
  const EpochMs end = end_of(in);
  has_data = true;
  auto reduce_numbers = [&](const auto& selected, auto value, auto share_match) -> double {
    switch (reduce) {
      case Reduce::kCount:
        return static_cast<double>(selected.size());
      case Reduce::kLatest:
        if (selected.empty()) break;
        return value(*selected.front());
      case Reduce::kAverage: {
        if (selected.empty()) break;
        double sum = 0;
        for (const auto* r : selected) sum += value(*r);
        return sum / static_cast<double>(selected.size());
      }
      case Reduce::kShare: {
        if (selected.empty()) break;
        std::size_t n = 0;
        for (const auto* r : selected) n += share_match(*r) ? 1 : 0;
        return static_cast<double>(n) / static_cast<double>(selected.size());
      }
    }
    has_data = false;
    return 0;
  };
  switch (source) {
    case RecordSource::kTickets: {
      const auto s = select(
          in.tickets, end, window_days, last_n, [](const Ticket& t) { return t.created; },
          [&](const Ticket& t) { return ticket_matches(filter, t); });
      return reduce_numbers(
          s, [](const Ticket&) { return 1.0; }, [&](const Ticket& t) { return ticket_matches(share_of, t); });
    }
    case RecordSource::kFeedback: {
      const auto s = select(
          in.feedback, end, window_days, last_n, [](const Feedback& f) { return f.submitted; },
          [&](const Feedback& f) { return feedback_matches(filter, f); });
      return reduce_numbers(
          s, [](const Feedback& f) { return f.value; },
          [&](const Feedback& f) { return feedback_matches(share_of, f); });
    }
    case RecordSource::kMeetings: {
      const auto s = select(
          in.meetings, end, window_days, last_n, [](const Meeting& m) { return m.start; },
          [&](const Meeting& m) { return meeting_matches(filter, m); });
      return reduce_numbers(
          s, [](const Meeting&) { return 1.0; },
          [&](const Meeting& m) { return meeting_matches(share_of, m); });
    }
  }
  has_data = false;
  return 0;
}

std::string Aggregate::describe() const {
  std::string what;
  switch (reduce) {
    case Reduce::kCount:
      what = "count of ";
      break;
    case Reduce::kLatest:
      what = "latest ";
      break;
    case Reduce::kAverage:
      what = "average ";
      break;
    case Reduce::kShare:
      what = "share " + join(share_of.outcomes) + join(share_of.categories) + join(share_of.survey_types) +
             " of ";
      break;
  }
  what += source_name(source);
  const std::string f = join(filter.priorities) + (filter.priorities.empty() ? "" : " ") +
                        join(filter.categories) + join(filter.survey_types) + join(filter.outcomes);
  if (!f.empty()) what += " (" + f + ")";
  if (last_n > 0) what += ", last " + std::to_string(last_n);
  if (window_days > 0) what += ", " + std::to_string(window_days) + " days";
  return what;
}

namespace {

void apply_bands(const Component& c, double v, ComponentResult& r) {
  r.raw = v;
  for (const auto& b : c.bands) {
    if (b.contains(v)) {
      r.has_data = true;
      r.points = b.points;
      r.rule = b.label;
      return;
    }
  }
  r.has_data = false;  // outside every band: a value the scorecard does not rate (e.g. negative)
  r.detail = "out of range: " + fmt(v);
}

void evaluate(const Component& c, const CompanyInputs& in, ComponentResult& r) {
  r = ComponentResult{};
  r.component = &c;
  r.weight = c.weight;
  switch (c.kind) {
    case ComponentKind::kBands: {
      const auto num = metric_now(in, *c.metric);
      if (!num) return;
      // Multiplied first, so that 8000 × 100 ÷ 10000 is exactly 80 (bands are compared exactly).
      double v = *num * c.multiply;
      if (c.denominator) {
        const auto den = metric_now(in, *c.denominator);
        if (!den || *den <= 0) return;
        v /= *den;
      }
      apply_bands(c, v / c.divide, r);
      return;
    }
    case ComponentKind::kCategorical: {
      const auto& t = in.texts[static_cast<std::size_t>(*c.text)];
      if (!t || t->empty()) return;
      for (const auto& [value, points] : c.categories) {
        if (value == *t) {
          r.has_data = true;
          r.points = points;
          r.raw_text = value;
          r.rule = value;
          return;
        }
      }
      r.detail = "unrated value: " + *t;
      return;
    }
    case ComponentKind::kTrend: {
      // The most favourable of the metrics' trends ("growing seats or usage").
      int best = -2;
      double best_change = 0;
      for (const Metric m : c.trend_metrics) {
        const auto now = metric_now(in, m);
        const auto then = in.value_at(m, in.as_of_day - c.window_days);
        if (!now || !then) continue;
        double change = 0;
        if (*then > 0)
          change = (*now - *then) / *then;
        else
          change = *now > 0 ? 1.0 : 0.0;
        const int cls = change >= c.grow_at ? 1 : change <= c.shrink_at ? -1 : 0;
        if (cls > best || (cls == best && change > best_change)) {
          best = cls;
          best_change = change;
        }
      }
      if (best == -2) return;
      r.has_data = true;
      r.raw = round2(best_change * 100);
      r.points = best > 0 ? c.growing : best < 0 ? c.shrinking : c.flat;
      r.rule = best > 0 ? c.growing_label : best < 0 ? c.shrinking_label : c.flat_label;
      return;
    }
    case ComponentKind::kDaysUntil: {
      const auto& d = in.dates[static_cast<std::size_t>(*c.date)];
      if (!d) return;
      const double days = static_cast<double>(*d - start_of_day(in.as_of_day)) / kMsPerDay;
      apply_bands(c, c.unit == TimeUnit::kMonths ? days / kDaysPerMonth : days, r);
      return;
    }
    case ComponentKind::kAggregate: {
      bool has = false;
      const double v = c.aggregate.evaluate(in, has);
      if (!has) return;
      apply_bands(c, v, r);
      return;
    }
    case ComponentKind::kRules: {
      r.has_data = true;
      for (const auto& rule : c.rules) {
        bool has = false;
        const double v = rule.when.evaluate(in, has);
        if (has && v >= rule.at_least) {
          r.raw = v;
          r.points = rule.points;
          r.rule = rule.label;
          return;
        }
      }
      r.raw = 0;
      r.points = c.otherwise;
      r.rule = c.otherwise_label;
      return;
    }
  }
}

}  // namespace

void score(const Scorecard& card, const StatusBands& bands, const CompanyInputs& in, HealthResult& out) {
  out.company_id = in.company_id;
  out.as_of_day = in.as_of_day;
  out.scorecard = card.name;
  out.components.resize(card.components.size());
  out.signals.clear();
  out.top = {-1, -1, -1};
  out.score_override.reset();

  double total_weight = 0, present_weight = 0, weighted = 0;
  for (std::size_t i = 0; i < card.components.size(); ++i) {
    const Component& c = card.components[i];
    ComponentResult& r = out.components[i];
    evaluate(c, in, r);
    for (const auto& o : in.overrides) {
      if (o.component == c.name && o.expires_day >= in.as_of_day) {
        r.has_data = true;
        r.overridden = true;
        r.points = std::clamp(o.value, 0.0, c.max_points);
        r.detail = "override by " + o.author + ": " + o.reason;
      }
    }
    total_weight += c.weight;
    if (r.has_data) {
      present_weight += c.weight;
      weighted += c.weight * (r.points / c.max_points);
    }
  }
  out.coverage = total_weight > 0 ? present_weight / total_weight : 0;
  out.computed_score = present_weight > 0 ? round2(100.0 * weighted / present_weight) : 0;
  out.score = out.computed_score;
  for (auto& r : out.components) {
    if (!r.has_data) continue;
    r.effective_weight = r.weight / present_weight;
    r.lost = round2(100.0 * r.effective_weight * (1.0 - r.points / r.component->max_points));
  }
  double coverage_for_status = out.coverage;
  for (const auto& o : in.overrides) {
    if (o.component.empty() && o.expires_day >= in.as_of_day) {
      out.score_override = o;
      out.score = round2(std::clamp(o.value, 0.0, 100.0));
      coverage_for_status = 1.0;  // a person vouched for this score
    }
  }
  // Nothing known and nobody vouching: unknown even when the minimum coverage is configured as 0.
  out.status =
      present_weight > 0 || out.score_override ? status_of(out.score, coverage_for_status, bands) : "unknown";

  // Reasons: what cost the most points, worst first (ties in scorecard order).
  for (std::size_t i = 0; i < out.components.size(); ++i) {
    const auto& r = out.components[i];
    if (!r.has_data || r.lost <= 0) continue;
    int at = static_cast<int>(i);
    for (auto& slot : out.top) {
      if (slot < 0) {
        slot = at;
        break;
      }
      if (out.components[slot].lost < out.components[at].lost) std::swap(slot, at);
    }
  }
  if (in.previous) {
    out.previous_score = in.previous->score;
    out.delta = round2(out.score - in.previous->score);
  } else {
    out.previous_score.reset();
    out.delta.reset();
  }
}

std::vector<std::string> reasons(const HealthResult& r) {
  std::vector<std::string> out;
  if (r.score_override) {
    out.push_back("score overridden to " + fmt(r.score) + " by " + r.score_override->author + ": " +
                  r.score_override->reason);
  }
  for (const int i : r.top) {
    if (i < 0) break;
    const auto& c = r.components[static_cast<std::size_t>(i)];
    const Component& comp = *c.component;
    out.push_back(comp.name + ": " + (c.raw_text.empty() ? fmt(c.raw) : std::string(c.raw_text)) + " (" +
                  std::string(c.rule_text()) + ") " + fmt(c.points) + "/" + fmt(comp.max_points) + ", -" +
                  fmt(c.lost) + " points");
  }
  return out;
}

std::string Signal::facts() const {
  const auto& v = values;
  const std::string n = name;
  auto date = [](double ms) { return format_date(static_cast<EpochMs>(ms)); };
  if (n == "usage_drop") {
    if (v[0] == 0)
      return "logins in the last 30 days " + fmt(v[1]) + " vs " + fmt(v[2]) + " the 30 days before (" +
             fmt(v[3]) + "%)";
    return "active users / seats " + fmt(v[1]) + "% vs " + fmt(v[2]) + "% a month ago (-" + fmt(v[3]) + "%)";
  }
  if (n == "ticket_surge")
    return fmt(v[0]) + " tickets in the last 30 days vs " + fmt(v[1]) + " in the 30 days before";
  if (n == "bad_support") {
    if (v[0] == 0) return fmt(v[1]) + " critical bug tickets in the last 30 days";
    return "a ticket opened " + format_iso8601(static_cast<EpochMs>(v[1])) +
           (v[2] != 0 ? std::string(" is still open") : " took " + fmt(v[3]) + " h") + " (over " + fmt(v[4]) +
           " h)";
  }
  if (n == "nps_drop") return "NPS " + fmt(v[0]) + " after " + fmt(v[1]) + " (" + date(v[2]) + ")";
  if (n == "missed_meetings") return "the last " + fmt(v[0]) + " CS meetings were NO_SHOW";
  if (n == "silence") return "no contact since " + date(v[0]) + " (" + fmt(v[1]) + " days)";
  if (n == "key_person_left") return "key contact " + fmt(v[0]) + " left or moved";
  if (n == "renewal_near") return "renewal on " + date(v[0]) + " (" + fmt(v[1]) + " days)";
  if (n == "score_below_alert" || n == "score_below_escalate") {
    return "score " + fmt(v[0]) + " fell below " + fmt(v[1]) +
           (std::isnan(v[2]) ? std::string(" (first score)") : " (was " + fmt(v[2]) + ")");
  }
  if (n == "seats_full")
    return fmt(v[0]) + " of " + fmt(v[1]) + " licensed seats active (" + fmt(v[2]) + "%): propose an upgrade";
  if (n == "promoter") return "latest NPS " + fmt(v[0]) + ": ask for a referral or case study";
  if (n == "renewal_upsell")
    return "renewal on " + date(v[0]) + " with score " + fmt(v[1]) + ": renew with an upsell";
  return n;
}

const std::vector<std::string>& signal_names() {
  static const std::vector<std::string> kNames = {
      "usage_drop", "ticket_surge",    "bad_support",   "nps_drop",          "missed_meetings",
      "silence",    "key_person_left", "renewal_near",  "score_below_alert", "score_below_escalate",
      "seats_full", "promoter",        "renewal_upsell"};
  return kNames;
}

namespace {

// The support signals: a surge of tickets, critical bugs or a ticket left open too long (last 30 days).
void ticket_signals(const SignalConfig& s, const CompanyInputs& in, EpochMs end, std::vector<Signal>& out) {
  auto fire = [&](const char* name, SignalKind kind, const std::string& priority,
                  std::array<double, 5> values) {
    out.push_back({name, kind, priority, values});
  };
  if (s.ticket_surge.enabled) {
    std::size_t now = 0, before = 0;
    for (const auto& t : in.tickets) {
      if (t.created >= end - 30 * kMsPerDay && t.created < end)
        ++now;
      else if (t.created >= end - 60 * kMsPerDay && t.created < end - 30 * kMsPerDay)
        ++before;
    }
    if (now >= static_cast<std::size_t>(s.surge_min_tickets) && now >= s.surge_factor * before) {
      fire("ticket_surge", SignalKind::kChurn, s.ticket_surge.priority,
           {static_cast<double>(now), static_cast<double>(before), 0, 0, 0});
    }
  }
  if (s.bad_support.enabled) {
    std::size_t critical = 0;
    const Ticket* slow = nullptr;
    for (const auto& t : in.tickets) {
      if (t.created >= end || t.created < end - 30 * kMsPerDay) continue;
      if (allowed(s.critical_priorities, t.priority) && allowed(s.bug_categories, t.category)) ++critical;
      const EpochMs closed = t.closed && *t.closed < end ? *t.closed : end;
      if (closed - t.created > s.open_hours * 3'600'000LL && (!slow || t.created < slow->created)) slow = &t;
    }
    if (critical >= static_cast<std::size_t>(s.critical_tickets)) {
      fire("bad_support", SignalKind::kChurn, s.bad_support.priority,
           {0, static_cast<double>(critical), 0, 0, 0});
    } else if (slow) {
      const bool open = !slow->closed || *slow->closed >= end;
      fire("bad_support", SignalKind::kChurn, s.bad_support.priority,
           {1, static_cast<double>(slow->created), open ? 1.0 : 0.0,
            open ? 0 : static_cast<double>(*slow->closed - slow->created) / 3.6e6,
            static_cast<double>(s.open_hours)});
    }
  }
}

}  // namespace

void evaluate_signals(const SignalConfig& s, const CompanyInputs& in, HealthResult& result) {
  const EpochMs end = end_of(in);
  const std::int32_t day = in.as_of_day;
  auto fire = [&](const char* name, SignalKind kind, const std::string& priority,
                  std::array<double, 5> values) {
    result.signals.push_back({name, kind, priority, values});
  };
  auto at = [&](Metric m, std::int32_t d) { return d == day ? metric_now(in, m) : in.value_at(m, d); };
  const double nan = std::numeric_limits<double>::quiet_NaN();

  if (s.usage_drop.enabled) {
    const auto now = at(Metric::kLogins30d, day), before = at(Metric::kLogins30d, day - 30);
    const auto seats = at(Metric::kLicensedSeats, day), seats_before = at(Metric::kLicensedSeats, day - 30);
    const auto act = at(Metric::kActiveUsers30d, day), act_before = at(Metric::kActiveUsers30d, day - 30);
    if (now && before && *before > 0 && *now <= s.logins_ratio * *before) {
      fire("usage_drop", SignalKind::kChurn, s.usage_drop.priority,
           {0, *now, *before, 100 * *now / *before, 0});
    } else if (seats && seats_before && act && act_before && *seats > 0 && *seats_before > 0) {
      const double rate = *act / *seats, rate_before = *act_before / *seats_before;
      if (rate_before > 0 && (rate_before - rate) / rate_before >= s.active_rate_drop) {
        fire("usage_drop", SignalKind::kChurn, s.usage_drop.priority,
             {1, rate * 100, rate_before * 100, 100 * (rate_before - rate) / rate_before, 0});
      }
    }
  }
  ticket_signals(s, in, end, result.signals);
  // The two newest NPS answers up to the day.
  const Feedback* latest = nullptr;
  const Feedback* prev = nullptr;
  for (const auto& f : in.feedback) {
    if (f.survey_type != "NPS" || f.submitted >= end) continue;
    if (!latest || f.submitted > latest->submitted) {
      prev = latest;
      latest = &f;
    } else if (!prev || f.submitted > prev->submitted) {
      prev = &f;
    }
  }
  if (s.nps_drop.enabled && latest && prev) {
    if (prev->value - latest->value >= s.nps_drop_points || (prev->value >= 7 && latest->value <= 6)) {
      fire("nps_drop", SignalKind::kChurn, s.nps_drop.priority,
           {latest->value, prev->value, static_cast<double>(latest->submitted), 0, 0});
    }
  }
  if (s.missed_meetings.enabled && s.missed_in_a_row > 0) {
    // The newest `n` meetings that were held or missed (canceled ones do not count).
    const auto n = static_cast<std::size_t>(s.missed_in_a_row);
    std::vector<const Meeting*> held;
    for (const auto& m : in.meetings) {
      if (m.start < end && (m.outcome == "COMPLETED" || m.outcome == "NO_SHOW")) held.push_back(&m);
    }
    if (held.size() >= n) {
      std::partial_sort(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(n), held.end(),
                        [](const Meeting* a, const Meeting* b) { return a->start > b->start; });
      if (std::all_of(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(n),
                      [](const Meeting* m) { return m->outcome == "NO_SHOW"; })) {
        fire("missed_meetings", SignalKind::kChurn, s.missed_meetings.priority,
             {static_cast<double>(n), 0, 0, 0, 0});
      }
    }
  }
  const auto& last_contacted = in.dates[static_cast<std::size_t>(DateField::kLastContacted)];
  if (s.silence.enabled && last_contacted && end - *last_contacted > s.silence_days * kMsPerDay) {
    fire("silence", SignalKind::kChurn, s.silence.priority,
         {static_cast<double>(*last_contacted), static_cast<double>((end - *last_contacted) / kMsPerDay), 0,
          0, 0});
  }
  if (s.key_person_left.enabled) {
    for (const auto& c : in.contacts) {
      if (c.key_person && c.departed) {
        fire("key_person_left", SignalKind::kChurn, s.key_person_left.priority,
             {static_cast<double>(c.id), 0, 0, 0, 0});
        break;
      }
    }
  }
  const auto& renewal = in.dates[static_cast<std::size_t>(DateField::kRenewalDate)];
  const bool renewal_soon = renewal && *renewal >= start_of_day(day) &&
                            *renewal - start_of_day(day) <= static_cast<EpochMs>(s.renewal_days) * kMsPerDay;
  if (s.renewal_near.enabled && renewal_soon) {
    fire("renewal_near", SignalKind::kChurn, s.renewal_near.priority,
         {static_cast<double>(*renewal), static_cast<double>((*renewal - start_of_day(day)) / kMsPerDay), 0,
          0, 0});
  }
  if (s.score_below.enabled && result.status != "unknown") {
    const auto previous = in.previous ? std::optional<double>(in.previous->score) : std::nullopt;
    for (const double line : {s.score_escalate, s.score_alert}) {
      if (result.score < line && (!previous || *previous >= line)) {
        fire(line == s.score_escalate ? "score_below_escalate" : "score_below_alert", SignalKind::kChurn,
             s.score_below.priority, {result.score, line, previous.value_or(nan), 0, 0});
        break;  // one crossing per run: the lower line when both were crossed
      }
    }
  }
  if (s.seats_full.enabled) {
    const auto seats = at(Metric::kLicensedSeats, day), act = at(Metric::kActiveUsers30d, day);
    if (seats && act && *seats > 0 && *act / *seats >= s.seats_full_ratio) {
      fire("seats_full", SignalKind::kExpansion, s.seats_full.priority,
           {*act, *seats, 100 * *act / *seats, 0, 0});
    }
  }
  if (s.promoter.enabled && latest && latest->value >= s.promoter_min) {
    fire("promoter", SignalKind::kExpansion, s.promoter.priority, {latest->value, 0, 0, 0, 0});
  }
  if (s.renewal_upsell.enabled && renewal_soon && result.status != "unknown" &&
      result.score >= s.upsell_min_score) {
    fire("renewal_upsell", SignalKind::kExpansion, s.renewal_upsell.priority,
         {static_cast<double>(*renewal), result.score, 0, 0, 0});
  }
}

bool SegmentRule::matches(const CompanyInputs& in) const {
  if (metric) {
    const auto v = in.metrics[static_cast<std::size_t>(*metric)];
    if (!v) return false;
    if (at_least && *v < *at_least) return false;
    if (below && *v >= *below) return false;
  }
  if (text) {
    const auto& v = in.texts[static_cast<std::size_t>(*text)];
    if (!v || std::find(values.begin(), values.end(), *v) == values.end()) return false;
  }
  return metric || text;
}

std::pair<const std::string*, const std::string*> Segments::select(const CompanyInputs& in) const {
  for (const auto& r : rules) {
    if (r.matches(in)) return {&r.name, &r.scorecard};
  }
  return {&default_name, &default_scorecard};
}

}  // namespace cshealthd::core
