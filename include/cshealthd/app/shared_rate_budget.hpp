#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/hubspot/rate_budget.hpp"
#include "cshealthd/store/database.hpp"

namespace cshealthd::app {

// HubSpot's budgets belong to the app, not to a replica: every replica (and every CLI sync) draws on
// one sliding window per budget kept in PostgreSQL (rate_grants), timed by the database's clock so the
// replicas' own clocks do not matter. A grant is a row that ages out after the window: a replica that
// dies holds nothing. The window is counted a little longer than HubSpot's (`margin`), for the time a
// granted request takes to reach HubSpot.
class SharedRateBudget final : public hubspot::RateBudget {
 public:
  SharedRateBudget(std::string conninfo, hubspot::BudgetOptions options, Clock& clock, std::string owner,
                   std::chrono::milliseconds margin = std::chrono::milliseconds(500));
  ~SharedRateBudget() override;

  void acquire(hubspot::Budget b) override;
  void observe(const http::HttpResponse& r) override;
  void pause(hubspot::Budget b, std::chrono::milliseconds d) override;
  int allowed() const;

 private:
  // How long to wait before asking again (0: granted).
  std::chrono::milliseconds try_grant(hubspot::Budget b);
  void connect();  // under mutex_

  std::string conninfo_;
  hubspot::BudgetOptions o_;
  Clock& clock_;
  std::string owner_;
  std::chrono::milliseconds margin_;
  std::mutex mutex_;  // one connection, one statement at a time
  std::unique_ptr<pqxx::connection> conn_;
  std::chrono::steady_clock::time_point burst_paused_until_{}, search_paused_until_{};
  long long last_used_ = 0;  // grants in the burst window at our last grant, ours included
  static constexpr long long kObserveSlack = 5;
};

}  // namespace cshealthd::app
