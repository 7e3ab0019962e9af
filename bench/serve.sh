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

rps() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$1" | awk '/Requests\/sec/ {print $2}'; }
ink_total=0; nginx_total=0
for round in $(seq "$ROUNDS"); do
  i=$(rps "$url"); n=$(rps "http://127.0.0.1:$NGINX_PORT/linda-mar.png")
  printf 'round %d: inkspot %10.0f req/s   nginx %10.0f req/s\n' "$round" "$i" "$n"
  ink_total=$(python3 -c "print($ink_total + $i)"); nginx_total=$(python3 -c "print($nginx_total + $n)")
done
python3 -c "i=$ink_total/$ROUNDS; n=$nginx_total/$ROUNDS; print(f'mean: inkspot {i:.0f} req/s, nginx {n:.0f} req/s, ratio {i/n:.2f} (target >= 0.9)')"
