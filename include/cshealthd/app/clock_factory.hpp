#pragma once
#include <memory>

#include "cshealthd/base/clock.hpp"

namespace cshealthd::app {

// The wall clock Components gives every part. Defined once per executable, not in the app library: the
// product links the system clock (src/app/system_clock_factory.cpp); the tests' build of the daemon
// (tests/support) links a clock the test harness drives from outside. No test seam ships in the product.
std::unique_ptr<Clock> make_clock();

}  // namespace cshealthd::app
