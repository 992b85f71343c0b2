#include "cshealthd/base/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace cshealthd::process {
namespace {

int decode_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return 255;
}

// Only async-signal-safe calls between fork and exec: write the failure and _exit.
[[noreturn]] void child_fail(const char* what) {
  const char* err = strerror(errno);
  (void)!write(STDERR_FILENO, what, strlen(what));
  (void)!write(STDERR_FILENO, ": ", 2);
  (void)!write(STDERR_FILENO, err, strlen(err));
  (void)!write(STDERR_FILENO, "\n", 1);
  _exit(127);
}

}  // namespace

std::optional<UserIds> lookup_user(const std::string& name) {
  struct passwd pw {};
  struct passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return std::nullopt;
  }
  return UserIds{name, pw.pw_uid, pw.pw_gid};
}

bool running_as_root() {
  return geteuid() == 0;
}

Child& Child::operator=(Child&& other) noexcept {
  pid_ = other.pid_;
  status_ = other.status_;
  other.pid_ = -1;
  return *this;
}

Child::~Child() = default;

std::optional<int> Child::try_wait() {
  if (status_ || pid_ <= 0) return status_;
  int raw = 0;
  const pid_t r = waitpid(pid_, &raw, WNOHANG);
  if (r == pid_) status_ = decode_status(raw);
  return status_;
}

int Child::wait() {
  if (status_ || pid_ <= 0) return status_.value_or(-1);
  int raw = 0;
  while (waitpid(pid_, &raw, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  status_ = decode_status(raw);
  return *status_;
}

std::optional<int> Child::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto s = try_wait()) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool Child::signal(int sig) const {
  return pid_ > 0 && !status_ && ::kill(pid_, sig) == 0;
}

Child spawn(const SpawnOptions& options) {
  if (options.argv.empty()) throw SpawnError("spawn: empty argv");
  if (options.run_as && !running_as_root()) throw SpawnError("spawn: switching user needs root");

  // Everything the child needs is prepared before fork: no allocation after it.
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    const bool scrubbed = std::any_of(options.scrub_env_prefixes.begin(), options.scrub_env_prefixes.end(),
                                      [&](const std::string& p) { return entry.rfind(p, 0) == 0; });
    if (!scrubbed) env_store.emplace_back(entry);
  }
  // An extra entry replaces an inherited (or earlier extra) one of the same name: with two, getenv()
  // would return the first, and the caller's setting would silently not apply.
  for (const auto& e : options.extra_env) {
    const std::string key = e.substr(0, e.find('=') + 1);
    std::erase_if(env_store, [&](const std::string& v) { return v.rfind(key, 0) == 0; });
    env_store.push_back(e);
  }
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_fd = -1;
  if (!options.output_path.empty()) {
    // Not through a symbolic link: the log may sit in a directory another account can write to.
    out_fd =
        ::open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out_fd < 0) throw SpawnError("cannot open " + options.output_path + ": " + strerror(errno));
    if (options.run_as && fchown(out_fd, options.run_as->uid, options.run_as->gid) != 0) {
      ::close(out_fd);
      throw SpawnError("cannot chown " + options.output_path + ": " + strerror(errno));
    }
  }
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    if (out_fd >= 0) ::close(out_fd);
    throw SpawnError(std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    if (options.new_process_group && setpgid(0, 0) != 0) child_fail("setpgid");
    if (out_fd >= 0) {
      if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0) child_fail("dup2");
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (options.run_as) {
      if (setgroups(0, nullptr) != 0) child_fail("setgroups");
      if (setgid(options.run_as->gid) != 0) child_fail("setgid");
      if (setuid(options.run_as->uid) != 0) child_fail("setuid");
    }
    // After the credential change: changing credentials clears the parent-death signal.
    if (options.parent_death_signal != 0) {
      if (prctl(PR_SET_PDEATHSIG, options.parent_death_signal) != 0) child_fail("prctl");
      if (getppid() != parent) _exit(1);  // the parent already died
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    child_fail(argv[0]);
  }
  if (out_fd >= 0) ::close(out_fd);
  return Child(pid);
}

int run(const SpawnOptions& options) {
  Child c = spawn(options);
  return c.wait();
}

bool pid_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

std::uint64_t raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur;
}

void set_core_dumps(bool allowed) {
  rlimit lim{};
  if (getrlimit(RLIMIT_CORE, &lim) == 0) {
    lim.rlim_cur = allowed ? lim.rlim_max : 0;
    setrlimit(RLIMIT_CORE, &lim);
  }
  prctl(PR_SET_DUMPABLE, allowed ? 1 : 0);
}

}  // namespace cshealthd::process
