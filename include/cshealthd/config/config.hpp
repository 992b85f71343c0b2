#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cshealthd/base/secret.hpp"
#include "cshealthd/core/kpis.hpp"

namespace cshealthd::config {

// Invalid configuration. The message names the key and where its value came from (file:line or the
// environment variable); it never contains a secret's value. main() maps it to exit code 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LogConfig {
  std::string level = "info";   // trace|debug|info|warn|error
  std::string format = "auto";  // auto|json|text (auto: text on a terminal, JSON lines otherwise)
};

struct HttpConfig {
  std::string listen = "127.0.0.1:8080";
  int io_threads = 2;
  int worker_threads = 4;
  std::int64_t max_body_bytes = 1 << 20;
  int max_header_bytes = 8 << 10;
  int read_timeout_ms = 30'000;  // one deadline for a whole request (header and body) from its first byte
  int idle_timeout_ms = 60'000;  // a keep-alive connection waiting for its next request
  int write_timeout_ms = 30'000;
  int shutdown_deadline_ms = 10'000;
  int max_connections = 10'000;   // past it new connections are closed at once (bounded by the fd limit)
  int worker_queue_limit = 1024;  // requests waiting for a worker; past it: 503 with Retry-After
};

struct ProcessConfig {
  bool core_dumps = false;  // a core holds every secret in memory: off unless debugging
};

struct EmbeddedPostgresConfig {
  std::string bin_dir;  // empty: the newest /usr/lib/postgresql/*/bin, else PATH
  int port = 5432;      // names the unix socket only; the cluster never listens on TCP
  bool fsync = true;
  int startup_timeout_ms = 60'000;
  std::string run_as = "postgres";  // PostgreSQL refuses to run as root: this account runs it then
};

struct DatabaseConfig {
  Secret url;  // empty: start the embedded cluster under <state_dir>/pg
  int pool_size = 4;
  int statement_timeout_ms = 30'000;
  int connect_timeout_s = 10;
  bool migrate_on_start = true;
  int migration_lock_wait_ms = 120'000;  // waiting for another replica's migrations, or a table's lock
  EmbeddedPostgresConfig embedded;
};

struct HubspotConfig {
  std::string base_url = "https://api.hubapi.com";
  Secret token;
  int burst_limit = 190;  // the app's burst limit per interval (Free/Starter: 100)
  int burst_interval_ms = 10'000;
  int budget_percent = 95;  // share of the burst limit this service allows itself
  int search_per_second = 5;
  int request_timeout_ms = 30'000;
  int max_attempts = 8;            // per request, for transient failures and 429s
  std::string ca_file;             // empty: the system's trust store
  int max_retry_wait_ms = 60'000;  // the longest wait a 429 (its Retry-After) or a backoff may impose
  bool shared_budget = true;       // replicas share the budget through PostgreSQL (false: per process)
  // Which spelling of HubSpot's paths: v3 (/crm/v3/objects/..., v4 associations) or a dated version
  // such as 2026-03 (/crm/objects/2026-03/...). The shapes are the same.
  std::string api_version = "v3";
};

struct SyncConfig {
  int overlap_ms = 300'000;  // incremental syncs re-read this much before the watermark
  int parallelism = 3;       // object types synced at once (each on its own connection)
  // How often the id sweep finds records deleted or merged away in HubSpot (0: never).
  std::int64_t sweep_interval_ms = 86'400'000;
  // Another sync of the same object type is running (another replica, a cron job): wait this long for it,
  // then skip the type (0: skip at once).
  int lock_wait_ms = 0;
};

struct ScoringConfig {
  std::string scorecards_dir;     // empty: the scorecards shipped in the binary (config/scorecards)
  int min_coverage_percent = 50;  // below this share of weight with data, the status is `unknown`
  int green = 80, yellow = 60, orange = 40;  // status bands: score >= green is green, ...
  int chunk_size = 2000;                     // companies read, scored and written together
  int threads = 2;                           // scoring threads
};

