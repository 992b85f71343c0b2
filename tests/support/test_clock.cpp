// The clock of the tests' build of the daemon (cshealthd-test-seams) and of the test binaries: the
// system clock unless the harness drives it. Never linked into the product.
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>

#include "cshealthd/app/clock_factory.hpp"
#include "cshealthd/base/system_clock.hpp"

namespace cshealthd::app {
namespace {

// Wall time read from a file (epoch milliseconds), plus a skew: how tests drive several replicas'
// clocks from outside (CSHEALTHD_TEST_CLOCK_FILE, CSHEALTHD_TEST_CLOCK_SKEW_MS). Steady time and sleeps
// stay real.
class TestClock final : public Clock {
 public:
  TestClock(std::string file, std::int64_t skew_ms) : file_(std::move(file)), skew_ms_(skew_ms) {}
  std::chrono::steady_clock::time_point steady_now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() override {
    std::int64_t ms = 0;
    std::ifstream in(file_);
    std::string text;
    std::lock_guard lock(mutex_);
    if (!file_.empty() && std::getline(in, text) &&
        std::from_chars(text.data(), text.data() + text.size(), ms).ec == std::errc()) {
      last_ms_ = ms;
    }
    // A file caught mid-write (or gone for a moment) keeps the time last read: never a jump to the real
    // clock and back.
    if (last_ms_)
      return std::chrono::system_clock::time_point(std::chrono::milliseconds(*last_ms_ + skew_ms_));
    return std::chrono::system_clock::now() + std::chrono::milliseconds(skew_ms_);
  }
  void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }

 private:
  std::string file_;
  std::int64_t skew_ms_;
  std::mutex mutex_;
  std::optional<std::int64_t> last_ms_;
};

}  // namespace

std::unique_ptr<Clock> make_clock() {
  const char* file = std::getenv("CSHEALTHD_TEST_CLOCK_FILE");
  const char* skew = std::getenv("CSHEALTHD_TEST_CLOCK_SKEW_MS");
  if (!file && !skew) return std::make_unique<SystemClock>();
  std::int64_t skew_ms = 0;
  if (skew) std::from_chars(skew, skew + std::char_traits<char>::length(skew), skew_ms);
  spdlog::warn("clock: driven by the test harness (file '{}', skew {} ms)", file ? file : "", skew_ms);
  return std::make_unique<TestClock>(file ? file : "", skew_ms);
}

}  // namespace cshealthd::app
