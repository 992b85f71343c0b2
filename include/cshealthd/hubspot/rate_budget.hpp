#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "cshealthd/base/clock.hpp"
#include "cshealthd/http/transport.hpp"

namespace cshealthd::hubspot {

enum class Budget { kBurst, kSearch };

// A rate-limit header's count: non-negative, or nullopt (absent, garbage, negative); huge values saturate.
std::optional<std::int64_t> header_count(const std::string& text);

// How many requests may go to HubSpot now. HubSpot's burst budget belongs to the app, so every replica
// (and any other integration on the same app) draws from one pool: implementations learn from the
// X-HubSpot-RateLimit-* headers what others used, and a shared implementation can coordinate replicas
// through the database. This interface is the seam for that.
class RateBudget {
 public:
  virtual ~RateBudget() = default;
  virtual void acquire(Budget b) = 0;  // blocks (through the clock) until a request may go
  virtual void observe(const http::HttpResponse& r) = 0;
  virtual void pause(Budget b, std::chrono::milliseconds d) = 0;  // after a 429
};

struct BudgetOptions {
  int burst = 190;  // the app's limit per interval
  std::chrono::milliseconds interval{10'000};
  double safety = 0.95;  // use at most this share of it, leaving room for HubSpot's own accounting
  int search_per_second = 5;
};

// What the portal's headers say about the budget itself: a lower tier than configured (Max) and a longer
// window (Interval-Milliseconds: a request counts against the portal for that long) are taken; a higher
// tier or a shorter window are not, and no window beyond a minute (a hostile header must not stall us).
void adopt_portal_limits(BudgetOptions& o, std::int64_t max, const http::HttpResponse& r);

// A sliding-window budget in this process that also counts what the headers say others used.
class LocalRateBudget final : public RateBudget {
 public:
  LocalRateBudget(BudgetOptions options, Clock& clock) : o_(options), clock_(clock) {}
  void acquire(Budget b) override;
  void observe(const http::HttpResponse& r) override;
  void pause(Budget b, std::chrono::milliseconds d) override;
  int allowed() const { return static_cast<int>(o_.burst * o_.safety); }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Window {
    std::deque<TimePoint> sent;
    TimePoint paused_until{};
  };

  BudgetOptions o_;
  Clock& clock_;
  std::mutex mutex_;
  Window burst_, search_;
};

}  // namespace cshealthd::hubspot
