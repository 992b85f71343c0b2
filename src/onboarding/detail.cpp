// The onboarding files' shared helpers.
#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/job_queue.hpp"
#include "cshealthd/store/sql_params.hpp"
#include "internal.hpp"

namespace cshealthd::onboarding {

namespace detail {

store::JobSpec onboarding_job(std::int64_t deal, const std::string& source) {
  store::JobSpec spec;
  spec.kind = kOnboardingJob;
  spec.unique_key = "onboarding:" + std::to_string(deal);
  spec.payload = {{"deal_id", deal}, {"source", source}};
  spec.max_attempts = 8;  // a deal without its company yet is retried with backoff, then dead
  return spec;
}

std::string text_prop(const hubspot::Record& r, const std::string& name) {
  if (name.empty()) return {};
  const auto* v = r.property(name);
  return v && v->is_string() ? v->text : std::string();
}

std::string format_number(const std::string& text) {
  const auto d = core::parse_hubspot_number(text);
  return d ? core::format_decimal(*d) : (text.empty() ? "-" : text);
}

// What task and Slack templates fill in for an onboarding, from the deal as recorded (`deal` JSON: name,
// company_name, plan, mrr, seats, goals, kpis).
std::map<std::string, std::string> template_vars(const json& deal, std::int64_t company_id,
                                                 std::int64_t deal_id, const std::string& owner,
                                                 const std::string& start) {
  const auto field = [&](const char* key) { return deal.value(key, std::string()); };
  const auto or_dash = [](const std::string& v) { return v.empty() ? std::string("-") : v; };
  return {
      {"company", field("company_name").empty() ? "#" + std::to_string(company_id) : field("company_name")},
      {"company_id", std::to_string(company_id)},
      {"deal", field("name").empty() ? "#" + std::to_string(deal_id) : field("name")},
      {"deal_id", std::to_string(deal_id)},
      {"owner", owner},
      {"start", start},
      {"plan", or_dash(field("plan"))},
      {"mrr", format_number(field("mrr"))},
      {"seats", format_number(field("seats"))},
      {"goals", or_dash(field("goals"))},
      {"kpis", or_dash(field("kpis"))}};
}

std::string segment_of(const Settings& s, const Won& w) {
  const auto mrr = core::parse_hubspot_number(w.mrr);
  if ((mrr && *mrr >= s.high_touch_min_mrr) || s.high_touch_plans.count(w.plan)) return "high_touch";
  return "tech_touch";
}

core::EpochMs day_ms(std::int32_t day) {
  return core::start_of_day(day);  // HubSpot date properties: midnight UTC
}

}  // namespace detail

}  // namespace cshealthd::onboarding
