#include "cshealthd/pipeline/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <spdlog/spdlog.h>

#include "cshealthd/core/time.hpp"
#include "cshealthd/scoring/health_store.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/errors.hpp"
#include "cshealthd/store/refresh_requests.hpp"

namespace cshealthd::pipeline {
namespace {

using json = nlohmann::json;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<std::string> pipeline_stages() {
  return {"sync", "score", "plan", "deliver", "kpis"};
}

Pipeline::Pipeline(store::Database& db, SyncJob& sync, ScoreJob& score,
                   std::vector<workflow::Participant*> workflows, outbox::Deliverer* deliverer,
                   hubspot::ClientFactory clients, Clock& clock, metrics::Registry& metrics, KpisStage kpis)
    : db_(db),
      runs_(db),
      sync_(sync),
      score_(score),
      workflows_(std::move(workflows)),
      deliverer_(deliverer),
      clients_(std::move(clients)),
      clock_(clock),
      metrics_(metrics),
      kpis_(std::move(kpis)) {}

std::optional<std::int64_t> Pipeline::start(store::RunRequest request) {
  if (request.stages.empty()) request.stages = pipeline_stages();
  auto id = runs_.create(request, kPipelineJob);
  if (id) {
    metrics_.counter("cshealthd_runs_created_total", "Pipeline runs created", {{"kind", request.kind}}).inc();
    spdlog::info("pipeline: run {} ({}, {}) created for {}", *id, request.kind, request.trigger,
                 request.as_of);
  }
  return id;
}

// The checkpoint and the run's stage, written together under the job's lease.
void Pipeline::save(JobContext& ctx, std::int64_t run, const json& cp, const std::string& stage,
                    const std::string& state, const json& progress) {
  db_.with_retry("pipeline_save", [&](pqxx::connection& c) {
    pqxx::work tx(c, "pipeline_save");
    store::JobQueue::checkpoint(tx, ctx.job, cp);
    store::RunStore::set_stage(tx, run, stage, state, progress);
    tx.commit();
  });
}

json Pipeline::operator()(JobContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto run_id = ctx.job.payload.value("run_id", std::int64_t{0});
  const auto run = runs_.get(run_id);
  if (!run) throw PermanentJobError("run " + std::to_string(run_id) + " does not exist");
  const auto day = core::parse_day(run->as_of);
  if (!day) throw PermanentJobError("run " + std::to_string(run_id) + " has no valid day");
  json cp = ctx.job.checkpoint.is_object() ? ctx.job.checkpoint : json::object();
  if (ctx.job.takeovers > 0 && ctx.job.attempt > 1) {
    spdlog::warn("pipeline: run {} resumed by this replica (attempt {}) at stage {}", run_id, ctx.job.attempt,
                 cp.value("stage", std::string("sync")));
  }
  db_.with_retry("pipeline_begin", [&](pqxx::connection& c) {
    pqxx::work tx(c, "pipeline_begin");
    store::JobQueue::checkpoint(tx, ctx.job, cp);  // fenced: a stale worker changes nothing
    store::RunStore::set_state(tx, run_id, "running");
    tx.commit();
  });
  try {
    if (cp.value("stage", std::string("sync")) == "sync") {
      cp["sync"] = run_sync(ctx, run_id, cp);
      cp["stage"] = "score";
      save(ctx, run_id, cp, "sync", "done", cp["sync"]);
    }
    if (cp.value("stage", std::string()) == "score") {
      cp["score"] = run_score(ctx, run_id, run->kind, *day, cp);
      cp["stage"] = "plan";
      save(ctx, run_id, cp, "score", "done", cp["score"]);
    }
    if (cp.value("stage", std::string()) == "plan") run_plan(ctx, run_id, *day, cp);
    if (cp.value("stage", std::string()) == "deliver") run_deliver(ctx, run_id, cp);
    if (cp.value("stage", std::string()) == "kpis") run_kpis(ctx, run_id, run->kind, *day, cp);
  } catch (const JobInterrupted&) {
    throw;
  } catch (const store::LeaseLost&) {
    throw;
  } catch (const std::exception& e) {
    // The run stays running while its job retries; it fails with the job's last attempt.
    const bool last = ctx.job.attempt >= ctx.job.max_attempts || dynamic_cast<const PermanentJobError*>(&e);
    db_.with_retry("pipeline_failed", [&](pqxx::connection& c) {
      pqxx::work tx(c, "pipeline_failed");
      store::JobQueue::checkpoint(tx, ctx.job, cp);
      store::RunStore::set_state(tx, run_id, last ? "failed" : "running", e.what());
      tx.commit();
    });
    if (last)
      metrics_
          .counter("cshealthd_runs_failed_total", "Pipeline runs that failed for good", {{"kind", run->kind}})
          .inc();
    throw;
  }
  const double secs = cp.value("seconds", 0.0) + seconds_since(t0);
  const json summary = summarize(*day, cp, secs);
  db_.with_retry("pipeline_finish", [&](pqxx::connection& c) {
    pqxx::work tx(c, "pipeline_finish");
    store::JobQueue::checkpoint(tx, ctx.job, cp);
    store::RunStore::finish(tx, run_id, summary);
    tx.commit();
  });
  metrics_.counter("cshealthd_runs_succeeded_total", "Pipeline runs that finished", {{"kind", run->kind}})
      .inc();
  spdlog::info("pipeline: run {} ({}) done in {:.1f} s: {}", run_id, run->kind, secs, summary.dump());
  return summary;
}

json Pipeline::run_sync(JobContext& ctx, std::int64_t run, json& cp) {
  // Where this run's changes begin, fixed once (in the database's clock): a refresh rescores what the
  // sync changed from here on, whichever replica finishes the sync.
  if (!cp.contains("changed_since")) {
    cp["changed_since"] = db_.with_retry("pipeline_now", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c, "pipeline_now");
      return tx.exec("SELECT now()::text")[0][0].as<std::string>();
    });
  }
  save(ctx, run, cp, "sync", "running", json::object());
  SyncJobOptions o;
  o.stop = ctx.stop;
  // A run that finds a type being synced (a refresh ending as the nightly run starts, a CLI sync) waits for
  // it a while rather than spending an attempt.
  o.lock_wait = std::chrono::milliseconds(60'000);
  // Companies a webhook said changed (the run covers their requests) are read by id as well: HubSpot's
  // search may not show the change yet.
  const auto requested = db_.with_retry("pipeline_refresh_requests", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "pipeline_refresh_requests");
    return store::RefreshRequests::companies_of(tx, run);
  });
  if (!requested.empty()) o.reread["companies"] = requested;
  const auto t0 = std::chrono::steady_clock::now();
  json progress = cp.value("sync", json::object());
  // Records so far, per type, shown on the run every few seconds (the runner calls this one at a time).
  std::map<std::string, std::uint64_t> so_far;
  auto shown = std::chrono::steady_clock::now();
  const auto report = sync_.run(o, [&](const sync::TypeReport& r) {
    so_far[r.type] = r.records + r.archived;
    if (std::chrono::steady_clock::now() - shown < std::chrono::seconds(2)) return;
    shown = std::chrono::steady_clock::now();
    json p = progress;
    std::uint64_t n = 0;
    for (const auto& [type, records] : so_far) n += records;
    p["records_so_far"] = n;
    save(ctx, run, cp, "sync", "running", p);
  });
  std::uint64_t written = 0, rejected = report.reference.rejected;
  for (const auto& t : report.types) {
    written += t.records + t.archived;
    rejected += t.rejected_values;
  }
  auto add = [&](const char* key, std::uint64_t v) {
    progress[key] = progress.value(key, std::uint64_t{0}) + v;
  };
  add("api_calls", report.api.calls);
  add("rate_limited", report.api.rate_limited);
  add("retries", report.api.retries);
  add("records", written);
  add("rejected_values", rejected);
  progress["seconds"] = progress.value("seconds", 0.0) + seconds_since(t0);
  cp["sync"] = progress;
  if (!report.ok()) {
    std::string why;
    for (const auto& f : report.failures) why += (why.empty() ? "" : "; ") + f;
    save(ctx, run, cp, "sync", "running", progress);
    throw std::runtime_error("sync failed: " + why);
  }
  if (!report.interrupted.empty()) {
    save(ctx, run, cp, "sync", "running", progress);
    throw JobInterrupted("stopped during the sync stage");
  }
  if (!report.skipped.empty()) {
    // Another process (a CLI sync, say) holds a type: scoring now would miss its changes. Retried after
    // a backoff; the types already synced are incremental then, and cheap.
    std::string types;
    for (const auto& t : report.skipped) types += (types.empty() ? "" : ", ") + t;
    save(ctx, run, cp, "sync", "running", progress);
    throw std::runtime_error("sync: another process is syncing " + types + "; retrying later");
  }
  // Deals the sync saw become won start their onboarding (the webhook's safety net).
  for (auto* w : workflows_) {
    if (auto said = w->after_sync(); !said.is_null()) progress[w->name()] = std::move(said);
  }
  return progress;
}

