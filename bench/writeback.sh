#!/usr/bin/env bash
# Write-back measured on this machine against the HubSpot simulator at its default limits (190 requests /
# 10 s, 5 searches / s), with the embedded PostgreSQL:
#   1. the first write-back of COMPANIES scored companies (portal set-up, every company's properties, the
#      first alerts, capped per CSM): API calls, wall time;
#   2. a write-back of COMPANIES changed companies: every company's last written score is made to differ
#      from its current one (as after a night in which every score moved), so each gets its score and
#      cs_health_updated_at written: API calls (goal <= 1,010), and the delivery's wall time ÷ the time
#      the rate limit allows for those calls (calls ÷ 19/s; goal <= 1.1);
#   3. a repeat with nothing changed: API calls (goal: no write).
# Each plan first reads the open alert tasks' status: in steady state a search for the tasks changed
# since the last read and the day's share of reads by id (1-2 calls here), reported apart from the writes.
# The sync and the scoring run against an unlimited simulator first (they are measured by sync_full.sh and
# pipeline.sh); the write-back then runs against a fresh simulator with the same portal and default limits.
#   bench/writeback.sh BUILD_DIR [COMPANIES]     (default 100000: about 15 minutes)
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-100000}"
source "$(dirname "$0")/lib.sh"
bench_work wbbench
sim="$build/tools/hubspot-sim/hubspot-sim"
# The tests' build of the daemon: the same code with a clock the bench can skew (CSHEALTHD_TEST_CLOCK_SKEW_MS).
cshealthd="$build/tests/support/cshealthd-test-seams"

start_sim() {  # extra args...
  : >"$work/sim.log"
  "$sim" --listen 127.0.0.1:0 --token T --portal "$work/portal.json" "$@" >"$work/sim.log" 2>&1 &
  simpid=$!
  simport=$(port_of "$work/sim.log")
}
stop_sim() { kill -TERM "$simpid"; wait "$simpid" 2>/dev/null || true; simpid=""; }
# The commands share the embedded cluster of a `serve` that schedules nothing (it holds the cluster).
cs() {
  env CSHEALTHD_DATABASE_URL="host=$work/state/pg port=5432 user=cshealthd dbname=cshealthd" \
    CSHEALTHD_LOG_FORMAT=text CSHEALTHD_LOG_LEVEL=warn CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$simport" \
    CSHEALTHD_HUBSPOT_TOKEN=T CSHEALTHD_WRITEBACK_LOCALE=en "$cshealthd" "$@"
}
psql_() { psql -X -q -A -t "host=$work/state/pg port=5432 user=cshealthd dbname=cshealthd" "$@"; }
requests_since() {  # seq -> "calls writes"
  curl -s "http://127.0.0.1:$simport/__sim/requests?since=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
w = [x for x in r if x["method"] != "GET" and "/batch/read" not in x["path"] and "/search" not in x["path"]]
print(len(r), len(w))'
}
last_seq() { curl -s "http://127.0.0.1:$simport/__sim/requests?since=999999999" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last"])'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["delivered"][sys.argv[1]])' "$1"; }

"$sim" generate --companies "$companies" --seed 11 --out "$work/portal.json" >/dev/null
env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_DATABASE_EMBEDDED_FSYNC=false CSHEALTHD_SCHEDULE_ENABLED=false \
  CSHEALTHD_HTTP_LISTEN=127.0.0.1:0 CSHEALTHD_LOG_FORMAT=text "$cshealthd" serve >"$work/serve.log" 2>&1 &
servepid=$!
port_of "$work/serve.log" >/dev/null
start_sim --rate-limit off --search-rate off
CSHEALTHD_HUBSPOT_BURST_LIMIT=10000 CSHEALTHD_HUBSPOT_SEARCH_PER_SECOND=100 cs sync >/dev/null
cs score --as-of 2026-11-20 >/dev/null
stop_sim
start_sim  # default limits

echo "write-back of $companies companies against the simulator's default limits (190/10s)"
t0=$(date +%s.%N)
cs plan --json >"$work/first.json"
t1=$(date +%s.%N)
read -r calls writes < <(requests_since 0)
printf 'first write-back (set-up, every company, first alerts): %d calls (%d writes), %.1f s; %s tasks\n' \
  "$calls" "$writes" "$(echo "$t1 - $t0" | bc)" "$(field tasks_created <"$work/first.json")"

# Steady state: the open alert tasks were created a while ago and read once since. The service's clock
# runs 15 minutes ahead from here (CSHEALTHD_TEST_CLOCK_SKEW_MS), as if the next runs came later; the
# first of them reads every open task by id, as the first read ever does.
export CSHEALTHD_TEST_CLOCK_SKEW_MS=900000
seq=$(last_seq)
cs plan --json >"$work/settle.json"
read -r calls writes < <(requests_since "$seq")
printf 'first read of the open alert tasks (by id, 100 per call): %d calls, %d writes\n' "$calls" "$writes"

psql_ -c "UPDATE writeback_companies SET written = written - 'cs_health_score'"
sleep 11  # a fresh rate-limit window
seq=$(last_seq)
t0=$(date +%s.%N)
cs plan --json >"$work/changed.json"
t1=$(date +%s.%N)
read -r calls writes < <(requests_since "$seq")
deliver_s=$(field seconds <"$work/changed.json")
allowed=$(echo "scale=3; $calls / 19" | bc)
printf 'write-back of %d changed companies: %d calls (%d writes); delivery %.1f s, command %.1f s; rate-limit time %.1f s; ratio %.3f\n' \
  "$(field companies_written <"$work/changed.json")" "$calls" "$writes" "$deliver_s" "$(echo "$t1 - $t0" | bc)" \
  "$allowed" "$(echo "scale=4; $deliver_s / $allowed" | bc)"

seq=$(last_seq)
cs plan --json >"$work/repeat.json"
read -r calls writes < <(requests_since "$seq")
printf 'repeat with nothing changed: %d calls, %d writes\n' "$calls" "$writes"
