// `cshealthd serve` as an operator runs it: embedded PostgreSQL life cycle (root and non-root), restart
// on the same state dir, kill -9, a second instance on the same state dir, an external database.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "cshealthd/base/process.hpp"
#include "daemon.hpp"
#include "raw_http.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::Daemon;
using testing::DaemonOptions;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

// As root the cluster runs as `postgres`, which must be able to enter the (private) temp dir.
const TempDir& traversable(const TempDir& dir) {
  ::chmod(dir.path().c_str(), 0711);
  return dir;
}

std::vector<std::string> embedded_env(const fs::path& state) {
  return {"CSHEALTHD_STATE_DIR=" + state.string(), "CSHEALTHD_HTTP_LISTEN=127.0.0.1:0"};
}

Daemon start(std::vector<std::string> env, const fs::path& log, std::optional<process::UserIds> as = {},
             std::string binary = testing::cshealthd_binary()) {
  DaemonOptions o;
  o.env = std::move(env);
  o.log_path = log;
  o.run_as = as;
  o.binary = std::move(binary);
  return Daemon(o);
}

// Polls /readyz until 200 or the time is up; returns the last status.
int wait_ready(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = testing::http_request(port, "GET", "/readyz").status;
    if (status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  return status;
}

pid_t postmaster_pid(const fs::path& state) {
  std::ifstream in(state / "pg" / "postmaster.pid");
  long pid = -1;
  in >> pid;
  return static_cast<pid_t>(pid);
}

bool gone_within(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process::pid_alive(pid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  return !process::pid_alive(pid);
}

std::string embedded_conninfo(const fs::path& state) {
  return "host=" + (state / "pg").string() + " port=5432 user=cshealthd dbname=cshealthd";
}

uid_t owner_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_uid;
}

TEST(ServeTest, EmbeddedClusterStartsServesStopsAndIsReused) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  Daemon first = start(embedded_env(state), dir.path() / "first.log");
  const auto port = first.wait_listening(15s);
  ASSERT_NE(port, 0) << first.log() << " exit " << first.wait_exit(std::chrono::milliseconds(1)).value_or(-1);
  EXPECT_EQ(testing::http_request(port, "GET", "/healthz").status, 200);
  ASSERT_EQ(wait_ready(port, 15s), 200) << first.log();
  auto metrics = testing::http_request(port, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.header("content-type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(metrics.body, HasSubstr("cshealthd_build_info{"));
  EXPECT_THAT(metrics.body,
              HasSubstr("cshealthd_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"));

  // PostgreSQL refuses to run as root: then the cluster belongs to the postgres account.
  if (process::running_as_root()) {
    EXPECT_EQ(owner_of(state / "pg"), process::lookup_user("postgres")->uid);
  } else {
    EXPECT_EQ(owner_of(state / "pg"), getuid());
  }
  {
    pqxx::connection c(embedded_conninfo(state));
    pqxx::work tx(c);
    tx.exec("CREATE TABLE marker (v text); INSERT INTO marker VALUES ('kept')");
    tx.exec("SELECT 1 FROM service_instances");  // migrated on start
    tx.commit();
  }
  const pid_t pg = postmaster_pid(state);
  ASSERT_GT(pg, 0);

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(first.signal(SIGTERM));
  const auto status = first.wait_exit(5s);
  ASSERT_TRUE(status.has_value()) << "did not exit within 5 s\n" << first.log();
  EXPECT_EQ(*status, 0) << first.log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(gone_within(pg, 1s)) << "postgres left behind";
  EXPECT_FALSE(fs::exists(state / "pg" / "postmaster.pid"));

  Daemon second = start(embedded_env(state), dir.path() / "second.log");
  const auto port2 = second.wait_listening(15s);
  ASSERT_NE(port2, 0) << second.log();
  ASSERT_EQ(wait_ready(port2, 15s), 200);
  EXPECT_THAT(second.log(), Not(HasSubstr("initialising a new cluster")));
  {
    pqxx::connection c(embedded_conninfo(state));
    pqxx::nontransaction tx(c);
    EXPECT_EQ(tx.exec("SELECT v FROM marker")[0][0].as<std::string>(), "kept");
  }
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait_exit(5s).value_or(-1), 0);
}

TEST(ServeTest, RunsAsAnUnprivilegedAccount) {
  if (!process::running_as_root()) {
    GTEST_SKIP() << "the unprivileged path is what every other test here runs; switching accounts needs root";
  }
  const auto nobody = process::lookup_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  // The build tree may sit where `nobody` cannot reach: run a copy of the binary.
  const auto bin = dir.path() / "cshealthd";
  fs::copy_file(testing::cshealthd_binary(), bin);
  fs::permissions(bin, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  const auto state = dir.path() / "state";
  fs::create_directory(state);
  ASSERT_EQ(::chown(state.c_str(), nobody->uid, nobody->gid), 0);

  Daemon d = start(embedded_env(state), dir.path() / "nobody.log", nobody, bin.string());
  const auto port = d.wait_listening(20s);
  ASSERT_NE(port, 0) << d.log();
  ASSERT_EQ(wait_ready(port, 15s), 200);
  EXPECT_EQ(owner_of(state / "pg"), nobody->uid);  // initdb and postgres ran as the service's own account
  const pid_t pg = postmaster_pid(state);
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(5s).value_or(-1), 0) << d.log();
  EXPECT_TRUE(gone_within(pg, 1s));
}

TEST(ServeTest, KillNineLeavesNoOrphanAndRestartRecovers) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  {
    Daemon d = start(embedded_env(state), dir.path() / "a.log");
    const auto port = d.wait_listening(15s);
    ASSERT_NE(port, 0) << d.log();
    ASSERT_EQ(wait_ready(port, 15s), 200);
    const pid_t pg = postmaster_pid(state);
    d.signal(SIGKILL);
    d.wait_exit(5s);
    // The parent-death signal makes the orphaned cluster shut itself down.
    EXPECT_TRUE(gone_within(pg, 10s)) << "postgres outlived a kill -9 of the service";
  }
  Daemon again = start(embedded_env(state), dir.path() / "b.log");
  const auto port = again.wait_listening(15s);
  ASSERT_NE(port, 0) << again.log();
  EXPECT_EQ(wait_ready(port, 15s), 200);
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait_exit(5s).value_or(-1), 0);
}

