#include "cshealthd/app/writeback_command.hpp"
#include "cshealthd/scoring/health_store.hpp"

#include "cshealthd/outbox/deliverer.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cshealthd/alerts/alerts.hpp"
#include "cshealthd/app/components.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/plays/plays.hpp"

namespace cshealthd::app {
namespace {

using json = nlohmann::json;

std::int32_t plan_day(Components& c, const std::string& as_of) {
  if (!as_of.empty()) {
    const auto d = core::parse_day(as_of);
    if (!d) throw config::ConfigError("--as-of: expected a date YYYY-MM-DD, got '" + as_of + "'");
    return *d;
  }
  const auto latest = c.db().with_retry("plan_latest_day", [](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn, "plan_latest_day");
    return scoring::HealthStore::latest_day(tx);
  });
  if (!latest)
    throw std::runtime_error("nothing has been scored yet: run `cshealthd score` (or a run) first");
  return *latest;
}

std::string props_text(const std::map<std::string, std::string>& props) {
  std::string out;
  for (const auto& [k, v] : props) {
    std::string shown = v.substr(0, 60);
    for (auto& ch : shown) ch = ch == '\n' ? ' ' : ch;
    out += (out.empty() ? "" : ", ") + k + "=" + shown + (v.size() > 60 ? "…" : "");
  }
  return out;
}

void print_plan(const core::Plan& p, std::int32_t day, std::size_t companies, bool dry_run) {
  std::cout << "plan for " << core::format_day(day) << " (" << companies << " companies scored)"
            << (dry_run ? ", dry run: nothing is written" : "") << "\n";
  for (const auto& u : p.properties)
    std::cout << "  write    company " << u.company_id << ": " << props_text(u.properties) << "\n";
  for (const auto& t : p.tasks) {
    std::cout << "  " << (t.rule == "escalation" ? "escalate" : "create  ") << " " << t.key << "  owner "
              << (t.owner_id.empty() ? "-" : t.owner_id) << "  " << t.priority << "  due "
              << core::format_day(t.due_day) << "  \"" << t.subject << "\"\n";
  }
  for (const auto& c : p.closes) std::cout << "  close    " << c.task_key << "\n";
  const auto& n = p.counts;
  std::cout << p.properties.size() << " property updates (" << n.unchanged_companies
            << " companies unchanged), " << p.tasks.size() << " tasks (" << n.alerts << " alerts, "
            << n.digested << " in digests, " << n.escalations << " escalations), " << p.closes.size()
            << " closes, " << n.snoozed << " snoozed\n";
}

}  // namespace