json Pipeline::run_score(JobContext& ctx, std::int64_t run, const std::string& kind, std::int32_t day,
                         json& cp) {
  json progress = cp.value("score", json::object());
  scoring::BatchOptions o;
  o.as_of_day = day;
  o.trigger = kind == "manual" ? "api" : "schedule";
  o.stop = ctx.stop;
  if (kind == "refresh") {
    const std::string since = cp.value("changed_since", std::string());
    if (!cp.contains("refresh_companies")) {
      const auto ids = db_.with_retry("pipeline_changed_companies", [&](pqxx::connection& c) {
        pqxx::read_transaction tx(c, "pipeline_changed_companies");
        // What the sync changed, and the companies the run's refresh requests name (a webhook's, or
        // usage pushed or released from the quarantine: their inputs changed outside the CRM).
        auto changed = store::CrmRepository::companies_changed_since(tx, since);
        const auto requested = store::RefreshRequests::companies_of(tx, run);
        changed.insert(changed.end(), requested.begin(), requested.end());
        std::sort(changed.begin(), changed.end());
        changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
        return changed;
      });
      // Past kRescoreAll changed companies (a first sync, a bulk import) everyone is rescored: the list
      // would only cost, in the checkpoint and in the query.
      constexpr std::size_t kRescoreAll = 20'000;
      cp["refresh_companies"] = ids.size() > kRescoreAll ? json("all") : json(ids);
    }
    if (cp["refresh_companies"].is_array()) {
      o.companies = cp["refresh_companies"].get<std::vector<std::int64_t>>();
      progress["companies_total"] = o.companies->size();
      if (o.companies->empty()) {
        progress["companies"] = 0;
        return progress;
      }
    }
  }
  if (!progress.contains("companies_total")) {
    progress["companies_total"] = db_.with_retry("pipeline_count_companies", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c, "pipeline_count_companies");
      return tx.exec("SELECT count(*) FROM companies WHERE NOT archived")[0][0].as<std::int64_t>();
    });
  }
  if (progress.contains("score_run")) o.run_id = progress["score_run"].get<std::int64_t>();
  o.after = progress.value("after", std::int64_t{0});
  o.done_before = progress.value("companies", std::uint64_t{0});
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<std::int64_t> score_run = o.run_id;
  o.in_chunk_commit = [&](pqxx::work& tx, std::int64_t last_id, std::uint64_t companies) {
    json p = progress;
    p["score_run"] = *score_run;
    p["after"] = last_id;
    p["companies"] = companies;
    json next = cp;
    next["score"] = p;
    store::JobQueue::checkpoint(tx, ctx.job, next);  // throws LeaseLost: the chunk rolls back with it
    store::RunStore::set_stage(tx, run, "score", "running", p);
  };
  if (!score_run) {
    // The score run is created first and remembered, so a takeover continues it rather than starting
    // another one for the same day.
    score_run = db_.with_retry("pipeline_score_run", [&](pqxx::connection& c) {
      pqxx::work tx(c, "pipeline_score_run");
      const auto id = score_.scorer().start_run(tx, day, o.trigger);
      json p = progress;
      p["score_run"] = id;
      json next = cp;
      next["score"] = p;
      store::JobQueue::checkpoint(tx, ctx.job, next);
      store::RunStore::set_stage(tx, run, "score", "running", p);
      tx.commit();
      return id;
    });
    progress["score_run"] = *score_run;
    cp["score"] = progress;
    o.run_id = score_run;
  }
  const auto report = score_.run(o);
  progress["score_run"] = *score_run;
  progress["after"] = report.last_id ? report.last_id : o.after;
  progress["companies"] = o.done_before + report.companies;
  progress["seconds"] = progress.value("seconds", 0.0) + seconds_since(t0);
  cp["score"] = progress;
  if (report.interrupted) throw JobInterrupted("stopped during the score stage");
  if (kind == "refresh") {
    // How long the changes this run scored waited for their score (a webhook's, usage's): from the
    // oldest request's arrival to now.
    const auto wait = db_.with_retry("pipeline_refresh_lag", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c, "pipeline_refresh_lag");
      return store::RefreshRequests::oldest_wait_seconds(tx, run);
    });
    if (wait)
      metrics_
          .histogram("cshealthd_refresh_lag_seconds",
                     "From a requested refresh (a webhook's change, usage sent) to its companies' new score",
                     {}, {1, 2, 5, 10, 30, 60, 120, 300, 600, 1800})
          .observe(*wait);
  }
  return progress;
}

