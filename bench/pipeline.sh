#!/usr/bin/env bash
# The service's own pipeline, measured on this machine with three replicas on one PostgreSQL (replica 0
# runs the embedded cluster; the others reach it on its unix socket) against the HubSpot simulator at its
# default limits (190 requests / 10 s, 5 searches / s):
#   1. the first pipeline run over COMPANIES companies (a full sync, then every company scored): wall
#      time, API calls, and wall time ÷ the time the rate limit allows for those calls (calls ÷ 19/s);
#   2. its score stage ÷ the time PostgreSQL alone takes to COPY the same inputs out and the same results
#      in, measured in the same run; then a second (incremental, nightly-sized) run;
#   3. jobs/s through the queue: 10,000 probe jobs, 3 replicas × 4 workers;
#   4. freshness: 20 changes to companies in the simulator, each until its new score is stored, with
#      schedule.sync_interval_ms = FRESH_INTERVAL_MS (default 60000): median and max.
#   bench/pipeline.sh BUILD_DIR [COMPANIES]     (default 100000: about half an hour, most of it the sync)
# QUEUE_ONLY=1 measures only 3. on the empty database, three times (median): the queue itself, apart from
# what a database of 100,000 companies and their nights adds around it; any build dir since the job queue.
# CSHEALTHD_* variables in the environment reach the replicas: CSHEALTHD_WRITEBACK_ENABLED=false measures the
# pipeline without the write-back (no tasks and properties delivered, so no echo of them in the next syncs).
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-100000}"
fresh_interval="${FRESH_INTERVAL_MS:-60000}"
work=$(mktemp -d /tmp/cshealthd-pipebench-XXXXXX)
chmod 711 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
admin=bench-admin

source "$(dirname "$0")/lib.sh"  # port_of

"$build/tools/hubspot-sim/hubspot-sim" --listen 127.0.0.1:0 --token T --generate "$companies" --seed 11 \
  >"$work/sim.log" 2>&1 &
pids+=($!)
simport=$(port_of "$work/sim.log")

declare -a rpid rport
start_replica() {  # index, extra env...
  local i=$1; shift
  local db=()
  [ "$i" -gt 0 ] && db=("CSHEALTHD_DATABASE_URL=host=$work/r0/pg port=5432 user=cshealthd dbname=cshealthd")
  # Each start logs "listening on" once: wait for one more such line than before.
  local before; before=$(grep -ac 'listening on' "$work/r$i.log" 2>/dev/null || true)
  env CSHEALTHD_STATE_DIR="$work/r$i" CSHEALTHD_HTTP_LISTEN=127.0.0.1:0 CSHEALTHD_LOG_FORMAT=text \
    CSHEALTHD_LOG_LEVEL=info CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$simport" CSHEALTHD_HUBSPOT_TOKEN=T \
    CSHEALTHD_ADMIN_TOKEN=$admin CSHEALTHD_JOBS_WORKERS=4 \
    CSHEALTHD_DATABASE_EMBEDDED_FSYNC=false "${db[@]}" "$@" \
    "$build/src/cshealthd" serve >>"$work/r$i.log" 2>&1 &
  rpid[$i]=$!
  pids+=($!)
  for _ in $(seq 1 3000); do
    [ "$(grep -ac 'listening on' "$work/r$i.log" || true)" -gt "${before:-0}" ] && break
    kill -0 "${rpid[$i]}" 2>/dev/null || { echo "pipeline: replica $i exited" >&2; tail -20 "$work/r$i.log" >&2; exit 1; }
    sleep 0.1
  done
  rport[$i]=$(grep -ao 'listening on [0-9.]*:[0-9]*' "$work/r$i.log" | tail -1 | sed 's/.*://')
}
stop_replicas() {  # the two on replica 0's cluster first, then replica 0 (and its cluster)
  for i in 1 2; do kill -TERM "${rpid[$i]}" 2>/dev/null || true; done
  for i in 1 2; do wait "${rpid[$i]}" 2>/dev/null || true; done
  kill -TERM "${rpid[0]}" 2>/dev/null || true
  wait "${rpid[0]}" 2>/dev/null || true
}
psql_() { psql -X -q -A -t "host=$work/r0/pg port=5432 user=cshealthd dbname=cshealthd" "$@"; }
api() {  # METHOD PATH [BODY] on replica 0
  python3 - "$1" "http://127.0.0.1:${rport[0]}$2" "${3:-}" <<'PY'
import sys, urllib.request
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, data=body.encode() if body else None, method=method,
                             headers={"Authorization": "Bearer bench-admin", "Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req).read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode())
PY
}
wait_run() {  # run id -> prints the run's JSON once it ended
  while true; do
    local body; body=$(api GET "/v1/runs/$1")
    local state; state=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["state"])' <<<"$body")
    if [ "$state" = succeeded ] || [ "$state" = failed ]; then echo "$body"; return; fi
    sleep 2
  done
}