TEST(ServeTest, CrashedEmbeddedPostgresIsRestarted) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  Daemon d = start(embedded_env(state), dir.path() / "d.log");
  const auto port = d.wait_listening(15s);
  ASSERT_NE(port, 0) << d.log();
  ASSERT_EQ(wait_ready(port, 15s), 200);
  const pid_t pg = postmaster_pid(state);
  ASSERT_EQ(::kill(pg, SIGKILL), 0);
  ASSERT_TRUE(gone_within(pg, 5s));
  int status = 200;  // backends notice the postmaster's death within moments
  for (int i = 0; i < 100 && status == 200; ++i) {
    status = testing::http_request(port, "GET", "/readyz").status;
    if (status == 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 503);
  EXPECT_EQ(wait_ready(port, 20s), 200) << d.log();  // back without restarting the service
  EXPECT_NE(postmaster_pid(state), pg);
  EXPECT_THAT(testing::http_request(port, "GET", "/metrics").body,
              HasSubstr("cshealthd_embedded_postgres_restarts 1"));
  EXPECT_THAT(d.log(), HasSubstr("server exited unexpectedly"));
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(5s).value_or(-1), 0) << d.log();
}

TEST(ServeTest, SecondInstanceOnSameStateDirIsRefused) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  Daemon first = start(embedded_env(state), dir.path() / "a.log");
  const auto port = first.wait_listening(15s);
  ASSERT_NE(port, 0) << first.log();
  ASSERT_EQ(wait_ready(port, 15s), 200);
  Daemon second = start(embedded_env(state), dir.path() / "b.log");
  const auto status = second.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 1);
  EXPECT_THAT(second.log(), HasSubstr("in use by another cshealthd process"));
  EXPECT_EQ(testing::http_request(port, "GET", "/readyz").status, 200);  // the first is untouched
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait_exit(5s).value_or(-1), 0);
}

TEST(ServeTest, UnreachableStateDirNamesTheDirectory) {
  if (!process::running_as_root()) GTEST_SKIP() << "only root hands the cluster to another account";
  TempDir dir;  // 0700, owned by root: postgres cannot enter it
  Daemon d = start(embedded_env(dir.path() / "state"), dir.path() / "d.log");
  EXPECT_EQ(d.wait_exit(15s).value_or(-1), 1);
  EXPECT_THAT(d.log(), HasSubstr("cannot enter " + dir.path().string()));
}

