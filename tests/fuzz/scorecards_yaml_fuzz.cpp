// Scorecard, segment and signal YAML: the fuzzed text stands in for one of the shipped files (the first
// byte picks which); the set loads or is refused with a ConfigError, nothing else.
#include <cstdint>
#include <string>
#include <vector>

#include "cshealthd/config/config.hpp"
#include "cshealthd/scoring/scoring_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto files = cshealthd::scoring::embedded_scorecards();
  auto& replaced = files[data[0] % files.size()];
  replaced.text.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    (void)cshealthd::scoring::parse_scoring(files, cshealthd::core::StatusBands{});
  } catch (const cshealthd::config::ConfigError&) {
  }
  return 0;
}
