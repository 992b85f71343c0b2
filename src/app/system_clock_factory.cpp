#include "cshealthd/app/clock_factory.hpp"
#include "cshealthd/base/system_clock.hpp"

namespace cshealthd::app {

std::unique_ptr<Clock> make_clock() {
  return std::make_unique<SystemClock>();
}

}  // namespace cshealthd::app
