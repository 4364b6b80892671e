#!/usr/bin/env bash
# GDPR rights at scale (issue 11): 1,000,000 subscribers on one list (90%
# confirmed, 5% unconfirmed for 40 days, 5% unsubscribed 40 days ago, 1% silent
# for 3 years), 2,000,000 consent events through the hash chain, 10 sent
# campaigns with 1,000,000 deliveries each. Then, through `envoi web`'s API:
# 100 exports (GET /api/v1/subscribers/{id}/export) and 100 erasures
# (DELETE /api/v1/subscribers/{id}) of random subscribers, one after the
# other, p50/p95/max; then `envoi retention --dry-run` and `envoi retention`
# (~100,000 people to erase, ~10,000 re-permission mails to queue), timed.
# Targets: export < 200 ms, erasure < 100 ms, retention pass < 60 s.
source "$(dirname "$0")/common.sh"
N=${1:-100}
DB=envoi_bench_gdpr
psql "$ENVOI_ADMIN_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export ENVOI_DATABASE_URL="${ENVOI_ADMIN_DATABASE_URL/\/postgres\?/\/$DB?}"
export ENVOI_REDIS_URL="$ENVOI_SERVICES_REDIS_URL" ENVOI_QUEUE="benchg$$"
export ENVOI_LISTEN_ADDR=127.0.0.1:8093 ENVOI_BASE_URL=http://127.0.0.1:8093
export ENVOI_SECRET_KEY="bench-secret-key-0123456789abcdef0123456789" ENVOI_LOG_LEVEL=warn
"$ENVOI_BIN" migrate >/dev/null
"$ENVOI_BIN" list create --slug news --name News >/dev/null
KEY=$("$ENVOI_BIN" apikey create --name bench | tail -1)
echo "seeding 1,000,000 subscribers, 2,000,000 consent events, 10 campaigns x 1,000,000 deliveries..."
start=$(date +%s)
psql -q "$ENVOI_DATABASE_URL" <<'SQL'
INSERT INTO subscribers (email, name, created_at, last_activity_at)
SELECT 'reader' || g || '@example.com', 'Reader ' || g,
       CASE WHEN g % 20 = 0 THEN now() - interval '40 days' ELSE now() - interval '100 days' END,
       CASE WHEN g % 100 = 7 THEN now() - interval '3 years 10 days' ELSE now() - interval '10 days' END
FROM generate_series(1, 1000000) g;
INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, unsubscribed_at, created_at, updated_at)
SELECT s.id, (SELECT id FROM lists), CASE WHEN s.id % 20 = 0 THEN 'unconfirmed' WHEN s.id % 20 = 1 THEN 'unsubscribed' ELSE 'confirmed' END,
       CASE WHEN s.id % 20 <> 0 THEN now() - interval '90 days' END, CASE WHEN s.id % 20 = 1 THEN now() - interval '40 days' END,
       now() - interval '100 days', now()
FROM subscribers s;
SQL
t0=$(date +%s.%N)
psql -q "$ENVOI_DATABASE_URL" <<'SQL'
INSERT INTO consent_log (subscriber_id, list_id, action, source, ip, user_agent, consent_text_version, created_at)
SELECT s.id, (SELECT id FROM lists), a, CASE WHEN a = 'signup' THEN 'form' ELSE 'link' END, '192.0.2.1', 'Bench/1.0', 'v1', now() - interval '90 days'
FROM subscribers s CROSS JOIN (VALUES ('signup'), ('confirm')) v(a) ORDER BY s.id, a DESC;
SQL
t1=$(date +%s.%N)
psql -q "$ENVOI_DATABASE_URL" <<'SQL'
INSERT INTO campaigns (name, subject, from_header, format, body, status, audience_done, created_at, started_at, finished_at)
SELECT 'Letter ' || g, 'News number ' || g, 'News <news@example.com>', 'markdown', 'Hello', 'sent', true,
       now() - (10 - g) * interval '7 days', now() - (10 - g) * interval '7 days', now() - (10 - g) * interval '7 days'
FROM generate_series(1, 10) g;
INSERT INTO campaign_lists (campaign_id, list_id) SELECT c.id, (SELECT id FROM lists) FROM campaigns c;
INSERT INTO deliveries (campaign_id, subscriber_id, batch, status, updated_at)
SELECT c.id, s.id, s.id / 500, 'sent', c.finished_at FROM campaigns c CROSS JOIN subscribers s;
VACUUM ANALYZE;
SQL
echo "seeded in $(( $(date +%s) - start )) s; the consent chain took 2,000,000 events in $(echo "$t1 - $t0" | bc) s"
"$ENVOI_BIN" web > "$OUT/gdpr-envoi.log" 2>&1 &
ENVOI=$!
trap 'kill $ENVOI 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8093/healthz >/dev/null && break; sleep 0.1; done
stats() { sort -n | awk '{a[NR]=$1} END {printf "n=%d p50=%.1f ms p95=%.1f ms max=%.1f ms\n", NR, a[int(NR*0.5)+1]*1000, a[int(NR*0.95)]*1000, a[NR]*1000}'; }
ids=$(shuf -i 2-999999 -n $((2 * N)) --random-source=<(yes))
for id in $(echo "$ids" | head -3); do curl -s -o /dev/null -H "Authorization: Bearer $KEY" "http://127.0.0.1:8093/api/v1/subscribers/$id/export"; done
echo -n "export (GET /api/v1/subscribers/{id}/export, 10 campaigns, 2 consent events): "
for id in $(echo "$ids" | head -$N); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $KEY" "http://127.0.0.1:8093/api/v1/subscribers/$id/export"
done | tee "$OUT/gdpr-export.txt" | awk '$1 != 200 {bad++} {print $2} END {if (bad) print "NON-200: " bad > "/dev/stderr"}' | stats
echo -n "erasure (DELETE /api/v1/subscribers/{id}): "
for id in $(echo "$ids" | tail -$N); do
  curl -s -o /dev/null -X DELETE -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $KEY" "http://127.0.0.1:8093/api/v1/subscribers/$id"
done | tee "$OUT/gdpr-erase.txt" | awk '$1 != 204 && $1 != 404 {bad++} {print $2} END {if (bad) print "NON-204: " bad > "/dev/stderr"}' | stats
kill $ENVOI; wait 2>/dev/null || true
s=$(date +%s.%N); "$ENVOI_BIN" retention --dry-run | tee "$OUT/gdpr-retention-dry.txt"; e=$(date +%s.%N)
echo "retention dry run: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); "$ENVOI_BIN" retention | tee "$OUT/gdpr-retention.txt"; e=$(date +%s.%N)
echo "retention pass: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); "$ENVOI_BIN" retention >/dev/null; e=$(date +%s.%N)
echo "retention pass with nothing due: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); "$ENVOI_BIN" consent verify; e=$(date +%s.%N)
echo "consent verify: $(echo "$e - $s" | bc) s"
