#include "cshealthd/store/job_queue.hpp"

#include <algorithm>

#include "cshealthd/store/errors.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::store {
namespace {

using json = nlohmann::json;

constexpr const char* kColumns =
    "id, kind, unique_key, run_id, payload::text, checkpoint::text, result::text, state, attempt, "
    "max_attempts, "
    "takeovers, coalesce(lease_owner, ''), coalesce(error, ''), "
    "(extract(epoch from created_at)*1000)::bigint, coalesce((extract(epoch from started_at)*1000)::bigint, "
    "0), "
    "coalesce((extract(epoch from finished_at)*1000)::bigint, 0), (extract(epoch from "
    "run_after)*1000)::bigint";

json parse_or_null(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return json::parse(f.c_str(), nullptr, false);  // written by us as jsonb: valid
}

Job to_job(const pqxx::row& r) {
  Job j;
  j.id = r[0].as<std::int64_t>();
  j.kind = r[1].as<std::string>();
  if (!r[2].is_null()) j.unique_key = r[2].as<std::string>();
  if (!r[3].is_null()) j.run_id = r[3].as<std::int64_t>();
  j.payload = parse_or_null(r[4]);
  j.checkpoint = parse_or_null(r[5]);
  j.result = parse_or_null(r[6]);
  j.state = r[7].as<std::string>();
  j.attempt = r[8].as<int>();
  j.max_attempts = r[9].as<int>();
  j.takeovers = r[10].as<int>();
  j.lease = r[11].as<std::string>();
  j.error = r[12].as<std::string>();
  j.created_ms = r[13].as<std::int64_t>();
  j.started_ms = r[14].as<std::int64_t>();
  j.finished_ms = r[15].as<std::int64_t>();
  j.run_after_ms = r[16].as<std::int64_t>();
  return j;
}

std::string clip(const std::string& s) {
  return s.size() > 4000 ? s.substr(0, 4000) : s;
}

}  // namespace

JobQueue::JobQueue(Database& db, JobQueueOptions options) : db_(db), o_(options) {}

std::optional<std::int64_t> JobQueue::enqueue(pqxx::work& tx, const JobSpec& s) {
  std::string run_id;
  const auto r = tx.exec_params(
      "INSERT INTO jobs (kind, unique_key, run_id, payload, max_attempts, run_after) "
      "VALUES ($1, $2, $3, $4::jsonb, $5, now() + $6 * interval '1 millisecond') "
      "ON CONFLICT (unique_key) DO NOTHING RETURNING id",
      s.kind, nullable(s.unique_key), nullable(s.run_id, run_id), s.payload.dump(),
      std::max(1, s.max_attempts), static_cast<long long>(s.delay.count()));
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::int64_t>();
}

bool JobQueue::waiting(pqxx::transaction_base& tx, const std::string& kind) {
  return !tx.exec_params("SELECT 1 FROM jobs WHERE kind = $1 AND state IN ('queued', 'failed') LIMIT 1", kind)
              .empty();
}

std::optional<std::int64_t> JobQueue::enqueue(const JobSpec& s) {
  return db_.with_retry("job_enqueue", [&](pqxx::connection& c) {
    pqxx::work tx(c, "job_enqueue");
    auto id = enqueue(tx, s);
    tx.commit();
    return id;
  });
}

std::optional<Job> JobQueue::claim(const std::string& lease, const std::vector<std::string>& kinds) {
  return db_.with_retry("job_claim", [&](pqxx::connection& c) -> std::optional<Job> {
    pqxx::work tx(c, "job_claim");
    const auto r = tx.exec_params(
        std::string(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = $1, "
            "lease_until = now() + $2 * interval '1 millisecond', started_at = coalesce(started_at, now()), "
            "updated_at = now() "
            "WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'failed') AND run_after <= now() "
            "AND kind = ANY($3::text[]) ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ") +
            kColumns,
        lease, static_cast<long long>(o_.lease.count()), text_array(kinds));
    tx.commit();
    if (r.empty()) return std::nullopt;
    return to_job(r[0]);
  });
}

std::size_t JobQueue::requeue_expired() {
  return db_.with_retry("job_requeue_expired", [&](pqxx::connection& c) {
    pqxx::work tx(c, "job_requeue_expired");
    const auto r = tx.exec(
        "UPDATE jobs SET state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'queued' END, "
        "error = 'lease expired under ' || lease_owner || ' (the worker died or stalled)', "
        "finished_at = CASE WHEN attempt >= max_attempts THEN now() END, "
        "lease_owner = NULL, lease_until = NULL, takeovers = takeovers + 1, run_after = now(), updated_at = "
        "now() "
        "WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < now() FOR UPDATE SKIP "
        "LOCKED) "
        "RETURNING id");
    tx.commit();
    return static_cast<std::size_t>(r.size());
  });
}

