#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "cshealthd/config/config.hpp"
#include "cshealthd/scoring/scoring_config.hpp"

namespace cshealthd::app {

struct ScoreOptions {
  std::string as_of;  // YYYY-MM-DD; empty: today (UTC)
  std::optional<std::int64_t> company;
  bool explain = false;
  bool json = false;
  int backfill = 1;  // days ending at as_of, oldest first
};
int run_score(const config::Config& config, const ScoreOptions& options);

struct OverrideOptions {
  std::string action;  // set | revoke | list
  std::int64_t company = 0;
  std::string component;  // "" = the whole score
  double value = 0;
  std::string reason, author, expires;
};
int run_override(const config::Config& config, const OverrideOptions& options);

}  // namespace cshealthd::app
