#!/usr/bin/env bash
# Usage sent to cshealthd, measured on this machine with the embedded PostgreSQL (a `serve` holds the
# cluster and answers the API; COMPANIES companies are inserted as the sync stores them, no HubSpot needed):
#   1. pushed rows stored durably per second: BATCHES requests of 10,000 rows (four figures each, by HubSpot
#      id) from CLIENTS concurrent clients, each answered once its rows are committed (goal >= 50,000/s);
#   2. a 12-month daily CSV (a row per company and day, four figures, by domain) imported with
#      `cshealthd usage import`: wall time (goal < 1 minute for 10,000 companies), then the same file again
#      (nothing changes: the figures are replaced by themselves).
#   bench/usage.sh BUILD_DIR [COMPANIES] [BATCHES] [CLIENTS]   (defaults 10000, 40, 4)
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
companies="${2:-10000}"
batches="${3:-40}"
clients="${4:-4}"
source "$(dirname "$0")/lib.sh"
bench_work usagebench
token=bench-usage
env CSHEALTHD_STATE_DIR="$work/state" CSHEALTHD_DATABASE_EMBEDDED_FSYNC=false CSHEALTHD_SCHEDULE_ENABLED=false \
  CSHEALTHD_HTTP_LISTEN=127.0.0.1:0 CSHEALTHD_LOG_FORMAT=text CSHEALTHD_USAGE_TOKEN=$token \
  CSHEALTHD_HTTP_MAX_BODY_BYTES=16777216 CSHEALTHD_USAGE_MAX_ROWS=10000 CSHEALTHD_SCHEDULE_TIME_ZONE=UTC \
  "$build/src/cshealthd" serve >"$work/serve.log" 2>&1 &
servepid=$!
port=$(port_of "$work/serve.log")
pg="host=$work/state/pg port=5432 user=cshealthd dbname=cshealthd"
psql -X -q "$pg" -c "INSERT INTO crm_objects (object_type, id, properties, fields, created_at, updated_at) SELECT
  'companies', g, '{}', jsonb_build_object('name', 'Company ' || g, 'domain', 'c' || g || '.example'), now(), now()
  FROM generate_series(1, $companies) g"

# 1. Pushes: the bodies built before the clock starts.
python3 - "$port" "$token" "$companies" "$batches" "$clients" <<'PY'
import datetime, json, sys, threading, time, urllib.request
port, token, companies, batches, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
day0 = datetime.date.today()
bodies = []
for b in range(batches):
    rows = []
    for i in range(10000):
        n = b * 10000 + i
        rows.append({"company_id": str(1 + n % companies), "date": str(day0 - datetime.timedelta(days=1 + n // companies)),
                     "active_users_30d": n % 40, "logins_30d": n % 500, "licensed_seats": 40, "features_used": n % 9})
    bodies.append(json.dumps({"rows": rows}).encode())
lat, lock, errors = [], threading.Lock(), []
def client(k):
    for body in bodies[k::clients]:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/usage", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        t = time.time()
        try:
            answer = json.loads(urllib.request.urlopen(req, timeout=300).read())
            if answer["accepted"] != 10000: errors.append(answer)
        except Exception as e:
            errors.append(str(e))
        with lock: lat.append(time.time() - t)
t0 = time.time()
threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
wall = time.time() - t0
lat.sort()
print(f"push: {batches} requests of 10,000 rows (4 figures each) from {clients} clients in {wall:.1f} s: "
      f"{batches * 10000 / wall:,.0f} rows/s ({batches * 40000 / wall:,.0f} figures/s) stored; per request "
      f"median {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s; {len(errors)} errors")
PY
echo "push: $(psql -X -q -A -t "$pg" -c "SELECT count(*) FROM usage_daily") figures in usage_daily"

# 2. A year of daily figures as a CSV.
psql -X -q "$pg" -c "TRUNCATE usage_days, refresh_requests"
python3 - "$companies" "$work/year.csv" <<'PY'
import datetime, sys
companies, path = int(sys.argv[1]), sys.argv[2]
day0 = datetime.date.today()
days = [str(day0 - datetime.timedelta(days=d)) for d in range(1, 366)]
with open(path, "w") as f:
    f.write("domain,date,active_users_30d,logins_30d,licensed_seats,features_used\n")
    for c in range(1, companies + 1):
        dom = f"www.C{c}.example"
        for i, d in enumerate(days):
            f.write(f"{dom},{d},{(c + i) % 40},{(c * i) % 500},40,{i % 9}\n")
PY
rows=$((companies * 365))
size=$(du -m "$work/year.csv" | cut -f1)
cs() { env CSHEALTHD_DATABASE_URL="$pg" CSHEALTHD_LOG_FORMAT=text CSHEALTHD_LOG_LEVEL=warn CSHEALTHD_SCHEDULE_TIME_ZONE=UTC "$build/src/cshealthd" "$@"; }
for pass in first again; do
  t0=$(date +%s.%N)
  out=$(cs usage import "$work/year.csv")
  t1=$(date +%s.%N)
  printf 'csv (%s import): %d rows (%d MiB, 365 days x %d companies) in %.1f s: %.0f rows/s. %s\n' "$pass" "$rows" \
    "$size" "$companies" "$(echo "$t1 - $t0" | bc)" "$(echo "$rows / ($t1 - $t0)" | bc)" "$out"
done
echo "csv: $(psql -X -q -A -t "$pg" -c "SELECT count(*) FROM usage_daily") figures in usage_daily"
