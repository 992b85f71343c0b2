#include "cshealthd/hubspot/rate_budget.hpp"

#include <algorithm>
#include <cstdlib>

namespace cshealthd::hubspot {

void LocalRateBudget::acquire(Budget b) {
  std::unique_lock lock(mutex_);
  Window& w = b == Budget::kBurst ? burst_ : search_;
  const auto interval = b == Budget::kBurst ? o_.interval : std::chrono::milliseconds(1000);
  const int limit = b == Budget::kBurst ? allowed() : o_.search_per_second;
  while (true) {
    const auto now = clock_.steady_now();
    while (!w.sent.empty() && now - w.sent.front() >= interval) w.sent.pop_front();
    TimePoint wake{};
    if (w.paused_until > now) {
      wake = w.paused_until;
    } else if (limit <= 0 || static_cast<int>(w.sent.size()) < limit) {
      w.sent.push_back(now);
      return;
    } else {
      wake = w.sent.front() + interval;
    }
    lock.unlock();
    clock_.sleep_for(std::max(std::chrono::milliseconds(1),
                              std::chrono::duration_cast<std::chrono::milliseconds>(wake - now)));
    lock.lock();
  }
}

void LocalRateBudget::observe(const HttpResponse& r) {
  const std::string remaining = r.header("X-HubSpot-RateLimit-Remaining");
  const std::string max = r.header("X-HubSpot-RateLimit-Max");
  if (remaining.empty() || max.empty()) return;  // search answers carry none
  const int rem = std::atoi(remaining.c_str());
  const int mx = std::atoi(max.c_str());
  std::lock_guard lock(mutex_);
  if (mx > 0 && mx < o_.burst) o_.burst = mx;  // the portal's tier is lower than configured
  // Requests others made in this window (other replicas, other integrations on the app) count against
  // us too: stand them in as if sent now.
  const int used_by_all = mx - rem;
  const auto now = clock_.steady_now();
  while (static_cast<int>(burst_.sent.size()) < used_by_all) burst_.sent.push_back(now);
}

void LocalRateBudget::pause(Budget b, std::chrono::milliseconds d) {
  std::lock_guard lock(mutex_);
  Window& w = b == Budget::kBurst ? burst_ : search_;
  w.paused_until = std::max(w.paused_until, clock_.steady_now() + d);
}

}  // namespace cshealthd::hubspot
