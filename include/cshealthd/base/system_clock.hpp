#pragma once
#include <thread>

#include "cshealthd/base/clock.hpp"

namespace cshealthd {

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steady_now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() override { return std::chrono::system_clock::now(); }
  void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
};

}  // namespace cshealthd
