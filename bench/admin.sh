#!/usr/bin/env bash
# Admin UI at scale: 1,000,000 subscribers over 3 lists (1,200,000 subscriptions,
# confirmations spread over 90 days), 100 sent campaigns, the newest with
# 1,000,000 deliveries. Then bench/adminload fetches the dashboard, the lists page,
# subscriber searches (a substring of the address: one that matches a handful
# and one that matches nothing) and the campaign list, one after the other as a
# marketer clicks, and prints p50/p95/p99 per page. `envoi web` at its defaults.
# Usage: bench/admin.sh [REQUESTS_PER_PAGE]
source "$(dirname "$0")/common.sh"
N=${1:-100}
go build -o bin/adminload ./bench/adminload
DB=envoi_bench_admin
psql "$ENVOI_ADMIN_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export ENVOI_DATABASE_URL="${ENVOI_ADMIN_DATABASE_URL/\/postgres\?/\/$DB?}"
export ENVOI_REDIS_URL="$ENVOI_SERVICES_REDIS_URL" ENVOI_QUEUE="bencha$$"
export ENVOI_LISTEN_ADDR=127.0.0.1:8092 ENVOI_BASE_URL=http://127.0.0.1:8092
export ENVOI_SECRET_KEY="bench-secret-key-0123456789abcdef0123456789" ENVOI_LOG_LEVEL=warn
"$ENVOI_BIN" migrate >/dev/null
for l in news offers events; do "$ENVOI_BIN" list create --slug $l --name "${l^}" >/dev/null; done
PASSWORD="Load-Test-Pass-42!"
echo "$PASSWORD" | "$ENVOI_BIN" user create --email bench@team.example --role owner >/dev/null
echo "seeding 1,000,000 subscribers, 1,200,000 subscriptions, 100 campaigns, 1,000,000 deliveries..."
start=$(date +%s)
psql -q "$ENVOI_DATABASE_URL" <<'SQL'
INSERT INTO subscribers (email, name, created_at)
SELECT 'reader' || g || '@example.com', 'Reader ' || g, now() - (g % 90) * interval '1 day' FROM generate_series(1, 1000000) g;
CREATE TEMP TABLE l AS SELECT id, (row_number() OVER (ORDER BY id)) - 1 AS k FROM lists;
-- Each subscriber on one list, one in five on a second; 80% confirmed, 10% waiting, 10% gone.
INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, unsubscribed_at, created_at, updated_at)
SELECT s.id, l.id,
       CASE WHEN s.id % 10 = 0 THEN 'unconfirmed' WHEN s.id % 10 = 1 THEN 'unsubscribed' ELSE 'confirmed' END,
       CASE WHEN s.id % 10 <> 0 THEN now() - (s.id % 90) * interval '1 day' END,
       CASE WHEN s.id % 10 = 1 THEN now() - (s.id % 30) * interval '1 day' END,
       now() - (s.id % 90) * interval '1 day', now()
FROM subscribers s JOIN l ON l.k = s.id % 3;
INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
SELECT s.id, l.id, 'confirmed', now() - (s.id % 90) * interval '1 day', now(), now()
FROM subscribers s JOIN l ON l.k = (s.id + 1) % 3 WHERE s.id % 5 = 0;
INSERT INTO campaigns (name, subject, from_header, format, body, status, audience_done, created_at, started_at, finished_at)
SELECT 'Letter ' || g, 'News number ' || g, 'News <news@example.com>', 'markdown', 'Hello {{.Subscriber.Name}}', 'sent', true,
       now() - (100 - g) * interval '1 day', now() - (100 - g) * interval '1 day', now() - (100 - g) * interval '1 day' + interval '5 minutes'
FROM generate_series(1, 100) g;
INSERT INTO campaign_lists (campaign_id, list_id) SELECT c.id, l.id FROM campaigns c JOIN l ON l.k = c.id % 3;
INSERT INTO deliveries (campaign_id, subscriber_id, batch, status)
SELECT (SELECT max(id) FROM campaigns), s.id, s.id / 1000, CASE WHEN s.id % 100 = 0 THEN 'failed' ELSE 'sent' END FROM subscribers s;
-- Counts come from the batches (as the sender keeps them): 1,000 batches of 1,000 each.
INSERT INTO campaign_batches (campaign_id, batch, done, total, started, counted, sent, failed)
SELECT c.id, b, true, 1000, true, true, 990, 10 FROM campaigns c, generate_series(0, 999) b;
VACUUM ANALYZE;
SQL
echo "seeded in $(( $(date +%s) - start )) s"
"$ENVOI_BIN" web > "$OUT/admin-envoi.log" 2>&1 &
ENVOI=$!
trap 'kill $ENVOI 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8092/healthz >/dev/null && break; sleep 0.1; done
c0=$(cpu "$ENVOI")
bin/adminload -base http://127.0.0.1:8092 -email bench@team.example -password "$PASSWORD" -n "$N" \
  /admin/ /admin/lists '/admin/subscribers?q=der{n}77' '/admin/subscribers?q=nobody-has-this' '/admin/subscribers?q=example' '/admin/subscribers?q=Reader+{n}1' \
  '/admin/subscribers?list=offers&status=confirmed' /admin/campaigns "/admin/campaigns/100" | tee "$OUT/admin-result.txt"
c1=$(cpu "$ENVOI")
echo "envoi web CPU: $(( (c1 - c0) * 1000 / TICK )) ms; peak RSS $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$ENVOI/status") MB"
