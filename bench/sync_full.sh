#!/usr/bin/env bash
# Full sync: hubspot-sim with a generated portal, `cshealthd sync --full` into the embedded PostgreSQL.
# Prints records/s per type, API calls, wall time, peak RSS; with `default` limits also the calls made
# against the minimum and the time taken against what HubSpot's 190/10 s limit allows.
#   bench/sync_full.sh BUILD_DIR [COMPANIES] [off|default]
#   (the issue's scenario: bench/sync_full.sh build-release 100000 default, about 6 minutes)
set -euo pipefail
build="${1:?build dir}"
companies="${2:-20000}"
limits="${3:-off}"
work=$(mktemp -d /tmp/cshealthd-syncbench-XXXXXX)
chmod 711 "$work"  # as root the cluster runs as postgres, which must reach its state dir
trap 'kill $sim 2>/dev/null || true; rm -rf "$work"' EXIT

sim_limits=(--rate-limit off --search-rate off)
client_limits=(CSHEALTHD_HUBSPOT_BURST_LIMIT=10000 CSHEALTHD_HUBSPOT_SEARCH_PER_SECOND=100)
objects=${SYNC_OBJECTS:-companies,contacts,deals,tickets,meetings,feedback_submissions}
if [ "$limits" = default ]; then
  sim_limits=()
  client_limits=()
  objects=companies,tickets,feedback_submissions,meetings  # the issue's scenario
fi
"$build/tools/hubspot-sim/hubspot-sim" --listen 127.0.0.1:0 --token bench --generate "$companies" --seed 1 \
  "${sim_limits[@]}" >"$work/sim.out" 2>"$work/sim.err" &
sim=$!
for _ in $(seq 1 600); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
port=$(head -1 "$work/sim.out" | sed 's/.*://')

echo "sync_full: $companies companies (generated), limits $limits"
/usr/bin/time -o "$work/time" -f "%e %M %U %S" env "${client_limits[@]}" \
  CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$port" CSHEALTHD_HUBSPOT_TOKEN=bench \
  CSHEALTHD_LOG_LEVEL=error ${SYNC_BENCH_ENV:-} "$build/src/cshealthd" sync --full --objects "$objects" | tee "$work/sync.out"
read -r wall rss user sys <"$work/time"
# CPU of cshealthd and the embedded PostgreSQL it started (reaped children count): steadier than wall
# time on a shared machine, where neighbours change the wall figures from run to run.
echo "sync_full: wall $wall s, peak RSS $((rss / 1024)) MiB, CPU $(python3 -c "print(round($user + $sys, 1))") s (cshealthd and its PostgreSQL)"
# Calls against the minimum: list pages (50 for companies, whose first full sync reads property
# history, else 100) plus association batches of 1,000; time against 190 calls per 10 s.
python3 - "$work/sync.out" "$wall" "http://127.0.0.1:$port/__sim/requests" <<'PY'
import json, math, re, sys, urllib.request
out, wall, url = open(sys.argv[1]).read(), float(sys.argv[2]), sys.argv[3]
counts = {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+)\s+full\s+(\d+)', out, re.M)}
assoc = {'contacts': 1, 'deals': 1, 'tickets': 1, 'meetings': 1, 'feedback_submissions': 2}
minimum = sum(math.ceil(n / (50 if t == 'companies' else 100)) + assoc.get(t, 0) * math.ceil(n / 1000)
              for t, n in counts.items())
calls = sum(1 for r in json.load(urllib.request.urlopen(url))['requests'] if r['path'].startswith('/crm/'))
print(f"sync_full: {sum(counts.values())} records, {sum(counts.values()) / wall:.0f} records/s, "
      f"{calls} API calls = {calls / minimum:.3f} x the minimum ({minimum}), "
      f"{wall / (calls / 19.0):.3f} x the time 190 calls/10 s allow")
PY
