#include "cshealthd/app/kpis_command.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cshealthd/app/components.hpp"
#include "cshealthd/core/time.hpp"

namespace cshealthd::app {
namespace {

std::string number(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string value_text(const core::KpiValue& v) {
  if (!v.value) return "-";
  const std::string unit = v.unit == "percent" ? " %" : v.unit == "points" ? "" : " " + v.unit;
  return number(*v.value) + unit;
}

}  // namespace

int run_kpis(const config::Config& config, const KpisOptions& o) {
  ComponentOptions co;
  co.scoring = false;
  Components c(config, co);
  const std::int32_t today = c.service_day();
  if (o.rebuild) {
    const auto progress = c.kpis().compute(today, true);
    std::cout << "kpis: computed " << progress["periods"] << " periods from "
              << progress["from"].get<std::string>() << " of " << progress["companies"]
              << " company-periods in " << progress["seconds"] << " s\n";
    if (o.month.empty()) return 0;
  }
  core::Period month =
      core::period_of(core::Granularity::kMonth, core::period_of(core::Granularity::kMonth, today).first - 1);
  if (!o.month.empty()) {
    const auto parsed = core::parse_month(o.month);
    if (!parsed) throw config::ConfigError("kpis: --month expects YYYY-MM, got '" + o.month + "'");
    month = *parsed;
  }
  const auto period = o.quarter ? core::period_of(core::Granularity::kQuarter, month.first) : month;
  if (period.first > today) throw config::ConfigError("kpis: " + period.label() + " has not begun");
  kpis::KpiQuery q;
  q.granularity = period.granularity;
  q.from = q.to = period.first;
  if (!o.segment.empty()) q.segment = o.segment;
  if (!o.owner.empty()) q.owner = o.owner;
  auto result = c.kpis().kpis(q);
  if (o.recompute || result.empty() || !result.front().computed) {
    c.kpis().compute_period(period, std::min(period.last, today));
    result = c.kpis().kpis(q);
  }
  const auto& k = result.front();
  if (o.csv) {
    std::cout << kpis::to_csv(result);
    return 0;
  }
  if (o.json) {
    std::cout << kpis::to_json(k).dump(2) << "\n";
    return 0;
  }
  std::cout << "KPIs for " << k.period.label() << " (through " << k.through.value_or("-") << "; "
            << (q.segment ? "segment " + *q.segment : std::string("all segments")) << ", "
            << (q.owner ? "owner " + *q.owner : std::string("all owners")) << ")\n";
  for (const auto& v : k.values) {
    std::string target = "-";
    if (v.target) target = std::string(v.at_least ? ">= " : "<= ") + number(*v.target);
    const char* met = !v.met ? "" : *v.met ? "met" : "NOT MET";
    std::printf("  %-24s %14s   target %-10s %s\n", v.name.c_str(), value_text(v).c_str(), target.c_str(),
                met);
  }
  const auto& f = k.facts;
  std::cout << "MRR: start " << number(f.start_mrr, 0) << ", new " << number(f.new_mrr, 0) << ", expansion "
            << number(f.expansion_mrr, 0) << ", contraction " << number(f.contraction_mrr, 0) << ", churn "
            << number(f.churn_mrr, 0) << ", reactivation " << number(f.reactivation_mrr, 0) << ", end "
            << number(f.end_mrr, 0) << "\n"
            << "Customers: start " << f.customers_start << ", new " << f.new_customers << ", reactivated "
            << f.reactivated << ", churned " << f.churned << ", end " << f.customers_end << "; bands green "
            << f.bands[0] << ", yellow " << f.bands[1] << ", orange " << f.bands[2] << ", red " << f.bands[3]
            << ", unknown " << f.bands[4] << "\n";
  return 0;
}

}  // namespace cshealthd::app
