#include "cshealthd/store/run_store.hpp"

#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::store {
namespace {

using json = nlohmann::json;

constexpr const char* kRunColumns =
    "r.id, r.kind, r.trigger, r.state, r.as_of::text, "
    "coalesce((extract(epoch from r.scheduled_for)*1000)::bigint, 0), r.stages::text, r.summary::text, "
    "coalesce(r.error, ''), (extract(epoch from r.created_at)*1000)::bigint, "
    "coalesce((extract(epoch from r.started_at)*1000)::bigint, 0), "
    "coalesce((extract(epoch from r.finished_at)*1000)::bigint, 0), "
    "(SELECT min(j.id) FROM jobs j WHERE j.run_id = r.id)";

Run to_run(const pqxx::row& r) {
  Run run;
  run.id = r[0].as<std::int64_t>();
  run.kind = r[1].as<std::string>();
  run.trigger = r[2].as<std::string>();
  run.state = r[3].as<std::string>();
  run.as_of = r[4].as<std::string>();
  run.scheduled_for_ms = r[5].as<std::int64_t>();
  run.stages = json::parse(r[6].c_str(), nullptr, false);
  run.summary = r[7].is_null() ? json(nullptr) : json::parse(r[7].c_str(), nullptr, false);
  run.error = r[8].as<std::string>();
  run.created_ms = r[9].as<std::int64_t>();
  run.started_ms = r[10].as<std::int64_t>();
  run.finished_ms = r[11].as<std::int64_t>();
  if (!r[12].is_null()) run.job_id = r[12].as<std::int64_t>();
  return run;
}

}  // namespace

std::optional<std::int64_t> RunStore::create(const RunRequest& q, const std::string& job_kind) {
  json stages = json::array();
  for (const auto& s : q.stages)
    stages.push_back({{"name", s}, {"state", "pending"}, {"progress", json::object()}});
  return db_.with_retry("run_create", [&](pqxx::connection& c) -> std::optional<std::int64_t> {
    pqxx::work tx(c, "run_create");
    std::string scheduled;
    const auto id =
        tx.exec_params1(
              "INSERT INTO runs (kind, trigger, as_of, scheduled_for, stages) "
              "VALUES ($1, $2, $3::date, to_timestamp($4::bigint), $5::jsonb) RETURNING id",
              q.kind, q.trigger, q.as_of, nullable(q.scheduled_for_s, scheduled), stages.dump())[0]
            .as<std::int64_t>();
    JobSpec job;
    job.kind = job_kind;
    job.unique_key = q.unique_key;
    job.run_id = id;
    job.payload = {{"run_id", id}};
    if (q.catch_up) job.payload["catch_up"] = true;
    job.max_attempts = q.max_attempts;
    if (!JobQueue::enqueue(tx, job)) return std::nullopt;  // the transaction rolls back: no run either
    if (q.in_tx) q.in_tx(tx, id);
    tx.commit();
    return id;
  });
}

std::optional<Run> RunStore::get(std::int64_t id) {
  return db_.with_retry("run_get", [&](pqxx::connection& c) -> std::optional<Run> {
    pqxx::read_transaction tx(c, "run_get");
    const auto r = tx.exec_params(std::string("SELECT ") + kRunColumns + " FROM runs r WHERE r.id = $1", id);
    if (r.empty()) return std::nullopt;
    return to_run(r[0]);
  });
}

std::vector<Run> RunStore::list(int limit) {
  return db_.with_retry("run_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "run_list");
    std::vector<Run> out;
    for (const auto& row : tx.exec_params(
             std::string("SELECT ") + kRunColumns + " FROM runs r ORDER BY r.id DESC LIMIT $1", limit))
      out.push_back(to_run(row));
    return out;
  });
}

std::optional<std::int64_t> RunStore::active() {
  return db_.with_retry("run_active", [&](pqxx::connection& c) -> std::optional<std::int64_t> {
    pqxx::read_transaction tx(c, "run_active");
    const auto r = tx.exec(
        "SELECT r.id FROM runs r JOIN jobs j ON j.run_id = r.id "
        "WHERE j.state IN ('queued', 'running', 'failed') ORDER BY r.id LIMIT 1");
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::int64_t>();
  });
}

void RunStore::set_state(pqxx::work& tx, std::int64_t run, const std::string& state,
                         const std::string& error) {
  tx.exec_params(
      "UPDATE runs SET state = $2, started_at = coalesce(started_at, now()), error = NULLIF($3, ''), "
      "finished_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN now() END WHERE id = $1",
      run, state, error.substr(0, 4000));
}

void RunStore::set_stage(pqxx::work& tx, std::int64_t run, const std::string& stage, const std::string& state,
                         const json& progress) {
  tx.exec_params(
      "UPDATE runs SET stages = (SELECT jsonb_agg(CASE WHEN s->>'name' = $2 THEN s || jsonb_build_object("
      "'state', $3::text, 'progress', $4::jsonb, "
      "'started_at', coalesce(s->'started_at', to_jsonb(now())), "
      "'finished_at', CASE WHEN $3 IN ('done', 'failed') THEN to_jsonb(now()) ELSE 'null'::jsonb END) "
      "ELSE s END ORDER BY n) FROM jsonb_array_elements(stages) WITH ORDINALITY AS t(s, n)) WHERE id = $1",
      run, stage, state, progress.dump());
}

void RunStore::finish(pqxx::work& tx, std::int64_t run, const json& summary) {
  tx.exec_params(
      "UPDATE runs SET state = 'succeeded', summary = $2::jsonb, error = NULL, finished_at = now() WHERE id "
      "= $1",
      run, summary.dump());
}

}  // namespace cshealthd::store
