// Who onboards, and who takes a customer over: an owner by remaining capacity in a pool.
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

std::vector<std::string> owner_teams(pqxx::transaction_base& tx, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT t->>'id' FROM crm_owners o, jsonb_array_elements(CASE jsonb_typeof(o.teams) WHEN 'array' "
           "THEN o.teams ELSE '[]' END) t WHERE o.id::text = $1 AND t->>'id' IS NOT NULL "
           "ORDER BY (t->>'primary') = 'true' DESC",
           id))
    out.push_back(r[0].as<std::string>());
  return out;
}

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
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT id::text FROM crm_owners o WHERE NOT archived AND (id = ANY($1::bigint[]) OR EXISTS ("
           "SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(o.teams) WHEN 'array' THEN o.teams ELSE "
           "'[]' END) t WHERE t->>'id' = ANY($2::text[]))) ORDER BY id",
           store::bigint_array(ids), store::text_array(teams)))
    out.push_back(r[0].as<std::string>());
  return out;
}

bool owner_active(pqxx::transaction_base& tx, const std::string& id) {
  if (id.empty() || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      id.size() > 18)
    return false;
  const auto r = tx.exec_params("SELECT archived FROM crm_owners WHERE id = $1::bigint", id);
  return r.empty() || !r[0][0].as<bool>();  // not synced yet: taken as HubSpot gave it
}

// Chooses from `owners` by remaining capacity (`load_sql` counts each owner's customers of the
// segment), round-robin among equals; moves the pool's cursor.
std::optional<std::string> assign(pqxx::work& tx, const std::string& pool,
                                  const std::vector<std::string>& owners, const std::string& load_sql,
                                  const std::string& segment, int capacity) {
  std::map<std::string, int> load;
  for (const auto& r : tx.exec_params(load_sql, segment)) load[r[0].as<std::string>()] = r[1].as<int>();
  std::vector<core::Candidate> candidates;
  for (const auto& o : owners) candidates.push_back({o, load.count(o) ? load[o] : 0, capacity});
  const auto cursor = tx.exec_params("SELECT last_owner FROM assignment_cursors WHERE pool = $1", pool);
  const auto chosen =
      core::choose_owner(candidates, cursor.empty() ? std::string() : cursor[0][0].as<std::string>());
  if (!chosen) return std::nullopt;
  tx.exec_params(
      "INSERT INTO assignment_cursors (pool, last_owner) VALUES ($1, $2) ON CONFLICT (pool) DO UPDATE SET "
      "last_owner = EXCLUDED.last_owner, updated_at = now()",
      pool, *chosen);
  const auto it = std::find_if(candidates.begin(), candidates.end(),
                               [&](const core::Candidate& c) { return c.owner_id == *chosen; });
  if (it != candidates.end() && it->remaining() <= 0)
    spdlog::warn("onboarding: every owner of pool {} is at capacity ({}); {} takes one more", pool, capacity,
                 *chosen);
  return chosen;
}

}  // namespace detail

}  // namespace cshealthd::onboarding