// HubSpot property names of the canonical inputs (DOMAIN.md §1), keyed by canonical name. Scores,
// snapshots and the typed views use the canonical names, so a remap never breaks history.
struct MappingConfig {
  std::map<std::string, std::string> company{
      {"plan", "cs_plan"},
      {"contract_start_date", "cs_contract_start_date"},
      {"renewal_date", "cs_renewal_date"},
      {"mrr", "cs_mrr"},
      {"licensed_seats", "cs_licensed_seats"},
      {"active_users_30d", "cs_active_users_30d"},
      {"logins_30d", "cs_logins_30d"},
      {"features_used", "cs_features_used"},
      {"goal_status", "cs_goal_status"},
      {"owner_id", "hubspot_owner_id"},
      {"last_contacted", "notes_last_contacted"},
      {"cs_stage", "cs_stage"},
      {"churn_reason", "cs_churn_reason"},
      {"churn_date", "cs_churn_date"},
      {"contract_term", "cs_contract_term"},  // monthly | annual (default annual)
      {"external_id", ""},  // the company's id in the product, as usage may name it ("": not mapped)
  };
  std::map<std::string, std::string> contact{{"key_person", "cs_key_person"}, {"departed", "cs_departed"}};
};

struct JobsConfig {
  int workers = 2;               // job worker threads per replica
  int lease_ms = 30'000;         // a job whose worker stops renewing for this long is taken over
  int poll_interval_ms = 1'000;  // an idle worker looks for work this often
  int max_attempts = 5;          // attempts of a run's job before it is dead
  int retry_base_ms = 5'000;     // backoff before the 2nd attempt (doubling, full jitter)
  int retry_cap_ms = 600'000;    // the longest backoff
};

struct ScheduleConfig {
  bool enabled = true;
  std::string nightly = "0 2 * * *";  // cron, in time_zone
  std::string time_zone = "Asia/Tokyo";
  std::int64_t sync_interval_ms = 300'000;  // a refresh run (sync, rescore what changed) this often; 0: never
  bool catch_up = true;                     // run a nightly missed while every replica was down, once
  int tick_ms = 1'000;
  // A refresh for what webhooks and usage asked starts at most this often (the first after a quiet
  // spell at once): a steady stream of changes rescores in rounds, not back to back.
  std::int64_t requested_refresh_interval_ms = 10'000;
};

// Write-back to HubSpot (DOMAIN.md §3-4): the output properties, alert tasks and their governance.
struct WritebackConfig {
  bool enabled = true;      // plan and deliver after every run's score stage
  std::string alerts_file;  // alert rules and task templates; empty: the shipped config/writeback/alerts.yaml
  std::string locale = "ja";    // ja | en: which templates of the alerts file
  std::string holidays_file;    // business-day holidays; empty: the shipped Japanese holidays
  int hysteresis = 5;           // a score alert re-arms at its threshold + this many points
  int signal_rearm_days = 7;    // a signal alert re-arms after the signal has been clear this long
  bool auto_close = true;       // complete an open alert task whose condition has cleared ...
  int auto_close_days = 3;      // ... for this many days
  int follow_through_days = 5;  // business days an alert task may stay open before it escalates
  int daily_cap = 10;           // new alert tasks per assignee per day; the overflow goes into one digest
  int due_hour = 9;             // tasks are due at this hour, in schedule.time_zone
  int reasons = 3;              // top reasons written to the reasons property
  std::string managers;         // team:<id>=<owner id>,owner:<id>=<owner id>,default=<owner id>
  std::int64_t search_lag_ms = 30'000;             // how long HubSpot's search may take to see a new task
  int max_attempts = 8;                            // per outbox item, for failures of that item; then dead
  std::string task_key_property = "cs_alert_key";  // the task property that carries an alert's key
  std::string property_group = "customer_success";
  std::string score_property = "cs_health_score", status_property = "cs_health_status",
              reasons_property = "cs_health_reasons", coverage_property = "cs_health_coverage",
              updated_property = "cs_health_updated_at", stage_property = "cs_stage";
  std::string churn_risk_property;  // the churn probability in % (cs_churn_risk, say); empty: not written
  std::string expansion_likelihood_property;  // the expansion probability in % (cs_expansion_likelihood,
                                              // say); empty: not written
  // The usage summary written through (usage sent to cshealthd only); each empty: not written.
  std::string usage_active_users_property = "cs_usage_active_users_30d";
  std::string usage_logins_property = "cs_usage_logins_30d";
  std::string usage_seat_utilisation_property = "cs_usage_seat_utilisation";
  std::string usage_features_property = "cs_usage_features_used";
  std::string usage_last_active_property = "cs_usage_last_active_date";
  Secret slack_webhook_url;  // escalations and red alerts to a Slack channel; empty: off
};

