#!/usr/bin/env bash
# `make stop`: stops what `make run` / `make test` started privately: the mail
# catcher, and the PostgreSQL and Redis servers under .data/ (if any). Servers
# that were already running on the standard ports are left alone.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA="$(pwd)/.data"
pkill -f "$(pwd)/bin/envoi mailcatcher" && echo "stop: mail catcher stopped"
if [ -f "$DATA/pg/postmaster.pid" ]; then
  BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$BIN/pg_ctl" -D "$(readlink -f "$DATA/pg")" stop -m fast)
  else
    "$BIN/pg_ctl" -D "$DATA/pg" stop -m fast
  fi
fi
if [ -f "$DATA/redis/redis.pid" ]; then
  kill "$(cat "$DATA/redis/redis.pid")" 2>/dev/null && echo "stop: private Redis stopped"
fi
exit 0
