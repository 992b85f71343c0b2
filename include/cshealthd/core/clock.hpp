#pragma once
#include <chrono>

namespace cshealthd::core {

// Time as a dependency: code that waits, schedules or stamps takes a Clock, so tests drive it exactly
// (a fake clock) and never sleep for real. The system clock lives outside core.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point steady_now() = 0;
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
};

}  // namespace cshealthd::core