namespace {

// `plan --plays`: the plays decided for the day in a transaction that is rolled back.
int print_plays(Components& c, std::int32_t day, bool as_json, bool catch_up) {
  plays::Plays p(c.plays(), c.workflow(), c.onboarding().won_stages);
  const auto night = c.db().with_retry("plays_dry_run", [&](pqxx::connection& conn) {
    pqxx::work tx(conn, "plays_dry_run");
    auto out = p.plan(tx, day, true, catch_up);
    tx.abort();
    return out;
  });
  if (as_json) {
    std::cout << json{{"as_of", core::format_day(day)}, {"source", c.plays().source},
                      {"companies", night.companies},   {"steps", night.items},
                      {"starting", night.starting},     {"under_way", night.under_way},
                      {"held_back", night.notes}}
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << "plays for " << core::format_day(day) << " (" << c.plays().source << "), " << night.companies
            << " companies scored that day: " << night.items.size() << " step(s)\n";
  for (const auto& i : night.items) {
    const auto& payload = i["payload"];
    std::cout << "  " << i["play"].get<std::string>() << "/" << i["step"].get<std::string>() << " at company "
              << i["company_id"].get<std::int64_t>() << " (cycle " << i["cycle"].get<std::string>()
              << "): " << i["action"].get<std::string>();
    if (payload.contains("subject")) std::cout << " \"" << payload["subject"].get<std::string>() << "\"";
    if (payload.contains("owner_id")) std::cout << " for owner " << payload["owner_id"].get<std::string>();
    if (payload.contains("due")) std::cout << " due " << payload["due"].get<std::string>();
    std::cout << "\n    why: " << i["why"].get<std::string>() << "\n";
  }
  if (!night.notes.empty()) {
    std::cout << "held back:\n";
    for (const auto& n : night.notes) std::cout << "  " << n << "\n";
  }
  return 0;
}

}  // namespace

int run_plays_check(const std::string& file) {
  const std::string text = workflow::read_config_file("plays check", file);
  core::PlaysConfig parsed;
  for (const char* locale : {"en", "ja"}) parsed = plays::parse_plays(text, file, locale);
  std::cout << "plays OK (" << file << "): " << parsed.plays.size() << " plays, " << parsed.templates.size()
            << " templates\n";
  for (const auto& p : parsed.plays) {
    std::cout << "  " << p.name << (p.enabled ? "" : " (disabled)") << ": " << core::name_of(p.trigger.kind)
              << " trigger, steps:";
    for (const auto& s : p.steps)
      std::cout << " " << s.name << "[" << s.at << ".." << s.until << "]:" << core::name_of(s.action);
    std::cout << "\n";
  }
  return 0;
}

int run_plan_command(const config::Config& config, const PlanCommandOptions& o) {
  ComponentOptions co;
  co.pool_size = 2;
  co.hubspot = !o.dry_run && !o.plays;
  co.scoring = false;
  co.writeback = true;
  Components c(config, co);
  alerts::Alerts wb(
      c.db(), c.alerts(), c.workflow(), c.outbox(), [&c] { return c.hubspot_client(); }, c.metrics(),
      c.clock());
  const auto day = plan_day(c, o.as_of);
  if (o.plays) return print_plays(c, day, o.json, o.catch_up);
  const auto result = wb.plan(day, std::nullopt, std::nullopt, o.dry_run, !o.dry_run);
  if (o.json) {
    json out = alerts::plan_json(result.plan, true);
    out["as_of"] = core::format_day(day);
    out["dry_run"] = o.dry_run;
    if (o.dry_run) {
      std::cout << out.dump() << "\n";
      return 0;
    }
  } else {
    print_plan(result.plan, day, result.companies, o.dry_run);
  }
  if (o.dry_run) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  outbox::Deliverer deliverer(c.db(), c.outbox(), c.metrics(), c.clock());
  auto handle = c.hubspot_client();
  const auto r = deliverer.run(*handle.client, {});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json report = {{"companies_written", r.companies},
                 {"tasks_created", r.tasks_created},
                 {"tasks_existing", r.tasks_existing},
                 {"tasks_closed", r.closed},
                 {"slack_posts", r.slack},
                 {"dead", r.dead},
                 {"in_doubt", r.in_doubt},
                 {"api_calls", r.calls},
                 {"rate_limited", r.rate_limited},
                 {"task_mode", r.task_mode},
                 {"seconds", std::round(seconds * 1000) / 1000}};
  std::cout << (o.json ? json{{"delivered", report}}.dump() : "delivered: " + report.dump()) << "\n";
  return r.dead == 0 ? 0 : 1;
}

int run_snooze(const config::Config& config, const SnoozeOptions& o) {
  ComponentOptions co;
  co.pool_size = 2;
  co.scoring = false;
  co.writeback = true;
  Components c(config, co);
  alerts::AlertStore store(c.db());
  auto to_json = [](const alerts::StoredSnooze& s) {
    return json{{"id", s.id},
                {"company_id", s.company_id},
                {"rule", s.rule},
                {"until", s.until},
                {"reason", s.reason},
                {"author", s.author},
                {"created_at", s.created_at},
                {"revoked", s.revoked}};
  };
  const char* user = std::getenv("USER");
  const std::string author = !o.author.empty() ? o.author : std::string("cli:") + (user ? user : "unknown");
  if (o.action == "list") {
    json out = json::array();
    for (const auto& s : store.snoozes(o.company)) out.push_back(to_json(s));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (o.action == "revoke") {
    if (!store.unsnooze(o.company, o.rule, author)) {
      std::cerr << "cshealthd: no live snooze of " << o.rule << " at company " << o.company << "\n";
      return 1;
    }
    std::cout << "revoked\n";
    return 0;
  }
  std::vector<std::string> rules;
  for (const auto& r : c.alerts().plan.rules) rules.push_back(r.name);
  const auto today = c.service_day();
  try {
    std::cout << to_json(store.snooze(o.company, o.rule, o.until, o.reason, author, rules, today)).dump(2)
              << "\n";
  } catch (const alerts::InvalidSnooze& e) {
    throw config::ConfigError(std::string("snooze: ") + e.what());
  }
  return 0;
}

}  // namespace cshealthd::app
