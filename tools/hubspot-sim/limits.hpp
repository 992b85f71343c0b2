#pragma once
// What HubSpot does to a client besides answering: rate limits (rolling 10-second burst window,
// search per second, daily), and — for testing clients — deterministic faults.
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cshealthd/http/message.hpp"

namespace cshealthd::sim {

struct RateLimitOptions {
  int burst = 190;  // per interval; 0 = off
  int interval_ms = 10'000;
  int search_per_second = 5;         // 0 = off
  std::int64_t daily = 625'000;      // 0 = off
  std::optional<int> retry_after_s;  // HubSpot does not reliably send Retry-After: off unless set
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitOptions o) : o_(o) {}
  // nullopt: allowed (and `headers` gets X-HubSpot-RateLimit-* for non-search calls); else the 429.
  std::optional<http::Response> admit(bool search, std::vector<std::pair<std::string, std::string>>& headers);
  void reset();
  // A burst-limit 429 exactly as a real one looks (for injected 429 storms).
  http::Response injected_429() const {
    return too_many("You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING");
  }
  // "190/10s", "off"; throws std::invalid_argument.
  static void parse_burst(const std::string& spec, RateLimitOptions& o);
  static void parse_search(const std::string& spec, RateLimitOptions& o);

 private:
  using Clock = std::chrono::steady_clock;
  http::Response too_many(const std::string& message, const std::string& policy) const;

  RateLimitOptions o_;
  std::mutex mutex_;
  std::deque<Clock::time_point> burst_, search_;
  std::int64_t day_count_ = 0;
  std::int64_t day_ = -1;
};

// --faults "seed=42;5xx=0.05,429=0.02;route=/crm/v3/objects/tickets,drop_after=0.1"
// Rules are separated by ';'. Each applies to requests whose path starts with `route` (default: every
// API route) and draws from its own sequence: the n-th matching request gets the same fate for the
// same seed. Keys: 5xx, 429 (probabilities); storm=PxN (429 for the next N requests); latency=PxMS;
// drop_before (connection closed, write not applied); drop_after (write applied, connection closed);
// truncate (body cut short); wrong_shape (a success answered with JSON of another shape, as a proxy or a
// changed API might send); skip=K and count=N limit a rule to matching requests K+1 … K+N (so a
// test can fail exactly the n-th call).
struct FaultDecision {
  int status = 0;  // 0: none; else 500/502/503/504 or 429
  int latency_ms = 0;
  bool drop_before = false;
  bool drop_after = false;
  bool truncate = false;
  bool wrong_shape = false;
};

class Faults {
 public:
  Faults() = default;
  explicit Faults(const std::string& spec);  // throws std::invalid_argument naming the bad part
  FaultDecision decide(const std::string& path);
  bool empty() const { return rules_.empty(); }
  void reset();

 private:
  struct Rule {
    std::string route;
    double p5xx = 0, p429 = 0, pstorm = 0, platency = 0, pdrop_before = 0, pdrop_after = 0, ptruncate = 0,
           pwrong_shape = 0;
    int storm_len = 0, latency_ms = 0;
    std::uint64_t skip = 0, count = 0;  // count 0: unlimited
    std::uint64_t n = 0;
    int storm_left = 0;
  };
  double draw(const Rule& r, std::size_t rule_index, int kind) const;

  std::uint64_t seed_ = 1;
  std::vector<Rule> rules_;
  std::mutex mutex_;
};

// HubSpot's error body: {"status":"error","message","correlationId","category"[,"errors"]}.
http::Response hubspot_error(int status, const std::string& category, const std::string& message);

}  // namespace cshealthd::sim
