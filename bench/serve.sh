#!/usr/bin/env bash
# Cache-hit throughput and latency, measured fairly: inkspot serving a cached
# image, against nginx serving the same bytes as a static file (sendfile) and
# a bare hyper server answering the same bytes and headers (the framework's
# floor). Each server is pinned to SERVER_CPUS and wrk to WRK_CPUS, so that
# neither takes CPU from the other; the servers alternate over ROUNDS.
# Prints req/s, server CPU per request, p50 and p99 latency, and the ratios
# (targets: inkspot >= 0.9 of nginx's req/s; p99 within 1.2x nginx's).
#
# Needs: cargo, wrk, nginx, taskset (Debian: wrk nginx-light util-linux).
# Bounded: ROUNDS x 3 x DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
split_cpus
INK_PORT=${INK_PORT:-18181}
NGINX_PORT=${NGINX_PORT:-18182}
BARE_PORT=${BARE_PORT:-18183}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light util-linux)"; exit 1; }
done
cargo build --release --quiet --bin inkspot --example bare_hit
echo "server on CPUs $SERVER_CPUS ($server_n), wrk on CPUs $WRK_CPUS ($wrk_n threads), $CONNECTIONS connections, $DURATION rounds"

# inkspot with the offline demo, its cache in the scratch folder.
offline_config "$work/offline.toml" "$work/cache"
RUST_LOG=warn taskset -c "$SERVER_CPUS" ./target/release/inkspot serve --config "$work/offline.toml" --listen "127.0.0.1:$INK_PORT" &
pids+=($!)
ink_pid=$!
wait_ready "http://127.0.0.1:$INK_PORT"
ink_url="http://127.0.0.1:$INK_PORT/image?spot=linda-mar&device=trmnl"
# nginx's workers run as another user: the folder and file must be readable.
chmod 755 "$work"
mkdir -p "$work/www"
curl -sf "$ink_url" -o "$work/www/linda-mar.png"
chmod 644 "$work/www/linda-mar.png"

cat > "$work/nginx.conf" <<CONF
worker_processes $server_n;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=16 inactive=60s;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $work/www;
    location / { add_header Cache-Control "public, max-age=3600"; }
  }
}
CONF
taskset -c "$SERVER_CPUS" nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
taskset -c "$SERVER_CPUS" ./target/release/examples/bare_hit "$work/www/linda-mar.png" "$BARE_PORT" &
pids+=($!)
bare_pid=$!
sleep 0.5
nginx_pid=$(cat "$work/nginx.pid")
nginx_url="http://127.0.0.1:$NGINX_PORT/linda-mar.png"
bare_url="http://127.0.0.1:$BARE_PORT/"

# The three must serve the same bytes, or the comparison means nothing.
for url in "$nginx_url" "$bare_url"; do
  curl -sf "$url" -o "$work/check.png" || { echo "no answer from $url"; exit 1; }
  cmp -s "$work/check.png" "$work/www/linda-mar.png" || { echo "$url serves other bytes"; exit 1; }
done

# CPU time (user + system, clock ticks) of a process and its children.
ticks() { local t=0 p; for p in "$@" $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)
# Prints "req/s server-CPU-us-per-request p50-us p99-us".
measure() {
  local pid=$1 url=$2 before after out
  before=$(ticks "$pid")
  out=$(taskset -c "$WRK_CPUS" wrk --latency -t"$wrk_n" -c"$CONNECTIONS" -d"$DURATION" "$url")
  after=$(ticks "$pid")
  python3 - "$out" "$before" "$after" "$hz" <<'PY'
import re, sys
out, before, after, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def us(v, unit): return float(v) * {'us': 1, 'ms': 1e3, 's': 1e6}[unit]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
n = int(re.search(r'(\d+) requests in', out).group(1))
errors = re.search(r'Non-2xx or 3xx responses: (\d+)|Socket errors', out)
if errors: sys.exit(f"errors during the run:\n{out}")
p = {k: us(v, u) for k, v, u in re.findall(r'^\s+(50|99)%\s+([\d.]+)(us|ms|s)$', out, re.M)}
print(rps, (after - before) / hz / n * 1e6, p['50'], p['99'])
PY
}
results=()
for round in $(seq "$ROUNDS"); do
  read -r i icpu ip50 ip99 < <(measure "$ink_pid" "$ink_url")
  read -r b bcpu bp50 bp99 < <(measure "$bare_pid" "$bare_url")
  read -r n ncpu np50 np99 < <(measure "$nginx_pid" "$nginx_url")
  printf 'round %d: inkspot %7.0f req/s %5.1f us CPU p50 %6.0f us p99 %6.0f us | bare hyper %7.0f req/s %5.1f us | nginx %7.0f req/s %5.1f us CPU p50 %6.0f us p99 %6.0f us\n' \
    "$round" "$i" "$icpu" "$ip50" "$ip99" "$b" "$bcpu" "$n" "$ncpu" "$np50" "$np99"
  results+=("$i $icpu $ip50 $ip99 $b $bcpu $n $ncpu $np50 $np99")
done
printf '%s\n' "${results[@]}" | python3 -c "
import sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
m = [sum(r[c] for r in rows) / len(rows) for c in range(10)]
i, icpu, ip50, ip99, b, bcpu, n, ncpu, np50, np99 = m
print(f'mean: inkspot {i:.0f} req/s ({icpu:.1f} us CPU, p50 {ip50:.0f} us, p99 {ip99:.0f} us); bare hyper {b:.0f} req/s ({bcpu:.1f} us); nginx {n:.0f} req/s ({ncpu:.1f} us, p50 {np50:.0f} us, p99 {np99:.0f} us)')
print(f'inkspot / nginx: throughput {i/n:.2f} (target >= 0.9), p99 {ip99/np99:.2f}x (target <= 1.2x); bare hyper / nginx: {b/n:.2f}')"
