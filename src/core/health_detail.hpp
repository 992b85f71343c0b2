#pragma once
// Helpers the score (health.cpp) and the signals (signals.cpp) share; not part of core's interface.

#include <optional>
#include <string>
#include <vector>

#include "cshealthd/core/health.hpp"

namespace cshealthd::core::detail {

// An empty set allows every value.
bool allowed(const std::vector<std::string>& set, const std::string& v);
// A number as people read it: at most two decimals, no trailing zeros.
std::string fmt(double v);
// The end of the as-of day: events strictly before it count.
EpochMs end_of(const CompanyInputs& in);
// A metric on the as-of day: the day's snapshot, else the current value.
std::optional<double> metric_now(const CompanyInputs& in, Metric m);

}  // namespace cshealthd::core::detail
