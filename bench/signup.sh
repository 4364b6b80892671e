#!/usr/bin/env bash
# Signup benchmark: ../shared/bench/formload against POST /subscribe/{slug} with a
# unique address per request (50 clients, 20 s by default), every confirmation
# mail delivered to ../shared/bench/smtpsink. Prints req/s, latency and whether
# every 200 got exactly one mail, and how long after the load's end the last
# confirmation reached the sink. `envoi serve` runs with its defaults (what a user
# runs); BENCH_TUNED=1 uses the tuned worker of earlier runs (20 jobs, 10 SMTP
# connections, 40 database connections). BENCH_RATE=N sends N signups a second
# (open loop, bench/rateload) instead of as many as 50 clients get answered.
# Usage: bench/signup.sh [CLIENTS] [DURATION]
source "$(dirname "$0")/common.sh"
CLIENTS=${1:-50}
DURATION=${2:-20s}

go build -o bin/rateload ./bench/rateload
DB=envoi_bench_signup
psql "$ENVOI_ADMIN_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export ENVOI_DATABASE_URL="${ENVOI_ADMIN_DATABASE_URL/\/postgres\?/\/$DB?}"
export ENVOI_REDIS_URL="$ENVOI_SERVICES_REDIS_URL"
export ENVOI_QUEUE="bench$$"
export ENVOI_SMTP_URL="smtp://127.0.0.1:2625?tls=none"
export ENVOI_LISTEN_ADDR=127.0.0.1:8090 ENVOI_BASE_URL=http://127.0.0.1:8090
export ENVOI_SECRET_KEY="bench-secret-key-0123456789abcdef0123456789"
export ENVOI_LOG_LEVEL=warn
# Every request comes from one IP to one domain: the abuse limits are off for the benchmark.
export ENVOI_SIGNUP_LIMIT_PER_IP=0 ENVOI_SIGNUP_LIMIT_PER_DOMAIN=0
if [ -n "${BENCH_TUNED:-}" ]; then
  export ENVOI_WORKER_CONCURRENCY=${ENVOI_WORKER_CONCURRENCY:-20} ENVOI_SMTP_POOL_SIZE=${ENVOI_SMTP_POOL_SIZE:-10}
  export ENVOI_DATABASE_MAX_CONNS=${ENVOI_DATABASE_MAX_CONNS:-40}
fi
echo "settings: ENVOI_WORKER_CONCURRENCY=${ENVOI_WORKER_CONCURRENCY:-default} ENVOI_SMTP_POOL_SIZE=${ENVOI_SMTP_POOL_SIZE:-default} ENVOI_DATABASE_MAX_CONNS=${ENVOI_DATABASE_MAX_CONNS:-default}"
export ENVOI_DEBUG_ADDR=${ENVOI_DEBUG_ADDR:-}

"$GOBIN_DIR/smtpsink" -addr 127.0.0.1:2625 -http 127.0.0.1:2626 -quiet > "$OUT/signup-sink.log" 2>&1 &
SINK=$!
"$ENVOI_BIN" migrate >/dev/null
"$ENVOI_BIN" list create --slug bench --name Bench >/dev/null
"$ENVOI_BIN" serve > "$OUT/signup-envoi.log" 2>&1 &
ENVOI=$!
cleanup() { kill "$ENVOI" "$SINK" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8090/healthz >/dev/null && break; sleep 0.1; done

pgcpu() { local t=0; for p in $(pgrep -x postgres); do t=$(( t + $(cpu "$p" 2>/dev/null || echo 0) )); done; echo $t; }
rdcpu() { local t=0; for p in $(pgrep -x redis-server); do t=$(( t + $(cpu "$p" 2>/dev/null || echo 0) )); done; echo $t; }
idle() { awk '/^cpu / {print $5+$6}' /proc/stat; }
i0=$(idle); c0=$(cpu "$ENVOI"); p0=$(pgcpu); r0=$(rdcpu); s0=$(cpu "$SINK")
if [ -n "${BENCH_RATE:-}" ]; then
  # Open loop at a fixed rate (bench/rateload): does the server keep up, confirmations included?
  bin/rateload -url http://127.0.0.1:8090/subscribe/bench -rate "$BENCH_RATE" -d "$DURATION" | tee "$OUT/signup-formload.txt"
else
  "$GOBIN_DIR/formload" -url http://127.0.0.1:8090/subscribe/bench -body 'email=user{n}@example.com&consent=on' -c "$CLIENTS" -d "$DURATION" | tee "$OUT/signup-formload.txt"
fi
i1=$(idle); c1=$(cpu "$ENVOI"); p1=$(pgcpu); r1=$(rdcpu); s1=$(cpu "$SINK")
load_end=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
want=$(psql "$ENVOI_DATABASE_URL" -tAc "SELECT count(*) FROM transactional_messages")
echo "waiting for $want confirmation mails to reach the sink..."
for _ in $(seq 1 600); do
  got=$(curl -s http://127.0.0.1:2626/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
  [ "$got" -ge "$want" ] && break
  sleep 0.5
done
sleep 1
stats=$(curl -s http://127.0.0.1:2626/stats)
subs=$(psql "$ENVOI_DATABASE_URL" -tAc "SELECT count(*) FROM subscribers")
sent=$(psql "$ENVOI_DATABASE_URL" -tAc "SELECT count(*) FROM transactional_messages WHERE status = 'sent'")
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$ENVOI/status")
echo "sink: $stats"
echo "subscribers stored: $subs; confirmation mails in ledger: $want, sent: $sent"
python3 - "$stats" "$want" "$load_end" <<'PY'
import json, sys
from datetime import datetime
s = json.loads(sys.argv[1]); want = int(sys.argv[2])
t = lambda x: datetime.fromisoformat(x[:26].rstrip('Z'))
print(f"delivered {s['messages']}/{want}, distinct recipients {s['distinct_recipients']}, duplicates {s['duplicate_deliveries']}")
print(f"last confirmation {(t(s['last_at']) - t(sys.argv[3])).total_seconds():.1f} s after the load's end")
PY
echo "CPU during the load: envoi $(( (c1 - c0) * 1000 / TICK )) ms, PostgreSQL (local, all backends) $(( (p1 - p0) * 1000 / TICK )) ms, Redis $(( (r1 - r0) * 1000 / TICK )) ms, smtpsink $(( (s1 - s0) * 1000 / TICK )) ms, machine idle $(( (i1 - i0) * 1000 / TICK )) ms (of $(nproc) cores); envoi peak RSS ${rss} MB"
