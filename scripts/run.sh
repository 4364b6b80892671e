#!/usr/bin/env bash
# `make run`: start or reuse PostgreSQL, Redis and a mail catcher, migrate, create
# the demo list and an API key, print what to open, then serve.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="$ROOT/.data"
BIN="$ROOT/bin/envoi"
mkdir -p "$DATA"
say() { echo "run: $*" >&2; }
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

eval "$(scripts/services.sh)"

# Database "envoi" on the server services.sh found or started.
DB_URL="${ENVOI_DATABASE_URL:-${ENVOI_ADMIN_DATABASE_URL/\/postgres\?/\/envoi?}}"
if [ -z "${ENVOI_DATABASE_URL:-}" ]; then
  if ! psql "$ENVOI_ADMIN_DATABASE_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = 'envoi'" | grep -q 1; then
    say "creating database envoi"
    psql "$ENVOI_ADMIN_DATABASE_URL" -qc "CREATE DATABASE envoi" >&2
    rm -f "$DATA/api_key" # a key from an earlier database would not work
  fi
fi
export ENVOI_DATABASE_URL="$DB_URL"
export ENVOI_REDIS_URL="${ENVOI_REDIS_URL:-$ENVOI_SERVICES_REDIS_URL}"

# A secret key made once and kept in .data/ (git-ignored).
if [ -z "${ENVOI_SECRET_KEY:-}" ] && [ -z "${ENVOI_SECRET_KEY_FILE:-}" ]; then
  [ -s "$DATA/secret_key" ] || (umask 077; head -c 48 /dev/urandom | base64 -w0 > "$DATA/secret_key")
  export ENVOI_SECRET_KEY_FILE="$DATA/secret_key"
fi

# Mail catcher: reuse one on 1025 (Mailpit or ours), else start ours in the background.
if [ -z "${ENVOI_SMTP_URL:-}" ]; then
  if ! answers 127.0.0.1 1025; then
    say "starting the mail catcher (SMTP 127.0.0.1:1025, web http://127.0.0.1:8025/)"
    nohup "$BIN" mailcatcher --smtp 127.0.0.1:1025 --http 127.0.0.1:8025 > "$DATA/mailcatcher.log" 2>&1 &
    for _ in $(seq 1 50); do answers 127.0.0.1 1025 && break; sleep 0.1; done
  else
    say "reusing the mail catcher on 127.0.0.1:1025"
  fi
  export ENVOI_SMTP_URL="smtp://127.0.0.1:1025?tls=none"
  CATCHER_URL="http://127.0.0.1:8025/"
else
  CATCHER_URL="(ENVOI_SMTP_URL is set: mail goes to your relay)"
fi

# The same settings for the CLI in another shell: source .data/env
{
  echo "# Written by make run: source .data/env to use the envoi CLI against this install."
  for v in ENVOI_DATABASE_URL ENVOI_REDIS_URL ENVOI_SMTP_URL ENVOI_SECRET_KEY_FILE ENVOI_BASE_URL ENVOI_QUEUE; do
    [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
  done
  echo 'export PATH="'"$ROOT"'/bin:$PATH"'
} > "$DATA/env"

say "migrating the database"
"$BIN" migrate >&2
"$BIN" list create --slug newsletter --name "Newsletter" --description "News from Envoi, now and then." --if-not-exists >&2
if [ ! -s "$DATA/api_key" ]; then
  (umask 077; "$BIN" apikey create --name "make run" | tail -n 1 > "$DATA/api_key")
fi
# The first owner of the admin UI, with a generated password kept in .data/.
ADMIN_EMAIL="admin@envoi.localhost"
if [ ! -s "$DATA/admin_password" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$DATA/admin_password")
  if "$BIN" user list | grep -qF "$ADMIN_EMAIL"; then
    what="set-password $ADMIN_EMAIL"   # .data/ was cleared but the database kept the account
  else
    what="create --email $ADMIN_EMAIL --role owner"
  fi
  "$BIN" user $what < "$DATA/admin_password" >&2 || {
    rm -f "$DATA/admin_password"; say "could not create the admin account"; exit 1; }
  ADMIN_NEW=" (new)"
fi
BASE="${ENVOI_BASE_URL:-http://127.0.0.1:8080}"

cat >&2 <<MSG

  Envoi is starting.
    Admin UI:      $BASE/admin/   sign in as $ADMIN_EMAIL${ADMIN_NEW:-}
                   password: $(cat "$DATA/admin_password")   (also in .data/admin_password)
    Signup form:   $BASE/subscribe/newsletter
    Mail catcher:  $CATCHER_URL
    API key:       $(cat "$DATA/api_key")   (also in .data/api_key)
    Try the API:   curl -H "Authorization: Bearer \$(cat .data/api_key)" $BASE/api/v1/lists
    Health:        $BASE/readyz
    CLI:           source .data/env   (then: envoi apikey list, envoi campaign watch ID, …)
  Stop with Ctrl-C. Data lives in PostgreSQL database "envoi"; private servers in .data/.

MSG
exec "$BIN" serve
