#include "daemon.hpp"

#include "cshealthd/core/time.hpp"
#include "cshealthd/http/client.hpp"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace cshealthd::testing {
namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string utc_day(int offset_days) {
  const auto days =
      std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch())
          .count() /
      24;
  return core::format_day(static_cast<std::int32_t>(days) + offset_days);
}

std::string cshealthd_binary() {
  return CSHEALTHD_BIN_PATH;
}
std::string cshealthd_product_binary() {
  return CSHEALTHD_PRODUCT_BIN_PATH;
}
std::string hubspot_sim_binary() {
  return HUBSPOT_SIM_BIN_PATH;
}

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  process::SpawnOptions spawn;
  spawn.argv.push_back(options_.binary);
  for (const auto& a : options_.args) spawn.argv.push_back(a);
  spawn.extra_env = options_.env;
  spawn.run_as = options_.run_as;
  spawn.output_path = options_.log_path.string();
  child_ = process::spawn(spawn);
}

Daemon::~Daemon() {
  if (child_.valid() && !child_.try_wait()) {
    child_.signal(SIGKILL);
    child_.wait();
  }
}

std::string Daemon::log() const {
  std::ifstream in(options_.log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::uint16_t Daemon::wait_listening(std::chrono::milliseconds timeout) {
  static const std::regex kListening(R"(listening on [0-9.]+:([0-9]+))");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string text = log();
    if (std::regex_search(text, m, kListening)) return static_cast<std::uint16_t>(std::stoi(m[1]));
    if (child_.try_wait()) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return 0;
}

std::optional<int> Daemon::wait_exit(std::chrono::milliseconds timeout) {
  return child_.wait_for(timeout);
}

SimProcess::SimProcess(const TempDir& dir, const std::vector<std::string>& args) {
  DaemonOptions o;
  o.binary = hubspot_sim_binary();
  o.args = {"--listen", "127.0.0.1:0", "--token", "T", "--rate-limit", "off", "--search-rate", "off"};
  o.args.insert(o.args.end(), args.begin(), args.end());
  o.log_path = dir.path() / "sim.log";
  daemon = std::make_unique<Daemon>(o);
  port = daemon->wait_listening(std::chrono::seconds(60));
}

nlohmann::json SimProcess::get(const std::string& path) const {
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + path;
  r.timeout = std::chrono::seconds(60);
  return nlohmann::json::parse(http::fetch(r).body);
}

RunResult run_cshealthd(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return run_process(cshealthd_binary(), args, env);
}

RunResult run_process(const std::string& binary, const std::vector<std::string>& args,
                      const std::vector<std::string>& env) {
  TempDir dir("cshealthd-run");
  const auto out = dir.path() / "output";
  process::SpawnOptions spawn;
  spawn.argv.push_back(binary);
  for (const auto& a : args) spawn.argv.push_back(a);
  spawn.extra_env = env;
  spawn.output_path = out.string();
  RunResult r;
  r.status = process::run(spawn);
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

}  // namespace cshealthd::testing