std::vector<std::string> JobQueue::renew(const std::vector<std::string>& leases) {
  if (leases.empty()) return {};
  return db_.with_retry("job_renew", [&](pqxx::connection& c) {
    pqxx::work tx(c, "job_renew");
    const auto r = tx.exec_params(
        "UPDATE jobs SET lease_until = now() + $2 * interval '1 millisecond' "
        "WHERE lease_owner = ANY($1::text[]) AND state = 'running' RETURNING lease_owner",
        text_array(leases), static_cast<long long>(o_.lease.count()));
    tx.commit();
    std::vector<std::string> held;
    for (const auto& row : r) held.push_back(row[0].as<std::string>());
    return held;
  });
}

// Every write of a job's worker: `set` applies only while the claim's lease is the job's ($1 id, $2 lease;
// further parameters from $3). Returns the statement's result: empty when the lease was lost.
template <typename... Params>
pqxx::result JobQueue::fenced(const char* name, const std::string& set, const Job& job, Params&&... params) {
  return db_.with_retry(name, [&](pqxx::connection& c) {
    pqxx::work tx(c, name);
    auto r = tx.exec_params("UPDATE jobs SET " + set +
                                ", lease_owner = NULL, lease_until = NULL, updated_at = now() "
                                "WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING state",
                            job.id, job.lease, std::forward<Params>(params)...);
    tx.commit();
    return r;
  });
}

bool JobQueue::complete(const Job& job, const json& result) {
  return !fenced("job_complete", "state = 'succeeded', result = $3::jsonb, error = NULL, finished_at = now()",
                 job, result.dump())
              .empty();
}

std::optional<std::string> JobQueue::fail(const Job& job, const std::string& error, bool permanent,
                                          std::chrono::milliseconds retry_in) {
  const auto delay_ms = static_cast<long long>(std::max<std::int64_t>(0, retry_in.count()));
  const auto r = fenced("job_fail",
                        "state = CASE WHEN $4 OR attempt >= max_attempts THEN 'dead' ELSE 'failed' END, "
                        "error = $3, run_after = now() + $5 * interval '1 millisecond', "
                        "finished_at = CASE WHEN $4 OR attempt >= max_attempts THEN now() END",
                        job, clip(error), permanent, delay_ms);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

bool JobQueue::release(const Job& job) {
  return !fenced("job_release", "state = 'queued', attempt = greatest(attempt - 1, 0), run_after = now()",
                 job)
              .empty();
}

void JobQueue::checkpoint(pqxx::work& tx, const Job& job, const json& checkpoint) {
  const auto r = tx.exec_params(
      "UPDATE jobs SET checkpoint = $3::jsonb, updated_at = now() "
      "WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
      job.id, job.lease, checkpoint.dump());
  if (r.affected_rows() != 1) throw LeaseLost("job " + std::to_string(job.id) + ": lease lost");
}

std::optional<Job> JobQueue::get(std::int64_t id) {
  return db_.with_retry("job_get", [&](pqxx::connection& c) -> std::optional<Job> {
    pqxx::read_transaction tx(c, "job_get");
    const auto r = tx.exec_params(std::string("SELECT ") + kColumns + " FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return to_job(r[0]);
  });
}

std::vector<Job> JobQueue::list(const std::optional<std::string>& state, int limit,
                                std::optional<std::int64_t> run_id) {
  std::string run_text;
  return db_.with_retry("job_list", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "job_list");
    const auto r = tx.exec_params(std::string("SELECT ") + kColumns +
                                      " FROM jobs WHERE ($1::text IS NULL OR state = $1) "
                                      "AND ($3::bigint IS NULL OR run_id = $3) ORDER BY id DESC LIMIT $2",
                                  nullable(state), limit, nullable(run_id, run_text));
    std::vector<Job> out;
    for (const auto& row : r) out.push_back(to_job(row));
    return out;
  });
}

std::optional<Job> JobQueue::retry(std::int64_t id) {
  return db_.with_retry("job_retry", [&](pqxx::connection& c) -> std::optional<Job> {
    pqxx::work tx(c, "job_retry");
    const auto r =
        tx.exec_params(std::string("UPDATE jobs SET state = 'queued', attempt = 0, run_after = now(), "
                                   "finished_at = NULL, updated_at = now() "
                                   "WHERE id = $1 AND state IN ('failed', 'dead') RETURNING ") +
                           kColumns,
                       id);
    tx.commit();
    if (r.empty()) return std::nullopt;
    return to_job(r[0]);
  });
}

std::map<std::pair<std::string, std::string>, std::int64_t> JobQueue::counts() {
  return db_.with_retry("job_counts", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "job_counts");
    std::map<std::pair<std::string, std::string>, std::int64_t> out;
    for (const auto& row : tx.exec("SELECT kind, state, count(*) FROM jobs GROUP BY kind, state"))
      out[{row[0].as<std::string>(), row[1].as<std::string>()}] = row[2].as<std::int64_t>();
    return out;
  });
}

}  // namespace cshealthd::store
