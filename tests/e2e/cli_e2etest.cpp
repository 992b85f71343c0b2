// The binary's command line: exit codes and messages an operator sees.
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon.hpp"
#include "test_database.hpp"

namespace cshealthd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_cshealthd;
using testing::TempDir;

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto p = (dir.path() / name).string();
  std::ofstream(p) << text;
  return p;
}

TEST(CliTest, VersionAndHelp) {
  const auto v = run_cshealthd({"--version"});
  EXPECT_EQ(v.status, 0);
  EXPECT_THAT(v.output, HasSubstr("cshealthd 0."));
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"serve", "--help"}, {"migrate", "--help"}, {"config", "check", "--help"}}) {
    const auto h = run_cshealthd(cmd);
    EXPECT_EQ(h.status, 0) << cmd[0];
    EXPECT_THAT(h.output, HasSubstr("--config")) << cmd[0];
  }
}

// The test clock is a seam of the tests' build only: the product binary neither contains nor honours
// it (it once shipped in the product, read from an environment variable).
TEST(CliTest, TheProductShipsNoTestClock) {
  auto contents = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string product = contents(testing::cshealthd_product_binary());
  ASSERT_GT(product.size(), 100'000u);
  EXPECT_EQ(product.find("CSHEALTHD_TEST_CLOCK"), std::string::npos);
  EXPECT_NE(contents(testing::cshealthd_binary()).find("CSHEALTHD_TEST_CLOCK_FILE"), std::string::npos);
  const auto v = testing::run_process(testing::cshealthd_product_binary(), {"--version"});
  EXPECT_EQ(v.status, 0);
  EXPECT_THAT(v.output, HasSubstr("cshealthd 0."));
}

TEST(CliTest, UnknownCommandIsUsageError) {
  EXPECT_EQ(run_cshealthd({"frobnicate"}).status, 2);
  EXPECT_EQ(run_cshealthd({}).status, 2);
}

TEST(CliTest, ConfigCheckAcceptsTheShippedExample) {
  const auto r = run_cshealthd({"config", "check", CSHEALTHD_SOURCE_DIR "/config/cshealthd.example.yaml"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("config OK"));
}

TEST(CliTest, ConfigCheckUnknownKeyExits2NamingKeyAndLine) {
  TempDir dir;
  const auto f = write(dir, "c.yaml", "log:\n  level: info\n  colour: blue\n");
  const auto r = run_cshealthd({"config", "check", f});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, AllOf(HasSubstr("log.colour"), HasSubstr("c.yaml:3")));
}

TEST(CliTest, ServeWithBadTypeExits2BeforeStartingAnything) {
  TempDir dir;
  const auto f =
      write(dir, "c.yaml", "state_dir: " + (dir.path() / "state").string() + "\nhttp:\n  io_threads: two\n");
  const auto r = run_cshealthd({"serve", "--config", f});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("http.io_threads"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "state"));  // nothing was started
}

TEST(CliTest, AScheduleThatIsNotACronOrAZoneExits2NamingTheKey) {
  const auto ok = run_cshealthd({"config", "check"});
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("schedule: nightly '0 2 * * *' in Asia/Tokyo"));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"CSHEALTHD_SCHEDULE_NIGHTLY=0 25 * * *", "schedule.nightly"},
      {"CSHEALTHD_SCHEDULE_NIGHTLY=@sometimes", "schedule.nightly"},
      {"CSHEALTHD_SCHEDULE_TIME_ZONE=Mars/Olympus_Mons", "schedule.time_zone"},
      {"CSHEALTHD_SCHEDULE_TIME_ZONE=../../etc/passwd", "schedule.time_zone"},
      {"CSHEALTHD_SCHEDULE_TIME_ZONE=Asia", "schedule.time_zone"},  // a directory, not a zone
  };
  for (const auto& [env, key] : bad) {
    const auto r = run_cshealthd({"config", "check"}, {env});
    EXPECT_EQ(r.status, 2) << env << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(key)) << env;
  }
  TempDir dir;
  const auto r = run_cshealthd({"serve"}, {"CSHEALTHD_STATE_DIR=" + (dir.path() / "state").string(),
                                           "CSHEALTHD_SCHEDULE_NIGHTLY=61 * * * *"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("schedule.nightly"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "state"));  // nothing was started
}

TEST(CliTest, MissingSecretFileExits2WithoutLeakingOtherSecrets) {
  const auto r =
      run_cshealthd({"config", "check"}, {"CSHEALTHD_HUBSPOT_TOKEN=pat-na1-VERYSECRET",
                                          "CSHEALTHD_WEBHOOK_SECRET_FILE=/nonexistent/webhook.secret"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, AllOf(HasSubstr("webhook.secret_file"), Not(HasSubstr("VERYSECRET"))));
}

TEST(CliTest, ConfigCheckPrintsSecretsAsSetOnly) {
  const auto r = run_cshealthd({"config", "check"}, {"CSHEALTHD_ADMIN_TOKEN=adm-VERYSECRET"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, AllOf(HasSubstr("admin.token: <set>"), Not(HasSubstr("VERYSECRET"))));
}

TEST(CliTest, MigrateAppliesReportsStatusAndIsIdempotent) {
  testing::TestDatabase db(/*migrated=*/false);
  const std::vector<std::string> env = {"CSHEALTHD_DATABASE_URL=" + db.conninfo()};
  const auto before = run_cshealthd({"migrate", "--status"}, env);
  EXPECT_EQ(before.status, 0) << before.output;
  EXPECT_THAT(before.output, HasSubstr("pending  0001_service_instances.sql"));
  const auto first = run_cshealthd({"migrate"}, env);
  EXPECT_EQ(first.status, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("applied 0001_service_instances.sql"));
  const auto again = run_cshealthd({"migrate"}, env);
  EXPECT_THAT(again.output, HasSubstr("0 applied now"));
  EXPECT_THAT(run_cshealthd({"migrate", "--status"}, env).output,
              HasSubstr("applied  0001_service_instances.sql"));
}

TEST(CliTest, UnreachableDatabaseIsRuntimeFailureNotConfigError) {
  const auto r = run_cshealthd({"migrate"}, {"CSHEALTHD_DATABASE_URL=host=/nonexistent port=1 dbname=x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("migrations"));
}

}  // namespace
}  // namespace cshealthd
