#!/usr/bin/env bash
# Backtests on a generated portal with a year of history (the simulator's --revenue-history: monthly
# usage snapshots, MRR with churns and returns), synced once with a full sync:
#   1. a 12-month monthly backtest (13 observation dates every 30 days, horizon 90): wall time (goal < 2 min
#      at 10,000 companies), and its AUC, lift, red+orange recall, false alarms and lead time;
#   2. how the time grows with observation dates: the same year every 15 days (25 dates) and every 60 (7).
#   Run it at two sizes to see how it grows with companies.
#   bench/backtest.sh BUILD_DIR [COMPANIES]     (default 10000: a few minutes, most of it the sync)
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-10000}"
source "$(dirname "$0")/lib.sh"
bench_work backtestbench
"$build/tools/hubspot-sim/hubspot-sim" --listen 127.0.0.1:0 --token T --generate "$companies" --seed 11 \
  --revenue-history --search-lag-ms 0 >"$work/sim.log" 2>&1 &
simpid=$!
simport=$(port_of "$work/sim.log")
cs() { env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_LOG_LEVEL=warn CSHEALTHD_LOG_FORMAT=text \
  CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$simport" CSHEALTHD_HUBSPOT_TOKEN=T \
  CSHEALTHD_DATABASE_EMBEDDED_FSYNC=false "$build/src/cshealthd" "$@"; }

t0=$(date +%s.%N)
cs sync --full >"$work/sync.log" 2>&1
t1=$(date +%s.%N)
echo "backtest bench: $companies companies synced in $(python3 -c "print(f'{$t1-$t0:.0f}')") s"

for every in 30 15 60; do
  t0=$(date +%s.%N)
  cs backtest --every "$every" --horizon 90 --json >"$work/report.json"
  t1=$(date +%s.%N)
  python3 - "$work/report.json" "$every" "$(python3 -c "print($t1-$t0)")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); every, secs = sys.argv[2], float(sys.argv[3])
auc = r["auc"]
print(f"every {every} days: {r['dates']} dates, {r['observations']} observations ({r['churned']} followed by a churn) "
      f"in {secs:.1f} s wall ({r['seconds']} s in the backtest)")
if every == "30":
    fmt = lambda v, p=False: "n/a" if v is None else (f"{100*v:.1f} %" if p else f"{v:.3f}")
    print(f"  AUC {fmt(auc['value'])} [{fmt(auc.get('low'))}, {fmt(auc.get('high'))}], top-decile lift "
          f"{fmt(r['top_decile_lift'])}, recall red+orange {fmt(r['recall_red_orange'], True)}, stayers flagged "
          f"{fmt(r['false_alarm_red_orange'], True)}, median lead {r['median_lead_days']} days")
    for c in r["components"]:
        print(f"  component {c['name']}: AUC {fmt(c['auc']['value'])} over {c['observations']}")
PY
done
