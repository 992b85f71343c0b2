#include "cshealthd/store/embedded_postgres.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstring>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "cshealthd/store/errors.hpp"

namespace cshealthd::store {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSuperuser = "cshealthd";
constexpr std::size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1

[[noreturn]] void fail(const std::string& what) {
  throw StoreError(StoreError::Kind::kPermanent, what);
}

void chown_to(const fs::path& p, const std::optional<process::UserIds>& user) {
  if (user && ::chown(p.c_str(), user->uid, user->gid) != 0) {
    fail("embedded postgres: cannot chown " + p.string() + " to " + user->name);
  }
}

pid_t read_postmaster_pid(const fs::path& data_dir) {
  std::ifstream in(data_dir / "postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return -1;
  return static_cast<pid_t>(pid);
}

bool is_postgres_process(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm.find("postgres") != std::string::npos || comm.find("postmaster") != std::string::npos;
}

// Whether `user` may search (traverse) directory `dir`, by its mode bits (supplementary groups aside).
bool can_traverse(const fs::path& dir, const process::UserIds& user) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  if (st.st_uid == user.uid) return st.st_mode & S_IXUSR;
  if (st.st_gid == user.gid) return st.st_mode & S_IXGRP;
  return st.st_mode & S_IXOTH;
}

}  // namespace

std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

EmbeddedPostgres::EmbeddedPostgres(EmbeddedOptions options) : options_(std::move(options)) {
  options_.state_dir = fs::absolute(options_.state_dir).lexically_normal();
}

EmbeddedPostgres::~EmbeddedPostgres() {
  stop_supervisor();
  if (options_.die_with_parent) stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void EmbeddedPostgres::lock_state_dir() {
  if (lock_fd_ >= 0) return;
  const auto path = options_.state_dir / "embedded.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail("state_dir: cannot open " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const auto n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    fail("state_dir " + options_.state_dir.string() + " is in use by another cshealthd process (pid " +
         std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) +
         "); stop it, or point this one at its database with database.url");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("embedded postgres: cannot record the owner pid in {}", path.string());
  }
  lock_fd_ = fd;
}

std::string EmbeddedPostgres::find_bin_dir(const std::string& configured) {
  if (!configured.empty()) {
    if (!fs::exists(fs::path(configured) / "initdb"))
      fail("database.embedded.bin_dir: no initdb in " + configured);
    return configured;
  }
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto bin = entry.path() / "bin";
    if (fs::exists(bin / "initdb") && fs::exists(bin / "postgres")) {
      found.emplace_back(std::atoi(entry.path().filename().c_str()), bin);
    }
  }
  if (!found.empty()) return std::max_element(found.begin(), found.end())->second.string();
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string dir; std::getline(ss, dir, ':');) {
      if (fs::exists(fs::path(dir) / "initdb") && fs::exists(fs::path(dir) / "postgres")) return dir;
    }
  }
  fail(
      "embedded postgres: no PostgreSQL server binaries found (install the postgresql package or set "
      "database.embedded.bin_dir)");
}

void EmbeddedPostgres::prepare_state_dir() {
  std::error_code ec;
  fs::create_directories(options_.state_dir, ec);
  if (ec) fail("state_dir: cannot create " + options_.state_dir.string() + ": " + ec.message());
  check_state_dir_owner();
  if (process::running_as_root()) {
    run_as_ = process::lookup_user(options_.run_as);
    if (!run_as_) {
      fail("database.embedded.run_as: PostgreSQL refuses to run as root and there is no account '" +
           options_.run_as + "'");
    }
    // The server account must be able to reach <state_dir>/pg; search permission is enough. The state
    // dir is ours to open up; its parents are the operator's, so those are only checked.
    struct stat st {};
    if (::stat(options_.state_dir.c_str(), &st) == 0 && st.st_uid != run_as_->uid &&
        !(st.st_mode & S_IXOTH)) {
      ::chmod(options_.state_dir.c_str(), (st.st_mode & 07777) | S_IXOTH);
    }
    for (fs::path p = options_.state_dir.parent_path(); !p.empty(); p = p.parent_path()) {
      if (!can_traverse(p, *run_as_)) {
        fail("state_dir: the " + options_.state_dir.string() + " cluster runs as '" + run_as_->name +
             "', which cannot enter " + p.string() + "; allow it (chmod o+x " + p.string() +
             ") or choose a state_dir under /var/lib");
      }
      if (p == p.root_path()) break;
    }
  }
  const auto socket = data_dir() / (".s.PGSQL." + std::to_string(options_.port));
  if (socket.string().size() > kMaxSocketPath) {
    fail("state_dir: path too long for a unix socket (" + socket.string() + "); use a shorter state_dir");
  }
}

