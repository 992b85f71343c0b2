#pragma once
// A realistic synthetic portal, deterministic from a seed: owners in CS teams, companies in five
// cohorts (healthy, declining, churning, expanding, onboarding) with 12 months of usage history as
// property history, contacts (key persons, some of whom depart), tickets, NPS/CSAT answers, CS
// meetings, deals including recent Closed Won ones. Also the ground truth: which companies churn, and
// when, within 90 days of `now`.
#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

#include "portal.hpp"

namespace cshealthd::sim {

// How churn comes about. kCohorts (the default, which the tests' portals are made of): five cohorts whose
// churners give themselves away (only they go silent, only they renew within 90 days). kLatent: each
// company carries a hidden risk that drifts month by month; usage, NPS, tickets and meetings follow it
// with noise, churn follows it only in probability, through the contract term (monthly customers can
// leave any month, annual ones at renewal), tenure and lock-in, plus shocks no signal foretells (budget
// cuts, acquisitions); some warnings (seasonal dips) end in nothing. A year of history is always made:
// the customers who left over it, with dated stage changes, MRR to zero and reasons.
enum class Model { kCohorts, kLatent };

struct GenerateOptions {
  int companies = 100;
  std::uint64_t seed = 1;
  EpochMs now = 0;  // the portal's "today"; history lies before it
  // MRR history too: customers who expanded or contracted over the year, some who churned (cs_stage
  // churned, MRR to zero, a churn date and reason) and a few who came back. Drawn from a stream of its
  // own, so the rest of the portal is the same as without it.
  bool revenue_history = false;
  Model model = Model::kCohorts;
};

std::unique_ptr<Portal> generate(const GenerateOptions& options, nlohmann::json* ground_truth = nullptr);
// The kLatent model (generate() dispatches on options.model).
std::unique_ptr<Portal> generate_latent(const GenerateOptions& options, nlohmann::json* ground_truth);

}  // namespace cshealthd::sim
