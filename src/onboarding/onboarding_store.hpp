#pragma once
// The onboarding tables, every statement on them: onboardings, onboarding_steps, onboarding_state,
// deal_stage_changes (filled by a trigger on the deals the sync writes) and assignment_cursors. Each
// call joins the caller's transaction. Private to src/onboarding.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/core/onboarding.hpp"

namespace cshealthd::onboarding {

class OnboardingStore {
 public:
  struct NewOnboarding {
    std::int64_t deal_id = 0, company_id = 0;
    std::string source, segment, owner_id, started_on, deal_json;
  };
  struct NewStep {
    std::string step, task_key, due_day;
  };
  // An onboarding under way with its steps, in checklist order.
  struct Open {
    std::int64_t deal_id = 0, company_id = 0;
    std::string owner_id, segment, deal_json, started_on;
    std::vector<core::StepState> steps;
  };
  struct StageChange {
    std::int64_t deal_id = 0;
    std::string stage;
    bool first_seen = false, won_after_start = false;
  };

  // Until the transaction ends, the only one assigning owners (across replicas).
  static void lock_assignments(pqxx::work& tx);
  static bool exists(pqxx::transaction_base& tx, std::int64_t deal_id);
  // The deal of the company's onboarding under way, if one is.
  static std::optional<std::int64_t> under_way(pqxx::transaction_base& tx, std::int64_t company_id);
  static void start(pqxx::work& tx, const NewOnboarding& o, const std::vector<NewStep>& steps);
  static std::vector<Open> open(pqxx::transaction_base& tx);
  static void hand_over(pqxx::work& tx, std::int64_t deal_id, const std::string& csm, std::int32_t day);
  static void mark_escalated(pqxx::work& tx, std::int64_t deal_id, const std::string& step);
  static void mark_overdue(pqxx::work& tx, std::int64_t deal_id, const std::string& step, std::int32_t day);

  // Onboarding switched on or off: on (again), the sync's safety net starts from now; off, the stage
  // changes noted so far are dropped (nothing would read them).
  static void set_enabled(pqxx::work& tx, bool enabled);
  // The deal stage changes the sync noted since the last call, taken.
  static std::vector<StageChange> take_stage_changes(pqxx::work& tx);

  // Each owner's onboardings under way in `segment`.
  static std::map<std::string, int> onboarding_load(pqxx::transaction_base& tx, const std::string& segment);
  // Each owner's customers of `segment` (companies they own, customers handed over to them); a company's
  // segment by its MRR and plan.
  static std::map<std::string, int> customer_load(pqxx::transaction_base& tx, const std::string& segment,
                                                  double high_touch_min_mrr,
                                                  const std::set<std::string>& high_touch_plans);
  // The owner a pool last gave a customer to, and moving it.
  static std::string cursor(pqxx::transaction_base& tx, const std::string& pool);
  static void move_cursor(pqxx::work& tx, const std::string& pool, const std::string& owner);
};

}  // namespace cshealthd::onboarding
