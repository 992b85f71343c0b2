#!/usr/bin/env bash
# Backtests and a calibration on a generated portal with a year of history, synced once with a full sync.
# MODEL=latent (the default: a hidden risk, noisy signals, monthly and annual terms, shocks, a year of
# dated churns) or MODEL=cohorts (the simulator's default portal with --revenue-history):
#   1. a 12-month monthly backtest (13 observation dates every 30 days, horizon 90): wall time (goal < 2 min
#      at 10,000 companies), and its AUC, lift, red+orange recall, false alarms and lead time;
#   2. how the time grows with observation dates: the same year every 15 days (25 dates) and every 60 (7);
#   3. `cshealthd calibrate`: the proposed weights, the current and the proposed weights' out-of-time AUC,
#      lift, red+orange recall, false alarms and lead, the churn probability's Brier score, the expansion
#      likelihood's AUC and Brier score, and its time.
#   Run it at two sizes to see how it grows with companies.
#   bench/backtest.sh BUILD_DIR [COMPANIES]     (default 10000: a few minutes, most of it the sync)
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-10000}"
source "$(dirname "$0")/lib.sh"
bench_work backtestbench
model="${MODEL:-latent}"
"$build/tools/hubspot-sim/hubspot-sim" --listen 127.0.0.1:0 --token T --generate "$companies" --seed 11 \
  --model "$model" --revenue-history --search-lag-ms 0 >"$work/sim.log" 2>&1 &
simpid=$!
simport=$(port_of "$work/sim.log")
cs() { env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_LOG_LEVEL=warn CSHEALTHD_LOG_FORMAT=text \
  CSHEALTHD_HUBSPOT_BASE_URL="http://127.0.0.1:$simport" CSHEALTHD_HUBSPOT_TOKEN=T \
  CSHEALTHD_DATABASE_EMBEDDED_FSYNC=false "$build/src/cshealthd" "$@"; }

t0=$(date +%s.%N)
cs sync --full >"$work/sync.log" 2>&1
t1=$(date +%s.%N)
echo "backtest bench ($model portal): $companies companies synced in $(python3 -c "print(f'{$t1-$t0:.0f}')") s"

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

t0=$(date +%s.%N)
status=0
cs calibrate --json --out "$work/candidate.yaml" >"$work/calibration.json" || status=$?
t1=$(date +%s.%N)
python3 - "$work/calibration.json" "$(python3 -c "print($t1-$t0)")" "$status" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); secs, status = float(sys.argv[2]), sys.argv[3]
t = r.get("training", {})
print(f"calibrate (exit {status}) in {secs:.1f} s wall: trained on {t.get('dates')} dates {t.get('from')} .. {t.get('to')} "
      f"({t.get('observations')} observations, {t.get('churns')} churns), judged on {r['validation']['dates']} dates "
      f"{r['validation']['from']} .. {r['validation']['to']}")
if r["status"] != "proposed":
    print("  nothing proposed:", r["reason"])
    sys.exit(0)
print("  weights: " + ", ".join(f"{w['name']} {w['current']:g} -> {w['proposed']}" for w in r["weights"]))
fmt = lambda v, p=False: "n/a" if v is None else (f"{100*v:.1f} %" if p else f"{v:.3f}")
for side in ("current", "proposed"):
    o = r["out_of_time"][side]; a = o["auc"]
    print(f"  out of time, {side} weights: AUC {fmt(a['value'])} [{fmt(a.get('low'))}, {fmt(a.get('high'))}], "
          f"lift {fmt(o['top_decile_lift'])}, recall red+orange {fmt(o['recall_red_orange'], True)}, stayers flagged "
          f"{fmt(o['false_alarm_red_orange'], True)}, median lead {o['median_lead_days']} days")
p = r["churn_probability"]
print(f"  churn probability out of time: Brier {p['brier']} (giving everyone the base rate {p['brier_base_rate']})")
x = r.get("expansion_probability") or {}
if "brier" in x:
    print(f"  expansion likelihood out of time: AUC {fmt(x['auc']['value'])}, Brier {x['brier']} (giving everyone "
          f"the base rate {x['base_rate']}: {x['brier_base_rate']})")
else:
    print("  expansion likelihood: not fitted:", x.get("reason"))
PY
