#pragma once
// Lifecycle plays as the service runs them: the plays file read and checked (errors name file:line),
// each company's night decided by core::decide_plays from what PostgreSQL holds, and what fires recorded
// in the plan stage's transaction: the outbox items (tasks, property updates, deals, Slack messages), the
// steps done and the episodes, so each step reaches HubSpot once per (company, play, cycle, step).
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/metrics.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/core/plays.hpp"
#include "cshealthd/outbox/intents.hpp"
#include "cshealthd/plays/plays_file.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/workflow/context.hpp"
#include "cshealthd/workflow/participant.hpp"

namespace cshealthd::plays {

struct Settings {
  bool enabled = true;
  core::PlaysConfig plays;
  std::string source;             // the file it came from ("shipped" when compiled in)
  std::string deal_key_property;  // plays.deal_key_property
  std::string locale;             // writeback.locale
};
// plays.file, else plays.yaml in scoring.scorecards_dir when there is one, else the shipped file.
Settings load_settings(const config::Config& config);

// The usage summary of a company as of `day` from PostgreSQL (nullopt: no such company).
std::optional<core::UsageSummary> load_summary(pqxx::transaction_base& tx, std::int64_t company_id,
                                               std::int32_t day);
nlohmann::json summary_json(const core::UsageSummary& s, const std::string& locale);

struct NightPlan {
  std::vector<core::PlayFiring> firings;
  std::vector<nlohmann::json> items;  // the outbox items, as recorded (or, in a dry run, as they would be)
  std::vector<std::string> notes;
  std::size_t companies = 0;
  // The plays having their first night, and per play the steps already under way on it: recorded as seen
  // without a task (a play switched on starts from tonight), or created when it catches up.
  std::vector<std::string> starting;
  std::map<std::string, std::size_t> under_way;
  bool caught_up = false;  // the run was asked to catch up (every starting play creates what is under way)
};

class Plays : public workflow::Participant {
 public:
  // `won_stages`: onboarding.won_stages (besides closedwon and the pipelines' won stages): a won deal near
  // a renewal date renews it. `metrics`: counts the steps planned (nullptr: none counted).
  Plays(const Settings& settings, const workflow::Context& context, std::set<std::string> won_stages,
        metrics::Registry* metrics = nullptr)
      : s_(settings), ctx_(context), won_stages_(std::move(won_stages)), metrics_(metrics) {}

  const char* name() const override { return "plays"; }
  // The plays run with nightly and manual runs, not with every refresh: {"plays": progress}.
  nlohmann::json plan(pqxx::work& tx, const workflow::PlanDay& day) override;

  // Decides `day` for every company scored on it and, unless `dry_run`, records the outbox items, the
  // steps done and the episodes in `tx` (the plan stage's transaction). On a play's first night the steps
  // already under way are recorded as seen, not sent, unless the play or `catch_up` says to create them.
  NightPlan plan(pqxx::work& tx, std::int32_t day, bool dry_run, bool catch_up = false) const;
  // As the pipeline's plan stage reports it.
  static nlohmann::json progress(const NightPlan& plan);

 private:
  // What a fired step asks of HubSpot or Slack, its texts rendered from `vars` for where they go.
  outbox::Intent intent_of(const core::PlayFiring& fi, const std::map<std::string, std::string>& vars) const;

  const Settings& s_;
  const workflow::Context& ctx_;
  std::set<std::string> won_stages_;
  metrics::Registry* metrics_;
};

}  // namespace cshealthd::plays
