#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cshealthd/base/process.hpp"

namespace cshealthd::testing {

// A temporary directory removed (with everything in it) at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "cshealthd-test");
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The paths of the binaries under test (baked in by CMake): the daemon as the tests run it (the product's
// main with a clock the harness can drive), the product itself, and the simulator.
std::string cshealthd_binary();
std::string cshealthd_product_binary();
std::string hubspot_sim_binary();

struct DaemonOptions {
  std::vector<std::string> args = {"serve"};
  std::vector<std::string> env;  // "KEY=VALUE", added to the inherited environment
  std::optional<process::UserIds> run_as;
  std::string binary = cshealthd_binary();
  std::filesystem::path log_path;  // stdout+stderr; required
};

// The real cshealthd executable, run as a child process, as an operator would run it.
class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();  // SIGKILL if still running

  // Port from the "listening on HOST:PORT" log line; 0 if the process exited or the time ran out.
  std::uint16_t wait_listening(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool signal(int sig) { return child_.signal(sig); }
  std::string log() const;
  pid_t pid() const { return child_.pid(); }

 private:
  DaemonOptions options_;
  process::Child child_;
};

// The hubspot-sim binary on a free port, token "T", limits off; `args` adds to that (--seed, --generate,
// --faults, ...). `port` is 0 when it did not start (its log is in `dir`).
struct SimProcess {
  SimProcess(const TempDir& dir, const std::vector<std::string>& args);
  nlohmann::json get(const std::string& path) const;  // an inspection endpoint (/__sim/...)
  std::unique_ptr<Daemon> daemon;
  std::uint16_t port = 0;
};

// Runs the binary to completion; returns exit status and combined output.
struct RunResult {
  int status = -1;
  std::string output;
};
RunResult run_cshealthd(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
RunResult run_process(const std::string& binary, const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {});

// Today in UTC plus `offset_days`, as YYYY-MM-DD: for dates a test hands the service that must stay ahead of
// the real clock (expiries, snoozes) or be its today (what a score as of the day sees is what was known by
// its end). Pair it with CSHEALTHD_SCHEDULE_TIME_ZONE=UTC where the service's today matters.
std::string utc_day(int offset_days = 0);

}  // namespace cshealthd::testing
