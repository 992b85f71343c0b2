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

struct GenerateOptions {
  int companies = 100;
  std::uint64_t seed = 1;
  EpochMs now = 0;  // the portal's "today"; history lies before it
  // MRR history too: customers who expanded or contracted over the year, some who churned (cs_stage
  // churned, MRR to zero, a churn date and reason) and a few who came back. Drawn from a stream of its
  // own, so the rest of the portal is the same as without it.
  bool revenue_history = false;
};

std::unique_ptr<Portal> generate(const GenerateOptions& options, nlohmann::json* ground_truth = nullptr);

}  // namespace cshealthd::sim
