#!/usr/bin/env bash
# The KPIs and the dashboard on a big portal, with the embedded PostgreSQL of a `cshealthd serve`:
# COMPANIES companies (default 100,000) with a year of daily MRR snapshots and daily scores (MRR that grows,
# shrinks, and goes to zero for about 1 % of the customers a month), 50 CSMs, two segments.
#   1. the KPI computation of 13 months and 5 quarters (`cshealthd kpis --rebuild`) and of one night's
#      periods (the kpis stage): wall time;
#   2. every KPI endpoint, 50 calls each, one at a time: p50 / p95 / max (goal: p95 < 500 ms);
#   3. the dashboard's first load: the page, its assets and the overview's API answers, in bytes (goal < 500 KB).
#   bench/kpis.sh BUILD_DIR [COMPANIES]     (about 15 minutes at 100,000 on 2 cores)
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-100000}"
source "$(dirname "$0")/lib.sh"
# KPIBENCH_DIR=DIR keeps the populated cluster there for the next run (populating takes most of the time).
if [ -n "${KPIBENCH_DIR:-}" ]; then
  work="$KPIBENCH_DIR"
  mkdir -p "$work"
  chmod 711 "$work"
  simpid=""
  servepid=""
  trap '[ -n "$servepid" ] && kill -TERM "$servepid"; wait 2>/dev/null || true' EXIT
else
  bench_work kpibench
fi
token=bench-admin
conn="host=$work/state/pg port=5432 user=cshealthd dbname=cshealthd"
psql_() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$conn" "$@"; }
cs() { env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_DATABASE_URL="$conn" CSHEALTHD_LOG_LEVEL=warn \
  CSHEALTHD_LOG_FORMAT=text "$build/src/cshealthd" "$@"; }

# The service holds the embedded cluster and answers the API; without a HubSpot token it runs nothing.
env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_HTTP_LISTEN=127.0.0.1:0 CSHEALTHD_ADMIN_TOKEN=$token \
  CSHEALTHD_LOG_FORMAT=text CSHEALTHD_LOG_LEVEL=info CSHEALTHD_SCHEDULE_ENABLED=false \
  "$build/src/cshealthd" serve >"$work/serve.log" 2>&1 &
servepid=$!
port=$(port_of "$work/serve.log")
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

if [ -f "$work/populated" ]; then
  echo "kpis bench: reusing the portal in $work ($(cat "$work/populated") companies)"
else
echo "kpis bench: populating $companies companies x 366 days (snapshots and scores)..."
t0=$(date +%s)
psql_ <<SQL
SET synchronous_commit = off;
INSERT INTO crm_owners (id, email, first_name, last_name)
  SELECT 5000 + o, 'csm' || o || '@example.com', 'CSM', o::text FROM generate_series(1, 50) o;
-- A company's MRR on day d (0..365, 365 = today): a base, +20 % or -20 % from one month on for a fifth of
-- them each, and 0 from its churn day for 12 % (about 1 % of customers a month).
CREATE TEMP TABLE plan AS
  SELECT g, 100 + (g * 7919) % 9000 AS base, g % 10 AS kind, (g / 10) % 12 AS month,
         CASE WHEN g % 100 < 12 THEN 20 + (g % 11) * 31 + g % 7 END AS churn_d
  FROM generate_series(1, $companies) g;
INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at)
  SELECT 'companies', g, '{}', jsonb_build_object('name', 'Company ' || g, 'owner_id', (5001 + g % 50)::text,
    'mrr', CASE WHEN churn_d IS NULL THEN base ELSE 0 END,
    'renewal_date', to_char(current_date + (g % 400) - 20, 'YYYY-MM-DD"T00:00:00.000Z"'),
    'cs_stage', CASE WHEN churn_d IS NULL THEN 'active' ELSE 'churned' END,
    'churn_date', CASE WHEN churn_d IS NOT NULL THEN to_char(current_date - 365 + churn_d, 'YYYY-MM-DD') END,
    'churn_reason', CASE WHEN churn_d IS NOT NULL THEN (ARRAY['cost', 'support', 'missing_feature'])[1 + g % 3] END),
    now() - interval '2 years', now() - interval '2 years'
  FROM plan;
