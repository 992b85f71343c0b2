#!/usr/bin/env bash
# Full sync throughput: hubspot-sim with a generated portal, `cshealthd sync --full` into the embedded
# PostgreSQL, rate limits off on both sides. Prints records/s per type, API calls, wall time, peak RSS.
#   bench/sync_full.sh BUILD_DIR [COMPANIES]
set -euo pipefail
build="${1:?build dir}"
companies="${2:-20000}"
work=$(mktemp -d /tmp/cshealthd-syncbench-XXXXXX)
chmod 711 "$work"  # as root the cluster runs as postgres, which must reach its state dir
trap 'kill $sim 2>/dev/null || true; rm -rf "$work"' EXIT

"$build/tools/hubspot-sim/hubspot-sim" --listen 127.0.0.1:0 --token bench --generate "$companies" --seed 1 \
  --rate-limit off --search-rate off >"$work/sim.out" 2>"$work/sim.err" &
sim=$!
for _ in $(seq 1 600); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
port=$(head -1 "$work/sim.out" | sed 's/.*://')

echo "sync_full: $companies companies (generated), limits off"
/usr/bin/time -f "sync_full: wall %e s, peak RSS %M KiB" env \
  CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$port" CSHEALTHD_HUBSPOT_TOKEN=bench \
  CSHEALTHD_HUBSPOT_BURST_LIMIT=10000 CSHEALTHD_HUBSPOT_SEARCH_PER_SECOND=100 CSHEALTHD_LOG_LEVEL=error \
  "$build/src/cshealthd" sync --full
