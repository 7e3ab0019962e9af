#!/usr/bin/env bash
# Hostile clients for two minutes: 2,000 idle sockets and 100 slowloris
# sockets held from one address against the release binary, reopened as
# the server closes them, while a display polls /image every 200 ms on a
# new connection from another address.
# Prints the polls' latency, the connections the server closed and why,
# and its memory and open files at the end.
#
#   cargo build --release && bench/soak.sh
#
# The server runs under `ulimit -n $SERVER_NOFILE` (default 4096), on the
# first half of the cores; the attackers and the poller on the rest.
# A socket closed at once (past the client's share) is opened again after
# REFUSED_WAIT seconds (default 1; 0 floods connects).
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
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
offline_config "$work/offline.toml" "$work/cache"
# Loopback clients counted as the internet's are (the attackers and the
# display are all on this machine), the request rate left unlimited so the
# display's polls are not what is measured.
python3 - "$work/offline.toml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace("[server]\n", "[server]\nrate_limit = { loopback = true, per_minute = 0 }\n", 1)
open(path, "w").write(text)
PY
base="http://127.0.0.1:$PORT"

( ulimit -n "$SERVER_NOFILE"; exec taskset -c "$SERVER_CPUS" "$BIN" serve --config "$work/offline.toml" --listen "127.0.0.1:$PORT" ) 2>"$work/log" &
pid=$!
wait_ready "$base"
curl -sf -o /dev/null "$base/image?spot=linda-mar&device=trmnl"
echo "server on CPUs $SERVER_CPUS (ulimit -n $SERVER_NOFILE), attackers on CPUs $WRK_CPUS: $IDLE idle, $SLOW slowloris, ${SECONDS_RUN}s"
export PORT SOAK_SECONDS=$SECONDS_RUN
taskset -c "$WRK_CPUS" python3 bench/soak.py attack > "$work/attack" &
attackers=$!
taskset -c "$WRK_CPUS" python3 bench/soak.py poll
wait "$attackers"
cat "$work/attack"
curl -sf "$base/metrics" | grep -E '^inkspot_connections_(closed_total|open)' || true
echo "server: $(awk '/VmHWM|VmRSS/ {printf "%s %s %s  ", $1, $2, $3}' /proc/$pid/status)open files $(ls /proc/$pid/fd | wc -l)"
if grep -q "Too many open files" "$work/log"; then echo "the log says: Too many open files"; fi
