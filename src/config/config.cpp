#include "cshealthd/config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

extern char** environ;

namespace cshealthd::config {
namespace {

// Where a raw value came from, for error messages.
struct Source {
  std::string where;  // "cshealthd.yaml:12" or "environment variable CSHEALTHD_X"
};

using Setter = std::function<void(const std::string& raw, const Source& src)>;
using Printer = std::function<std::string()>;

struct Key {
  std::string path;
  bool secret = false;  // settable only from the environment or <path>_file
  Setter set;
  Printer print;
};

std::string env_name(const std::string& path) {
  std::string out = "CSHEALTHD_";
  for (const char c : path)
    out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

[[noreturn]] void fail(const std::string& key, const Source& src, const std::string& what) {
  throw ConfigError(key + ": " + what + " (" + src.where + ")");
}

std::int64_t parse_int(const std::string& key, const std::string& raw, const Source& src, std::int64_t lo,
                       std::int64_t hi) {
  std::int64_t v = 0;
  const auto* end = raw.data() + raw.size();
  const auto [ptr, ec] = std::from_chars(raw.data(), end, v);
  if (ec != std::errc() || ptr != end || raw.empty())
    fail(key, src, "expected an integer, got '" + raw + "'");
  if (v < lo || v > hi) {
    fail(key, src,
         "value " + raw + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

double parse_number(const std::string& key, const std::string& raw, const Source& src, double lo, double hi) {
  double v = 0;
  const auto* end = raw.data() + raw.size();
  const auto [ptr, ec] = std::from_chars(raw.data(), end, v);
  if (ec != std::errc() || ptr != end || raw.empty() || !std::isfinite(v))
    fail(key, src, "expected a number, got '" + raw + "'");
  if (v < lo || v > hi) {
    std::ostringstream range;
    range << "[" << lo << ", " << hi << "]";
    fail(key, src, "value " + raw + " is out of range " + range.str());
  }
  return v;
}

bool parse_bool(const std::string& key, const std::string& raw, const Source& src) {
  std::string v = raw;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  fail(key, src, "expected true or false, got '" + raw + "'");
}

std::string read_secret_file(const std::string& key, const std::string& path, const Source& src) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(key, src, "cannot read secret file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string v = ss.str();
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  if (v.empty()) fail(key, src, "secret file '" + path + "' is empty");
  return v;
}

bool url_has_password(const std::string& url) {
  static const std::regex kUrl(R"(^postgres(ql)?://[^/@:]*:[^/@]*@)");
  static const std::regex kKv(R"((^|\s)password\s*=)");
  static const std::regex kQuery(R"([?&]password=)", std::regex::icase);
  return std::regex_search(url, kUrl) || std::regex_search(url, kKv) || std::regex_search(url, kQuery);
}

// The table of every key: path, how to parse it into the struct, how to print it.
class Schema {
 public:
  explicit Schema(Config& c) {
    str("state_dir", c.state_dir, [](const std::string& k, const std::string& v, const Source& s) {
      if (v.empty()) fail(k, s, "must not be empty");
    });
    one_of("log.level", c.log.level, {"trace", "debug", "info", "warn", "error"});
    one_of("log.format", c.log.format, {"auto", "json", "text"});
    boolean("process.core_dumps", c.process.core_dumps);

    str("http.listen", c.http.listen, [](const std::string& k, const std::string& v, const Source& s) {
      try {
        parse_listen(v, k);
      } catch (const ConfigError& e) {
        fail(k, s, "expected HOST:PORT, got '" + v + "'");
      }
    });
    integer("http.io_threads", c.http.io_threads, 1, 64);
    integer("http.worker_threads", c.http.worker_threads, 1, 256);
    integer("http.max_body_bytes", c.http.max_body_bytes, 1024, std::int64_t{1} << 30);
    integer("http.max_header_bytes", c.http.max_header_bytes, 1024, 1 << 20);
    integer("http.read_timeout_ms", c.http.read_timeout_ms, 100, 3'600'000);
    integer("http.idle_timeout_ms", c.http.idle_timeout_ms, 100, 3'600'000);
    integer("http.write_timeout_ms", c.http.write_timeout_ms, 100, 3'600'000);
    integer("http.shutdown_deadline_ms", c.http.shutdown_deadline_ms, 0, 600'000);
    integer("http.max_connections", c.http.max_connections, 1, 1'000'000);
    integer("http.worker_queue_limit", c.http.worker_queue_limit, 1, 1'000'000);

    secret("database.url", c.database.url, [](const std::string& k, const std::string& v, const Source& s) {
      if (v.empty()) fail(k, s, "must not be empty");
    });
    integer("database.pool_size", c.database.pool_size, 1, 256);
    integer("database.statement_timeout_ms", c.database.statement_timeout_ms, 0, 86'400'000);
    integer("database.connect_timeout_s", c.database.connect_timeout_s, 1, 600);
    boolean("database.migrate_on_start", c.database.migrate_on_start);
    integer("database.migration_lock_wait_ms", c.database.migration_lock_wait_ms, 100, 86'400'000);
    str("database.embedded.bin_dir", c.database.embedded.bin_dir);
    integer("database.embedded.port", c.database.embedded.port, 1, 65535);
    boolean("database.embedded.fsync", c.database.embedded.fsync);
    integer("database.embedded.startup_timeout_ms", c.database.embedded.startup_timeout_ms, 1000, 3'600'000);
    str("database.embedded.run_as", c.database.embedded.run_as,
        [](const std::string& k, const std::string& v, const Source& s) {
          if (v.empty()) fail(k, s, "must not be empty");
        });

    str("hubspot.base_url", c.hubspot.base_url,
        [](const std::string& k, const std::string& v, const Source& s) {
          if (v.rfind("https://", 0) != 0 && v.rfind("http://", 0) != 0) {
            fail(k, s, "expected an http:// or https:// URL, got '" + v + "'");
          }
        });
    secret("hubspot.token", c.hubspot.token);
    integer("hubspot.burst_limit", c.hubspot.burst_limit, 1, 10'000);
    integer("hubspot.burst_interval_ms", c.hubspot.burst_interval_ms, 1000, 600'000);
    integer("hubspot.budget_percent", c.hubspot.budget_percent, 1, 100);
    integer("hubspot.search_per_second", c.hubspot.search_per_second, 1, 100);
    integer("hubspot.request_timeout_ms", c.hubspot.request_timeout_ms, 100, 600'000);
    integer("hubspot.max_attempts", c.hubspot.max_attempts, 1, 50);
    str("hubspot.ca_file", c.hubspot.ca_file);
    integer("hubspot.max_retry_wait_ms", c.hubspot.max_retry_wait_ms, 1000, 3'600'000);
    boolean("hubspot.shared_budget", c.hubspot.shared_budget);
    str("hubspot.api_version", c.hubspot.api_version,
        [](const std::string& k, const std::string& v, const Source& s) {
          static const std::regex kDated(R"(^20[0-9]{2}-(03|09)$)");
          if (v != "v3" && !std::regex_match(v, kDated))
            fail(k, s, "expected v3 or a dated version such as 2026-03, got '" + v + "'");
        });
    integer("sync.overlap_ms", c.sync.overlap_ms, 0, 86'400'000);
    integer("sync.parallelism", c.sync.parallelism, 1, 16);
    integer("sync.sweep_interval_ms", c.sync.sweep_interval_ms, 0, std::int64_t{366} * 86'400'000);
    integer("sync.lock_wait_ms", c.sync.lock_wait_ms, 0, 86'400'000);
    str("scoring.scorecards_dir", c.scoring.scorecards_dir);
    integer("scoring.min_coverage_percent", c.scoring.min_coverage_percent, 0, 100);
    integer("scoring.bands.green", c.scoring.green, 0, 100);
    integer("scoring.bands.yellow", c.scoring.yellow, 0, 100);
    integer("scoring.bands.orange", c.scoring.orange, 0, 100);
    integer("scoring.chunk_size", c.scoring.chunk_size, 1, 100'000);
    integer("scoring.threads", c.scoring.threads, 1, 64);
    integer("jobs.workers", c.jobs.workers, 1, 64);
    integer("jobs.lease_ms", c.jobs.lease_ms, 1'000, 3'600'000);
    integer("jobs.poll_interval_ms", c.jobs.poll_interval_ms, 10, 600'000);
    integer("jobs.max_attempts", c.jobs.max_attempts, 1, 100);
    integer("jobs.retry_base_ms", c.jobs.retry_base_ms, 10, 3'600'000);
    integer("jobs.retry_cap_ms", c.jobs.retry_cap_ms, 10, 86'400'000);
    boolean("schedule.enabled", c.schedule.enabled);
    str("schedule.nightly", c.schedule.nightly);
    str("schedule.time_zone", c.schedule.time_zone,
        [](const std::string& k, const std::string& v, const Source& s) {
          // A tz database name: it becomes a path under the zoneinfo directory.
          const bool ok = !v.empty() && v.size() < 64 && v.front() != '/' &&
                          v.find("..") == std::string::npos && std::all_of(v.begin(), v.end(), [](char ch) {
                            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '/' || ch == '_' ||
                                   ch == '-' || ch == '+';
                          });
          if (!ok) fail(k, s, "expected a tz database zone name such as Asia/Tokyo, got '" + v + "'");
        });
    integer("schedule.sync_interval_ms", c.schedule.sync_interval_ms, 0, std::int64_t{7} * 86'400'000);
    boolean("schedule.catch_up", c.schedule.catch_up);
    integer("schedule.tick_ms", c.schedule.tick_ms, 100, 60'000);
    integer("schedule.requested_refresh_interval_ms", c.schedule.requested_refresh_interval_ms, 0, 3'600'000);
    for (auto& [canonical, property] : c.mapping.company)
      str("mapping.company." + canonical, property,
          canonical == "external_id" ? optional_property_name : property_name);
    for (auto& [canonical, property] : c.mapping.contact)
      str("mapping.contact." + canonical, property, property_name);
    auto& w = c.writeback;
    boolean("writeback.enabled", w.enabled);
    str("writeback.alerts_file", w.alerts_file);
    one_of("writeback.locale", w.locale, {"ja", "en"});
    str("writeback.holidays_file", w.holidays_file);
    integer("writeback.hysteresis", w.hysteresis, 0, 100);
    integer("writeback.signal_rearm_days", w.signal_rearm_days, 0, 365);
    boolean("writeback.auto_close", w.auto_close);
    integer("writeback.auto_close_days", w.auto_close_days, 0, 365);
    integer("writeback.follow_through_days", w.follow_through_days, 1, 365);
    integer("writeback.daily_cap", w.daily_cap, 0, 10'000);
    integer("writeback.due_hour", w.due_hour, 0, 23);
    integer("writeback.reasons", w.reasons, 0, 20);
    str("writeback.managers", w.managers, managers_list);
    integer("writeback.search_lag_ms", w.search_lag_ms, 0, 3'600'000);
    integer("writeback.max_attempts", w.max_attempts, 1, 100);
    str("writeback.task_key_property", w.task_key_property, property_name);
    str("writeback.property_group", w.property_group, property_name);
    str("writeback.properties.score", w.score_property, property_name);
    str("writeback.properties.status", w.status_property, property_name);
    str("writeback.properties.reasons", w.reasons_property, property_name);
    str("writeback.properties.coverage", w.coverage_property, property_name);
    str("writeback.properties.updated_at", w.updated_property, property_name);
    str("writeback.properties.stage", w.stage_property, property_name);
    str("writeback.properties.churn_risk", w.churn_risk_property, optional_property_name);
    str("writeback.properties.expansion_likelihood", w.expansion_likelihood_property, optional_property_name);
    str("writeback.properties.usage_active_users", w.usage_active_users_property, optional_property_name);
    str("writeback.properties.usage_logins", w.usage_logins_property, optional_property_name);
    str("writeback.properties.usage_seat_utilisation", w.usage_seat_utilisation_property,
        optional_property_name);
    str("writeback.properties.usage_features", w.usage_features_property, optional_property_name);
    str("writeback.properties.usage_last_active", w.usage_last_active_property, optional_property_name);
    secret("writeback.slack_webhook_url", w.slack_webhook_url,
           [](const std::string& k, const std::string& v, const Source& s) {
             if (v.rfind("https://", 0) != 0 && v.rfind("http://127.0.0.1", 0) != 0 &&
                 v.rfind("http://localhost", 0) != 0)
               fail(k, s, "expected an https:// URL (http only to a loopback host)");
           });
    str("public_url", c.public_url, [](const std::string& k, const std::string& v, const Source& s) {
      static const std::regex kUrl(R"(^https?://[A-Za-z0-9.\-\[\]:]+(/[^?#\s]*)?$)");
      if (!v.empty() && !std::regex_match(v, kUrl))
        fail(k, s, "expected the service's public base URL such as https://cs.example.com, got '" + v + "'");
    });
    boolean("webhook.enabled", c.webhook.enabled);
    secret("webhook.secret", c.webhook.secret);
    integer("webhook.max_body_bytes", c.webhook.max_body_bytes, 1024, 64 << 20);
    integer("webhook.max_events", c.webhook.max_events, 1, 1000);
    integer("webhook.max_age_ms", c.webhook.max_age_ms, 1000, 3'600'000);
    boolean("webhook.refresh_on_change", c.webhook.refresh_on_change);
    integer("webhook.retention_days", c.webhook.retention_days, 1, 3650);
    boolean("plays.enabled", c.plays.enabled);
    str("plays.file", c.plays.file);
    str("plays.deal_key_property", c.plays.deal_key_property, property_name);
    auto& o = c.onboarding;
    boolean("onboarding.enabled", o.enabled);
    str("onboarding.checklist_file", o.checklist_file);
    str("onboarding.pool", o.pool, owner_list);
    str("onboarding.csm_pool", o.csm_pool, owner_list);
    integer("onboarding.high_touch_capacity", o.high_touch_capacity, 1, 100'000);
    integer("onboarding.tech_touch_capacity", o.tech_touch_capacity, 1, 100'000);
    integer("onboarding.csm_high_touch_capacity", o.csm_high_touch_capacity, 1, 100'000);
    integer("onboarding.csm_tech_touch_capacity", o.csm_tech_touch_capacity, 1, 100'000);
    integer("onboarding.high_touch_min_mrr", o.high_touch_min_mrr, 0, std::int64_t{1} << 50);
    str("onboarding.high_touch_plans", o.high_touch_plans);
    integer("onboarding.escalate_after_days", o.escalate_after_days, 1, 365);
    boolean("onboarding.services", o.services);
    str("onboarding.won_stages", o.won_stages);
    str("onboarding.deal_properties.plan", o.plan_property, property_name);
    str("onboarding.deal_properties.mrr", o.mrr_property, property_name);
    str("onboarding.deal_properties.seats", o.seats_property, property_name);
    str("onboarding.deal_properties.contract_start", o.contract_start_property, property_name);
    str("onboarding.deal_properties.goals", o.goals_property, property_name);
    str("onboarding.deal_properties.kpis", o.kpis_property, property_name);
    str("onboarding.owner_property", o.owner_property, property_name);
    str("onboarding.service_key_property", o.service_key_property, property_name);
    secret("admin.token", c.admin.token);
    auto& k = c.kpis;
    boolean("kpis.enabled", k.enabled);
    one_of("kpis.churn", k.churn, {"either", "stage", "mrr"});
    integer("kpis.history_months", k.history_months, 1, 120);
    integer("kpis.onboarding_target_days", k.onboarding_target_days, 1, 3650);
    str("kpis.first_value_step", k.first_value_step);
    str("kpis.upsell_deal_types", k.upsell_deal_types);
    number("kpis.targets.grr", k.targets.grr, 0, 1000);
    number("kpis.targets.nrr", k.targets.nrr, 0, 1000);
    number("kpis.targets.churn_rate", k.targets.churn_rate, 0, 100);
    number("kpis.targets.revenue_churn", k.targets.revenue_churn, 0, 100);
    number("kpis.targets.nps", k.targets.nps, -100, 100);
    number("kpis.targets.onboarding_completion", k.targets.onboarding_completion, 0, 100);
    number("kpis.targets.onboarding_days", k.targets.onboarding_days, 0, 3650);
    number("kpis.targets.time_to_value", k.targets.time_to_value, 0, 3650);
    number("kpis.targets.green_share", k.targets.green_share, 0, 100);
    number("kpis.targets.expansion_rate", k.targets.expansion_rate, 0, 1000);
    number("kpis.targets.ticket_resolution_hours", k.targets.ticket_resolution_hours, 0, 100000);
    number("kpis.targets.customers_per_csm", k.targets.customers_per_csm, 0, 100000);
    boolean("review.enabled", c.review.enabled);
    str("review.owner_id", c.review.owner_id, owner_id);
    integer("review.every_days", c.review.every_days, 1, 365);
    integer("review.horizon_days", c.review.horizon_days, 1, 365);
    integer("review.min_churns", c.review.min_churns, 1, 1'000'000);
    boolean("dashboard.enabled", c.dashboard.enabled);
    secret("dashboard.token", c.dashboard.token);
    boolean("usage.enabled", c.usage.enabled);
    secret("usage.token", c.usage.token);
    integer("usage.max_rows", c.usage.max_rows, 1, 1'000'000);
    for (auto& [field, header] : c.usage.csv) str("usage.csv." + field, header);
    secret("usage.segment.write_key", c.usage.segment.write_key);
    one_of("usage.segment.group_key", c.usage.segment.group_key, {"id", "domain", "external_id"});
    str("usage.segment.login_events", c.usage.segment.login_events, event_list);
    str("usage.segment.feature_events", c.usage.segment.feature_events, event_list);
    integer("usage.segment.max_age_days", c.usage.segment.max_age_days, 1, 365);
    integer("usage.segment.settle_batch", c.usage.segment.settle_batch, 1, 100'000);
    integer("usage.segment.settle_interval_ms", c.usage.segment.settle_interval_ms, 0, 3'600'000);
    str("usage.precedence", c.usage.precedence,
        [](const std::string& key, const std::string& v, const Source& s) {
          const auto items = split_list(v);
          const bool ok = items.size() == 2 && ((items[0] == "usage" && items[1] == "hubspot") ||
                                                (items[0] == "hubspot" && items[1] == "usage"));
          if (!ok) fail(key, s, "expected 'usage, hubspot' or 'hubspot, usage', got '" + v + "'");
        });
  }

  // Segment event names, comma-separated: each 1 to 255 characters, no control characters.
  static void event_list(const std::string& k, const std::string& v, const Source& s) {
    for (const auto& name : split_list(v)) {
      const bool control =
          std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
      if (name.empty() || name.size() > 255 || control)
        fail(k, s, "expected event names separated by commas, got '" + v + "'");
    }
  }

  // team:<id>=<owner id>,owner:<id>=<owner id>,default=<owner id>, every id a number.
  static void managers_list(const std::string& k, const std::string& v, const Source& s) {
    std::stringstream ss(v);
    for (std::string item; std::getline(ss, item, ',');) {
      const auto eq = item.find('=');
      const std::string who = item.substr(0, eq);
      const bool ok = eq != std::string::npos && digits(item.substr(eq + 1)) &&
                      (who == "default" || (who.rfind("team:", 0) == 0 && digits(who.substr(5))) ||
                       (who.rfind("owner:", 0) == 0 && digits(who.substr(6))));
      if (!ok)
        fail(
            k, s,
            "expected team:<id>=<owner id>, owner:<id>=<owner id> or default=<owner id>, got '" + item + "'");
    }
  }

  static bool digits(const std::string& x) {
    return !x.empty() && x.size() <= 18 &&
           std::all_of(x.begin(), x.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  }

  // One HubSpot owner id (a number), or nothing.
  static void owner_id(const std::string& k, const std::string& v, const Source& s) {
    if (!v.empty() && !digits(v)) fail(k, s, "expected a HubSpot owner id (digits), got '" + v + "'");
  }

  // Owner ids and team:<id>, comma-separated, every id a number.
  static void owner_list(const std::string& k, const std::string& v, const Source& s) {
    std::stringstream ss(v);
    for (std::string item; std::getline(ss, item, ',');) {
      const std::string id = item.rfind("team:", 0) == 0 ? item.substr(5) : item;
      if (!digits(id)) fail(k, s, "expected owner ids or team:<id>, comma-separated, got '" + item + "'");
    }
  }

  // A property name, or nothing (an output that is off).
  static void optional_property_name(const std::string& k, const std::string& v, const Source& s) {
    if (!v.empty()) property_name(k, v, s);
  }

  // A HubSpot internal property name: lower-case letters, digits and underscores.
  static void property_name(const std::string& k, const std::string& v, const Source& s) {
    const bool ok = !v.empty() && std::all_of(v.begin(), v.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
    if (!ok) fail(k, s, "expected a HubSpot property name ([a-z0-9_]+), got '" + v + "'");
  }

  const Key* find(const std::string& path) const {
    for (const auto& k : keys_) {
      if (k.path == path) return &k;
    }
    return nullptr;
  }
  bool is_section(const std::string& path) const {
    const std::string prefix = path + ".";
    return std::any_of(keys_.begin(), keys_.end(),
                       [&](const Key& k) { return k.path.rfind(prefix, 0) == 0; });
  }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  using Check = std::function<void(const std::string&, const std::string&, const Source&)>;

  void str(const std::string& path, std::string& field, Check check = {}) {
    keys_.push_back({path, false,
                     [&field, path, check](const std::string& raw, const Source& src) {
                       if (check) check(path, raw, src);
                       field = raw;
                     },
                     [&field] { return field; }});
  }
  void one_of(const std::string& path, std::string& field, std::vector<std::string> allowed) {
    str(path, field, [allowed](const std::string& k, const std::string& v, const Source& s) {
      if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
        fail(k, s, "expected one of " + list + ", got '" + v + "'");
      }
    });
  }
  template <typename Int>
  void integer(const std::string& path, Int& field, std::int64_t lo, std::int64_t hi) {
    keys_.push_back({path, false,
                     [&field, path, lo, hi](const std::string& raw, const Source& src) {
                       field = static_cast<Int>(parse_int(path, raw, src, lo, hi));
                     },
                     [&field] { return std::to_string(field); }});
  }
  void number(const std::string& path, double& field, double lo, double hi) {
    keys_.push_back({path, false,
                     [&field, path, lo, hi](const std::string& raw, const Source& src) {
                       field = parse_number(path, raw, src, lo, hi);
                     },
                     [&field] {
                       std::ostringstream out;
                       out << field;
                       return out.str();
                     }});
  }
  void boolean(const std::string& path, bool& field) {
    keys_.push_back(
        {path, false,
         [&field, path](const std::string& raw, const Source& src) { field = parse_bool(path, raw, src); },
         [&field] { return std::string(field ? "true" : "false"); }});
  }
  void secret(const std::string& path, Secret& field, Check check = {}) {
    keys_.push_back({path, true,
                     [&field, path, check](const std::string& raw, const Source& src) {
                       if (check) check(path, raw, src);
                       field = Secret(raw);
                     },
                     [&field] { return std::string(field.empty() ? "<unset>" : "<set>"); }});
  }

  std::vector<Key> keys_;
};

std::string mark_of(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

void apply_yaml_node(const Schema& schema, const YAML::Node& node, const std::string& prefix,
                     const std::string& file) {
  if (!node.IsMap()) {
    throw ConfigError((prefix.empty() ? std::string("top level") : prefix) + ": expected a mapping (" +
                      mark_of(file, node.Mark()) + ")");
  }
  for (const auto& item : node) {
    const std::string name = item.first.as<std::string>();
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    const Source src{mark_of(file, item.first.Mark())};
    const YAML::Node& value = item.second;

    // A secret's value never sits in the config file; its *_file path may.
    const bool is_file_key = path.size() > 5 && path.compare(path.size() - 5, 5, "_file") == 0;
    const Key* secret_key = is_file_key ? schema.find(path.substr(0, path.size() - 5)) : nullptr;
    if (secret_key && secret_key->secret) {
      if (value.IsNull()) continue;
      if (!value.IsScalar()) fail(path, src, "expected a file path");
      secret_key->set(read_secret_file(path, value.Scalar(), src), src);
      continue;
    }
    const Key* key = schema.find(path);
    if (key == nullptr) {
      if (schema.is_section(path)) {
        if (value.IsNull()) continue;
        apply_yaml_node(schema, value, path, file);
        continue;
      }
      fail(path, src, "unknown key");
    }
    if (key->secret) {
      // database.url may sit in the file when it carries no password (unix socket, .pgpass).
      if (path == "database.url" && value.IsScalar() && !url_has_password(value.Scalar())) {
        key->set(value.Scalar(), src);
        continue;
      }
      fail(path, src,
           "secrets are not read from the config file; set " + env_name(path) + " or " + path + "_file");
    }
    if (value.IsNull()) continue;  // `key:` with no value keeps the default
    if (!value.IsScalar()) fail(path, src, "expected a single value, got a list or mapping");
    key->set(value.Scalar(), src);
  }
}

}  // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

ListenAddress parse_listen(const std::string& value, const std::string& key) {
  ListenAddress out;
  std::string port;
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':') {
      throw ConfigError(key + ": expected [HOST]:PORT, got '" + value + "'");
    }
    out.host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw ConfigError(key + ": expected HOST:PORT, got '" + value + "'");
    out.host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  unsigned p = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p > 65535) {
    throw ConfigError(key + ": bad port in '" + value + "'");
  }
  out.port = static_cast<std::uint16_t>(p);
  return out;
}

namespace {

Config load_from(const YAML::Node* root, const std::string& file, const Environment& env);

}  // namespace

Config load(const std::optional<std::string>& path, const Environment& env) {
  if (!path) return load_from(nullptr, "", env);
  YAML::Node root;
  try {
    root = YAML::LoadFile(*path);
  } catch (const YAML::BadFile&) {
    throw ConfigError("cannot read config file '" + *path + "'");
  } catch (const YAML::ParserException& e) {
    throw ConfigError("config file is not valid YAML: " + e.msg + " (" + mark_of(*path, e.mark) + ")");
  }
  return load_from(&root, *path, env);
}

Config load_text(const std::string& yaml, const std::string& name, const Environment& env) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("config file is not valid YAML: " + e.msg + " (" + mark_of(name, e.mark) + ")");
  }
  return load_from(&root, name, env);
}

namespace {

Config load_from(const YAML::Node* root, const std::string& file, const Environment& env) {
  Config config;
  Schema schema(config);
  if (root) {
    try {
      if (!root->IsNull()) apply_yaml_node(schema, *root, "", file);
    } catch (const YAML::Exception& e) {  // a key that is not text, say: still a config error
      throw ConfigError("config file: " + e.msg + " (" + mark_of(file, e.mark) + ")");
    }
  }

  // Environment overrides, then *_FILE variants for secrets.
  for (const auto& key : schema.keys()) {
    const std::string name = env_name(key.path);
    if (auto it = env.find(name); it != env.end()) {
      key.set(it->second, Source{"environment variable " + name});
    }
    if (key.secret) {
      const std::string file_var = name + "_FILE";
      if (auto it = env.find(file_var); it != env.end()) {
        const Source src{"environment variable " + file_var};
        key.set(read_secret_file(key.path + "_file", it->second, src), src);
      }
    }
  }
  // Unknown CSHEALTHD_* variables are as wrong as unknown keys: a typo would silently do nothing.
  for (const auto& [name, value] : env) {
    if (name.rfind("CSHEALTHD_", 0) != 0) continue;
    bool known = false;
    for (const auto& key : schema.keys()) {
      const std::string kn = env_name(key.path);
      if (name == kn || (key.secret && name == kn + "_FILE")) known = true;
    }
    // The test harness passes its own settings under CSHEALTHD_TEST_*.
    if (!known && name.rfind("CSHEALTHD_TEST_", 0) != 0) {
      throw ConfigError(name + ": unknown environment variable (no such config key)");
    }
  }
  const auto& sc = config.scoring;
  if (!(sc.green > sc.yellow && sc.yellow > sc.orange)) {
    throw ConfigError("scoring.bands: expected green > yellow > orange, got " + std::to_string(sc.green) +
                      " / " + std::to_string(sc.yellow) + " / " + std::to_string(sc.orange));
  }
  return config;
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

std::string describe(const Config& config) {
  Config copy = config;  // Schema binds to a mutable struct; printing does not change it
  Schema schema(copy);
  std::string out;
  for (const auto& key : schema.keys()) out += key.path + ": " + key.print() + "\n";
  return out;
}

std::string redact_database_url(const std::string& url) {
  return redact_passwords(url);
}

}  // namespace cshealthd::config
