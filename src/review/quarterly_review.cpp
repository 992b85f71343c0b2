#include "cshealthd/review/quarterly_review.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "cshealthd/core/kpis.hpp"
#include "cshealthd/core/time.hpp"
#include "cshealthd/outbox/intents.hpp"
#include "cshealthd/outbox/outbox_store.hpp"
#include "cshealthd/validity/backtest.hpp"
#include "cshealthd/validity/calibration.hpp"

namespace cshealthd::review {
namespace {

using json = nlohmann::json;
using Vars = std::map<std::string, std::string>;

// A member of a report, or null when the report has none (an undefined AUC has no interval).
const json& field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}


// The texts, per locale: each a template whose {values} are escaped for the message's markup.
struct Texts {
  const char *subject, *backtest, *no_backtest, *better, *not_better, *refused, *no_calibration;
};
const Texts kEnglish{
    "Quarterly score review: {quarter}",
    "How the deployed score did (backtest {backtest}, {dates} observation dates {from} .. {to}, churn within "
    "{horizon} days): AUC {auc} [{low}, {high}] (0.5 is chance, 1 is perfect); red and orange caught {recall} of "
    "the customers who churned and flagged {false_alarm} of those who stayed; the median warning came {lead} days "
    "before the churn.",
    "No backtest this quarter: {error}.",
    "Calibration {calibration} proposes {proposed} (now {current}): out-of-time AUC {auc_proposed} against "
    "{auc_current} with the current weights. Judge it with `cshealthd calibrate --show {calibration}`; deploy it "
    "with `cshealthd calibrate --show {calibration} --out {path}` and a restart.",
    "Calibration {calibration} found no better weights (out-of-time AUC {auc_proposed} proposed against "
    "{auc_current} now): keep the current ones.",
    "No new weights this quarter (calibration {calibration}): {reason}.",
    "No calibration this quarter: {error}.",
};
const Texts kJapanese{
    "四半期ヘルススコアレビュー: {quarter}",
    "現在のスコアの予測力（バックテスト {backtest}、{from}〜{to} の {dates} 時点、{horizon} 日以内の解約）: AUC {auc} "
    "[{low}, {high}]（0.5 は偶然と同じ、1 は完全）。赤とオレンジは解約した顧客の {recall} を捉え、継続した顧客の "
    "{false_alarm} に警告を出しました。警告は解約の中央値 {lead} 日前でした。",
    "今四半期はバックテストできませんでした: {error}。",
    "キャリブレーション {calibration} の提案: {proposed}（現在 {current}）。時系列外の AUC は提案 {auc_proposed}、"
    "現在の重み {auc_current}。確認は `cshealthd calibrate --show {calibration}`、適用は "
    "`cshealthd calibrate --show {calibration} --out {path}` の後に再起動してください。",
    "キャリブレーション {calibration} は現在より良い重みを見つけませんでした（時系列外の AUC は提案 {auc_proposed}、"
    "現在 {auc_current}）。現在の重みを維持してください。",
    "今四半期は新しい重みを提案しません（キャリブレーション {calibration}）: {reason}。",
    "今四半期はキャリブレーションできませんでした: {error}。",
};

std::string weights_of(const json& weights, const char* what) {
  std::string out;
  for (const auto& w : weights) {
    if (!out.empty()) out += ", ";
    out += field(w, "name").get<std::string>() + " " + validity::format_number(field(w, what), "%g");
  }
  return out;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Message compose(const Findings& f, const std::string& locale, core::Markup markup) {
  const Texts& t = locale == "en" ? kEnglish : kJapanese;
  auto render = [&](const char* text, const Vars& v) { return core::render_template(text, v, markup); };
  Message m;
  m.subject = render(t.subject, {{"quarter", f.quarter}});
  const auto& b = f.backtest;
  if (b.is_object()) {
    const auto& auc = field(b, "auc");
    m.lines.push_back(render(t.backtest, {{"backtest", std::to_string(b.value("id", std::int64_t{0}))},
                                          {"dates", std::to_string(b.value("dates", 0))},
                                          {"from", b.value("from", std::string())},
                                          {"to", b.value("to", std::string())},
                                          {"horizon", std::to_string(b.value("horizon_days", 0))},
                                          {"auc", validity::format_number(field(auc, "value"))},
                                          {"low", validity::format_number(field(auc, "low"))},
                                          {"high", validity::format_number(field(auc, "high"))},
                                          {"recall", validity::format_percent(field(b, "recall_red_orange"))},
                                          {"false_alarm", validity::format_percent(field(b, "false_alarm_red_orange"))},
                                          {"lead", validity::format_number(field(b, "median_lead_days"), "%.0f")}}));
    m.outcome = "auc " + validity::format_number(field(auc, "value"));
  } else {
    m.lines.push_back(render(t.no_backtest, {{"error", trimmed(f.backtest_error)}}));
    m.outcome = "no backtest";
  }
  const auto& c = f.calibration;
  if (c.is_object()) {
    const auto id = std::to_string(c.value("id", std::int64_t{0}));
    if (c.value("status", std::string()) == "proposed") {
      const auto& oot = field(c, "out_of_time");
      const auto& now = field(field(field(oot, "current"), "auc"), "value");
      const auto& then = field(field(field(oot, "proposed"), "auc"), "value");
      const bool better = now.is_number() && then.is_number() && then.get<double>() > now.get<double>();
      m.lines.push_back(render(better ? t.better : t.not_better,
                               {{"calibration", id},
                                {"proposed", weights_of(field(c, "weights"), "proposed")},
                                {"current", weights_of(field(c, "weights"), "current")},
                                {"auc_proposed", validity::format_number(then)},
                                {"auc_current", validity::format_number(now)},
                                {"path", f.deploy_path}}));
      m.outcome += "; calibration " + id + (better ? " proposed (" : " no better (") + validity::format_number(then) + ")";
    } else {
      m.lines.push_back(render(t.refused, {{"calibration", id}, {"reason", trimmed(c.value("reason", std::string()))}}));
      m.outcome += "; calibration " + id + " refused";
    }
  } else {
    m.lines.push_back(render(t.no_calibration, {{"error", trimmed(f.calibration_error)}}));
    m.outcome += "; no calibration";
  }
  return m;
}

void QuarterlyReview::prepare(const workflow::PlanDay& day) {
  pending_.reset();
  if (!config_.review.enabled || day.refresh()) return;
  const auto closed = core::period_of(core::Granularity::kQuarter,
                                      core::period_of(core::Granularity::kQuarter, day.day).first - 1);
  const auto quarter = closed.label();
  const bool due = db_.with_retry("review_due", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "review_due");
    return !ReviewStore::reviewed(tx, quarter) && ReviewStore::ran_by(tx, closed.last);
  });
  if (!due) return;
  spdlog::info("review: the quarter {} closed; backtesting and calibrating the deployed scoring", quarter);
  // The outcomes up to date first (the night's KPI stage comes after the plan): on a first night there
  // would be none yet.
  if (config_.kpis.enabled) outcomes_.compute(day.day);
  Pending p;
  p.day = day.day;
  p.findings.quarter = quarter;
  validity::BacktestOptions bo;
  bo.today = day.day;
  bo.every = config_.review.every_days;
  bo.horizon = config_.review.horizon_days;
  bo.to = day.day - 1 - bo.horizon;
  bo.from = bo.to - 360;
  bo.zone = &context_.zone;
  bo.trigger = "quarterly_review";
  bo.threads = config_.scoring.threads;
  bo.chunk = static_cast<std::size_t>(config_.scoring.chunk_size);
  validity::BacktestRun backtest;
  try {
    validity::Backtester backtester(db_, scoring_, metrics_, outcomes_);
    backtest = backtester.run(bo);
    p.findings.backtest = backtest.report;
  } catch (const std::invalid_argument& e) {
    p.findings.backtest_error = e.what();
  }
  validity::CalibrateOptions co;
  co.window = bo;
  co.min_churns = config_.review.min_churns;
  try {
    validity::Calibrator calibrator(db_, config_, scoring_, metrics_, outcomes_);
    // The same window: the backtest's observations serve the calibration instead of rescoring its dates.
    p.findings.calibration = calibrator.run(co, p.findings.backtest.is_null() ? nullptr : &backtest.observed).report;
    const auto name = p.findings.calibration["scorecard"].get<std::string>();
    const auto dir = config_.scoring.scorecards_dir.empty() ? std::string("SCORECARDS_DIR") : config_.scoring.scorecards_dir;
    p.findings.deploy_path = dir + "/" + scoring::scorecard_file(config_, name).name;
  } catch (const std::invalid_argument& e) {
    p.findings.calibration_error = e.what();
  }
  pending_ = std::move(p);
}

