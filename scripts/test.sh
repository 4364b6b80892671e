#!/usr/bin/env bash
# `make test`: start or reuse PostgreSQL, Redis (and install chromium), then run
# every test with the race detector. Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh test)"
export ENVOI_TEST_DATABASE_URL="${ENVOI_TEST_DATABASE_URL:-$ENVOI_ADMIN_DATABASE_URL}"
export ENVOI_TEST_REDIS_URL="${ENVOI_TEST_REDIS_URL:-$ENVOI_SERVICES_REDIS_URL}"
# Browser tests write screenshots of the admin pages (1280 and 390 px wide) here.
export ENVOI_TEST_SCREENSHOTS="${ENVOI_TEST_SCREENSHOTS:-$PWD/.data/screenshots}"
echo "test: PostgreSQL $ENVOI_TEST_DATABASE_URL, Redis $ENVOI_TEST_REDIS_URL" >&2
# Template databases from earlier runs of other schema versions are dropped by name.
exec go test -race -count=1 -timeout 15m "${@:-./...}"
