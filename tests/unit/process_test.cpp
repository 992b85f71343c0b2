// process::spawn, as the daemon runner and the embedded PostgreSQL use it.
#include "cshealthd/base/process.hpp"

#include <stdlib.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon.hpp"

namespace cshealthd::process {
namespace {

TEST(SpawnTest, ExtraEnvironmentReplacesInheritedAndEarlierEntries) {
  // The child's whole environment: a name given twice would reach it twice, and getenv() (glibc: the
  // first entry) would ignore the caller's setting.
  testing::TempDir dir;
  setenv("CSHEALTHD_PROCESS_TEST", "inherited", 1);
  SpawnOptions o;
  o.argv = {"/usr/bin/env"};
  o.extra_env = {"CSHEALTHD_PROCESS_TEST=first", "CSHEALTHD_PROCESS_OTHER=kept",
                 "CSHEALTHD_PROCESS_TEST=second"};
  o.output_path = (dir.path() / "out").string();
  EXPECT_EQ(run(o), 0);
  unsetenv("CSHEALTHD_PROCESS_TEST");
  std::ifstream in(o.output_path);
  std::vector<std::string> ours;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CSHEALTHD_PROCESS_", 0) == 0) ours.push_back(line);
  }
  EXPECT_EQ(ours,
            (std::vector<std::string>{"CSHEALTHD_PROCESS_OTHER=kept", "CSHEALTHD_PROCESS_TEST=second"}));
}

}  // namespace
}  // namespace cshealthd::process
