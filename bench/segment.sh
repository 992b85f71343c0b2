#!/usr/bin/env bash
# The Segment source measured against a running `cshealthd serve` on loopback (embedded PostgreSQL, fsync
# on: a batch is answered once its transaction is durable), the HubSpot simulator behind it (COMPANIES
# companies, synced and scored first, so the refresh runs the figures ask for are real ones):
#   1. events stored per second: wrk, 8 connections, each request a Segment batch of 100 new events
#      (60 % "Signed In", 20 % key features, 10 % page views, 10 % group calls; users and companies drawn
#      over the portal), for 10 s; counted from the messageIds stored (goal >= 10,000 events/s);
#   2. latency at a constant 100 and 500 requests/s of 100-event batches (10,000 and 50,000 events/s),
#      20 s each: wrk, paced (10 and 50 connections, each sending its next batch a fixed delay after the
#      last answer; a 5-second pilot measures the answer time and the delay is set so that the rate is the
#      target; past what the machine holds the delay is 0 and the achieved rate is lower: it is printed),
#      p50/p99 (goal p99 < 100 ms);
#   3. settling: how long after the load the leader's scheduler takes to turn what was stored into
#      daily figures (the backlog of company days to 0), and the refresh run that scores them.
# Every event is new (its messageId never sent before), so each takes the whole path.
#   bench/segment.sh BUILD_DIR [COMPANIES]   (default 10000)
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-10000}"
source "$(dirname "$0")/lib.sh"
bench_work segbench
key="bench-write-key"
basic=$(printf '%s:' "$key" | base64 -w0)
sim="$build/tools/hubspot-sim/hubspot-sim"

"$sim" --listen 127.0.0.1:0 --token T --generate "$companies" --seed 5 --rate-limit off >"$work/sim.log" 2>&1 &
simpid=$!
simport=$(port_of "$work/sim.log")
env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_HTTP_LISTEN=127.0.0.1:0 CSHEALTHD_LOG_FORMAT=text \
  CSHEALTHD_LOG_LEVEL=info CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$simport" CSHEALTHD_HUBSPOT_TOKEN=T \
  CSHEALTHD_ADMIN_TOKEN=A CSHEALTHD_WRITEBACK_ENABLED=false CSHEALTHD_SCHEDULE_TIME_ZONE=UTC \
  CSHEALTHD_USAGE_SEGMENT_WRITE_KEY="$key" CSHEALTHD_USAGE_SEGMENT_FEATURE_EVENTS="Report Exported,Invite Sent" \
  CSHEALTHD_HTTP_WORKER_QUEUE_LIMIT=10000 "$build/src/cshealthd" serve >"$work/serve.log" 2>&1 &
servepid=$!
port=$(port_of "$work/serve.log" 'http: listening on')
psql_() { psql -X -q -A -t "host=$work/state/pg port=5432 user=cshealthd dbname=cshealthd" "$@"; }

# The portal synced and scored first.
curl -s -X POST -H "Authorization: Bearer A" "http://127.0.0.1:$port/v1/runs" >/dev/null
for _ in $(seq 1 3000); do
  [ "$(psql_ -c "SELECT count(*) FROM runs WHERE state = 'succeeded'")" -ge 1 ] && break
  sleep 0.2
done
ids=$(psql_ -c "SELECT min(id) || ' ' || count(*) FROM companies")
first_id=${ids% *}

cat >"$work/segment.lua" <<EOF
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  phase = args[1]
  rate = tonumber(args[2])
  n = 0
  ts = os.date("!%Y-%m-%dT%H:%M:%SZ")
