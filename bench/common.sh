# Sourced by the benchmark scripts: builds envoi and the load tools from
# ../shared/bench, and starts or reuses PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
SHARED=${ENVOI_SHARED_BENCH:-$ROOT/../shared/bench}
OUT="$ROOT/bench/results"; mkdir -p "$OUT"
GOBIN_DIR=$(go env GOPATH)/bin
if [ ! -x "$GOBIN_DIR/formload" ] || [ ! -x "$GOBIN_DIR/smtpblast" ] || [ ! -x "$GOBIN_DIR/smtpsink" ]; then
  (cd "$SHARED" && GOFLAGS=-mod=mod go install ./cmd/...)
fi
# ENVOI_BIN: the binary to measure (default: this tree's, built now). Point it at
# another build (an earlier commit's) to compare the two in the same session.
if [ -z "${ENVOI_BIN:-}" ]; then
  go build -o bin/envoi ./cmd/envoi
  ENVOI_BIN=bin/envoi
fi
eval "$(scripts/services.sh)"
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
