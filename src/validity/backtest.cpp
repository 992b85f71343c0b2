#include "cshealthd/validity/backtest.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/batch.hpp"
#include "cshealthd/store/copy_writer.hpp"

namespace cshealthd::validity {
namespace {

using json = nlohmann::json;
constexpr std::size_t kMaxDates = 400;

}  // namespace

std::string format_number(const json& v, const char* format) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v.get<double>());
  return buf;
}

std::string format_percent(const json& v) {
  return v.is_number() ? format_number(v.get<double>() * 100, "%.1f") + " %" : "n/a";
}

std::string format_auc(const json& a) {
  if (!a.is_object() || !a.contains("value") || !a["value"].is_number()) return "n/a";
  return format_number(a["value"]) + " [" + format_number(a.value("low", json())) + ", " +
         format_number(a.value("high", json())) + "]";
}

std::string format_probability(const json& p, const std::string& title) {
  std::string out = "  " + title + " on " + std::to_string(p.value("observations", 0)) + " observations: Brier " +
                    format_number(p.value("brier", json()), "%.4f") + " (" +
                    format_number(p.value("brier_base_rate", json()), "%.4f") + " giving everyone the base rate " +
                    format_percent(p.value("base_rate", json())) + ")";
  if (p.contains("auc")) out += ", AUC " + format_auc(p["auc"]);
  out += "\n  decile   count  predicted  observed\n";
  int k = 0;
  for (const auto& b : p.value("reliability", json::array())) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "  %6d %7lld  %9s  %8s\n", ++k, static_cast<long long>(b.value("count", 0LL)),
                  format_percent(b.value("predicted", json())).c_str(),
                  format_percent(b.value("observed", json())).c_str());
    out += buf;
  }
  return out;
}

std::vector<std::int32_t> observation_days(const BacktestOptions& o) {
  if (o.every < 1) throw std::invalid_argument("--every: expected at least 1 day");
  if (o.horizon < 1) throw std::invalid_argument("--horizon: expected at least 1 day");
  if (o.from > o.to) throw std::invalid_argument("--from: after --to");
  if ((o.to - o.from) / o.every + 1 > static_cast<std::int32_t>(kMaxDates))
    throw std::invalid_argument("--every: more than " + std::to_string(kMaxDates) +
                                " observation dates; take a larger step");
  std::vector<std::int32_t> days;
  for (std::int32_t d = o.from; d <= o.to; d += o.every) days.push_back(d);
  // A date's label needs its whole horizon in the past: churns are known through yesterday.
  const std::int32_t last = o.today - 1 - o.horizon;
  if (days.back() > last)
    throw std::invalid_argument("--to: the churns of the " + std::to_string(o.horizon) + " days after " +
                                core::format_day(days.back()) + " are not all known yet; the last date " +
                                "that can be observed is " + core::format_day(last));
  return days;
}

Observed Backtester::observe(const std::vector<std::int32_t>& days, const BacktestOptions& o) {
  // The outcomes, by company.
  std::unordered_map<std::int64_t, std::vector<core::ChurnEvent>> events;
  for (const auto& e : outcomes_.churn_outcomes()) events[e.company_id].push_back({e.churn_day, e.returned_on});
  std::unordered_map<std::int64_t, std::vector<std::int32_t>> expansions;
  for (const auto& e : outcomes_.expansion_outcomes()) expansions[e.company_id].push_back(e.day);

  // The components of the scorecards that scored someone, in the order first met.
  Observed out;
  auto& names = out.names;
  auto& obs = out.obs;
  scoring::BatchScorer scorer(db_, scoring_, metrics_);
  for (const auto day : days) {
    scoring::BatchOptions bo;
    bo.as_of_day = day;
    bo.zone = o.zone;
    bo.threads = o.threads;
    bo.chunk = o.chunk;
    bo.trigger = "backtest";
    std::size_t before = obs.size();
    scorer.evaluate(bo, [&](const core::HealthResult& r, const std::string& segment) {
      static const std::vector<core::ChurnEvent> kNone;
      const auto it = events.find(r.company_id);
      const auto outcome = core::outcome_at(it == events.end() ? kNone : it->second, day, o.horizon);
      if (!outcome.customer) return;  // it had left by then
      core::BacktestObservation ob;
      ob.company_id = r.company_id;
      ob.day = day;
      ob.score = r.score;
      ob.status = r.status;
      ob.segment = segment;
      ob.scorecard = r.scorecard;
      ob.churn_risk = r.churn_risk;
      ob.expansion_likelihood = r.expansion_likelihood;
      if (const auto x = expansions.find(r.company_id); x != expansions.end())
        ob.expanded = core::expanded_within(x->second, day, o.horizon);
      for (const auto& c : r.components) {
        auto at = static_cast<std::size_t>(std::find(names.begin(), names.end(), c.component->name) - names.begin());
        if (at == names.size()) names.push_back(c.component->name);
        if (ob.components.size() < names.size()) ob.components.resize(names.size());
        if (c.has_data) ob.components[at] = c.points;
      }
      ob.churned = outcome.churn_day.has_value();
      ob.churn_day = outcome.churn_day;
      obs.push_back(std::move(ob));
    });
    spdlog::info("backtest: {} observed, {} customers", core::format_day(day), obs.size() - before);
  }
  return out;
}

