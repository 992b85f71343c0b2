#include "cshealthd/config/config.hpp"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon.hpp"

namespace cshealthd::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto p = (dir_.path() / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string error_of(const std::optional<std::string>& file, const Environment& env = {}) {
    try {
      load(file, env);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  testing::TempDir dir_;
};

TEST_F(ConfigTest, DefaultsWithoutFileOrEnvironment) {
  const Config c = load(std::nullopt, {});
  EXPECT_EQ(c.state_dir, "./var");
  EXPECT_EQ(c.http.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.http.max_body_bytes, 1 << 20);
  EXPECT_EQ(c.http.max_header_bytes, 8192);
  EXPECT_EQ(c.http.shutdown_deadline_ms, 10000);
  EXPECT_TRUE(c.database.url.empty());
  EXPECT_EQ(c.hubspot.base_url, "https://api.hubapi.com");
  EXPECT_TRUE(c.database.migrate_on_start);
}

TEST_F(ConfigTest, FileValuesThenEnvironmentOverrides) {
  const auto f = write("c.yaml", "http:\n  listen: 0.0.0.0:9000\n  io_threads: 3\nlog:\n  format: text\n");
  const Config c = load(f, {{"CSHEALTHD_HTTP_IO_THREADS", "5"}, {"CSHEALTHD_STATE_DIR", "/srv/x"}});
  EXPECT_EQ(c.http.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.http.io_threads, 5);  // environment wins over the file
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.state_dir, "/srv/x");
}

TEST_F(ConfigTest, UnknownKeyNamesKeyAndFileLine) {
  const auto f = write("c.yaml", "http:\n  listen: 127.0.0.1:1\n  lisen: 127.0.0.1:2\n");
  EXPECT_THAT(error_of(f), AllOf(HasSubstr("http.lisen"), HasSubstr("unknown key"), HasSubstr("c.yaml:3")));
}

TEST_F(ConfigTest, MappingRemapsPropertiesAndRejectsBadNames) {
  const auto f =
      write("m.yaml", "mapping:\n  company:\n    mrr: billing_mrr\n  contact:\n    departed: left_co\n");
  const Config c = load(f, {{"CSHEALTHD_MAPPING_COMPANY_PLAN", "tier"}});
  EXPECT_EQ(c.mapping.company.at("mrr"), "billing_mrr");
  EXPECT_EQ(c.mapping.company.at("plan"), "tier");
  EXPECT_EQ(c.mapping.company.at("renewal_date"), "cs_renewal_date");  // untouched defaults stay
  EXPECT_EQ(c.mapping.contact.at("departed"), "left_co");
  EXPECT_THAT(error_of(write("b.yaml", "mapping:\n  company:\n    mrr: Billing MRR\n")),
              AllOf(HasSubstr("mapping.company.mrr"), HasSubstr("b.yaml:3"), HasSubstr("property name")));
  EXPECT_THAT(error_of(write("u.yaml", "mapping:\n  company:\n    arr: x\n")),
              AllOf(HasSubstr("mapping.company.arr"), HasSubstr("unknown key")));
  EXPECT_THAT(error_of(write("e.yaml", "mapping:\n  company:\n    mrr: \"\"\n")),
              HasSubstr("mapping.company.mrr"));
  EXPECT_THAT(error_of(write("p.yaml", "sync:\n  parallelism: 17\n")), HasSubstr("sync.parallelism"));
}

TEST_F(ConfigTest, KpiTargetsAndChurnRule) {
  const auto c = load(write("k.yaml", "kpis:\n  churn: mrr\n  targets:\n    grr: 92.5\n    nps: -10\n"), {});
  EXPECT_EQ(c.kpis.churn, "mrr");
  EXPECT_DOUBLE_EQ(c.kpis.targets.grr, 92.5);
  EXPECT_DOUBLE_EQ(c.kpis.targets.nps, -10);
  EXPECT_DOUBLE_EQ(c.kpis.targets.nrr, 110);  // untouched: the seed's
  EXPECT_THAT(error_of(write("a.yaml", "kpis:\n  churn: sometimes\n")),
              AllOf(HasSubstr("kpis.churn"), HasSubstr("either|stage|mrr"), HasSubstr("a.yaml:2")));
  EXPECT_THAT(error_of(write("b.yaml", "kpis:\n  targets:\n    grr: ninety\n")),
              AllOf(HasSubstr("kpis.targets.grr"), HasSubstr("expected a number"), HasSubstr("b.yaml:3")));
  EXPECT_THAT(error_of(write("c.yaml", "kpis:\n  targets:\n    churn_rate: 101\n")),
              AllOf(HasSubstr("kpis.targets.churn_rate"), HasSubstr("out of range")));
  EXPECT_THAT(error_of({}, {{"CSHEALTHD_KPIS_TARGETS_NPS", "nan"}}), HasSubstr("kpis.targets.nps"));
  EXPECT_THAT(error_of(write("d.yaml", "dashboard:\n  token: plain\n")), HasSubstr("dashboard.token"));
}

TEST_F(ConfigTest, UnknownTopLevelSection) {
  const auto f = write("c.yaml", "htttp:\n  listen: x\n");
  EXPECT_THAT(error_of(f), AllOf(HasSubstr("htttp"), HasSubstr("c.yaml:1")));
}

TEST_F(ConfigTest, WrongTypeNamesKey) {
  EXPECT_THAT(error_of(write("a.yaml", "http:\n  io_threads: many\n")),
              AllOf(HasSubstr("http.io_threads"), HasSubstr("expected an integer"), HasSubstr("a.yaml:2")));
  EXPECT_THAT(error_of(write("b.yaml", "database:\n  migrate_on_start: perhaps\n")),
              AllOf(HasSubstr("database.migrate_on_start"), HasSubstr("true or false")));
  EXPECT_THAT(error_of(write("c.yaml", "http:\n  listen: [1, 2]\n")),
              AllOf(HasSubstr("http.listen"), HasSubstr("list or mapping")));
  EXPECT_THAT(error_of(write("d.yaml", "http: 5\n")),
              AllOf(HasSubstr("http"), HasSubstr("expected a mapping")));
}

TEST_F(ConfigTest, OutOfRangeAtBoundaries) {
  EXPECT_EQ(error_of(write("a.yaml", "http:\n  io_threads: 1\n")), "");
  EXPECT_THAT(error_of(write("b.yaml", "http:\n  io_threads: 0\n")),
              AllOf(HasSubstr("http.io_threads"), HasSubstr("out of range [1, 64]")));
  EXPECT_EQ(error_of(write("c.yaml", "http:\n  io_threads: 64\n")), "");
  EXPECT_THAT(error_of(write("d.yaml", "http:\n  io_threads: 65\n")), HasSubstr("out of range"));
  EXPECT_THAT(error_of(write("e.yaml", "database:\n  embedded:\n    port: 70000\n")),
              HasSubstr("database.embedded.port"));
}

TEST_F(ConfigTest, EnumValues) {
  EXPECT_THAT(error_of(write("a.yaml", "log:\n  level: loud\n")),
              AllOf(HasSubstr("log.level"), HasSubstr("trace|debug|info|warn|error")));
  EXPECT_THAT(error_of(std::nullopt, {{"CSHEALTHD_LOG_FORMAT", "xml"}}),
              AllOf(HasSubstr("log.format"), HasSubstr("environment variable CSHEALTHD_LOG_FORMAT")));
}

TEST_F(ConfigTest, ListenAddressValidated) {
  EXPECT_THAT(error_of(std::nullopt, {{"CSHEALTHD_HTTP_LISTEN", "localhost"}}), HasSubstr("http.listen"));
  EXPECT_THAT(error_of(std::nullopt, {{"CSHEALTHD_HTTP_LISTEN", "127.0.0.1:99999"}}),
              HasSubstr("http.listen"));
  const auto a = parse_listen("[::1]:8080", "k");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_EQ(parse_listen("127.0.0.1:0", "k").port, 0);
}

TEST_F(ConfigTest, SecretsFromEnvironmentAndFiles) {
  const auto token_file = write("token", "pat-na1-file-token\n");
  const Config c = load(std::nullopt, {{"CSHEALTHD_HUBSPOT_TOKEN_FILE", token_file},
                                       {"CSHEALTHD_WEBHOOK_SECRET", "whsec"},
                                       {"CSHEALTHD_ADMIN_TOKEN", "adm"}});
  EXPECT_EQ(c.hubspot.token.reveal(), "pat-na1-file-token");  // trailing newline stripped
  EXPECT_EQ(c.webhook.secret.reveal(), "whsec");
  EXPECT_EQ(c.admin.token.reveal(), "adm");

  const auto f = write("c.yaml", "admin:\n  token_file: " + token_file + "\n");
  EXPECT_EQ(load(f, {}).admin.token.reveal(), "pat-na1-file-token");
}

TEST_F(ConfigTest, SecretValueInFileIsRefusedWithoutEchoingIt) {
  const auto f = write("c.yaml", "hubspot:\n  token: pat-na1-SUPERSECRET\n");
  const auto err = error_of(f);
  EXPECT_THAT(err,
              AllOf(HasSubstr("hubspot.token"), HasSubstr("CSHEALTHD_HUBSPOT_TOKEN"), HasSubstr("c.yaml:2")));
  EXPECT_THAT(err, Not(HasSubstr("SUPERSECRET")));
}

TEST_F(ConfigTest, MissingSecretFileNamesKey) {
  EXPECT_THAT(error_of(std::nullopt, {{"CSHEALTHD_WEBHOOK_SECRET_FILE", "/nonexistent/secret"}}),
              AllOf(HasSubstr("webhook.secret_file"), HasSubstr("/nonexistent/secret")));
  const auto f = write("c.yaml", "hubspot:\n  token_file: /nonexistent/t\n");
  EXPECT_THAT(error_of(f), AllOf(HasSubstr("hubspot.token_file"), HasSubstr("c.yaml:2")));
  EXPECT_THAT(error_of(std::nullopt, {{"CSHEALTHD_ADMIN_TOKEN_FILE", write("empty", "\n")}}),
              HasSubstr("empty"));
}

TEST_F(ConfigTest, DatabaseUrlInFileOnlyWithoutPassword) {
  const auto ok = write("a.yaml", "database:\n  url: postgresql://cs@db.internal/cshealthd\n");
  EXPECT_EQ(load(ok, {}).database.url.reveal(), "postgresql://cs@db.internal/cshealthd");
  const auto bad = write("b.yaml", "database:\n  url: postgresql://cs:hunter2@db/cshealthd\n");
  const auto err = error_of(bad);
  EXPECT_THAT(
      err, AllOf(HasSubstr("database.url"), HasSubstr("CSHEALTHD_DATABASE_URL"), Not(HasSubstr("hunter2"))));
  const auto kv = write("c.yaml", "database:\n  url: host=db password=hunter2\n");
  EXPECT_THAT(error_of(kv), Not(HasSubstr("hunter2")));
}

TEST_F(ConfigTest, UnknownEnvironmentVariableRefused) {
  EXPECT_THAT(error_of(std::nullopt, {{"CSHEALTHD_HTTP_LISTN", "x"}}), HasSubstr("CSHEALTHD_HTTP_LISTN"));
  EXPECT_EQ(error_of(std::nullopt, {{"CSHEALTHD_TEST_ANYTHING", "x"}}), "");
}

TEST_F(ConfigTest, InvalidYamlNamesLine) {
  const auto f = write("c.yaml", "http:\n  listen: [unclosed\n");
  EXPECT_THAT(error_of(f), AllOf(HasSubstr("not valid YAML"), HasSubstr("c.yaml:")));
  EXPECT_THAT(error_of(std::string("/nonexistent/c.yaml")), HasSubstr("cannot read config file"));
}

TEST_F(ConfigTest, DescribeHidesSecrets) {
  const Config c = load(std::nullopt, {{"CSHEALTHD_HUBSPOT_TOKEN", "pat-secret"}});
  const auto text = describe(c);
  EXPECT_THAT(text, AllOf(HasSubstr("hubspot.token: <set>"), HasSubstr("admin.token: <unset>"),
                          Not(HasSubstr("pat-secret"))));
}

TEST(RedactTest, PasswordsRemoved) {
  EXPECT_EQ(redact_database_url("postgresql://u:p4ss@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(redact_database_url("host=h password=secret dbname=x"), "host=h password=*** dbname=x");
  EXPECT_EQ(redact_database_url("host=h password='a b' dbname=x"), "host=h password=*** dbname=x");
  EXPECT_EQ(redact_database_url("postgresql://u@h/db"), "postgresql://u@h/db");
  // Every other form libpq takes a password in.
  EXPECT_EQ(redact_database_url("postgresql://u@h/db?sslmode=disable&password=s3cr3t&x=1"),
            "postgresql://u@h/db?sslmode=disable&password=***&x=1");
  EXPECT_EQ(redact_database_url("postgres://h/db?PASSWORD=s3cr3t"), "postgres://h/db?PASSWORD=***");
  EXPECT_EQ(redact_database_url("postgresql://:p4ss@h/db"), "postgresql://:***@h/db");
  EXPECT_EQ(redact_database_url("host=h password = 'it\\'s secret' dbname=x"),
            "host=h password = *** dbname=x");
  EXPECT_EQ(redact_database_url("host=h Password=secret"), "host=h Password=***");
  // A message quoting a connection string.
  EXPECT_EQ(cshealthd::redact_passwords("invalid URI \"postgresql://u:pw@h/db\": bad"),
            "invalid URI \"postgresql://u:***@h/db\": bad");
}

}  // namespace
}  // namespace cshealthd::config