// HubSpot's webhooks (POST /webhooks/hubspot), signed with the app's client secret (v3).
struct WebhookConfig {
  bool enabled = true;                    // answer 404 when off (a portal without a project app)
  Secret secret;                          // the app's client secret; unset: every webhook is refused (401)
  std::int64_t max_body_bytes = 262'144;  // a larger body is a 413
  int max_events = 100;                   // per request (HubSpot sends at most 100)
  std::int64_t max_age_ms = 300'000;      // a signature timestamp further off than this is stale
  bool refresh_on_change = true;          // a mapped company property change starts a refresh run
  std::int64_t retention_days = 14;       // processed events kept this long (for de-duplication)
};

// Closed Won → onboarding (DOMAIN.md §4.1).
struct OnboardingConfig {
  bool enabled = true;
  std::string
      checklist_file;    // steps and task templates; empty: the shipped config/onboarding/checklist.yaml
  std::string pool;      // onboarding owners: owner ids and team:<id>, comma-separated
  std::string csm_pool;  // CSMs who take customers over when onboarding completes
  int high_touch_capacity = 25;   // customers in onboarding per owner, high-touch segment
  int tech_touch_capacity = 150;  // ... tech-touch segment
  int csm_high_touch_capacity = 25, csm_tech_touch_capacity = 150;  // customers per CSM
  std::int64_t high_touch_min_mrr = 100'000;    // MRR from which a customer is high-touch ...
  std::string high_touch_plans = "enterprise";  // ... or on one of these plans (comma-separated)
  int escalate_after_days = 3;  // business days an overdue step may stay open before the manager hears
  bool services = true;         // create a Services record (0-162) for each new customer
  std::string won_stages;       // extra won stage ids (comma-separated), besides closedwon and the
                                // pipelines' closed stages with probability 1.0
  std::string plan_property = "cs_plan", mrr_property = "cs_mrr", seats_property = "cs_licensed_seats",
              contract_start_property = "cs_contract_start_date", goals_property = "cs_onboarding_goals",
              kpis_property = "cs_success_kpis";           // on the deal
  std::string owner_property = "cs_onboarding_owner";      // on the company (created by the service)
  std::string service_key_property = "cs_onboarding_key";  // on services: the exactly-once key
};

// Lifecycle plays (renewal, expansion, QBR, win-back), run with every nightly plan.
struct PlaysConfig {
  bool enabled = true;
  std::string
      file;  // empty: plays.yaml next to the scorecards (scoring.scorecards_dir), else the shipped one
  std::string deal_key_property = "cs_play_key";  // on deals a play creates: the exactly-once key
};

// The CS KPIs (DOMAIN.md §5) the nightly run keeps per month and quarter, and their targets.
struct KpiConfig {
  bool enabled = true;
  std::string churn = "either";     // a customer churns when its cs_stage becomes churned (stage), its MRR
                                    // goes to zero (mrr), or either
  int history_months = 13;          // months (and their quarters) the first run computes back from today
  int onboarding_target_days = 60;  // an onboarding completed within this is on time
  std::string first_value_step = "first_results";  // the checklist step that marks the first value (TtV)
  std::string upsell_deal_types = "existingbusiness";  // won deals of these types (dealtype, comma-separated)
                                                       // are expansions
  core::KpiTargets targets;                        // kpis.targets.*: the seed's, defined once in core
};

// The quarterly score review (seed 001: re-check the weights every quarter with real data): the nightly
// run after a quarter closes backtests the deployed scoring and calibrates it, stores both, and tells
// the CS lead once (Slack, and a HubSpot task to owner_id).
struct ReviewConfig {
  bool enabled = true;
  std::string owner_id;  // the CS lead's HubSpot owner id ("": no task, Slack only)
  int every_days = 30;   // between observation dates (a year of them)
  int horizon_days = 90; // a churn within this many days after a date counts for it
  int min_churns = 30;   // the calibration proposes nothing with fewer on its training dates
};