BacktestRun Backtester::run(const BacktestOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const auto days = observation_days(o);
  BacktestRun out;
  out.observed = observe(days, o);
  const auto& names = out.observed.names;
  const auto& obs = out.observed.obs;

  json report = core::summarize_backtest(obs, names);
  report["from"] = core::format_day(days.front());
  report["to"] = core::format_day(days.back());
  report["every_days"] = o.every;
  report["horizon_days"] = o.horizon;
  report["dates"] = days.size();
  report["scorecard"] = o.scorecard;
  report["churn_rule"] = core::name_of(outcomes_.settings().churn);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report["seconds"] = std::round(seconds * 10) / 10;
  out.id = db_.with_retry("backtest_store", [&](pqxx::connection& c) {
    pqxx::work tx(c, "backtest_store");
    const auto id = BacktestStore::insert(tx, o, scoring_.fingerprint, seconds, report);
    BacktestStore::add_observations(tx, id, obs, names);
    tx.commit();
    return id;
  });
  report["id"] = out.id;
  out.report = std::move(report);
  return out;
}

std::int64_t BacktestStore::insert(pqxx::work& tx, const BacktestOptions& o, const std::string& fingerprint,
                                   double seconds, const json& report) {
  return tx
      .exec_params1(
          "INSERT INTO backtests (from_day, to_day, every_days, horizon_days, scorecard, fingerprint, "
          "trigger, seconds, report) VALUES ($1::date, $2::date, $3, $4, $5, $6, $7, $8, $9::jsonb) "
          "RETURNING id",
          report.value("from", core::format_day(o.from)), report.value("to", core::format_day(o.to)), o.every,
          o.horizon, o.scorecard, fingerprint, o.trigger, seconds, report.dump())[0]
      .as<std::int64_t>();
}

void BacktestStore::add_observations(pqxx::work& tx, std::int64_t id,
                                     const std::vector<core::BacktestObservation>& obs,
                                     const std::vector<std::string>& names) {
  store::CopyWriter copy(tx, "backtest_observations",
                         {"backtest_id", "day", "company_id", "score", "status", "segment", "churned",
                          "churn_day", "components", "expanded", "churn_risk", "expansion_likelihood"});
  for (const auto& o : obs) {
    json components = json::object();
    for (std::size_t k = 0; k < names.size() && k < o.components.size(); ++k)
      components[names[k]] = o.components[k] ? json(*o.components[k]) : json(nullptr);
    copy.number(id).text(core::format_day(o.day)).number(o.company_id).number(o.score).text(o.status);
    copy.text(o.segment).boolean(o.churned);
    if (o.churn_day) {
      copy.text(core::format_day(*o.churn_day));
    } else {
      copy.null();
    }
    copy.text(components.dump()).boolean(o.expanded);
    for (const auto& p : {o.churn_risk, o.expansion_likelihood}) {
      if (p) {
        copy.number(*p);
      } else {
        copy.null();
      }
    }
    copy.end_row();
  }
  copy.complete();
}

