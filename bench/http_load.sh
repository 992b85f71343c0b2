#!/usr/bin/env bash
# The running service under load, with a real load tool (wrk, from Debian's archive), on loopback:
#   1. /healthz at 1,000 concurrent connections: requests/s and p99;
#   2. GET /v1/companies/{id}/health at 100 connections over COMPANIES scored companies (random ids):
#      requests/s and p99;
#   3. a soak at a steady rate for SOAK_SECONDS: the service's RSS before and after.
#   bench/http_load.sh BUILD_DIR [COMPANIES] [SOAK_SECONDS]
#   (the issue's figures: bench/http_load.sh build-release 100000 600, about 14 minutes; scripts/bench runs
#   a shorter one: HTTP_BENCH_COMPANIES, HTTP_BENCH_SOAK_SECONDS)
# wrk, the service, its PostgreSQL and (during set-up) the simulator share this machine's cores.
set -euo pipefail
build="${1:?build dir}"
companies="${2:-100000}"
soak="${3:-600}"
work=$(mktemp -d /tmp/cshealthd-httpbench-XXXXXX)
chmod 711 "$work"  # as root the cluster runs as postgres, which must reach its state dir
sim=""
svc=""
trap 'kill $sim $svc 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_LOG_LEVEL=error CSHEALTHD_HUBSPOT_TOKEN=bench \
  CSHEALTHD_HUBSPOT_BURST_LIMIT=10000 CSHEALTHD_HUBSPOT_SEARCH_PER_SECOND=100 CSHEALTHD_ADMIN_TOKEN=bench-admin

echo "http_load: generating and syncing $companies companies, then scoring them"
"$build/tools/hubspot-sim/hubspot-sim" --listen 127.0.0.1:0 --token bench --generate "$companies" --seed 1 \
  --rate-limit off --search-rate off >"$work/sim.out" 2>"$work/sim.err" &
sim=$!
for _ in $(seq 1 1200); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
export CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$(head -1 "$work/sim.out" | sed 's/.*://')"
"$build/src/cshealthd" sync --full --objects companies,contacts,tickets,meetings,feedback_submissions >/dev/null
kill $sim && wait $sim 2>/dev/null || true
sim=""
"$build/src/cshealthd" score >/dev/null

# The service logs as in production: info, JSON lines (one access line per API request).
CSHEALTHD_HTTP_LISTEN=127.0.0.1:0 CSHEALTHD_LOG_LEVEL=info CSHEALTHD_LOG_FORMAT=json "$build/src/cshealthd" serve \
  >"$work/serve.log" 2>&1 &
svc=$!
for _ in $(seq 1 600); do grep -q 'listening on' "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/serve.log" | head -1 | sed 's/.*://')
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done

# Company ids for the health endpoint, from the service's own score list.
python3 - "$base" "$work/ids.lua" <<'PY'
import json, sys, urllib.request
base, out = sys.argv[1], sys.argv[2]
ids, after = [], None
while len(ids) < 5000:
    url = f"{base}/v1/scores?limit=1000" + (f"&after={after}" if after else "")
    req = urllib.request.Request(url, headers={"Authorization": "Bearer bench-admin"})
    page = json.load(urllib.request.urlopen(req))
    rows = page.get("results") or page.get("scores") or []
    if not rows:
        break
    ids += [str(r["company_id"]) for r in rows]
    after = ids[-1]
open(out, "w").write("ids = {" + ",".join(ids) + "}\n")
print(f"http_load: {len(ids)} company ids for the health endpoint")
PY
cat >"$work/health.lua" <<LUA
dofile("$work/ids.lua")
wrk.headers["Authorization"] = "Bearer bench-admin"
request = function()
  return wrk.format("GET", "/v1/companies/" .. ids[math.random(#ids)] .. "/health")
end
LUA

report() {  # name; reads wrk's output: requests/s and p99
  python3 -c '
import re, sys
out = sys.stdin.read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
sock = re.search(r"Socket errors: (.*)", out)
print(f"http_load: {sys.argv[1]}: {float(rps):,.0f} requests/s, p99 {p99}"
      + (", non-2xx " + errors.group(1) if errors else "") + (", socket errors " + sock.group(1) if sock else ""))
' "$1"
}
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$svc/status"; }

wrk -t2 -c1000 -d20s --timeout 10s --latency "$base/healthz" | report "/healthz at 1,000 connections"
wrk -t2 -c100 -d20s --timeout 10s --latency -s "$work/health.lua" "$base" |
  report "/v1/companies/{id}/health at 100 connections, $companies scored companies"

# The soak: 20 connections, each pausing 40 ms between requests (about 500 requests/s), health and
# liveness mixed. RSS is read after a warm-up minute of the same load, then at the end.
cat >"$work/soak.lua" <<LUA
dofile("$work/ids.lua")
wrk.headers["Authorization"] = "Bearer bench-admin"
local n = 0
request = function()
  n = n + 1
  if n % 5 == 0 then return wrk.format("GET", "/healthz") end
  return wrk.format("GET", "/v1/companies/" .. ids[math.random(#ids)] .. "/health")
end
delay = function() return 40 end
LUA
wrk -t2 -c20 -d60s -s "$work/soak.lua" "$base" >/dev/null
before=$(rss)
wrk -t2 -c20 -d"${soak}s" --latency -s "$work/soak.lua" "$base" | report "soak, ${soak} s at a steady rate"
after=$(rss)
python3 -c "print(f'http_load: RSS {$before} MiB before the soak, {$after} MiB after: {100.0 * ($after - $before) / $before:+.1f} %')"
