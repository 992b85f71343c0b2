#include "cshealthd/core/health.hpp"

#include "health_detail.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace cshealthd::core {
namespace {

using detail::allowed;
using detail::end_of;
using detail::fmt;
using detail::metric_now;

constexpr double kDaysPerMonth = 365.25 / 12;

constexpr std::array<const char*, kMetricCount> kMetricNames = {"mrr", "licensed_seats", "active_users_30d",
                                                                "logins_30d", "features_used"};
constexpr std::array<const char*, kTextFieldCount> kTextNames = {"plan", "goal_status", "cs_stage",
                                                                 "contract_term"};
constexpr std::array<const char*, kDateFieldCount> kDateNames = {"renewal_date", "contract_start_date",
                                                                 "last_contacted"};

template <typename E, std::size_t N>
std::optional<E> find_name(const std::array<const char*, N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
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

}  // namespace

namespace detail {

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

// The end of the as-of day: events strictly before it count.
EpochMs end_of(const CompanyInputs& in) {
  return start_of_day(in.as_of_day + 1);
}

std::optional<double> metric_now(const CompanyInputs& in, Metric m) {
  if (auto v = in.value_at(m, in.as_of_day)) return v;
  return in.metrics[static_cast<std::size_t>(m)];
}

}  // namespace detail

const char* name_of(MetricSource s) {
  static constexpr std::array<const char*, kMetricSourceCount> names{"hubspot", "push", "csv", "segment"};
  return names[static_cast<std::size_t>(s)];
}
std::optional<MetricSource> metric_source_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kMetricSourceCount; ++i)
    if (name == name_of(MetricSource(i))) return MetricSource(i);
  return std::nullopt;
}

std::optional<Metric> metric_from_name(std::string_view name) {
  return find_name<Metric>(kMetricNames, name);
}
bool monthly_term(const std::optional<std::string>& term) {
  if (!term) return false;
  std::string_view t = *term;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string lower(t);
  for (auto& ch : lower)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  for (const char* m : {"monthly", "month", "mo", "1m", "月次", "月額", "月払い"})
    if (lower == m) return true;
  return false;
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

void apply_bands(const std::vector<Band>& bands, double v, ComponentResult& r) {
  r.raw = v;
  for (const auto& b : bands) {
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

std::uint8_t source_bit(const CompanyInputs& in, Metric m) {
  return static_cast<std::uint8_t>(1u << static_cast<unsigned>(in.sources[static_cast<std::size_t>(m)]));
}

void evaluate(const Component& c, const CompanyInputs& in, ComponentResult& r) {
  r = ComponentResult{};
  r.component = &c;
  r.weight = c.weight;
  switch (c.kind) {
    case ComponentKind::kBands: {
      const auto num = metric_now(in, *c.metric);
      if (!num) return;
      r.sources |= source_bit(in, *c.metric);
      if (c.denominator) r.sources |= source_bit(in, *c.denominator);
      // Multiplied first, so that 8000 × 100 ÷ 10000 is exactly 80 (bands are compared exactly).
      double v = *num * c.multiply;
      if (c.denominator) {
        const auto den = metric_now(in, *c.denominator);
        if (!den || *den <= 0) return;
        v /= *den;
      }
      apply_bands(c.bands, v / c.divide, r);
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
        r.sources |= source_bit(in, m);
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
      if (c.monthly != Component::Monthly::kSame &&
          monthly_term(in.texts[static_cast<std::size_t>(TextField::kContractTerm)])) {
        if (c.monthly == Component::Monthly::kLeaveOut) {
          r.detail = "monthly contract: left out";
          return;
        }
        const auto& start = in.dates[static_cast<std::size_t>(DateField::kContractStartDate)];
        if (!start) return;
        const double days = static_cast<double>(start_of_day(in.as_of_day) - *start) / kMsPerDay;
        apply_bands(c.tenure_bands, days / kDaysPerMonth, r);
        return;
      }
      const auto& d = in.dates[static_cast<std::size_t>(*c.date)];
      if (!d) return;
      const double days = static_cast<double>(*d - start_of_day(in.as_of_day)) / kMsPerDay;
      apply_bands(c.bands, c.unit == TimeUnit::kMonths ? days / kDaysPerMonth : days, r);
      return;
    }
    case ComponentKind::kAggregate: {
      bool has = false;
      const double v = c.aggregate.evaluate(in, has);
      if (!has) return;
      apply_bands(c.bands, v, r);
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
