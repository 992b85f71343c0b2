#include "cshealthd/hubspot/rate_budget.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>

namespace cshealthd::hubspot {

void LocalRateBudget::acquire(Budget b) {
  std::unique_lock lock(mutex_);
  Window& w = b == Budget::kBurst ? burst_ : search_;
  while (true) {
    const auto interval = b == Budget::kBurst ? o_.interval : std::chrono::milliseconds(1000);
    const int limit = b == Budget::kBurst ? allowed() : o_.search_per_second;
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

std::optional<std::int64_t> header_count(const std::string& text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || end != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range)
    return text.front() == '-' ? std::nullopt : std::optional(INT64_MAX);
  if (ec != std::errc() || v < 0) return std::nullopt;
  return v;
}

void adopt_portal_limits(BudgetOptions& o, std::int64_t max, const http::HttpResponse& r) {
  if (max > 0 && max < o.burst) o.burst = static_cast<int>(max);
  if (const auto interval = header_count(r.header("X-HubSpot-RateLimit-Interval-Milliseconds"))) {
    const auto ms = std::chrono::milliseconds(std::min<std::int64_t>(*interval, 60'000));
    if (ms > o.interval) o.interval = ms;
  }
}

// The headers are HubSpot's word, but input all the same: a Max of 2e9 or a negative Remaining must
// neither allocate a slot per claimed request nor stop us. Both are clamped to the configured limit.
void LocalRateBudget::observe(const http::HttpResponse& r) {
  const auto remaining = header_count(r.header("X-HubSpot-RateLimit-Remaining"));
  const auto max = header_count(r.header("X-HubSpot-RateLimit-Max"));
  if (!remaining || !max || *max == 0) return;  // search answers carry none
  std::lock_guard lock(mutex_);
  const int mx = static_cast<int>(std::min<std::int64_t>(*max, o_.burst));
  const int rem = static_cast<int>(std::min<std::int64_t>(*remaining, mx));
  adopt_portal_limits(o_, *max, r);
  // Requests others made in this window (other replicas, other integrations on the app) count against
  // us too: stand them in as if sent now.
  const int used_by_all = std::min(mx - rem, allowed());
  const auto now = clock_.steady_now();
  while (static_cast<int>(burst_.sent.size()) < used_by_all) burst_.sent.push_back(now);
}

void LocalRateBudget::pause(Budget b, std::chrono::milliseconds d) {
  std::lock_guard lock(mutex_);
  Window& w = b == Budget::kBurst ? burst_ : search_;
  w.paused_until = std::max(w.paused_until, clock_.steady_now() + d);
}

}  // namespace cshealthd::hubspot
