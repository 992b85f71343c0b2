#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cshealthd::process {

struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The account `name` from the password database, or nullopt.
std::optional<UserIds> lookup_user(const std::string& name);
bool running_as_root();

struct SpawnOptions {
  std::vector<std::string> argv;       // argv[0] is the program path
  std::optional<UserIds> run_as;       // switch to this user (the caller must be root)
  std::string output_path;             // stdout+stderr appended here; empty = inherit
  bool new_process_group = false;      // a terminal's Ctrl-C then does not reach the child
  int parent_death_signal = 0;         // delivered to the child if this process dies first
  std::vector<std::string> extra_env;  // "KEY=VALUE" entries added to the inherited environment
  // Inherited variables whose names start with one of these are not passed on (a child that has no
  // business with the service's secrets, such as the database server, gets none of CSHEALTHD_*).
  std::vector<std::string> scrub_env_prefixes;
};

class SpawnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(Child&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }
  Child& operator=(Child&& other) noexcept;
  ~Child();  // a child still running is left running (the owner decides how it ends)

  pid_t pid() const { return pid_; }
  bool valid() const { return pid_ > 0; }
  // Exit status (0–255, or 128+signal) once the child ended; nullopt while it runs.
  std::optional<int> try_wait();
  int wait();
  // Waits up to `timeout`; nullopt if still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  bool signal(int sig) const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

Child spawn(const SpawnOptions& options);

// Runs to completion and returns the exit status.
int run(const SpawnOptions& options);

// True while a process with this pid exists (for processes that are not our children).
bool pid_alive(pid_t pid);

// Raises the soft limit on open files to the hard limit; returns the soft limit now in force.
std::uint64_t raise_fd_limit();
// Allows or forbids core dumps (RLIMIT_CORE; and the dumpable flag, so a core cannot be had by ptrace
// either when forbidden). A core holds every secret the process read.
void set_core_dumps(bool allowed);

}  // namespace cshealthd::process
