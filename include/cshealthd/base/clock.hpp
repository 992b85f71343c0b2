#pragma once
#include <chrono>
#include <cstdint>

namespace cshealthd {

// Time as a dependency: code that waits, schedules or stamps takes a Clock, so tests drive it exactly
// (a fake clock) and never sleep for real. The pure domain (core) reads no clock at all: its callers
// pass it days and instants.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point steady_now() = 0;
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
  // Wall time as epoch milliseconds.
  std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch()).count();
  }
};

}  // namespace cshealthd