// The dashboard at GET / (the KPIs, at-risk customers, renewals, company pages, churn analysis).
struct DashboardConfig {
  bool enabled = true;
  Secret token;  // a read-only token for the dashboard's readers (the admin token signs in too)
};

// Product usage sent to cshealthd (POST /v1/usage): its token, its limits, and which source of a metric
// the score takes.
// The Segment-compatible source (POST /v1/segment, /v1/segment/batch): Segment's or RudderStack's HTTP
// destination, or an analytics library, sends product events; they are folded into daily figures.
struct SegmentConfig {
  Secret write_key;              // Basic auth as Segment sends it; unset: the source is off
  std::string group_key = "id";  // what a groupId is: id (HubSpot company id), domain, external_id
  // Track events (comma-separated names) that count as a login, and as using a key feature ("": the
  // figure is not computed from Segment).
  std::string login_events = "Signed In";
  std::string feature_events;
  int max_age_days = 60;   // older events are refused; what they leave is kept this long
  int settle_batch = 500;  // company days computed per transaction
  // The leader settles at most this often (0: every scheduler tick). A company sending events all the
  // time is computed once per interval, with every mark it gathered, not once per tick.
  int settle_interval_ms = 5'000;
};

struct UsageConfig {
  bool enabled = true;
  Secret token;           // writes usage and nothing else (the admin token may write it too)
  int max_rows = 5'000;  // per request; more: 413 (5,000 rows fit http.max_body_bytes' 1 MiB)
  // The sources of a metric, first wins per company and metric: "usage" (pushed, imported, Segment) and
  // "hubspot" (the mapped company property).
  std::string precedence = "usage, hubspot";
  // A usage CSV's header name for each field (usage.csv.<field>), by canonical name; "" leaves the
  // field out.
  std::map<std::string, std::string> csv{
      {"company_id", "company_id"},         {"domain", "domain"},
      {"external_id", "external_id"},       {"date", "date"},
      {"licensed_seats", "licensed_seats"}, {"active_users_30d", "active_users_30d"},
      {"logins_30d", "logins_30d"},         {"features_used", "features_used"}};
  SegmentConfig segment;
};

struct AdminConfig {
  Secret token;
};

struct Config {
  std::string state_dir = "./var";
  LogConfig log;
  ProcessConfig process;
  HttpConfig http;
  DatabaseConfig database;
  HubspotConfig hubspot;
  SyncConfig sync;
  MappingConfig mapping;
  ScoringConfig scoring;
  JobsConfig jobs;
  ScheduleConfig schedule;
  WritebackConfig writeback;
  WebhookConfig webhook;
  OnboardingConfig onboarding;
  PlaysConfig plays;
  // The service's public base URL (https://cs.example.com), as HubSpot calls it through a TLS proxy:
  // webhook signatures cover it. Empty: rebuilt from the request's Host header as http://HOST.
  std::string public_url;
  AdminConfig admin;
  KpiConfig kpis;
  ReviewConfig review;
  DashboardConfig dashboard;
  UsageConfig usage;
};

using Environment = std::map<std::string, std::string>;

// Defaults, then the YAML file (when given), then CSHEALTHD_* environment variables. Throws
// ConfigError on an unknown key, a wrong type, an out-of-range value or an unreadable secret file.
Config load(const std::optional<std::string>& path, const Environment& env);
// The same from YAML text; `name` stands for the file in error messages.
Config load_text(const std::string& yaml, const std::string& name, const Environment& env);

// The process environment as a map (what main passes to load()).
Environment process_environment();

// Every key with its effective value, one `key: value` line each; secrets show as <set>/<unset>.
std::string describe(const Config& config);

// A database URL or conninfo string with any password replaced by "***".
std::string redact_database_url(const std::string& url);

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
// "127.0.0.1:8080", "[::1]:0", "0.0.0.0:80". Throws ConfigError naming `key`.
ListenAddress parse_listen(const std::string& value, const std::string& key);

// A comma-separated value ("a, b,c") as its items, trimmed, empty ones left out.
std::vector<std::string> split_list(const std::string& text);

}  // namespace cshealthd::config