void Pipeline::run_plan(JobContext& ctx, std::int64_t run, std::int32_t day, json& cp) {
  if (workflows_.empty() || !deliverer_) {
    cp.erase("refresh_companies");
    cp["stage"] = "kpis";
    save(ctx, run, cp, "plan", "skipped", json::object());
    save(ctx, run, cp, "deliver", "skipped", json::object());
    return;
  }
  save(ctx, run, cp, "plan", "running", json::object());
  // A refresh plans only the companies it rescored.
  std::optional<std::vector<std::int64_t>> only;
  if (cp.contains("refresh_companies") && cp["refresh_companies"].is_array())
    only = cp["refresh_companies"].get<std::vector<std::int64_t>>();
  const workflow::PlanDay plan_day{day, run, only, ctx.job.payload.value("catch_up", false)};
  for (auto* w : workflows_) w->prepare(plan_day);
  json next;
  // Every workflow's plan, the job's checkpoint past it and the stage's end commit together: a takeover
  // either plans again from scratch or goes on to deliver what this one recorded, never both.
  db_.with_retry("pipeline_plan", [&](pqxx::connection& c) {
    pqxx::work tx(c, "pipeline_plan");
    workflow::lock_planning(tx);
    next = cp;
    next.erase("refresh_companies");
    next["stage"] = "deliver";
    next["plan"] = json::object();
    for (auto* w : workflows_) next["plan"].update(w->plan(tx, plan_day));
    store::JobQueue::checkpoint(tx, ctx.job, next);  // throws LeaseLost: the plan rolls back with it
    store::RunStore::set_stage(tx, run, "plan", "done", next["plan"]);
    tx.commit();
  });
  cp = next;
}

