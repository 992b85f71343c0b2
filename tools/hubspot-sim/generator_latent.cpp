// The latent-risk portal (GenerateOptions::model = kLatent): churn that no single signal gives away.
//
// Each company carries a hidden risk in [0, 1] that drifts month by month (and jumps when its key person
// leaves). What HubSpot sees follows the risk with noise: the share of seats active, logins, features,
// NPS answers, tickets and their severity, meeting no-shows. Churn follows it only in probability:
// a monthly hazard that grows with the risk, higher in the first six months and for monthly contracts,
// much lower for customers locked in by an integration; monthly customers may leave any month, annual
// ones decide at their renewal. On top, shocks no signal foretells (a budget cut, an acquisition), and
// seasonal dips in usage that end in nothing. Healthy customers who use most of their seats may expand
// (more seats, MRR up; some through an upsell deal won), in probability too. Twelve months of past are simulated with the same process
// (the churns dated, with MRR to zero, the churned stage and a reason; a few come back), then 90 days of
// future for the ground truth.
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>

#include "cshealthd/core/time.hpp"
#include "generator.hpp"
#include "generator_parts.hpp"

namespace cshealthd::sim {
namespace {

using core::kMsPerDay;
using parts::num;
using parts::Rng;

constexpr int kPastMonths = 12;
constexpr int kFutureMonths = 3;  // the ground truth's 90 days
constexpr EpochMs kMonthMs = 30 * kMsPerDay;


// Roughly normal noise with standard deviation `sd` (the sum of three uniforms).
double noise(Rng& rng, double sd) { return (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) * 2 * sd; }

// One month of a company's life, as the process drew it.
struct Month {
  double risk = 0, usage = 0;
  bool alive = false, dip = false;
};

enum class Fate { kStays, kChurnsOnSignals, kShock };

}  // namespace

std::unique_ptr<Portal> generate_latent(const GenerateOptions& opt, nlohmann::json* truth) {
  auto portal = std::make_unique<Portal>();
  Portal& p = *portal;
  Rng rng(opt.seed * 0x2545f4914f6cdd1dULL + 0x1a7e47);
  const EpochMs now = opt.now - opt.now % kMsPerDay + 9 * 3'600'000;  // 09:00 UTC "today"
  const parts::Owners owners = parts::make_owners(p, opt.companies);
  const auto& companies = *find_type("companies");
  if (truth)
    *truth = {{"as_of", core::format_iso8601(now)},
              {"horizon_days", 90},
              {"model", "latent"},
              {"companies", nlohmann::json::object()}};

  for (int i = 0; i < opt.companies; ++i) {
    const auto drawn = parts::draw_plan(rng);
    const std::string& plan = drawn.plan;
    const double mrr = drawn.mrr;
    double seats = drawn.seats;
    const bool monthly = rng.chance(plan == "starter" ? 0.6 : plan == "professional" ? 0.3 : 0.05);
    const bool locked_in = rng.chance(plan == "enterprise" ? 0.4 : 0.1);
    const int age_days = rng.integer(20, 1100);
    const EpochMs contract_start = now - age_days * kMsPerDay;
    const EpochMs created = contract_start - rng.integer(1, 30) * kMsPerDay;
    const std::string owner = owners.csm_ids[static_cast<std::size_t>(i) % owners.csm_ids.size()];
    const int n_contacts = rng.integer(1, 4);

    // The months from a year ago (index 0) to three months ahead; month k starts at now + (k - 12) months.
    const int months = kPastMonths + kFutureMonths;
    std::vector<Month> path(static_cast<std::size_t>(months));
    double risk = std::pow(rng.uniform(), 2.0);
    int dip_left = 0;
    std::optional<int> churn_month, back_month, key_person_left;
    Fate fate = Fate::kStays;
    const auto month_start = [&](int k) { return now + static_cast<EpochMs>(k - kPastMonths) * kMonthMs; };
    for (int k = 0; k < months; ++k) {
      auto& m = path[static_cast<std::size_t>(k)];
      const EpochMs start = month_start(k);
      risk = std::clamp(risk + noise(rng, 0.07), 0.0, 1.0);
      if (!key_person_left && n_contacts > 1 && k < kPastMonths && rng.chance(0.012 * (1 + risk))) {
        key_person_left = k;
        risk = std::min(1.0, risk + 0.2);  // a real driver, and a signal (cs_departed)
      }
      if (dip_left == 0 && rng.chance(0.04)) dip_left = 2;  // a seasonal dip: a warning that ends in nothing
      m.dip = dip_left > 0;
      if (dip_left > 0) --dip_left;
      m.risk = risk;
      m.alive = start + kMonthMs > contract_start && !churn_month.has_value();
      if (back_month && k >= *back_month) m.alive = true;
      const double rate = 0.9 - 0.55 * risk + noise(rng, 0.12);
      m.usage = std::clamp(rate * (m.dip ? 0.6 : 1.0), 0.02, 1.0);
      if (!m.alive || churn_month) continue;
      const double tenure_months = static_cast<double>(start - contract_start) / static_cast<double>(kMonthMs);
      double hazard = 0.003 + 0.05 * std::pow(risk, 1.5);
      if (tenure_months < 6) hazard *= 1.6;
      if (monthly) hazard *= 1.4;
      if (locked_in) hazard *= 0.25;
      constexpr double kShock = 0.003;  // a budget cut, an acquisition: nothing foretells it
      // Annual customers decide at their renewal (the contract's anniversary month); monthly ones any month.
      const bool renewal_month = monthly || static_cast<int>(std::floor(tenure_months)) % 12 == 11;
      if (!renewal_month || tenure_months < 1) continue;
      const double p_signal = monthly ? hazard : 1 - std::pow(1 - hazard, 12);
      const double p_shock = monthly ? kShock : 1 - std::pow(1 - kShock, 12);
      const double u = rng.uniform();
      if (u < p_shock) {
        fate = Fate::kShock;
      } else if (u < p_shock + p_signal) {
        fate = Fate::kChurnsOnSignals;
      } else {
        continue;
      }
      churn_month = k;
      if (k < kPastMonths - 2 && rng.chance(0.08)) back_month = k + rng.integer(1, 3);
    }
    const EpochMs churn_at = churn_month ? month_start(*churn_month) + rng.integer(0, 29) * kMsPerDay : 0;
    const bool churned_in_past = churn_month && churn_at < now - kMsPerDay;
    const bool came_back = churned_in_past && back_month && month_start(*back_month) < now;

    // The months until the renewal (annual: the next anniversary; monthly: the next monthly one).
    const int day_of_term = age_days % (monthly ? 30 : 365);
    const EpochMs renewal = now + static_cast<EpochMs>((monthly ? 30 : 365) - day_of_term) * kMsPerDay;
    const Month& today = path[kPastMonths - 1];
    Record& c = p.create(companies,
                         {{"name", "Company " + std::to_string(i + 1)},
                          {"domain", "company" + std::to_string(i + 1) + ".example"},
                          {"industry", "SOFTWARE"},
                          {"hubspot_owner_id", owner},
                          {"cs_plan", plan},
                          {"cs_mrr", num(mrr)},
                          {"cs_contract_term", monthly ? "monthly" : "annual"},
                          {"cs_contract_start_date", core::format_date(contract_start)},
                          {"cs_renewal_date", core::format_date(renewal)},
                          {"cs_stage", "active"}},
                         created, "IMPORT");
    // The past, in time order: a usage snapshot a month, the churn and the return where they happened.
    bool gone = false, recorded = false, returned = false;
    const EpochMs back_at = came_back ? month_start(*back_month) + rng.integer(0, 10) * kMsPerDay : 0;
    const auto record_churn = [&] {
      static const std::array<const char*, 3> kReasons = {"cost", "missing_feature", "support"};
      c.set("cs_mrr", "0", churn_at, "INTEGRATION");
      c.set("cs_stage", "churned", churn_at, "CRM_UI");
      c.set("cs_churn_date", core::format_date(churn_at), churn_at, "CRM_UI");
      c.set("cs_churn_reason", fate == Fate::kShock ? "business_change" : rng.pick(kReasons), churn_at, "CRM_UI");
      c.updated = std::max(c.updated, churn_at);
      gone = recorded = true;
    };
    double mrr_now = mrr;
    nlohmann::json expansions = nlohmann::json::array();
    const auto record_return = [&] {
      c.set("cs_mrr", num(mrr_now), back_at, "INTEGRATION");
      c.set("cs_stage", "active", back_at, "CRM_UI");
      c.updated = std::max(c.updated, back_at);
      gone = false;
      returned = true;
    };
    for (int k = 0; k < kPastMonths; ++k) {
      const auto& m = path[static_cast<std::size_t>(k)];
      const EpochMs ts = month_start(k) + 20 * kMsPerDay + rng.integer(0, 3) * 3'600'000;
      if (ts >= now || ts < created) continue;
      if (churned_in_past && !recorded && churn_at <= ts) record_churn();
      if (came_back && recorded && !returned && back_at <= ts) record_return();
      // An expansion: more seats and MRR up, a month's chance growing with health and seat use.
      const double p_expand = 0.005 + 0.05 * std::pow(1 - m.risk, 2) * (m.usage > 0.75 ? 2 : 1);
      if (!gone && ts > contract_start + kMonthMs && rng.chance(p_expand)) {
        const EpochMs at = ts - rng.integer(1, 15) * kMsPerDay;
        const double factor = rng.uniform(1.15, 1.5);
        const double before = mrr_now;
        seats = std::round(seats * factor);
        mrr_now = std::round(mrr_now * factor);
        c.set("cs_mrr", num(mrr_now), at, "INTEGRATION");
        if (rng.chance(0.4)) {
          Record& deal = p.create(*find_type("deals"),
                                  {{"dealname", "Company " + std::to_string(i + 1) + " - seat upgrade"},
                                   {"dealstage", "closedwon"},
                                   {"pipeline", "default"},
                                   {"dealtype", "existingbusiness"},
                                   {"amount", num((mrr_now - before) * 12)},
                                   {"closedate", core::format_iso8601(at)},
                                   {"hubspot_owner_id", owner}},
                                  at - 10 * kMsPerDay, "CRM_UI");
          p.associate(*find_type("deals"), deal.id, companies, c.id);
        }
        expansions.push_back(core::format_date(at));
      }
      const double active = gone ? 0 : std::round(seats * m.usage);
      const int features = std::clamp(static_cast<int>(std::lround(m.usage * 7 + noise(rng, 1.2))), 1, 8);
      c.set("cs_licensed_seats", num(seats), ts, "INTEGRATION");
      c.set("cs_active_users_30d", num(active), ts, "INTEGRATION");
      c.set("cs_logins_30d", num(active * std::max(1.0, 14 * m.usage + noise(rng, 2))), ts, "INTEGRATION");
      c.set("cs_features_used", std::to_string(gone ? 0 : features), ts, "INTEGRATION");
      c.updated = std::max(c.updated, ts);
    }
    // A churn (or a return) after the last snapshot.
    if (churned_in_past && !recorded) record_churn();
    if (came_back && recorded && !returned && back_at < now) record_return();
    const char* goal = today.risk + noise(rng, 0.2) < 0.35 ? "achieved"
                       : today.risk + noise(rng, 0.2) < 0.65 ? "in_progress"
                                                             : "not_started";
    c.set("cs_goal_status", goal, c.updated, "CRM_UI");
    const int silent_days = std::clamp(static_cast<int>(5 + 50 * today.risk + noise(rng, 15)), 1, 150);
    c.set("notes_last_contacted", core::format_iso8601(now - silent_days * kMsPerDay), c.updated, "CALCULATED");
    c.set(companies.modified_prop, core::format_iso8601(c.updated), c.updated, "CALCULATED");
    const std::uint64_t company_id = c.id;

    std::vector<std::uint64_t> contact_ids;
    for (int k = 0; k < n_contacts; ++k) {
      Record& ct = parts::add_contact(p, i + 1, k, created, company_id);
      if (k == 0 && key_person_left)
        parts::depart(ct, std::max(created + kMsPerDay, month_start(*key_person_left) + rng.integer(0, 29) * kMsPerDay));
      contact_ids.push_back(ct.id);
    }

    parts::add_closed_won(p, i + 1, plan, mrr, contract_start, owner, company_id);

    // A month's tickets, NPS answers and meetings follow that month's risk (while a customer).
    for (int k = 0; k < kPastMonths; ++k) {
      const auto& m = path[static_cast<std::size_t>(k)];
      const EpochMs start = month_start(k);
      if (start + kMonthMs <= created || (churned_in_past && start > churn_at && !(came_back && k >= *back_month)))
        continue;
      const auto at = [&] {
        const EpochMs t = start + rng.integer(0, 29) * kMsPerDay + EpochMs{rng.integer(0, 86'399)} * 1000;
        return std::min<EpochMs>(now - 3'600'000, t);
      };
      const int n_tickets = static_cast<int>(std::floor(rng.uniform() * (0.3 + 1.6 * m.risk) + rng.uniform() * 0.3));
      for (int t = 0; t < n_tickets; ++t) {
        const EpochMs opened = at();
        if (opened < created) continue;
        const bool bad = rng.chance(0.08 + 0.35 * m.risk);
        const double cu = rng.uniform();
        const char* category = bad || cu < 0.3 ? "PRODUCT_ISSUE"
                               : cu < 0.55     ? "GENERAL_INQUIRY"
                               : cu < 0.85     ? "FEATURE_REQUEST"
                                               : "BILLING_ISSUE";
        const bool open = opened > now - 3 * kMsPerDay && rng.chance(0.7);
        const EpochMs ttc = static_cast<EpochMs>(rng.uniform(0.5, bad ? 120 : 48) * 3'600'000);
        const char* priority = bad ? (rng.chance(0.3) ? "URGENT" : "HIGH") : (rng.chance(0.5) ? "LOW" : "MEDIUM");
        parts::add_ticket(p, t, opened, priority, category, open, ttc, now, company_id);
      }
      if (k % 3 == 0 && rng.chance(0.3)) {
        const EpochMs when = at();
        const int value = std::clamp(static_cast<int>(std::lround(9.3 - 6.5 * m.risk + noise(rng, 1.6))), 0, 10);
        const auto who = contact_ids[static_cast<std::size_t>(rng.integer(0, static_cast<int>(contact_ids.size()) - 1))];
        parts::add_answer(p, "NPS", value, when, who, company_id);
      }
      if (rng.chance(0.25)) {
        const EpochMs when = at();
        const char* outcome = rng.chance(0.05 + 0.4 * m.risk) ? "NO_SHOW" : "COMPLETED";
        parts::add_meeting(p, when, outcome, owner, company_id);
      }
    }

    if (truth) {
      // Who leaves within the next 90 days, and when (the past churns are in the portal itself).
      const bool ahead = churn_month && !churned_in_past && churn_at <= now + 90 * kMsPerDay;
      nlohmann::json entry = {{"churns", ahead},
                              {"term", monthly ? "monthly" : "annual"},
                              {"locked_in", locked_in},
                              {"risk", std::round(today.risk * 1000) / 1000}};
      if (ahead) {
        entry["churn_date"] = core::format_date(churn_at);
        entry["cause"] = fate == Fate::kShock ? "shock" : "risk";
      }
      if (churned_in_past) entry["churned_on"] = core::format_date(churn_at);
      entry["expanded_on"] = expansions;
      (*truth)["companies"][std::to_string(company_id)] = entry;
    }
  }
  return portal;
}

}  // namespace cshealthd::sim
