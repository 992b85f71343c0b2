// Who onboards, and who takes a customer over: an owner by remaining capacity in a pool.
#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "cshealthd/core/schedule.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "internal.hpp"
#include "onboarding_store.hpp"

namespace cshealthd::onboarding {

namespace detail {

// The active owners a pool names (owner ids and team:<id>), in id order; archived ones never.
std::vector<std::string> pool_owners(pqxx::transaction_base& tx, const std::vector<std::string>& pool) {
  std::vector<std::int64_t> ids;
  std::vector<std::string> teams;
  for (const auto& p : pool) {
    if (p.rfind("team:", 0) == 0)
      teams.push_back(p.substr(5));
    else
      ids.push_back(std::stoll(p));
  }
  return store::CrmRepository::active_owners(tx, ids, teams);
}

bool owner_active(pqxx::transaction_base& tx, const std::string& id) {
  if (id.empty() || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      id.size() > 18)
    return false;
  // Not synced yet: taken as HubSpot gave it.
  return !store::CrmRepository::owner_archived(tx, std::stoll(id)).value_or(false);
}

// Chooses from `owners` by remaining capacity (`load`: each owner's customers of the segment),
// round-robin among equals; moves the pool's cursor.
std::optional<std::string> assign(pqxx::work& tx, const std::string& pool,
                                  const std::vector<std::string>& owners,
                                  const std::map<std::string, int>& load, int capacity) {
  std::vector<core::Candidate> candidates;
  for (const auto& o : owners) {
    const auto it = load.find(o);
    candidates.push_back({o, it == load.end() ? 0 : it->second, capacity});
  }
  const auto chosen = core::choose_owner(candidates, OnboardingStore::cursor(tx, pool));
  if (!chosen) return std::nullopt;
  OnboardingStore::move_cursor(tx, pool, *chosen);
  const auto it = std::find_if(candidates.begin(), candidates.end(),
                               [&](const core::Candidate& c) { return c.owner_id == *chosen; });
  if (it != candidates.end() && it->remaining() <= 0)
    spdlog::warn("onboarding: every owner of pool {} is at capacity ({}); {} takes one more", pool, capacity,
                 *chosen);
  return chosen;
}

}  // namespace detail

}  // namespace cshealthd::onboarding
