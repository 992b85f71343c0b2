#pragma once
// The plays file, which operators write: parsed and checked (errors name file:line), without a database.
#include <string>
#include <vector>

#include "cshealthd/core/plays.hpp"

namespace cshealthd::plays {

// Parses a plays file for `locale` ("en" | "ja"); ConfigError names `where` with the line.
core::PlaysConfig parse_plays(const std::string& text, const std::string& where, const std::string& locale);
// The shipped plays file (config/scorecards/plays.yaml), compiled in.
struct PlaysFile {
  std::string name, text;
};
const std::vector<PlaysFile>& embedded_plays_files();
const std::string& shipped_plays();

}  // namespace cshealthd::plays
