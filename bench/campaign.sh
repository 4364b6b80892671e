#!/usr/bin/env bash
# Campaign benchmark: BENCH_SUBSCRIBERS confirmed subscribers (default 100000)
# receive one campaign through `envoi serve` into ../shared/bench/smtpsink. The raw
# SMTP ceiling (smtpblast, 10 connections) is measured in the same run. Ends with:
#   campaign: N msgs/s, X cpu-s/1k, M MB peak RSS
source "$(dirname "$0")/common.sh"
N=${BENCH_SUBSCRIBERS:-100000}

"$GOBIN_DIR/smtpsink" -addr 127.0.0.1:2725 -http 127.0.0.1:2726 -quiet > "$OUT/campaign-sink.log" 2>&1 &
SINK=$!
ENVOI=""
cleanup() { kill ${ENVOI:-} "$SINK" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.5
CEIL_N=$(( N < 50000 ? N : 50000 ))
echo "raw SMTP ceiling: smtpblast -n $CEIL_N -c 10"
ceiling=$("$GOBIN_DIR/smtpblast" -host 127.0.0.1 -port 2725 -n "$CEIL_N" -c 10 2>&1 | tee "$OUT/campaign-ceiling.txt" | grep -o 'rate=[0-9.]*' | cut -d= -f2)
echo "ceiling: ${ceiling} msgs/s"
curl -s -X POST http://127.0.0.1:2726/reset >/dev/null

DB=envoi_bench_campaign
psql "$ENVOI_ADMIN_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
[ -n "${BENCH_PG_ASYNC:-}" ] && psql "$ENVOI_ADMIN_DATABASE_URL" -qc "ALTER DATABASE $DB SET synchronous_commit = off"
export ENVOI_DATABASE_URL="${ENVOI_ADMIN_DATABASE_URL/\/postgres\?/\/$DB?}"
export ENVOI_REDIS_URL="$ENVOI_SERVICES_REDIS_URL"
export ENVOI_QUEUE="benchc$$"
export ENVOI_SMTP_URL="smtp://127.0.0.1:2725?tls=none"
export ENVOI_LISTEN_ADDR=127.0.0.1:8091 ENVOI_BASE_URL=https://news.example.com
export ENVOI_SECRET_KEY="bench-secret-key-0123456789abcdef0123456789"
export ENVOI_LOG_LEVEL=warn ENVOI_POSTAL_ADDRESS="1 Rue de la Paix, 75002 Paris"
# ENVOI_WORKER_CONCURRENCY and ENVOI_SMTP_POOL_SIZE: the defaults (50 senders, 4 connections) unless set.
"$ENVOI_BIN" migrate >/dev/null
"$ENVOI_BIN" list create --slug bench --name "Bench Weekly" >/dev/null
echo "seeding $N confirmed subscribers..."
psql -q "$ENVOI_DATABASE_URL" <<SQL
INSERT INTO subscribers (email, name) SELECT 'reader' || g || '@example.com', 'Reader ' || g FROM generate_series(1, $N) g;
INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at)
SELECT s.id, l.id, 'confirmed', now() FROM subscribers s, lists l WHERE l.slug = 'bench';
ANALYZE;
SQL
# ~4 KB of HTML with one personalization field, like listmonk's run in BASELINE.md
# (and the name in the subject too). BENCH_LINKS=N adds N links (click tracking
# rewrites them; ENVOI_CLICK_TRACKING=false leaves them).
BODY=$(BENCH_LINKS=${BENCH_LINKS:-0} python3 -c '
import json, os
p = "<p>" + "This is the weekly letter with news, notes and links for our readers. " * 3 + "</p>"
links = "".join("<p><a href=\"https://example.org/story/%d?utm_source=news\">Story %d</a></p>" % (i, i) for i in range(int(os.environ["BENCH_LINKS"])))
body = "<h1>This week</h1><p>Dear {{.Subscriber.Name}},</p>" + p * 12 + links
print(json.dumps({"name":"bench","subject":"This week for {{.Subscriber.Name}}","lists":["bench"],"format":"html","body":body}))')
# BENCH_WORKERS=N: one `envoi web` and N `envoi worker` processes instead of `envoi serve`
# (CPU and RSS are then summed over them).
WORKERS=${BENCH_WORKERS:-0}
PIDS=()
if [ "$WORKERS" -gt 0 ]; then
  "$ENVOI_BIN" web > "$OUT/campaign-envoi.log" 2>&1 &
  ENVOI=$!; PIDS+=("$ENVOI")
  for i in $(seq 1 "$WORKERS"); do
    "$ENVOI_BIN" worker > "$OUT/campaign-worker$i.log" 2>&1 &
    PIDS+=("$!")
  done
  ENVOI="${PIDS[*]}"
else
  "$ENVOI_BIN" serve > "$OUT/campaign-envoi.log" 2>&1 &
  ENVOI=$!; PIDS+=("$ENVOI")
fi
cpus() { local t=0; for p in "${PIDS[@]}"; do t=$(( t + $(cpu "$p") )); done; echo $t; }
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8091/healthz >/dev/null && break; sleep 0.1; done
KEY=$("$ENVOI_BIN" apikey create --name bench | tail -n 1)
ID=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$BODY" http://127.0.0.1:8091/api/v1/campaigns | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

pgcpu() { local t=0; for p in $(pgrep -x postgres); do t=$(( t + $(cpu "$p" 2>/dev/null || echo 0) )); done; echo $t; }
c0=$(cpus); s0=$(cpu "$SINK"); p0=$(pgcpu)
"$ENVOI_BIN" campaign send "$ID" 2>"$OUT/campaign-progress.txt" | tee "$OUT/campaign-result.txt"
c1=$(cpus); s1=$(cpu "$SINK"); p1=$(pgcpu)
echo "other CPU during the send: smtpsink $(( (s1 - s0) * 1000 / TICK )) ms, PostgreSQL (local, all backends) $(( (p1 - p0) * 1000 / TICK )) ms"
stats=$(curl -s http://127.0.0.1:2726/stats)
rss=0; for p in "${PIDS[@]}"; do rss=$(( rss + $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$p/status") )); done
echo "sink: $stats"
python3 - "$stats" "$N" "$(( c1 - c0 ))" "$TICK" "$rss" "${ceiling:-0}" <<'PY'
import json, sys
from datetime import datetime
s = json.loads(sys.argv[1]); n = int(sys.argv[2]); ticks = int(sys.argv[3]); hz = int(sys.argv[4]); rss = sys.argv[5]; ceil = float(sys.argv[6])
t = lambda x: datetime.fromisoformat(x[:26].rstrip('Z'))
secs = (t(s["last_at"]) - t(s["first_at"])).total_seconds() or 1
rate = s["messages"] / secs
cpu = ticks / hz
print(f"delivered {s['messages']}/{n}, distinct {s['distinct_recipients']}, duplicates {s['duplicate_deliveries']}")
if ceil:
    print(f"ceiling {ceil:.0f} msgs/s; envoi {rate/ceil*100:.0f}% of it")
print(f"campaign: {rate:.0f} msgs/s, {cpu/ n * 1000:.3f} cpu-s/1k, {rss} MB peak RSS")
PY