queue_phase() {  # prints the seconds 10,000 probe jobs take, once all ran
  local t0 t1
  t0=$(date +%s.%N)
  psql_ -c "INSERT INTO jobs (kind) SELECT 'probe' FROM generate_series(1, 10000)"
  while [ "$(psql_ -c "SELECT count(*) FROM jobs WHERE kind = 'probe' AND state <> 'succeeded'")" != 0 ]; do sleep 0.2; done
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}
queue_report() {  # SECONDS...
  python3 -c "import statistics, sys; t = [float(x) for x in sys.argv[1:]]; m = statistics.median(t)
print(f'queue: 10000 probe jobs over 3 replicas x 4 workers in {m:.1f} s (median of {len(t)}: '
      + ', '.join(f'{x:.1f}' for x in t) + f'): {10000 / m:.0f} jobs/s; '
      f'{$(psql_ -c "SELECT count(*) - count(DISTINCT job_id) FROM job_probes")} run twice')" "$@"
}

export CSHEALTHD_SCHEDULE_SYNC_INTERVAL_MS=0
for i in 0 1 2; do start_replica $i; done
echo "pipeline: $companies companies in the simulator (127.0.0.1:$simport); replicas on ${rport[*]}"
if [ -n "${QUEUE_ONLY:-}" ]; then
  queue_report "$(queue_phase)" "$(queue_phase)" "$(queue_phase)"
  exit 0
fi

# 1. The first run.
run=$(api POST /v1/runs | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["id"])')
first=$(wait_run "$run")
python3 - <<PY
import json
r = json.loads('''$first''')["run"]
s = r["summary"]; st = {x["name"]: x["progress"] for x in r["stages"]}
calls = s["api_calls"]; allowed = calls / 19.0
print(f"first run ({r['state']}): {s['seconds']:.0f} s wall, {calls} API calls ({s['rate_limited']} answered 429), "
      f"{s['records_synced']} records, {s['companies_scored']} companies scored")
print(f"  wall / time the rate limit allows for its calls ({calls} / 19 per s = {allowed:.0f} s): {s['seconds']/allowed:.2f}")
print(f"  sync stage {st['sync'].get('seconds', 0):.1f} s, score stage {st['score'].get('seconds', 0):.1f} s")
PY