json BacktestStore::list(pqxx::transaction_base& tx, std::size_t limit) {
  json out = json::array();
  for (const auto& r : tx.exec_params(
           "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
           "from_day::text, to_day::text, every_days, horizon_days, scorecard, report->'auc'->'value', "
           "(report->>'churned')::bigint, (report->>'observations')::bigint FROM backtests ORDER BY id DESC "
           "LIMIT $1",
           static_cast<long long>(limit))) {
    out.push_back({{"id", r[0].as<std::int64_t>()},
                   {"created_at", r[1].as<std::string>()},
                   {"from", r[2].as<std::string>()},
                   {"to", r[3].as<std::string>()},
                   {"every_days", r[4].as<int>()},
                   {"horizon_days", r[5].as<int>()},
                   {"scorecard", r[6].as<std::string>()},
                   {"auc", r[7].is_null() ? json(nullptr) : json::parse(r[7].c_str())},
                   {"churned", r[8].as<std::int64_t>()},
                   {"observations", r[9].as<std::int64_t>()}});
  }
  return out;
}

std::optional<json> BacktestStore::get(pqxx::transaction_base& tx, std::int64_t id) {
  const auto r = tx.exec_params(
      "SELECT report::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM "
      "backtests WHERE id = $1",
      id);
  if (r.empty()) return std::nullopt;
  auto report = json::parse(r[0][0].c_str());
  report["id"] = id;
  report["created_at"] = r[0][1].as<std::string>();
  return report;
}

std::string format_table(const json& r) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line("backtest " + (r.contains("id") ? std::to_string(r["id"].get<std::int64_t>()) : std::string("-")) +
       ": " + r.value("scorecard", std::string("deployed")) + " scorecard, " +
       std::to_string(r.value("dates", 0)) + " observation dates " + r.value("from", std::string()) + " .. " +
       r.value("to", std::string()) + " every " + std::to_string(r.value("every_days", 0)) + " days, churn within " +
       std::to_string(r.value("horizon_days", 0)) + " days (" + r.value("churn_rule", std::string()) + ")");
  auto figures = [&](const json& g, const std::string& title) {
    line(title + ": " + std::to_string(g.value("observations", 0)) + " observations, " +
         std::to_string(g.value("churned", 0)) + " followed by a churn, " + std::to_string(g.value("unscored", 0)) +
         " unscored");
    line("  AUC " + format_auc(g["auc"]) + "   top-decile lift " + format_number(g["top_decile_lift"], "%.2f") +
         "   recall red " + format_percent(g["recall_red"]) + ", red+orange " + format_percent(g["recall_red_orange"]) +
         "   stayers flagged red+orange " + format_percent(g["false_alarm_red_orange"]) + "   median lead " +
         (g["median_lead_days"].is_number() ? format_number(g["median_lead_days"], "%.0f") + " days" : "n/a") + " (" +
         std::to_string(g.value("churns_with_lead", 0)) + " of " + std::to_string(g.value("churns", 0)) +
         " churns warned)");
    if (g["auc"]["value"].is_null() && g["auc"].contains("why")) line("  AUC " + g["auc"]["why"].get<std::string>());
  };
  figures(r, "overall");
  line("");
  line("  component      AUC                      observations");
  for (const auto& c : r["components"]) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %-14s %-24s %lld", c["name"].get<std::string>().c_str(),
                  format_auc(c["auc"]).c_str(), static_cast<long long>(c["observations"].get<std::int64_t>()));
    line(buf);
  }
  line("");
  line("  band      observations  churned  churn rate");
  for (const auto& b : r["bands"]) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %-9s %12lld %8lld  %s", b["band"].get<std::string>().c_str(),
                  static_cast<long long>(b["observations"].get<std::int64_t>()),
                  static_cast<long long>(b["churned"].get<std::int64_t>()), format_percent(b["churn_rate"]).c_str());
    line(buf);
  }
  if (r.contains("churn_probability") && r["churn_probability"].is_object())
    out += "\n" + format_probability(r["churn_probability"], "churn probability (cs_churn_risk)");
  if (r.contains("expansion_probability") && r["expansion_probability"].is_object())
    out += "\n" + format_probability(r["expansion_probability"], "expansion likelihood (cs_expansion_likelihood)");
  for (const auto& s : r.value("segments", json::array())) {
    line("");
    figures(s, "segment " + s.value("segment", std::string()));
  }
  return out;
}

}  // namespace cshealthd::validity
