#!/usr/bin/env bash
# Hostile clients for two minutes: 2,000 idle sockets and 100 slowloris
# sockets held against the release binary, reopened as the server closes
# them, while a display polls /image every 200 ms on a new connection.
# Prints the polls' latency, the connections the server closed and why,
# and its memory and open files at the end.
#
#   cargo build --release && bench/soak.sh
#
# The server runs under `ulimit -n $SERVER_NOFILE` (default 4096), on the
# first half of the cores; the attackers and the poller on the rest.
# Needs: python3, taskset, curl. Bounded: SECONDS_RUN (default 120).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
BIN=${BIN:-./target/release/inkspot}
PORT=${PORT:-18193}
SERVER_NOFILE=${SERVER_NOFILE:-4096}
export SECONDS_RUN=${SECONDS_RUN:-120} IDLE=${IDLE:-2000} SLOW=${SLOW:-100}
split_cpus
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
offline_config "$work/offline.toml" "$work/cache"
base="http://127.0.0.1:$PORT"

( ulimit -n "$SERVER_NOFILE"; exec taskset -c "$SERVER_CPUS" "$BIN" serve --config "$work/offline.toml" --listen "127.0.0.1:$PORT" ) 2>"$work/log" &
pid=$!
wait_ready "$base"
curl -sf -o /dev/null "$base/image?spot=linda-mar&device=trmnl"
echo "server on CPUs $SERVER_CPUS (ulimit -n $SERVER_NOFILE), attackers on CPUs $WRK_CPUS: $IDLE idle, $SLOW slowloris, ${SECONDS_RUN}s"
PORT=$PORT SOAK_SECONDS=$SECONDS_RUN taskset -c "$WRK_CPUS" python3 bench/soak.py
curl -sf "$base/metrics" | grep -E '^inkspot_connections_(closed_total|open)' || true
echo "server: $(awk '/VmHWM|VmRSS/ {printf "%s %s %s  ", $1, $2, $3}' /proc/$pid/status)open files $(ls /proc/$pid/fd | wc -l)"
if grep -q "Too many open files" "$work/log"; then echo "the log says: Too many open files"; fi