# 2. Three more runs, each for a day of its own (so each scores afresh, as a nightly run does): an
#    incremental sync, then every company. Their score stages against PostgreSQL alone copying the same
#    inputs out and the same results in (into an empty table, and into health_scores as a day of its own),
#    three times too; medians.
day=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["as_of"])' <<<"$first")
psql_ -c "CREATE TABLE bench_results (LIKE health_scores INCLUDING ALL)"
: >"$work/ratio"
for k in 1 2 3; do
  as_of=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$day') + datetime.timedelta(days=$k))")
  run=$(api POST /v1/runs "{\"as_of\": \"$as_of\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["id"])')
  body=$(wait_run "$run")
  score=$(python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print(r["stages"][1]["progress"]["seconds"])' <<<"$body")
  [ "$k" = 1 ] && python3 -c '
import json, sys
s = json.load(sys.stdin)["run"]["summary"]
print("an incremental run: %.1f s wall, %d API calls, %d companies scored"
      % (s["seconds"], s["api_calls"], s["companies_scored"]))' <<<"$body"
  t0=$(date +%s.%N)
  for q in "SELECT * FROM companies WHERE NOT archived" "SELECT * FROM company_snapshots" \
           "SELECT * FROM crm_associations WHERE to_type = 'companies'" "SELECT * FROM contacts" \
           "SELECT * FROM tickets" "SELECT * FROM meetings" "SELECT * FROM feedback_submissions" \
           "SELECT company_id, score FROM health_scores WHERE day = '$as_of'::date - 1"; do
    psql_ -c "\\copy ($q) TO '/dev/null'"
  done
  t1=$(date +%s.%N)
  # The results in twice: into an empty table shaped like health_scores, and into health_scores itself as
  # a day of its own (what the score stage writes into: its indexes already hold every earlier day).
  psql_ -c "\\copy (SELECT company_id, day + 1000, run_id, score, computed_score, status, coverage, scorecard, segment, previous_score, delta, components, signals, reasons, score_override, computed_at, churn_risk, expansion_likelihood FROM health_scores WHERE day = '$as_of') TO '$work/results.copy'"
  psql_ -c "TRUNCATE bench_results"
  t2=$(date +%s.%N)
  psql_ -c "\\copy bench_results FROM '$work/results.copy'"
  t3=$(date +%s.%N)
  psql_ -c "\\copy health_scores FROM '$work/results.copy'"
  t4=$(date +%s.%N)
  psql_ -c "DELETE FROM health_scores WHERE day = '$as_of'::date + 1000"
  echo "$score $t0 $t1 $t2 $t3 $t4" >>"$work/ratio"
done
python3 - "$work/ratio" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
score = statistics.median(r[0] for r in rows)
out = statistics.median(r[2] - r[1] for r in rows)
inn = statistics.median(r[4] - r[3] for r in rows)
real = statistics.median(r[5] - r[4] for r in rows)
print("score stage (median of %d) %.1f s [%s]; PostgreSQL alone: COPY inputs out %.1f s + results in %.1f s "
      "(an empty table) = %.1f s: ratio %.2f; with the results COPYed into health_scores itself %.1f s = %.1f s: "
      "ratio %.2f (goal <= 1.5)" % (len(rows), score, ", ".join("%.1f" % r[0] for r in rows), out, inn, out + inn,
                                    score / (out + inn), real, out + real, score / (out + real)))
PY

# 3. Jobs/s through the queue.
queue_report "$(queue_phase)"

# 4. Freshness, with refreshes every FRESH_INTERVAL_MS.
stop_replicas
export CSHEALTHD_SCHEDULE_SYNC_INTERVAL_MS=$fresh_interval
for i in 0 1 2; do start_replica $i; done
ids=$(psql_ -c "SELECT id FROM crm_objects WHERE object_type = 'companies' ORDER BY random() LIMIT 20")
python3 - "$simport" "$fresh_interval" "host=$work/r0/pg port=5432 user=cshealthd dbname=cshealthd" $ids <<'PY'
import json, subprocess, sys, time, urllib.request, random, statistics
sim, interval, pg, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def psql(q):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", pg, "-c", q], capture_output=True, text=True,
                          check=True).stdout.strip()
# The changes are spread over two intervals; each is watched from the moment it is made.
spread = 2 * interval / 1000.0 / len(ids)
changed, lag, todo = {}, {}, list(ids)
next_change = time.time()
deadline = time.time() + 2 * interval / 1000.0 + 600
while (todo or len(lag) < len(changed)) and time.time() < deadline:
    if todo and time.time() >= next_change:
        cid = todo.pop(0)
        body = json.dumps({"properties": {"cs_logins_30d": str(random.randint(1, 5000))}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{sim}/crm/v3/objects/companies/{cid}", data=body,
                                     method="PATCH", headers={"Authorization": "Bearer T",
                                                              "Content-Type": "application/json"})
        db_now = psql("SELECT now()")
        t = time.time()
        urllib.request.urlopen(req).read()
        changed[cid] = (t, db_now)
        next_change += spread
    for cid, (t, db_now) in changed.items():
        if cid not in lag and psql(f"SELECT count(*) FROM health_scores WHERE company_id = {cid} "
                                   f"AND computed_at > '{db_now}'") != "0":
            lag[cid] = time.time() - t
    time.sleep(0.2)
v = sorted(lag.values())
print(f"freshness over {len(v)} of {len(ids)} changes (sync_interval {interval/1000:.0f} s): median "
      f"{statistics.median(v):.1f} s, max {max(v):.1f} s (goal <= interval + 60 s = {interval/1000+60:.0f} s)")
PY
