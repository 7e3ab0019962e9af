#!/usr/bin/env bash
# Cache-hit throughput of two inkspot binaries, A and B, alternated over
# ROUNDS on the same pinned cores, with the default log level (info), as a
# service runs: for measuring what a change to the request path costs.
#
#   bench/ab.sh /path/to/inkspot-before ./target/release/inkspot
#
# Needs: wrk, taskset. Bounded: ROUNDS x 2 x DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
A=${1:?binary A}
B=${2:?binary B}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18191}
split_cpus
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
offline_config "$work/offline.toml" "$work/cache"
url="http://127.0.0.1:$PORT/image?spot=linda-mar&device=trmnl"

round() { # binary label
  taskset -c "$SERVER_CPUS" "$1" serve --config "$work/offline.toml" --listen "127.0.0.1:$PORT" 2>/dev/null &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT"
  curl -sf -o /dev/null "$url"
  local out
  out=$(taskset -c "$WRK_CPUS" wrk -t"$wrk_n" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  printf '%s %s p99 %s\n' "$2" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | awk '$1 == "99%" {print $2}')"
}

echo "server on CPUs $SERVER_CPUS, wrk on CPUs $WRK_CPUS, $CONNECTIONS connections, $DURATION rounds"
for _ in $(seq "$ROUNDS"); do
  round "$A" A
  round "$B" B
done
