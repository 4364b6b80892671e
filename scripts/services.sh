#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer, then prints `export` lines for them on
# stdout (progress goes to stderr). It reuses servers already answering on the
# standard ports (5432, 6379) and otherwise installs (Debian packages) and starts
# private ones with their data under .data/ (git-ignored), on ports 55432 and
# 56379. `services.sh test` also installs Debian's chromium for browser tests.
#   eval "$(scripts/services.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="$ROOT/.data"
mkdir -p "$DATA"
PG_PORT_PRIVATE=${ENVOI_PRIVATE_PG_PORT:-55432}
REDIS_PORT_PRIVATE=${ENVOI_PRIVATE_REDIS_PORT:-56379}

say() { echo "services: $*" >&2; }
die() { echo "services: error: $*" >&2; exit 1; }

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null && SUDO="sudo -n"
fi
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then die "need root (or sudo) to install $*"; fi
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  say "installing $* (Debian packages)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || die "could not install $*"
}

pg_usable() { # url
  command -v psql >/dev/null || return 0 # cannot check; trust the port
  PGCONNECT_TIMEOUT=3 psql "$1" -tAc 'SELECT 1' >/dev/null 2>&1
}

pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# --- PostgreSQL ---------------------------------------------------------------
PG_URL=""
if answers 127.0.0.1 5432 && pg_usable "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; then
  PG_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  say "PostgreSQL: reusing the server on 127.0.0.1:5432"
elif answers 127.0.0.1 "$PG_PORT_PRIVATE"; then
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT_PRIVATE/postgres?sslmode=disable"
  say "PostgreSQL: private server already running on 127.0.0.1:$PG_PORT_PRIVATE"
else
  BIN=$(pg_bindir)
  if [ -z "$BIN" ]; then
    apt_install postgresql postgresql-client
    BIN=$(pg_bindir)
    [ -n "$BIN" ] || die "PostgreSQL binaries not found after install"
  fi
  PGDATA="$DATA/pg"
  RUNAS=()
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root: run the server as the postgres user, which
    # must be able to reach the data folder.
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/sh postgres
    RUNAS=(runuser -u postgres --)
    if [ ! -e "$PGDATA" ] && ! runuser -u postgres -- test -x "$DATA"; then
      alt="/var/tmp/envoi-pg-$(echo -n "$ROOT" | sha1sum | cut -c1-12)"
      say "PostgreSQL: $DATA is not reachable by user postgres; keeping the data in $alt (linked from .data/pg)"
      mkdir -p "$alt" && chown postgres: "$alt" && chmod 700 "$alt"
      ln -sfn "$alt" "$PGDATA"
    fi
    mkdir -p "$PGDATA"
    chown -R postgres: "$(readlink -f "$PGDATA")"
  fi
  cd / # the postgres user may not be allowed into the current folder
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "PostgreSQL: initdb in $PGDATA"
    "${RUNAS[@]}" "$BIN/initdb" -D "$(readlink -f "$PGDATA")" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >&2 \
      || "${RUNAS[@]}" "$BIN/initdb" -D "$(readlink -f "$PGDATA")" -U postgres --auth=trust -E UTF8 >&2
  fi
  say "PostgreSQL: starting a private server on 127.0.0.1:$PG_PORT_PRIVATE"
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$(readlink -f "$PGDATA")" -l "$(readlink -f "$PGDATA")/server.log" -w -t 60 \
    -o "-p $PG_PORT_PRIVATE -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=300" start >&2 \
    || die "PostgreSQL did not start; see $PGDATA/server.log"
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT_PRIVATE/postgres?sslmode=disable"
  cd "$ROOT"
fi

# --- Redis --------------------------------------------------------------------
REDIS_URL=""
if answers 127.0.0.1 6379; then
  REDIS_URL="redis://127.0.0.1:6379/0"
  say "Redis: reusing the server on 127.0.0.1:6379"
elif answers 127.0.0.1 "$REDIS_PORT_PRIVATE"; then
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT_PRIVATE/0"
  say "Redis: private server already running on 127.0.0.1:$REDIS_PORT_PRIVATE"
else
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$DATA/redis"
  say "Redis: starting a private server on 127.0.0.1:$REDIS_PORT_PRIVATE"
  redis-server --port "$REDIS_PORT_PRIVATE" --bind 127.0.0.1 --daemonize yes --dir "$DATA/redis" \
    --save "" --appendonly no --pidfile "$DATA/redis/redis.pid" --logfile "$DATA/redis/redis.log" >&2
  for _ in $(seq 1 50); do answers 127.0.0.1 "$REDIS_PORT_PRIVATE" && break; sleep 0.1; done
  answers 127.0.0.1 "$REDIS_PORT_PRIVATE" || die "Redis did not start; see $DATA/redis/redis.log"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT_PRIVATE/0"
fi

# --- Browser and an independent DKIM verifier for tests ---------------------------
if [ "${1:-}" = "test" ]; then
  command -v chromium >/dev/null || apt_install chromium
  # The fault tests start private Redis servers (restart, Sentinel, Cluster) even when a shared one answers.
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-cli >/dev/null || apt_install redis-tools
  /usr/bin/python3 -c 'import dkim' 2>/dev/null || apt_install python3-dkim
  # axe-core (accessibility checks inside the browser tests), from the npm registry.
  AXE_VERSION=4.14.1
  if [ ! -s "$DATA/axe-core-$AXE_VERSION/axe.min.js" ]; then
    command -v npm >/dev/null || apt_install npm
    say "axe-core $AXE_VERSION: fetching from the npm registry"
    mkdir -p "$DATA/axe-core-$AXE_VERSION"
    (cd "$DATA/axe-core-$AXE_VERSION" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null &&
      tar xzf "axe-core-$AXE_VERSION.tgz" --strip-components=1 package/axe.min.js && rm -f "axe-core-$AXE_VERSION.tgz") >&2 ||
      die "could not fetch axe-core from the npm registry"
  fi
  echo "export ENVOI_TEST_AXE='$DATA/axe-core-$AXE_VERSION/axe.min.js'"
fi

echo "export ENVOI_ADMIN_DATABASE_URL='$PG_URL'"
echo "export ENVOI_SERVICES_REDIS_URL='$REDIS_URL'"
