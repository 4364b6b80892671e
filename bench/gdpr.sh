#!/usr/bin/env bash
# GDPR toolkit benchmarks. Import: BENCH_IMPORT_ROWS rows (default 1000000), each
# with proof of consent (date, source, a stored text version), written to a CSV
# file and imported with `envoi import --list bench FILE` into an empty list.
# Rows per second are over the whole command (reading, staging by COPY, the
# duplicate check and the chunks), peak RSS is the envoi process's. Ends with:
#   import: N rows/s, M MB peak RSS (R rows, S s)
# then runs bench/gdpr_rights.sh (export, erasure, retention at 1,000,000
# subscribers) unless BENCH_IMPORT_ONLY is set.
source "$(dirname "$0")/common.sh"
N=${BENCH_IMPORT_ROWS:-1000000}

DB=envoi_bench_import  # not envoi_bench_gdpr: bench/gdpr_rights.sh uses that one
psql "$ENVOI_ADMIN_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export ENVOI_DATABASE_URL="${ENVOI_ADMIN_DATABASE_URL/\/postgres\?/\/$DB?}"
export ENVOI_REDIS_URL="$ENVOI_SERVICES_REDIS_URL"
export ENVOI_QUEUE="benchg$$"
export ENVOI_SECRET_KEY="bench-secret-key-0123456789abcdef0123456789"
export ENVOI_LOG_LEVEL=warn
"$ENVOI_BIN" migrate >/dev/null
"$ENVOI_BIN" list create --slug bench --name "Bench Weekly" >/dev/null
psql -q "$ENVOI_DATABASE_URL" -c "INSERT INTO consent_texts (version, body) VALUES ('shop-2024', 'I agree to receive the Bench Weekly by email. I can unsubscribe at any time.')"

FILE="$OUT/import-$N.csv"
if [ ! -s "$FILE" ]; then
  echo "writing $N rows to $FILE..."
  awk -v n="$N" 'BEGIN {
    print "email,name,consented_at,consent_source,consent_text_version"
    for (i = 1; i <= n; i++) printf "reader%d@example.com,Reader %d,2024-%02d-%02dT09:30:00Z,signup form at the shop,shop-2024\n", i, i, i % 12 + 1, i % 28 + 1
  }' > "$FILE"
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "importing $N rows ($(du -h "$FILE" | cut -f1))..."
/usr/bin/time -f "%e %M %U %S" -o "$OUT/import-time.txt" "$ENVOI_BIN" import --list bench "$FILE" > "$OUT/import-result.txt" 2> "$OUT/import-progress.txt"
cat "$OUT/import-result.txt"
grep -m1 'staged' "$OUT/import-progress.txt" || true
read -r secs rss_kb usr sys < "$OUT/import-time.txt"
n=$(psql -At "$ENVOI_DATABASE_URL" -c "SELECT count(*) FROM subscriptions WHERE status = 'confirmed'")
events=$(psql -At "$ENVOI_DATABASE_URL" -c "SELECT count(*) FROM consent_log WHERE action = 'import'")
left=$(psql -At "$ENVOI_DATABASE_URL" -c "SELECT count(*) FROM import_rows")
echo "confirmed subscriptions $n, import consent events $events, staging rows left $left"
# (PostgreSQL's CPU is not measured: the import's backends end with the command.)
echo "envoi CPU ${usr} s user + ${sys} s system; load average before/after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -c "import sys; n,s,k=int(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'import: {n/s:.0f} rows/s, {k//1024} MB peak RSS ({n} rows, {s:.1f} s)')" "$N" "$secs" "$rss_kb"
# The rights at a million subscribers (export, erasure, retention): bench/gdpr_rights.sh.
if [ -z "${BENCH_IMPORT_ONLY:-}" ]; then
  ENVOI_BIN="$ENVOI_BIN" bench/gdpr_rights.sh
fi