void Pipeline::run_deliver(JobContext& ctx, std::int64_t run, json& cp) {
  json progress = cp.value("deliver", json::object());
  save(ctx, run, cp, "deliver", "running", progress);
  const auto t0 = std::chrono::steady_clock::now();
  outbox::DeliveryReport report;
  try {
    auto handle = clients_();
    report = deliverer_->run(*handle.client, ctx.stop);
  } catch (const outbox::SetupError& e) {
    throw PermanentJobError(std::string("write-back: ") + e.what());
  }
  auto add = [&](const char* key, std::uint64_t v) {
    progress[key] = progress.value(key, std::uint64_t{0}) + v;
  };
  add("companies_written", report.companies);
  add("tasks_created", report.tasks_created);
  add("tasks_existing", report.tasks_existing);
  add("tasks_closed", report.closed);
  add("slack_posts", report.slack);
  add("dead", report.dead);
  add("in_doubt", report.in_doubt);
  add("api_calls", report.calls);
  add("rate_limited", report.rate_limited);
  progress["task_mode"] = report.task_mode;
  progress["seconds"] = progress.value("seconds", 0.0) + seconds_since(t0);
  cp["deliver"] = progress;
  if (report.interrupted) {
    save(ctx, run, cp, "deliver", "running", progress);
    throw JobInterrupted("stopped during the deliver stage");
  }
  cp["stage"] = "kpis";
  save(ctx, run, cp, "deliver", "done", progress);
}

