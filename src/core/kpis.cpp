#include "cshealthd/core/kpis.hpp"

#include <variant>

#include <algorithm>
#include <cstdio>

#include "cshealthd/core/time.hpp"

namespace cshealthd::core {
namespace {

using json = nlohmann::json;

std::int32_t first_of_month(int y, unsigned m) {
  return static_cast<std::int32_t>(days_from_civil(y, m, 1));
}

std::int32_t first_of_next(int y, unsigned m, unsigned months) {
  unsigned nm = m + months;
  while (nm > 12) {
    nm -= 12;
    ++y;
  }
  return first_of_month(y, nm);
}

std::optional<double> ratio(double num, double den, double scale = 100) {
  if (den <= 0) return std::nullopt;
  return num / den * scale;
}

int band_index(const std::string& band) {
  for (std::size_t i = 0; i < kStatusBands.size(); ++i) {
    if (band == kStatusBands[i]) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::string Period::label() const {
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(first, y, m, d);
  char buf[32];
  if (granularity == Granularity::kMonth) {
    std::snprintf(buf, sizeof buf, "%04d-%02u", y, m);
  } else {
    std::snprintf(buf, sizeof buf, "%04d-Q%u", y, (m - 1) / 3 + 1);
  }
  return buf;
}

Period period_of(Granularity g, std::int32_t day) {
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(day, y, m, d);
  if (g == Granularity::kQuarter) m = (m - 1) / 3 * 3 + 1;
  const unsigned len = g == Granularity::kMonth ? 1 : 3;
  return {g, first_of_month(y, m), first_of_next(y, m, len) - 1};
}

std::vector<Period> periods_between(Granularity g, std::int32_t from, std::int32_t to, std::size_t limit) {
  std::vector<Period> out;
  if (to < from) return out;
  for (auto p = period_of(g, from); p.first <= to; p = period_of(g, p.last + 1)) out.push_back(p);
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
  return out;
}

std::optional<Period> parse_month(const std::string& text) {
  const auto day = parse_day(text + "-01");
  if (text.size() != 7 || !day) return std::nullopt;
  return period_of(Granularity::kMonth, *day);
}

std::optional<Granularity> parse_granularity(const std::string& text) {
  if (text == "month") return Granularity::kMonth;
  if (text == "quarter") return Granularity::kQuarter;
  return std::nullopt;
}

const char* granularity_name(Granularity g) {
  return g == Granularity::kMonth ? "month" : "quarter";
}

std::optional<ChurnRule> parse_churn_rule(const std::string& text) {
  if (text == "stage") return ChurnRule::kStage;
  if (text == "mrr") return ChurnRule::kMrr;
  if (text == "either") return ChurnRule::kEither;
  return std::nullopt;
}

const char* name_of(ChurnRule rule) {
  switch (rule) {
    case ChurnRule::kStage:
      return "stage";
    case ChurnRule::kMrr:
      return "mrr";
    case ChurnRule::kEither:
      return "either";
  }
  return "either";
}

MrrMovement classify(const CompanyPeriod& c, ChurnRule rule) {
  const double start = std::max(c.start_mrr, 0.0), end = std::max(c.end_mrr, 0.0);
  if (start > 0) {
    const bool by_mrr = rule != ChurnRule::kStage && end <= 0;
    const bool by_stage = rule != ChurnRule::kMrr && c.stage_churned;
    if (by_mrr || by_stage) return {Movement::kChurn, start};
    if (end > start) return {Movement::kExpansion, end - start};
    if (end < start) return {Movement::kContraction, start - end};
    return {};
  }
  if (end > 0 && !(rule != ChurnRule::kMrr && c.stage_churned))
    return {c.paid_before ? Movement::kReactivation : Movement::kNew, end};
  return {};
}

const char* movement_name(Movement m) {
  switch (m) {
    case Movement::kNew:
      return "new";
    case Movement::kExpansion:
      return "expansion";
    case Movement::kContraction:
      return "contraction";
    case Movement::kChurn:
      return "churn";
    case Movement::kReactivation:
      return "reactivation";
    case Movement::kNone:
      break;
  }
  return "none";
}

void KpiFacts::add(const CompanyPeriod& c, ChurnRule rule) {
  const auto mv = classify(c, rule);
  const double start = std::max(c.start_mrr, 0.0);
  if (start > 0) {
    ++customers_start;
    start_mrr += start;
  }
  switch (mv.kind) {
    case Movement::kChurn:
      ++churned;
      churn_mrr += mv.amount;
      break;
    case Movement::kExpansion:
      ++expanded;
      expansion_mrr += mv.amount;
      break;
    case Movement::kContraction:
      ++contracted;
      contraction_mrr += mv.amount;
      break;
    case Movement::kNew:
      ++new_customers;
      new_mrr += mv.amount;
      break;
    case Movement::kReactivation:
      ++reactivated;
      reactivation_mrr += mv.amount;
      break;
    case Movement::kNone:
      break;
  }
  // A customer at the end: paying and not churned in the period.
  if (mv.kind != Movement::kChurn && c.end_mrr > 0) {
    ++customers_end;
    end_mrr += c.end_mrr;
    const int b = band_index(c.band.empty() ? "unknown" : c.band);
    ++bands[static_cast<std::size_t>(b < 0 ? 4 : b)];
  }
  nps_promoters += c.nps_promoters;
  nps_passives += c.nps_passives;
  nps_detractors += c.nps_detractors;
  tickets_resolved += c.tickets_resolved;
  ticket_hours += c.ticket_hours;
  onboardings_due += c.onboardings_due;
  onboardings_on_time += c.onboardings_on_time;
  onboardings_completed += c.onboardings_completed;
  onboarding_days += c.onboarding_days;
  first_values += c.first_values;
  value_days += c.value_days;
}

namespace {

// Every summable fact but the bands, once: what +=, to_json and from_json go through.
using FactField = std::variant<double KpiFacts::*, std::int64_t KpiFacts::*>;
const std::vector<std::pair<const char*, FactField>>& fact_fields() {
  static const std::vector<std::pair<const char*, FactField>> kFields = {
      {"start_mrr", &KpiFacts::start_mrr},
      {"end_mrr", &KpiFacts::end_mrr},
      {"new_mrr", &KpiFacts::new_mrr},
      {"expansion_mrr", &KpiFacts::expansion_mrr},
      {"contraction_mrr", &KpiFacts::contraction_mrr},
      {"churn_mrr", &KpiFacts::churn_mrr},
      {"reactivation_mrr", &KpiFacts::reactivation_mrr},
      {"customers_start", &KpiFacts::customers_start},
      {"customers_end", &KpiFacts::customers_end},
      {"new_customers", &KpiFacts::new_customers},
      {"reactivated", &KpiFacts::reactivated},
      {"churned", &KpiFacts::churned},
      {"expanded", &KpiFacts::expanded},
      {"contracted", &KpiFacts::contracted},
      {"nps_promoters", &KpiFacts::nps_promoters},
      {"nps_passives", &KpiFacts::nps_passives},
      {"nps_detractors", &KpiFacts::nps_detractors},
      {"tickets_resolved", &KpiFacts::tickets_resolved},
      {"ticket_hours", &KpiFacts::ticket_hours},
      {"onboardings_due", &KpiFacts::onboardings_due},
      {"onboardings_on_time", &KpiFacts::onboardings_on_time},
      {"onboardings_completed", &KpiFacts::onboardings_completed},
      {"onboarding_days", &KpiFacts::onboarding_days},
      {"first_values", &KpiFacts::first_values},
      {"value_days", &KpiFacts::value_days},
  };
  return kFields;
}

}  // namespace

KpiFacts& KpiFacts::operator+=(const KpiFacts& o) {
  for (const auto& [name, field] : fact_fields())
    std::visit([&](auto member) { this->*member += o.*member; }, field);
  for (std::size_t i = 0; i < bands.size(); ++i) bands[i] += o.bands[i];
  return *this;
}

bool KpiFacts::empty() const {
  return to_json() == KpiFacts{}.to_json();
}

json KpiFacts::to_json() const {
  json out = json::object();
  for (const auto& [name, field] : fact_fields())
    std::visit([&](auto member) { out[name] = this->*member; }, field);
  json b = json::object();
  for (std::size_t i = 0; i < kStatusBands.size(); ++i) b[kStatusBands[i]] = bands[i];
  out["bands"] = b;
  return out;
}

KpiFacts KpiFacts::from_json(const json& j) {
  KpiFacts f;
  if (!j.is_object()) return f;
  for (const auto& [name, field] : fact_fields()) {
    const auto it = j.find(name);
    if (it == j.end() || !it->is_number()) continue;
    std::visit([&](auto member) { f.*member = it->template get<std::decay_t<decltype(f.*member)>>(); },
               field);
  }
  if (const auto b = j.find("bands"); b != j.end() && b->is_object()) {
    for (std::size_t i = 0; i < kStatusBands.size(); ++i) {
      const auto it = b->find(kStatusBands[i]);
      if (it != b->end() && it->is_number()) f.bands[i] = it->get<std::int64_t>();
    }
  }
  return f;
}

const std::vector<std::string>& kpi_names() {
  static const std::vector<std::string> names = {"nrr",
                                                 "grr",
                                                 "churn_rate",
                                                 "revenue_churn",
                                                 "nps",
                                                 "onboarding_completion",
                                                 "onboarding_days",
                                                 "time_to_value",
                                                 "green_share",
                                                 "expansion_rate",
                                                 "ticket_resolution_hours",
                                                 "customers_per_csm"};
  return names;
}

std::vector<KpiValue> compute_kpis(const KpiFacts& f, std::int64_t csms, const KpiTargets& t,
                                   const Period& period) {
  const double months = period.months();
  std::vector<KpiValue> out;
  auto add = [&](std::string name, std::string unit, std::optional<double> value,
                 std::optional<double> target, bool at_least, double num, double den) {
    KpiValue v{std::move(name), std::move(unit), value, target, at_least, std::nullopt, num, den};
    if (value && target) v.met = at_least ? *value >= *target : *value <= *target;
    out.push_back(std::move(v));
  };
  const double kept = f.start_mrr - f.contraction_mrr - f.churn_mrr;
  add("nrr", "percent", ratio(kept + f.expansion_mrr, f.start_mrr), t.nrr, true, kept + f.expansion_mrr,
      f.start_mrr);
  add("grr", "percent", ratio(kept, f.start_mrr), t.grr, true, kept, f.start_mrr);
  // "< 1 % per month": a rate at the target is not under it.
  const auto under = [&](const char* name, std::optional<double> value, double target, double num,
                         double den) {
    add(name, "percent", value, target, false, num, den);
    if (value) out.back().met = *value < target;
  };
  under("churn_rate", ratio(static_cast<double>(f.churned), static_cast<double>(f.customers_start)),
        t.churn_rate * months, static_cast<double>(f.churned), static_cast<double>(f.customers_start));
  under("revenue_churn", ratio(f.churn_mrr, f.start_mrr), t.revenue_churn * months, f.churn_mrr, f.start_mrr);
  const double answers = static_cast<double>(f.nps_promoters + f.nps_passives + f.nps_detractors);
  add("nps", "points", ratio(static_cast<double>(f.nps_promoters - f.nps_detractors), answers), t.nps, true,
      static_cast<double>(f.nps_promoters - f.nps_detractors), answers);
  add("onboarding_completion", "percent",
      ratio(static_cast<double>(f.onboardings_on_time), static_cast<double>(f.onboardings_due)),
      t.onboarding_completion, true, static_cast<double>(f.onboardings_on_time),
      static_cast<double>(f.onboardings_due));
  add("onboarding_days", "days", ratio(f.onboarding_days, static_cast<double>(f.onboardings_completed), 1),
      t.onboarding_days, false, f.onboarding_days, static_cast<double>(f.onboardings_completed));
  add("time_to_value", "days", ratio(f.value_days, static_cast<double>(f.first_values), 1), t.time_to_value,
      false, f.value_days, static_cast<double>(f.first_values));
  add("green_share", "percent", ratio(static_cast<double>(f.bands[0]), static_cast<double>(f.customers_end)),
      t.green_share, true, static_cast<double>(f.bands[0]), static_cast<double>(f.customers_end));
  add("expansion_rate", "percent", ratio(f.expansion_mrr, f.start_mrr), t.expansion_rate * months, true,
      f.expansion_mrr, f.start_mrr);
  add("ticket_resolution_hours", "hours", ratio(f.ticket_hours, static_cast<double>(f.tickets_resolved), 1),
      t.ticket_resolution_hours, false, f.ticket_hours, static_cast<double>(f.tickets_resolved));
  add("customers_per_csm", "customers",
      ratio(static_cast<double>(f.customers_end), static_cast<double>(csms), 1),
      t.customers_per_csm > 0 ? std::optional<double>(t.customers_per_csm) : std::nullopt, false,
      static_cast<double>(f.customers_end), static_cast<double>(csms));
  return out;
}

json to_json(const KpiValue& v) {
  const auto opt = [](const std::optional<double>& x) { return x ? json(*x) : json(nullptr); };
  return {{"name", v.name},
          {"unit", v.unit},
          {"value", opt(v.value)},
          {"target", opt(v.target)},
          {"direction", v.at_least ? "at_least" : "at_most"},
          {"met", v.met ? json(*v.met) : json(nullptr)},
          {"numerator", v.numerator},
          {"denominator", v.denominator}};
}

std::optional<std::string> band_before(const ChurnCase& c, int days) {
  const std::int32_t when = c.churn_day - days;
  const ChurnDay* best = nullptr;
  for (const auto& d : c.history) {
    if (d.day <= when && d.day > when - 7 && (best == nullptr || d.day > best->day)) best = &d;
  }
  if (best == nullptr) return std::nullopt;
  return best->band;
}

std::optional<int> warning_lead_days(const ChurnCase& c) {
  std::vector<ChurnDay> days;
  for (const auto& d : c.history) {
    if (d.day < c.churn_day) days.push_back(d);
  }
  std::sort(days.begin(), days.end(), [](const ChurnDay& a, const ChurnDay& b) { return a.day < b.day; });
  const auto risky = [](const ChurnDay& d) { return d.band == "red" || d.band == "orange"; };
  if (days.empty() || !risky(days.back())) return std::nullopt;
  std::size_t i = days.size() - 1;
  while (i > 0 && risky(days[i - 1])) --i;
  return c.churn_day - days[i].day;
}

ChurnFacts churn_facts(const ChurnCase& c) {
  ChurnFacts f;
  for (std::size_t i = 0; i < kChurnLookbacks.size(); ++i)
    f.band_before[i] = band_before(c, kChurnLookbacks[i]);
  f.lead_days = warning_lead_days(c);
  for (const auto& a : c.alerts) {
    ++f.alerts;
    if (a.completed && *a.completed <= c.churn_day) ++f.acted_on;
  }
  return f;
}

ChurnSummary summarize_churn(const std::vector<ChurnFacts>& cases) {
  ChurnSummary s;
  s.churned = static_cast<std::int64_t>(cases.size());
  for (std::size_t i = 0; i < kChurnLookbacks.size(); ++i) {
    ChurnLookback lb{kChurnLookbacks[i], 0, 0};
    for (const auto& c : cases) {
      const auto& band = c.band_before[i];
      if (!band || *band == "unknown") continue;
      ++lb.known;
      if (*band == "red" || *band == "orange") ++lb.at_risk;
    }
    s.lookbacks.push_back(lb);
  }
  std::vector<int> leads;
  for (const auto& c : cases) {
    if (c.lead_days) leads.push_back(*c.lead_days);
    s.alerts += c.alerts;
    s.alerts_acted_on += c.acted_on;
  }
  if (!leads.empty()) {
    std::sort(leads.begin(), leads.end());
    const std::size_t n = leads.size();
    s.median_lead_days = n % 2 == 1 ? leads[n / 2] : (leads[n / 2 - 1] + leads[n / 2]) / 2.0;
  }
  return s;
}

}  // namespace cshealthd::core
