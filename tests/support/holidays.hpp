#pragma once
// Business days counted in tests from the holiday file as shipped, independently of the service's calendar.
#include <cstdint>
#include <fstream>
#include <set>
#include <string>

#include "cshealthd/core/time.hpp"

namespace cshealthd::testing {

class Holidays {
 public:
  Holidays() {
    std::ifstream in(std::string(CSHEALTHD_SOURCE_DIR) + "/config/writeback/holidays.jp.txt");
    for (std::string line; std::getline(in, line);) {
      if (line.size() >= 10 && line[0] >= '0' && line[0] <= '9') {
        if (const auto d = core::parse_day(line.substr(0, 10))) days_.insert(*d);
      }
    }
  }
  std::int32_t add(std::int32_t day, int n) const {
    while (!business(day)) ++day;
    for (int i = 0; i < n; ++i) {
      ++day;
      while (!business(day)) ++day;
    }
    return day;
  }
  // The business day on or before `day` (a date that falls on a weekend or holiday moves back).
  std::int32_t on_or_before(std::int32_t day) const {
    while (!business(day)) --day;
    return day;
  }
  bool business(std::int32_t d) const {
    const int weekday = static_cast<int>(((d % 7) + 10) % 7);  // 0 = Monday; 1970-01-01 was a Thursday
    return weekday < 5 && !days_.count(d);
  }
  std::size_t size() const { return days_.size(); }

 private:
  std::set<std::int32_t> days_;
};

}  // namespace cshealthd::testing
