#pragma once
#include <atomic>

#include "cshealthd/base/clock.hpp"

namespace cshealthd::testing {

// Simulated time: sleep_for advances it at once, so code that waits is tested exactly and quickly.
class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steady_now() override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }
  std::chrono::system_clock::time_point wall_now() override {
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(1'790'000'000'000 + now_ms_.load()));
  }
  void sleep_for(std::chrono::milliseconds d) override {
    now_ms_ += d.count();
    slept_ms_ += d.count();
  }
  void advance(std::chrono::milliseconds d) { now_ms_ += d.count(); }
  std::int64_t slept_ms() const { return slept_ms_.load(); }

 private:
  std::atomic<std::int64_t> now_ms_{1'000'000};
  std::atomic<std::int64_t> slept_ms_{0};
};

}  // namespace cshealthd::testing
