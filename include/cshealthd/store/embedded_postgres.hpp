#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "cshealthd/base/process.hpp"

namespace cshealthd::store {

struct EmbeddedOptions {
  std::filesystem::path state_dir;  // the cluster lives in <state_dir>/pg
  std::string bin_dir;              // empty: discover
  int port = 5432;                  // names the socket file only
  bool fsync = true;
  std::chrono::milliseconds startup_timeout{60'000};
  std::string run_as = "postgres";  // used only when this process is root
  bool die_with_parent = true;      // the test harness keeps its cluster alive between processes
  bool supervise = true;            // restart the server (with backoff) if it dies while we run
  std::string database = "cshealthd";
};

// A private PostgreSQL cluster: initdb on first use, a unix socket inside the (0700) data directory,
// no TCP, trust authentication (only this account, or root, can reach the socket). Started and stopped
// with the owner; a cluster orphaned by a killed predecessor is stopped and started afresh.
class EmbeddedPostgres {
 public:
  explicit EmbeddedPostgres(EmbeddedOptions options);
  ~EmbeddedPostgres();
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  void start();  // throws StoreError with the tail of the server log on failure
  // Fast shutdown (SIGINT), then immediate (SIGQUIT) after `timeout`, then SIGKILL.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running() { return child_.valid() && !child_.try_wait(); }

  std::string conninfo() const { return conninfo_for(options_.database); }
  std::string conninfo_for(const std::string& database) const;
  std::filesystem::path data_dir() const { return options_.state_dir / "pg"; }
  std::filesystem::path log_path() const { return options_.state_dir / "postgres.log"; }
  pid_t pid() const { return child_.pid(); }
  int restarts() const { return restarts_.load(); }  // times the supervisor brought the server back

  // Stops the cluster whose postmaster.pid is in `data_dir` (not necessarily our child). Returns false if
  // none was running.
  static bool stop_running(const std::filesystem::path& data_dir, std::chrono::milliseconds timeout);
  static std::string find_bin_dir(const std::string& configured);

 private:
  void prepare_state_dir();
  void check_state_dir_owner() const;
  void init_cluster();
  void spawn_server();
  void wait_until_ready();
  void supervise();
  void stop_supervisor();
  void ensure_database();
  std::string log_tail() const;

  void lock_state_dir();

  EmbeddedOptions options_;
  int lock_fd_ = -1;  // flock on <state_dir>/embedded.lock: one owner per cluster
  std::string bin_dir_;
  std::optional<process::UserIds> run_as_;
  process::Child child_;  // touched by the supervisor thread only, until stop() has joined it

  std::thread supervisor_;
  std::atomic<bool> stopping_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<int> restarts_{0};
};

// Quotes a value for a libpq key=value conninfo string.
std::string conninfo_quote(const std::string& value);

}  // namespace cshealthd::store
