#pragma once
// The plays' tables, every statement on them (play_episodes, play_steps), and the reads a night of plays
// and a usage summary are made from. Each call joins the caller's transaction. Private to src/plays.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/core/plays.hpp"
#include "cshealthd/workflow/context.hpp"

namespace cshealthd::plays {

class PlayStore {
 public:
  // What a night of plays decides from: the companies scored that day (manager from `managers`), their
  // won deals and last NPS day, the episodes, the steps done in cycles that can still fire (none ends
  // later than its date plus `longest_until`), and one active member of each team.
  struct Loaded {
    std::vector<core::PlayCompany> companies;
    std::map<std::int64_t, std::vector<core::PlayEpisode>> episodes;
    std::map<std::int64_t, std::set<core::PlayStepDone>> done;
    std::map<std::int64_t, std::string> facts;  // plan, mrr, seats, active users (JSON): template values
    std::map<std::string, std::string> team_members;
  };
  static Loaded load(pqxx::transaction_base& tx, std::int32_t day, int longest_until,
                     const workflow::Managers& managers, const std::set<std::string>& won);

  // A step a night fired, recorded once; `skipped`: already under way on its play's first night,
  // recorded as seen with nothing sent.
  struct StepRow {
    std::int64_t company_id = 0;
    std::string play, cycle, step;
    std::int32_t cycle_date = 0;
    std::string action, outbox_key, owner_id, why;
    bool skipped = false;
  };
  static void record_steps(pqxx::work& tx, const std::vector<StepRow>& steps, std::int32_t day);

  // The plays that have had their first night (play_starts), and recording the ones starting tonight.
  static std::set<std::string> started(pqxx::transaction_base& tx);
  static void record_starts(pqxx::work& tx, const std::vector<std::string>& plays, std::int32_t day,
                            const std::vector<bool>& caught_up);
  static void record_episodes(pqxx::work& tx, const std::vector<core::PlayEpisode>& episodes);

  // The usage summary of a company as of a day (nullopt when the company is not stored).
  static std::optional<core::UsageSummary> usage_summary(pqxx::transaction_base& tx, std::int64_t company_id,
                                                         std::int32_t day);
};

}  // namespace cshealthd::plays