// The state dir holds the database and the files this process writes while root: another account able
// to write in it could plant a link and have us write through it, or read the data.
void EmbeddedPostgres::check_state_dir_owner() const {
  struct stat st {};
  if (::stat(options_.state_dir.c_str(), &st) != 0)
    fail("state_dir: cannot stat " + options_.state_dir.string() + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) fail("state_dir: " + options_.state_dir.string() + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    fail("state_dir: " + options_.state_dir.string() + " belongs to uid " + std::to_string(st.st_uid) +
         ", not to this process (uid " + std::to_string(::geteuid()) + "); chown it or choose another");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail("state_dir: " + options_.state_dir.string() + " is writable by other accounts (mode " + mode +
         "); chmod go-w it");
  }
}

void EmbeddedPostgres::init_cluster() {
  const fs::path data = data_dir();
  if (fs::exists(data / "PG_VERSION")) return;
  if (fs::exists(data) && !fs::is_empty(data)) {
    fail("embedded postgres: " + data.string() + " exists but holds no cluster; move it away");
  }
  // initdb into a scratch directory and rename it into place, so a crash mid-initdb leaves nothing
  // that looks like a cluster.
  const fs::path scratch = options_.state_dir / "pg.initdb";
  fs::remove_all(scratch);
  fs::remove_all(data);
  fs::create_directory(scratch);
  fs::permissions(scratch, fs::perms::owner_all, fs::perm_options::replace);
  chown_to(scratch, run_as_);

  spdlog::info("embedded postgres: initialising a new cluster in {}", data.string());
  process::SpawnOptions opts;
  opts.argv = {bin_dir_ + "/initdb", "-D", scratch.string(), "-U", kSuperuser, "-A", "trust", "-E", "UTF8",
               "--locale=C"};
  if (!options_.fsync) opts.argv.push_back("--no-sync");
  opts.run_as = run_as_;
  opts.output_path = log_path().string();
  opts.scrub_env_prefixes = {"CSHEALTHD_"};  // the server has no business with the service's secrets
  if (const int rc = process::run(opts); rc != 0) {
    fail("embedded postgres: initdb failed (exit " + std::to_string(rc) + "): " + log_tail());
  }
  fs::rename(scratch, data);
}

