#pragma once
// What the onboarding files share (private to src/onboarding): the won deal as read from HubSpot, the
// owner assignment by capacity, the template values and the job that starts an onboarding.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/core/time.hpp"
#include "cshealthd/hubspot/records.hpp"
#include "cshealthd/onboarding/onboarding.hpp"
#include "cshealthd/store/job_queue.hpp"

namespace cshealthd::onboarding {

// A deal and its company as read from HubSpot for an onboarding.
struct Won {
  std::int64_t deal_id = 0, company_id = 0;
  std::string deal_name, stage, deal_owner, company_name, company_owner, company_stage;
  std::string plan, mrr, seats, contract_start, goals, kpis, amount;
};

namespace detail {

using json = nlohmann::json;

store::JobSpec onboarding_job(std::int64_t deal, const std::string& source);
std::string text_prop(const hubspot::Record& r, const std::string& name);

// ---- assignment (assignment.cpp) ----
// The active owners a pool names (owner ids and team:<id>), in id order; archived ones never.
std::vector<std::string> pool_owners(pqxx::transaction_base& tx, const std::vector<std::string>& pool);
bool owner_active(pqxx::transaction_base& tx, const std::string& id);
// Chooses from `owners` by remaining capacity (`load`: each owner's customers of the segment),
// round-robin among equals; moves the pool's cursor.
std::optional<std::string> assign(pqxx::work& tx, const std::string& pool,
                                  const std::vector<std::string>& owners,
                                  const std::map<std::string, int>& load, int capacity);

// ---- texts ----
std::string format_number(const std::string& text);
// What task and Slack templates fill in for an onboarding, from the deal as recorded (`deal` JSON: name,
// company_name, plan, mrr, seats, goals, kpis).
std::map<std::string, std::string> template_vars(const json& deal, std::int64_t company_id,
                                                 std::int64_t deal_id, const std::string& owner,
                                                 const std::string& start);
std::string segment_of(const Settings& s, const Won& w);
core::EpochMs day_ms(std::int32_t day);

}  // namespace detail
}  // namespace cshealthd::onboarding