void Pipeline::run_kpis(JobContext& ctx, std::int64_t run, const std::string& kind, std::int32_t day,
                        json& cp) {
  // A refresh rescored a few companies: the KPIs wait for the night's run.
  if (!kpis_ || kind == "refresh") {
    cp["stage"] = "done";
    save(ctx, run, cp, "kpis", "skipped", json::object());
    return;
  }
  save(ctx, run, cp, "kpis", "running", json::object());
  cp["kpis"] = kpis_(day);  // idempotent: a takeover computes the same periods again
  cp["stage"] = "done";
  save(ctx, run, cp, "kpis", "done", cp["kpis"]);
}

json Pipeline::summarize(std::int32_t day, const json& cp, double seconds) {
  return db_.with_retry("pipeline_summary", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "pipeline_summary");
    json bands = {{"green", 0}, {"yellow", 0}, {"orange", 0}, {"red", 0}, {"unknown", 0}};
    for (const auto& [status, n] : scoring::HealthStore::statuses(tx, day)) bands[status] = n;
    const auto changes = scoring::HealthStore::changes(tx, day);
    const json sync = cp.value("sync", json::object()), score = cp.value("score", json::object());
    return json{
        {"as_of", core::format_day(day)},
        {"companies_by_band", bands},
        {"companies_scored", score.value("companies", std::uint64_t{0})},
        {"changes_since_yesterday",
         {{"status_changed", changes.status_changed},
          {"score_down", changes.score_down},
          {"score_up", changes.score_up}}},
        {"records_synced", sync.value("records", std::uint64_t{0})},
        {"api_calls", sync.value("api_calls", std::uint64_t{0})},
        {"rate_limited", sync.value("rate_limited", std::uint64_t{0})},
        {"writeback",
         {{"plan", cp.value("plan", json::object())}, {"deliver", cp.value("deliver", json::object())}}},
        {"kpis", cp.value("kpis", json::object())},
        {"seconds", std::round(seconds * 10) / 10}};
  });
}

json run_probe(store::Database& db, JobContext& ctx) {
  const auto& p = ctx.job.payload;
  const int fail_until = p.value("fail_until_attempt", 0);
  if (ctx.job.attempt < fail_until)
    throw std::runtime_error("probe: failing attempt " + std::to_string(ctx.job.attempt));
  const auto sleep_ms = std::clamp<std::int64_t>(p.value("sleep_ms", std::int64_t{0}), 0, 600'000);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(sleep_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (ctx.stop.stop_requested()) throw JobInterrupted("probe: asked to stop while sleeping");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  db.with_retry("probe_record", [&](pqxx::connection& c) {
    pqxx::work tx(c, "probe_record");
    store::JobQueue::checkpoint(tx, ctx.job, {{"probed", true}});
    tx.exec_params("INSERT INTO job_probes (job_id, attempt, worker) VALUES ($1, $2, $3)", ctx.job.id,
                   ctx.job.attempt, ctx.job.lease);
    tx.commit();
  });
  return {{"probed", true}};
}

}  // namespace cshealthd::pipeline
