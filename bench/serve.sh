#!/usr/bin/env bash
# Cache-hit throughput: inkspot serving a cached image against nginx serving
# the same bytes as a static file, on loopback, alternating rounds in one run.
# Prints requests/second of each and the ratio (target: inkspot >= 0.9).
#
# Needs: cargo, wrk, nginx (Debian: wrk nginx-light). Bounded: ROUNDS x 2 x DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
INK_PORT=${INK_PORT:-18181}
NGINX_PORT=${NGINX_PORT:-18182}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light)"; exit 1; }
done
cargo build --release --quiet

# inkspot with the offline demo, its cache in the scratch folder.
sed "s#^dir = \"../cache/offline\"#dir = \"$work/cache\"#; s#file://recorded/#file://$PWD/examples/recorded/#; s#^dir = \"../templates\"#dir = \"$PWD/templates\"#" \
  examples/offline.toml > "$work/offline.toml"
RUST_LOG=warn ./target/release/inkspot serve --config "$work/offline.toml" --listen "127.0.0.1:$INK_PORT" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$INK_PORT/healthz" >/dev/null && break; sleep 0.2; done
url="http://127.0.0.1:$INK_PORT/image?spot=linda-mar&device=trmnl"
mkdir -p "$work/www"
curl -sf "$url" -o "$work/www/linda-mar.png"

cat > "$work/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $work/www;
    location / { add_header Cache-Control "public, max-age=3600"; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
sleep 0.5

# CPU time (user + system, clock ticks) of a process and its children, so
# the server's cost per request can be compared apart from wrk's share of
# the same cores.
ticks() { local t=0 p; for p in "$@" $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)
nginx_pid=$(cat "$work/nginx.pid")
ink_pid=${pids[0]}
# Prints "req/s server-CPU-us-per-request".
measure() {
  local pid=$1 url=$2 before after out
  before=$(ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$url")
  after=$(ticks "$pid")
  python3 -c "
import re, sys
out = sys.argv[1]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
n = int(re.search(r'(\d+) requests in', out).group(1))
print(rps, ($after - $before) / $hz / n * 1e6)" "$out"
}
results=()
for round in $(seq "$ROUNDS"); do
  read -r i icpu < <(measure "$ink_pid" "$url")
  read -r n ncpu < <(measure "$nginx_pid" "http://127.0.0.1:$NGINX_PORT/linda-mar.png")
  printf 'round %d: inkspot %8.0f req/s %5.1f us CPU/req   nginx %8.0f req/s %5.1f us CPU/req\n' "$round" "$i" "$icpu" "$n" "$ncpu"
  results+=("$i $icpu $n $ncpu")
done
printf '%s\n' "${results[@]}" | python3 -c "
import sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
k = len(rows)
i, icpu, n, ncpu = (sum(r[c] for r in rows) / k for c in range(4))
print(f'mean: inkspot {i:.0f} req/s, nginx {n:.0f} req/s, throughput ratio {i/n:.2f} (target >= 0.9)')
print(f'server CPU per request: inkspot {icpu:.1f} us, nginx {ncpu:.1f} us, ratio {ncpu/icpu:.2f}')"