json QuarterlyReview::plan(pqxx::work& tx, const workflow::PlanDay& day) {
  if (!pending_ || pending_->day != day.day) return json::object();
  const auto& f = pending_->findings;
  auto id_of = [](const json& report) {
    return report.is_object() && report.contains("id") ? std::optional(report["id"].get<std::int64_t>()) : std::nullopt;
  };
  const auto text = compose(f, context_.locale, core::Markup::kPlain);
  if (!ReviewStore::record(tx, f.quarter, day.day, id_of(f.backtest), id_of(f.calibration), text.outcome))
    return {{"review", {{"quarter", f.quarter}, {"recorded_already", true}}}};
  std::vector<outbox::Item> items;
  if (context_.slack) {
    const auto slack = compose(f, context_.locale, core::Markup::kSlack);
    std::string body = slack.subject;
    for (const auto& l : slack.lines) body += "\n" + l;
    items.push_back({"review:" + f.quarter + ":slack", 0, outbox::SlackMessage{body}});
  }
  if (!config_.review.owner_id.empty()) {
    const auto html = compose(f, context_.locale, core::Markup::kHtml);
    std::string body;
    for (const auto& l : html.lines) body += (body.empty() ? "" : "<br><br>") + l;
    const auto due = context_.calendar.add_business_days(day.day, 5);
    items.push_back({"review:" + f.quarter + ":task", 0,
                     outbox::Task{html.subject, body, config_.review.owner_id, "MEDIUM", "review:quarterly", due,
                                  context_.due_ms(due), 0}});
  }
  outbox::OutboxStore::enqueue(tx, items, day.run_id);
  spdlog::info("review: {} reviewed ({}); {} message(s) to send", f.quarter, text.outcome, items.size());
  return {{"review",
           {{"quarter", f.quarter},
            {"backtest", id_of(f.backtest) ? json(*id_of(f.backtest)) : json(nullptr)},
            {"calibration", id_of(f.calibration) ? json(*id_of(f.calibration)) : json(nullptr)},
            {"outcome", text.outcome},
            {"messages", items.size()}}}};
}

}  // namespace cshealthd::review