INSERT INTO company_snapshots (company_id, day, synced)
  SELECT g, current_date - 365 + d, jsonb_build_object('mrr',
    CASE WHEN churn_d IS NOT NULL AND d >= churn_d THEN 0
         WHEN kind = 3 AND d >= month * 30 THEN round(base * 1.2)
         WHEN kind = 7 AND d >= month * 30 THEN round(base * 0.8)
         ELSE base END)
  FROM plan, generate_series(0, 365) d;
INSERT INTO score_runs (as_of, trigger, config_fingerprint, finished_at)
  VALUES (current_date, 'backfill', 'bench', now());
INSERT INTO health_scores (company_id, day, run_id, score, computed_score, status, coverage, scorecard, segment,
                           components, signals, reasons)
  SELECT g, current_date - 365 + d, (SELECT max(id) FROM score_runs), s, s,
    CASE WHEN s >= 80 THEN 'green' WHEN s >= 60 THEN 'yellow' WHEN s >= 40 THEN 'orange' ELSE 'red' END, 1,
    'weighted', CASE WHEN g % 2 = 0 THEN 'high_touch' ELSE 'tech_touch' END, '[]',
    CASE WHEN s < 40 THEN '[{"name": "usage_drop"}]'::jsonb ELSE '[]' END, '["usage: low"]'
  FROM (SELECT g, d, CASE WHEN churn_d IS NOT NULL AND d > churn_d - 60 THEN 25 + (g + d) % 20
                          ELSE 45 + (g * 31 + d / 7) % 55 END AS s
        FROM plan, generate_series(0, 365) d) x;
ANALYZE;
SQL
echo "kpis bench: populated in $(( $(date +%s) - t0 )) s; $(psql_ -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
echo "$companies" >"$work/populated"
fi

t1=$(date +%s.%N)
cs kpis --rebuild | tail -1
echo "kpis bench: first computation (13 months, 5 quarters): $(echo "$(date +%s.%N) - $t1" | bc) s"
t1=$(date +%s.%N)
cs kpis --month "$(date -u +%Y-%m)" --recompute >/dev/null
echo "kpis bench: one night (this month again): $(echo "$(date +%s.%N) - $t1" | bc) s"

first_company=$(psql_ -c "SELECT company_id FROM health_scores WHERE day = current_date AND score < 60 LIMIT 1")
endpoints=(
  "/v1/dashboard"
  "/v1/kpis"
  "/v1/kpis?granularity=quarter"
  "/v1/kpis?segment=high_touch&owner=5007"
  "/v1/kpis/nrr/series"
  "/v1/kpis.csv"
  "/v1/renewals?within_days=90"
  "/v1/at-risk"
  "/v1/at-risk?sort=mrr&order=desc&segment=tech_touch"
  "/v1/churn-analysis"
  "/v1/companies/$first_company/page"
)
printf "%-48s %8s %8s %8s\n" endpoint p50_ms p95_ms max_ms
for e in "${endpoints[@]}"; do
  for _ in $(seq 1 50); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "http://127.0.0.1:$port$e"
  done | sort -n | awk -v e="$e" '{ t[NR] = $1 * 1000 } END {
    printf "%-48s %8.1f %8.1f %8.1f\n", e, t[int(NR * 0.5)], t[int(NR * 0.95)], t[NR] }'
done

# The first load: what the browser fetches to draw the overview.
total=0
for e in "/" "/dashboard/app.js" "/dashboard/app.css" "/v1/dashboard" "/v1/kpis?granularity=month" \
  "/v1/at-risk?limit=100&sort=score&order=asc" "/v1/renewals?within_days=90&limit=100"; do
  n=$(curl -s -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port$e")
  printf "  %-48s %8d bytes\n" "$e" "$n"
  total=$((total + n))
done
echo "kpis bench: dashboard first load $total bytes ($((total / 1024)) KB)"