end
local kinds = {}
for k = 1, 6 do kinds[k] = "signin" end
kinds[7], kinds[8], kinds[9], kinds[10] = "feature", "feature", "page", "group"
function request()
  local parts = {}
  for k = 1, 100 do
    n = n + 1
    local seq = id * 100000000 + n
    local c = $first_id + (seq * 7919) % $companies
    local user = string.format("u%d-%d", c, (seq * 31) % 25)
    local msg = string.format("%s-%d-%d", phase, id, n)
    local kind = kinds[(seq % 10) + 1]
    if kind == "group" then
      parts[k] = string.format('{"type":"group","userId":"%s","groupId":"%d","messageId":"%s","timestamp":"%s"}', user, c, msg, ts)
    elseif kind == "page" then
      parts[k] = string.format('{"type":"page","name":"Home","userId":"%s","messageId":"%s","timestamp":"%s","context":{"groupId":"%d"}}', user, msg, ts, c)
    else
      local event = kind == "signin" and "Signed In" or ((seq % 2 == 0) and "Report Exported" or "Invite Sent")
      parts[k] = string.format('{"type":"track","event":"%s","userId":"%s","messageId":"%s","timestamp":"%s","context":{"groupId":"%d"},"properties":{"plan":"pro"}}', event, user, msg, ts, c)
    end
  end
  return wrk.format("POST", "/v1/segment/batch",
    {["Content-Type"] = "application/json", ["Authorization"] = "Basic $basic"},
    '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
function delay()
  if rate == 0 then return 0 end
  return 1000 / rate
end
function response(status, headers, body)
  if status ~= 200 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
end
EOF

echo "Segment batches against cshealthd serve on loopback (embedded PostgreSQL, fsync on), $companies companies"
before=$(psql_ -c "SELECT count(*) FROM segment_messages")
wrk -t2 -c8 -d10s --latency -s "$work/segment.lua" "http://127.0.0.1:$port" -- throughput 0 >"$work/wrk1.txt" 2>"$work/wrk1.err"
rps=$(grep -a 'Requests/sec' "$work/wrk1.txt" | awk '{print $2}')
after=$(psql_ -c "SELECT count(*) FROM segment_messages")
errors=$(grep -ac status "$work/wrk1.err" || true)
printf 'throughput: %.0f requests/s of 100 events; %d new events stored in 10 s = %.0f events/s; p99 %s; %s non-200\n' \
  "$rps" "$((after - before))" "$(echo "($after - $before) / 10" | bc)" "$(grep -a ' 99%' "$work/wrk1.txt" | awk '{print $2}')" "$errors"

for target in 100 500; do  # requests/s: 10,000 and 50,000 events/s
  conns=$((target / 10))
  # The pilot: each connection waits 100 ms after an answer; what it achieves tells the answer time.
  wrk -t2 -c$conns -d5s -s "$work/segment.lua" "http://127.0.0.1:$port" -- "pilot$target" 10 >"$work/pilot.txt" 2>/dev/null
  pilot=$(grep -a 'Requests/sec' "$work/pilot.txt" | awk '{print $2}')
  # conns / rate = delay + answer time: the delay that gives the target rate (0 past what the machine holds).
  delay=$(echo "d = $conns * 1000 / $target - ($conns * 1000 / $pilot - 100); if (d < 0) d = 0; d" | bc -l)
  rate=$(echo "if ($delay > 0) 1000 / $delay else 0" | bc -l)
  wrk -t2 -c$conns -d20s --latency -s "$work/segment.lua" "http://127.0.0.1:$port" -- "paced$target" "$rate" \
    >"$work/wrk2.txt" 2>"$work/wrk2.err"
  rps=$(grep -a 'Requests/sec' "$work/wrk2.txt" | awk '{print $2}')
  p50=$(grep -a ' 50%' "$work/wrk2.txt" | awk '{print $2}')
  p99=$(grep -a ' 99%' "$work/wrk2.txt" | awk '{print $2}')
  maxl=$(grep -a 'Latency' "$work/wrk2.txt" | head -1 | awk '{print $4}')
  errors=$(grep -ac status "$work/wrk2.err" || true)
  printf 'paced: %.0f requests/s achieved (target %d, delay %.0f ms, %.0f events/s): p50 %s, p99 %s, max %s; %s non-200\n' \
    "$rps" "$target" "$delay" "$(echo "$rps * 100" | bc)" "$p50" "$p99" "$maxl" "$errors"
done

# Settling: the backlog the load left, and how long the leader takes to clear it.
backlog=$(psql_ -c "SELECT count(*) FROM segment_dirty")
t0=$(date +%s.%N)
for _ in $(seq 1 6000); do
  [ "$(psql_ -c "SELECT count(*) FROM segment_dirty")" -eq 0 ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
printf 'settle: %d company days left after the load, cleared in %.1f s; %s segment figures in usage_daily\n' \
  "$backlog" "$(echo "$t1 - $t0" | bc)" "$(psql_ -c "SELECT count(*) FROM usage_daily WHERE source = 'segment'")"
for _ in $(seq 1 3000); do
  [ "$(psql_ -c "SELECT count(*) FROM refresh_requests WHERE run_id IS NULL")" -eq 0 ] &&
    [ "$(psql_ -c "SELECT count(*) FROM runs WHERE state IN ('queued', 'running')")" -eq 0 ] && break
  sleep 0.2
done
printf 'scored: %s refresh runs; from a change to its score (cshealthd_refresh_lag_seconds): %s\n' \
  "$(psql_ -c "SELECT count(*) FROM runs WHERE kind = 'refresh' AND state = 'succeeded'")" \
  "$(curl -s "http://127.0.0.1:$port/metrics" | grep -a '^cshealthd_refresh_lag_seconds_\(sum\|count\)' | tr '\n' ' ')"