TEST(ServeTest, ExternalDatabaseStartsNoClusterAndRegistersInstance) {
  testing::TestDatabase db(/*migrated=*/false);
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  auto env = embedded_env(state);
  env.push_back("CSHEALTHD_DATABASE_URL=" + db.conninfo());
  Daemon d = start(env, dir.path() / "d.log");
  const auto port = d.wait_listening(15s);
  ASSERT_NE(port, 0) << d.log();
  ASSERT_EQ(wait_ready(port, 15s), 200);  // migrated on start
  EXPECT_FALSE(fs::exists(state / "pg"));
  const auto instances = [&] {
    pqxx::connection c(db.conninfo());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT count(*) FROM service_instances")[0][0].as<int>();
  };
  EXPECT_EQ(instances(), 1);
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(5s).value_or(-1), 0);
  EXPECT_EQ(instances(), 0);  // a clean stop deregisters
}

TEST(ServeTest, ReadyzIs503WhenDatabaseIsGone) {
  auto db = std::make_unique<testing::TestDatabase>(/*migrated=*/true);
  TempDir dir;
  auto env = embedded_env(dir.path() / "state");
  env.push_back("CSHEALTHD_DATABASE_URL=" + db->conninfo());
  Daemon d = start(env, dir.path() / "d.log");
  const auto port = d.wait_listening(15s);
  ASSERT_NE(port, 0) << d.log();
  ASSERT_EQ(wait_ready(port, 15s), 200);
  db.reset();  // DROP DATABASE … WITH (FORCE): every connection to it is terminated
  // The check is cached for a second (so a probe flood takes one connection): 503 within a few.
  auto r = testing::http_request(port, "GET", "/readyz");
  for (int i = 0; i < 60 && r.status == 200; ++i) {
    std::this_thread::sleep_for(100ms);
    r = testing::http_request(port, "GET", "/readyz");
  }
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(nlohmann::json::parse(r.body)["status"], "not_ready");
  EXPECT_EQ(testing::http_request(port, "GET", "/healthz").status, 200);  // alive, just not ready
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(5s).value_or(-1), 0) << d.log();
}

// The embedded cluster gets none of the service's settings or secrets; the service cannot dump core.
TEST(ServeTest, PostgresStartsWithoutServiceSecretsAndCoreDumpsAreOff) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  auto env = embedded_env(state);
  env.push_back("CSHEALTHD_ADMIN_TOKEN=very-secret-admin-token");
  Daemon d = start(env, dir.path() / "d.log");
  const auto port = d.wait_listening(30s);
  ASSERT_NE(port, 0) << d.log();
  ASSERT_EQ(wait_ready(port, 15s), 200);
  std::ifstream environ("/proc/" + std::to_string(postmaster_pid(state)) + "/environ", std::ios::binary);
  const std::string pg_env((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(pg_env.empty());
  EXPECT_THAT(pg_env, Not(HasSubstr("CSHEALTHD_")));
  EXPECT_THAT(pg_env, Not(HasSubstr("very-secret-admin-token")));
  std::ifstream limits("/proc/" + std::to_string(d.pid()) + "/limits");
  std::string line, core;
  while (std::getline(limits, line)) {
    if (line.rfind("Max core file size", 0) == 0) core = line;
  }
  EXPECT_THAT(core, ::testing::MatchesRegex("Max core file size +0 +.*")) << core;
  EXPECT_THAT(d.log(), Not(HasSubstr("very-secret-admin-token")));
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(10s).value_or(-1), 0);
}

TEST(ServeTest, AStateDirOthersCanWriteIsRefused) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  fs::create_directory(state);
  ::chmod(state.c_str(), 0777);
  Daemon d = start(embedded_env(state), dir.path() / "d.log");
  EXPECT_EQ(d.wait_exit(15s).value_or(-1), 1);
  EXPECT_THAT(d.log(), HasSubstr("writable by other accounts (mode 0777)"));
}

// A link planted where the service writes as root is not followed: nothing is created at its target.
TEST(ServeTest, APlantedLinkInTheStateDirIsNotFollowed) {
  TempDir dir;
  traversable(dir);
  const auto state = dir.path() / "state";
  fs::create_directory(state);
  ::chmod(state.c_str(), 0700);
  const auto target = dir.path() / "elsewhere";
  fs::create_symlink(target, state / "embedded.lock");
  Daemon d = start(embedded_env(state), dir.path() / "d.log");
  EXPECT_EQ(d.wait_exit(15s).value_or(-1), 1);
  EXPECT_THAT(d.log(), HasSubstr("embedded.lock"));
  EXPECT_FALSE(fs::exists(target));
}

}  // namespace
}  // namespace cshealthd
