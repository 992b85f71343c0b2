#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/alerts/settings.hpp"
#include "cshealthd/core/alerts.hpp"
#include "cshealthd/outbox/outbox_store.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/workflow/context.hpp"

namespace cshealthd::alerts {

// Everything a plan is decided from, read in the plan's own transaction.
struct PlanInputs {
  std::vector<core::PlanCompany> companies;
  std::vector<core::Episode> episodes;
  std::vector<core::Snooze> snoozes;
  std::map<std::string, int> created_today, digests_today;
};

struct StoredSnooze {
  std::int64_t id = 0, company_id = 0;
  std::string rule, until, reason, author, created_at;
  bool revoked = false;
  std::optional<std::string> revoked_by;
};

// A request the caller got wrong (unknown rule, a date in the past): a 4xx.
class InvalidSnooze : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The alert tables: what plans are made from and what they record (their outbox rows through the
// OutboxStore), and snoozes.
class AlertStore {
 public:
  explicit AlertStore(store::Database& db) : db_(db) {}

  // The companies scored on `day` (those in `only`, when given) with their owner, manager, stage and
  // what was written on them; the episodes, live snoozes and today's task counts.
  static PlanInputs load(pqxx::transaction_base& tx, std::int32_t day, const workflow::Managers& managers,
                         const std::optional<std::vector<std::int64_t>>& only);
  // Records a plan: its outbox rows, the written state, the episodes and today's counts. `slack`: the
  // Slack channel is configured (tasks marked for it get a message).
  static void record(pqxx::work& tx, const core::Plan& plan, std::optional<std::int64_t> run_id,
                     std::int32_t day, bool slack);

  struct OpenTask {
    std::string key, hubspot_id;
    std::int64_t checked_ms = 0;  // last read by id
  };
  // Open tasks HubSpot has ids for (alert episodes and onboarding steps), the longest unread by id first.
  std::vector<OpenTask> open_tasks();
  // What HubSpot said of them: open or not (a task deleted there counts as closed); `read_by_id` were
  // read by id at `ms`.
  void set_task_open(const std::map<std::string, bool>& open_by_key,
                     const std::vector<std::string>& read_by_id, std::int64_t ms);
  // When the last complete read of their status began (the service's clock), if ever; and recording it.
  std::optional<std::int64_t> tasks_checked_ms();
  void set_tasks_checked_ms(std::int64_t ms);

  StoredSnooze snooze(std::int64_t company_id, const std::string& rule, const std::string& until,
                      const std::string& reason, const std::string& author,
                      const std::vector<std::string>& rules, std::int32_t today);
  std::vector<StoredSnooze> snoozes(std::int64_t company_id);
  // Revokes the live snooze of `rule`; false when there is none.
  bool unsnooze(std::int64_t company_id, const std::string& rule, const std::string& actor);

 private:
  store::Database& db_;
};

}  // namespace cshealthd::alerts