bool EmbeddedPostgres::stop_running(const fs::path& data_dir, std::chrono::milliseconds timeout) {
  const pid_t pid = read_postmaster_pid(data_dir);
  if (pid <= 0 || !process::pid_alive(pid) || !is_postgres_process(pid)) return false;
  ::kill(pid, SIGINT);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process::pid_alive(pid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  if (process::pid_alive(pid)) {
    ::kill(pid, SIGQUIT);
    const auto hard = std::chrono::steady_clock::now() + 5s;
    while (process::pid_alive(pid) && std::chrono::steady_clock::now() < hard)
      std::this_thread::sleep_for(20ms);
  }
  return true;
}

void EmbeddedPostgres::start() {
  if (running()) return;
  bin_dir_ = find_bin_dir(options_.bin_dir);
  prepare_state_dir();
  lock_state_dir();
  init_cluster();
  // Holding the lock, any server still running on this data directory lost its owner (kill -9).
  if (stop_running(data_dir(), 10s)) {
    spdlog::warn("embedded postgres: stopped a cluster left running by an earlier process");
  }

  spawn_server();
  wait_until_ready();
  ensure_database();
  if (options_.supervise) {
    stopping_ = false;
    supervisor_ = std::thread([this] { supervise(); });
  }
}

void EmbeddedPostgres::spawn_server() {
  process::SpawnOptions opts;
  opts.argv = {bin_dir_ + "/postgres", "-D", data_dir().string(), "-k", data_dir().string(), "-h", "", "-p",
               std::to_string(options_.port), "-c", "max_connections=100",
               // A new WAL segment is created by writing its last byte, not 16 MB of zeros: a first sync
               // fills segments as fast as PostgreSQL can write them, and zero-filling each was a twentieth
               // of the CPU of the whole sync. WAL is written (and fsynced) before it counts either way.
               "-c", "wal_init_zero=off"};
  if (!options_.fsync) {
    for (const char* s : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      opts.argv.push_back("-c");
      opts.argv.push_back(s);
    }
  }
  opts.run_as = run_as_;
  opts.output_path = log_path().string();
  opts.scrub_env_prefixes = {"CSHEALTHD_"};
  opts.new_process_group = true;  // a terminal's Ctrl-C reaches us, and we stop the cluster in order
  if (options_.die_with_parent) opts.parent_death_signal = SIGINT;
  child_ = process::spawn(opts);
  spdlog::info("embedded postgres: started pid {} (socket in {})", child_.pid(), data_dir().string());
}

// Restarts a server that died under us (OOM killer, a crash, an operator's kill), backing off from 1 s
// to 30 s between failed attempts, so the service recovers without a restart of its own.
void EmbeddedPostgres::supervise() {
  int failures = 0;
  while (!stopping_) {
    {
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, 250ms, [&] { return stopping_.load(); });
    }
    if (stopping_) break;
    const auto status = child_.try_wait();
    if (!status) continue;
    spdlog::error("embedded postgres: server exited unexpectedly (status {}): {}", *status, log_tail());
    const auto backoff = std::chrono::seconds(std::min(30, 1 << std::min(failures, 5)));
    {
      std::unique_lock lock(wake_mutex_);
      if (wake_.wait_for(lock, backoff, [&] { return stopping_.load(); })) break;
    }
    try {
      spawn_server();
      ++restarts_;  // before it is ready, so nobody sees a recovered server with an old count
      wait_until_ready();
      failures = 0;
      spdlog::warn("embedded postgres: restarted (pid {})", child_.pid());
    } catch (const std::exception& e) {
      ++failures;
      spdlog::error("embedded postgres: restart failed: {}", e.what());
    }
  }
}

void EmbeddedPostgres::wait_until_ready() {
  const auto deadline = std::chrono::steady_clock::now() + options_.startup_timeout;
  const std::string probe = conninfo_for("postgres") + " connect_timeout=2";
  while (true) {
    if (auto status = child_.try_wait()) {
      fail("embedded postgres: server exited during start-up (status " + std::to_string(*status) +
           "): " + log_tail());
    }
    if (PQping(probe.c_str()) == PQPING_OK) return;
    if (stopping_) fail("embedded postgres: stopping during start-up");
    if (std::chrono::steady_clock::now() >= deadline) {
      stop(5s);
      fail("embedded postgres: not ready within database.embedded.startup_timeout_ms: " + log_tail());
    }
    std::this_thread::sleep_for(50ms);
  }
}

void EmbeddedPostgres::ensure_database() {
  try {
    pqxx::connection c(conninfo_for("postgres"));
    pqxx::nontransaction tx(c);
    const auto r = tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", options_.database);
    if (r.empty()) {
      try {
        tx.exec("CREATE DATABASE " + tx.quote_name(options_.database));
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "42P04") throw;  // another process created it first
      }
    }
  } catch (...) {
    rethrow_as_store_error("embedded postgres: create database " + options_.database);
  }
}

void EmbeddedPostgres::stop_supervisor() {
  stopping_ = true;
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
}

void EmbeddedPostgres::stop(std::chrono::milliseconds timeout) {
  stop_supervisor();
  if (!child_.valid() || child_.try_wait()) return;
  child_.signal(SIGINT);
  if (!child_.wait_for(timeout)) {
    spdlog::warn("embedded postgres: fast shutdown took longer than {} ms; forcing", timeout.count());
    child_.signal(SIGQUIT);
    if (!child_.wait_for(5s)) child_.signal(SIGKILL);
  }
  child_.wait();
  spdlog::info("embedded postgres: stopped");
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

std::string EmbeddedPostgres::conninfo_for(const std::string& database) const {
  return "host=" + conninfo_quote(data_dir().string()) + " port=" + std::to_string(options_.port) +
         " user=" + kSuperuser + " dbname=" + conninfo_quote(database);
}

std::string EmbeddedPostgres::log_tail() const {
  std::ifstream in(log_path());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > 8) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : " | ") + l;
  return out.empty() ? "(no server log)" : out;
}

}  // namespace cshealthd::store
