#include "generator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "cshealthd/core/time.hpp"
#include "generator_parts.hpp"

namespace cshealthd::sim {
namespace {

using core::kMsPerDay;
using parts::make_owners;
using parts::num;
using parts::Owners;
using parts::Rng;
using Props = std::vector<std::pair<std::string, std::string>>;

enum class Cohort { kHealthy, kDeclining, kChurning, kExpanding, kOnboarding };
const char* name_of(Cohort c) {
  switch (c) {
    case Cohort::kHealthy:
      return "healthy";
    case Cohort::kDeclining:
      return "declining";
    case Cohort::kChurning:
      return "churning";
    case Cohort::kExpanding:
      return "expanding";
    case Cohort::kOnboarding:
      return "onboarding";
  }
  return "?";
}

Cohort draw_cohort(Rng& rng) {
  const double u = rng.uniform();
  if (u < 0.45) return Cohort::kHealthy;
  if (u < 0.60) return Cohort::kDeclining;
  if (u < 0.68) return Cohort::kChurning;
  if (u < 0.80) return Cohort::kExpanding;
  return Cohort::kOnboarding;
}


// Share of licensed seats active in month m (0 = 11 months ago, 11 = this month).
double usage_rate(Cohort c, int m, double base, int months_live) {
  const double t = m / 11.0;
  switch (c) {
    case Cohort::kHealthy:
      return base;
    case Cohort::kDeclining:
      return base - (base - 0.35) * t;
    case Cohort::kChurning:
      return base - (base - 0.08) * std::pow(t, 0.7);
    case Cohort::kExpanding:
      return std::min(1.0, base + 0.05 * t);
    case Cohort::kOnboarding:
      return std::min(0.6, 0.1 + 0.15 * (m - (12 - months_live)));
  }
  return base;
}

// MRR over the year as property history: a step or two up (expansion) or down (contraction), and for
// some a churn (MRR 0, cs_stage churned, a churn date and reason), after which a few come back.
void revenue_history(Record& c, Rng& rev, Cohort cohort, double mrr, EpochMs created, EpochMs now) {
  static const std::array<const char*, 5> kReasons = {"cost", "missing_feature", "support", "business_change",
                                                      "other"};
  const EpochMs first = std::max(created + 20 * kMsPerDay, now - 330 * kMsPerDay);
  if (first >= now - 10 * kMsPerDay || cohort == Cohort::kOnboarding) return;
  const auto when = [&](EpochMs lo, EpochMs hi) {
    return lo + static_cast<EpochMs>(rev.uniform() * static_cast<double>(hi - lo)) / kMsPerDay * kMsPerDay;
  };
  EpochMs at = first;
  const double r = rev.uniform();
  if (cohort == Cohort::kExpanding || r < 0.2) {
    // Started lower, grew to today's MRR.
    double v = mrr * rev.uniform(0.55, 0.85);
    c.set("cs_mrr", num(v), at = when(first, first + 30 * kMsPerDay), "INTEGRATION");
    c.set("cs_mrr", num(mrr), at = when(at + kMsPerDay, now - 5 * kMsPerDay), "INTEGRATION");
  } else if (r < 0.3) {
    // Started higher, lost seats.
    c.set("cs_mrr", num(mrr * rev.uniform(1.1, 1.4)), at = when(first, first + 30 * kMsPerDay),
          "INTEGRATION");
    c.set("cs_mrr", num(mrr), at = when(at + kMsPerDay, now - 5 * kMsPerDay), "INTEGRATION");
  }
  const double churn_share = cohort == Cohort::kChurning ? 0.35 : cohort == Cohort::kDeclining ? 0.15 : 0.04;
  if (!rev.chance(churn_share) || at >= now - 20 * kMsPerDay) {
    c.updated = std::max(c.updated, at);
    return;
  }
  const EpochMs churned = when(std::max(at + kMsPerDay, now - 300 * kMsPerDay), now - 2 * kMsPerDay);
  c.set("cs_mrr", "0", churned, "INTEGRATION");
  c.set("cs_stage", "churned", churned, "CRM_UI");
  c.set("cs_churn_date", core::format_date(churned), churned, "CRM_UI");
  c.set("cs_churn_reason", rev.pick(kReasons), churned, "CRM_UI");
  c.updated = std::max(c.updated, churned);
  if (rev.chance(0.2) && churned < now - 40 * kMsPerDay) {
    const EpochMs back = when(churned + 20 * kMsPerDay, now - 5 * kMsPerDay);
    c.set("cs_mrr", num(mrr), back, "INTEGRATION");
    c.set("cs_stage", "active", back, "CRM_UI");
    c.updated = std::max(c.updated, back);
  }
}

}  // namespace

std::unique_ptr<Portal> generate(const GenerateOptions& opt, nlohmann::json* truth) {
  if (opt.model == Model::kLatent) return generate_latent(opt, truth);
  auto portal = std::make_unique<Portal>();
  Portal& p = *portal;
  Rng rng(opt.seed);
  Rng rev(opt.seed * 0x9e3779b97f4a7c15ULL + 17);                     // revenue history: a stream of its own
  const EpochMs now = opt.now - opt.now % kMsPerDay + 9 * 3'600'000;  // 09:00 UTC "today"
  const Owners owners = make_owners(p, opt.companies);
  const auto& companies = *find_type("companies");
  const auto& deals = *find_type("deals");
  if (truth)
    *truth = {
        {"as_of", core::format_iso8601(now)}, {"horizon_days", 90}, {"companies", nlohmann::json::object()}};

  static const std::array<const char*, 8> kIndustries = {
      "SOFTWARE", "RETAIL", "MANUFACTURING", "FINANCE", "HEALTHCARE", "EDUCATION", "LOGISTICS", "MEDIA"};
  for (int i = 0; i < opt.companies; ++i) {
    const Cohort cohort = draw_cohort(rng);
    const auto drawn = parts::draw_plan(rng);
    const std::string& plan = drawn.plan;
    const double mrr = drawn.mrr;
    double seats = drawn.seats;
    const int age_days = cohort == Cohort::kOnboarding ? rng.integer(1, 60) : rng.integer(120, 1100);
    const EpochMs contract_start = now - age_days * kMsPerDay;
    // Renewal: the next anniversary; churning customers' falls within 90 days.
    int renew_in = static_cast<int>(365 - age_days % 365);
    if (cohort == Cohort::kChurning) renew_in = rng.integer(5, 88);
    const EpochMs renewal = now + renew_in * kMsPerDay;
    const int months_live = std::min(12, age_days / 30 + 1);
    const EpochMs created = contract_start - rng.integer(1, 30) * kMsPerDay;
    const std::string owner = owners.csm_ids[static_cast<std::size_t>(i) % owners.csm_ids.size()];

    Record& c = p.create(companies,
                         {{"name", "Company " + std::to_string(i + 1)},
                          {"domain", "company" + std::to_string(i + 1) + ".example"},
                          {"industry", rng.pick(kIndustries)},
                          {"hubspot_owner_id", owner},
                          {"cs_plan", plan},
                          {"cs_mrr", num(mrr)},
                          {"cs_contract_start_date", core::format_date(contract_start)},
                          {"cs_renewal_date", core::format_date(renewal)}},
                         created, "IMPORT");
    // Twelve monthly usage snapshots as property history (HubSpot keeps only current values; the
    // history is how a first sync can back-fill trends).
    const double base = cohort == Cohort::kChurning ? rng.uniform(0.45, 0.7) : rng.uniform(0.7, 0.95);
    for (int m = 12 - months_live; m < 12; ++m) {
      const EpochMs ts = now - (11 - m) * 30 * kMsPerDay - rng.integer(0, 3) * 3'600'000;
      if (cohort == Cohort::kExpanding && m > 0) seats = std::round(seats * rng.uniform(1.0, 1.06));
      const double rate =
          std::clamp(usage_rate(cohort, m, base, months_live) + rng.uniform(-0.04, 0.04), 0.0, 1.0);
      const double active = std::round(seats * rate);
      const double logins_per_user =
          cohort == Cohort::kChurning || cohort == Cohort::kDeclining ? 12 * rate : rng.uniform(10, 16);
      const int features = std::clamp(static_cast<int>(std::lround(rate * 7 + rng.uniform(-1, 1))), 1, 8);
      c.set("cs_licensed_seats", num(seats), ts, "INTEGRATION");
      c.set("cs_active_users_30d", num(active), ts, "INTEGRATION");
      c.set("cs_logins_30d", num(active * logins_per_user), ts, "INTEGRATION");
      c.set("cs_features_used", std::to_string(features), ts, "INTEGRATION");
      c.updated = ts;
    }
    if (opt.revenue_history) revenue_history(c, rev, cohort, mrr, created, now);
    const char* goal = cohort == Cohort::kHealthy || cohort == Cohort::kExpanding
                           ? (rng.chance(0.6) ? "achieved" : "in_progress")
                       : cohort == Cohort::kChurning ? "not_started"
                                                     : (rng.chance(0.5) ? "in_progress" : "not_started");
    c.set("cs_goal_status", goal, c.updated, "CRM_UI");
    const int silent_days = cohort == Cohort::kChurning ? rng.integer(45, 120) : rng.integer(1, 40);
    c.set("notes_last_contacted", core::format_iso8601(now - silent_days * kMsPerDay), c.updated,
          "CALCULATED");
    c.set(companies.modified_prop, core::format_iso8601(c.updated), c.updated, "CALCULATED");
    const std::uint64_t company_id = c.id;

    // Contacts: the first is the key person; at risk customers sometimes lose theirs.
    std::vector<std::uint64_t> contact_ids;
    const int n_contacts = rng.integer(1, 4);
    for (int k = 0; k < n_contacts; ++k) {
      Record& ct = parts::add_contact(p, i + 1, k, created, company_id);
      if (k == 0 && (cohort == Cohort::kChurning || cohort == Cohort::kDeclining) && rng.chance(0.3))
        parts::depart(ct, now - rng.integer(3, 40) * kMsPerDay);
      contact_ids.push_back(ct.id);
    }

    // The purchase: Closed Won at the contract start (recent for onboarding customers).
    parts::add_closed_won(p, i + 1, plan, mrr, contract_start, owner, company_id);
    if (cohort == Cohort::kExpanding && rng.chance(0.5)) {
      Record& up = p.create(deals,
                            {{"dealname", "Company " + std::to_string(i + 1) + " - upsell"},
                             {"dealstage", "presentationscheduled"},
                             {"pipeline", "default"},
                             {"amount", num(mrr * 3)}},
                            now - rng.integer(1, 20) * kMsPerDay, "IMPORT");
      p.associate(deals, up.id, companies, company_id);
    }

    // Tickets: more, and worse, for customers in trouble.
    const double ticket_mean = cohort == Cohort::kChurning    ? 6
                               : cohort == Cohort::kDeclining ? 4
                               : cohort == Cohort::kHealthy   ? 1.5
                                                              : 2.5;
    const int n_tickets = std::max(0, static_cast<int>(std::lround(ticket_mean * rng.uniform(0.3, 1.7))));
    for (int k = 0; k < n_tickets; ++k) {
      const bool recent =
          cohort == Cohort::kChurning || cohort == Cohort::kDeclining ? rng.chance(0.7) : rng.chance(0.3);
      const EpochMs opened = now - (recent ? rng.integer(0, 60) : rng.integer(61, 330)) * kMsPerDay -
                             rng.integer(0, 86'399) * 1000LL;
      const bool bad = (cohort == Cohort::kChurning && rng.chance(0.5)) || rng.chance(0.1);
      const char* priority =
          bad ? (rng.chance(0.3) ? "URGENT" : "HIGH") : (rng.chance(0.5) ? "LOW" : "MEDIUM");
      const double cu = rng.uniform();
      const char* category = bad || cu < 0.3 ? "PRODUCT_ISSUE"
                             : cu < 0.55     ? "GENERAL_INQUIRY"
                             : cu < 0.85     ? "FEATURE_REQUEST"
                                             : "BILLING_ISSUE";
      const bool open = opened > now - 3 * kMsPerDay ? rng.chance(0.7) : rng.chance(0.05);
      const EpochMs ttc = static_cast<EpochMs>(rng.uniform(0.5, bad ? 120 : 48) * 3'600'000);
      parts::add_ticket(p, k, opened, priority, category, open, ttc, now, company_id);
    }

    // Feedback: NPS from about 4 in 10 customers, CSAT from 1 in 10.
    auto answer = [&](const char* survey, int value, EpochMs at) {
      parts::add_answer(p, survey, value, at, contact_ids.front(), company_id);
    };
    if (rng.chance(0.4)) {
      const auto [lo, hi] = cohort == Cohort::kHealthy     ? std::pair{8, 10}
                            : cohort == Cohort::kExpanding ? std::pair{9, 10}
                            : cohort == Cohort::kDeclining ? std::pair{5, 8}
                            : cohort == Cohort::kChurning  ? std::pair{0, 6}
                                                           : std::pair{7, 9};
      if (cohort == Cohort::kDeclining && rng.chance(0.5))
        answer("NPS", rng.integer(8, 10), now - rng.integer(100, 200) * kMsPerDay);
      answer("NPS", rng.integer(lo, hi), now - rng.integer(1, 90) * kMsPerDay);
    }
    if (rng.chance(0.1))
      answer("CSAT", cohort == Cohort::kChurning ? rng.integer(1, 5) : rng.integer(6, 10),
             now - rng.integer(1, 60) * kMsPerDay);

    // CS meetings: customers drifting away stop showing up.
    const int n_meetings = rng.integer(0, 2);
    for (int k = 0; k < n_meetings; ++k) {
      const EpochMs start = now - (n_meetings - k) * rng.integer(20, 40) * kMsPerDay;
      const double u = rng.uniform();
      const char* outcome = cohort == Cohort::kChurning    ? (u < 0.6   ? "NO_SHOW"
                                                              : u < 0.8 ? "CANCELED"
                                                                        : "COMPLETED")
                            : cohort == Cohort::kDeclining ? (u < 0.3 ? "NO_SHOW" : "COMPLETED")
                                                           : (u < 0.9 ? "COMPLETED" : "RESCHEDULED");
      parts::add_meeting(p, start, outcome, owner, company_id);
    }

    if (truth) {
      // Its own random stream: asking for the truth must not change the portal it describes.
      Rng fate(opt.seed ^ (company_id * 0x9e3779b97f4a7c15ULL));
      const bool churns =
          cohort == Cohort::kChurning || (cohort == Cohort::kDeclining && renew_in <= 90 && fate.chance(0.3));
      nlohmann::json entry = {{"cohort", name_of(cohort)}, {"churns", churns}};
      if (churns) entry["churn_date"] = core::format_date(renewal);
      (*truth)["companies"][std::to_string(company_id)] = entry;
    }
  }
  return portal;
}

}  // namespace cshealthd::sim
