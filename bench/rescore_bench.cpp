// A full rescore as the nightly job runs it: `cshealthd score` (read inputs from PostgreSQL, score, write
// results) over a portal of N companies shaped like a synced one: a year of monthly snapshots for five
// metrics, tickets, NPS/CSAT answers, meetings, contacts, all linked through associations.
// Prints wall time and the peak RSS of the cshealthd process for a first run and a second (nightly) one.
//   rescore_bench [N]   (default 100000; RESCORE_COMPANIES also sets it)
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "cshealthd/core/time.hpp"
#include "cshealthd/store/embedded_postgres.hpp"
#include "cshealthd/store/migrations.hpp"
#include "daemon.hpp"

extern char** environ;

namespace {

using namespace cshealthd;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void populate(const std::string& conninfo, long n) {
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  const std::string N = std::to_string(n);
  tx.exec("SET LOCAL synchronous_commit = off");
  tx.exec(
      "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) "
      "SELECT 'companies', g, '{}', jsonb_build_object('name', 'Company ' || g, 'licensed_seats', s, "
      "'active_users_30d', round(s * (0.2 + random() * 0.8)), 'logins_30d', round(random() * 60), "
      "'features_used', round(random() * 9), 'mrr', round((100 + random() * 9000)::numeric, 2), "
      "'plan', (ARRAY['starter', 'pro', 'enterprise'])[1 + g % 3], "
      "'goal_status', (ARRAY['achieved', 'in_progress', 'not_started'])[1 + g % 3], "
      "'renewal_date', to_char(now() + (random() * 430 - 30) * interval '1 day', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "'last_contacted', to_char(now() - random() * 120 * interval '1 day', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), "
      "now() - interval '2 years', now() FROM (SELECT g, 5 + floor(random() * 195) AS s FROM "
      "generate_series(1, " +
      N + ") g) x");
  // 13 monthly snapshots of each of five metrics (what the first sync back-fills), then today.
  tx.exec(
      "INSERT INTO company_snapshots (company_id, day, synced, backfilled) "
      "SELECT g, current_date - m * 30, CASE WHEN m = 0 THEN v ELSE '{}' END, CASE WHEN m = 0 THEN '{}' "
      "ELSE v END FROM (SELECT g, m, jsonb_build_object('licensed_seats', round(random() * 100), "
      "'active_users_30d', round(random() * 100), 'logins_30d', round(random() * 100), 'features_used', "
      "round(random() * 100), 'mrr', round(random() * 100)) v FROM generate_series(1, " +
      N + ") g, generate_series(0, 12) m) x");
  // 3 tickets, 1 meeting, 2.5 contacts and 0.5 feedback answers per company on average.
  tx.exec(
      "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) "
      "SELECT 'tickets', t, '{}', jsonb_build_object('priority', (ARRAY['LOW', 'MEDIUM', 'HIGH', "
      "'URGENT'])[1 + t % 4], "
      "'category', (ARRAY['PRODUCT_ISSUE', 'GENERAL_INQUIRY', 'FEATURE_REQUEST', 'BILLING_ISSUE'])[1 + (t / "
      "4) % 4], "
      "'closed_at', to_char(now() - random() * 30 * interval '1 day', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), "
      "now() - random() * 90 * interval '1 day', now() FROM generate_series(1, 3 * " +
      N + ") t");
  tx.exec(
      "INSERT INTO crm_associations SELECT 'tickets', t, 'companies', 1 + (t - 1) / 3 FROM "
      "generate_series(1, 3 * " +
      N + ") t");
  tx.exec(
      "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) "
      "SELECT 'meetings', m, '{}', jsonb_build_object('outcome', (ARRAY['COMPLETED', 'COMPLETED', 'NO_SHOW', "
      "'CANCELED'])[1 + m % 4], 'start_time', to_char(now() - random() * 60 * interval '1 day', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), now(), now() FROM generate_series(1, " +
      N + ") m");
  tx.exec("INSERT INTO crm_associations SELECT 'meetings', m, 'companies', m FROM generate_series(1, " + N +
          ") m");
  tx.exec(
      "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) "
      "SELECT 'contacts', k, '{}', jsonb_build_object('key_person', k % 5 = 0, 'departed', k % 97 = 0), "
      "now(), now() "
      "FROM generate_series(1, 5 * " +
      N + " / 2) k");
  tx.exec(
      "INSERT INTO crm_associations SELECT 'contacts', k, 'companies', 1 + (k - 1) * 2 / 5 FROM "
      "generate_series(1, 5 * " +
      N + " / 2) k");
  tx.exec(
      "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) "
      "SELECT 'feedback_submissions', f, '{}', jsonb_build_object('survey_type', CASE WHEN f % 5 = 0 THEN "
      "'CSAT' "
      "ELSE 'NPS' END, 'value', floor(random() * 11), 'submitted_at', to_char(now() - random() * 200 * "
      "interval "
      "'1 day', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), now(), now() FROM generate_series(1, " +
      N + " / 2) f");
  tx.exec(
      "INSERT INTO crm_associations SELECT 'feedback_submissions', f, 'companies', f * 2 FROM "
      "generate_series(1, " +
      N + " / 2) f");
  tx.commit();
  pqxx::nontransaction vacuum(c);
  vacuum.exec("VACUUM ANALYZE");
}

struct Run {
  double seconds = 0;
  long rss_mib = 0;
  int status = -1;
};

Run score(const std::string& conninfo, const std::string& log, const std::string& as_of) {
  const std::string binary = testing::cshealthd_binary();
  std::vector<std::string> args = {binary, "score", "--as-of", as_of};
  std::vector<std::string> env = {"CSHEALTHD_DATABASE_URL=" + conninfo, "CSHEALTHD_LOG_FORMAT=text",
                                  "CSHEALTHD_LOG_LEVEL=info", "PATH=/usr/bin:/bin"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  Run r;
  if (posix_spawn(&pid, binary.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) return r;
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  r.seconds = since(t0);
  r.rss_mib = ru.ru_maxrss / 1024;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  posix_spawn_file_actions_destroy(&fa);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  long n = 100'000;
  if (const char* e = std::getenv("RESCORE_COMPANIES")) n = std::atol(e);
  if (argc > 1 && argv[1][0] != '-') n = std::atol(argv[1]);
  testing::TempDir dir("cshealthd-rescore");
  chmod(dir.path().c_str(), 0711);  // as root the cluster runs as postgres, which must reach it
  store::EmbeddedOptions o;
  o.state_dir = dir.path() / "state";
  o.supervise = false;
  store::EmbeddedPostgres pg(o);
  pg.start();
  store::Migrator(pg.conninfo()).migrate();
  auto t0 = Clock::now();
  populate(pg.conninfo(), n);
  std::printf("rescore: populated %ld companies (+%ld snapshots, %ld tickets) in %.1f s\n", n, n * 65, n * 3,
              since(t0));
  const std::string log = (dir.path() / "score.log").string();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::vector<std::pair<const char*, std::string>> runs = {
      {"first run (yesterday)", core::format_date(now_ms - core::kMsPerDay)},
      {"nightly run (today, on yesterday's scores)", core::format_date(now_ms)}};
  for (const auto& [which, day] : runs) {
    const auto r = score(pg.conninfo(), log, day);
    std::printf("rescore: %ld companies, %s: %.1f s wall (%.0f companies/s), peak RSS %ld MiB, exit %d\n", n,
                which, r.seconds, n / r.seconds, r.rss_mib, r.status);
  }
  std::FILE* f = std::fopen(log.c_str(), "r");
  char line[1024];
  while (f && std::fgets(line, sizeof line, f)) {
    if (std::string(line).find("scoring: run") != std::string::npos) std::printf("rescore: %s", line);
  }
  if (f) std::fclose(f);
  // RESCORE_HOLD_SECONDS: keep the database up this long to look into it (psql with the conninfo).
  if (const char* hold = std::getenv("RESCORE_HOLD_SECONDS")) {
    std::printf("rescore: holding the database for %s s: %s\n", hold, pg.conninfo().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(std::atol(hold)));
  }
  pg.stop();
  return 0;
}
