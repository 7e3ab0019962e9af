#!/usr/bin/env bash
# Renders over HTTP: every request asks for a variant not drawn before
# (1-bit, sizes within 3% of 800x480), so each one is a full render from
# cached data. The server is pinned to SERVER_CPUS and wrk to WRK_CPUS.
# Prints renders per second, per server core, and the time per render next
# to criterion's pipeline median (`cargo bench -- pipeline`), when present
# (target: <= 1.3x).
#
# Needs: cargo, wrk, taskset. Bounded: one DURATION run after a warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-4}
split_cpus
PORT=${PORT:-18184}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
for tool in wrk taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
cargo build --release --quiet --bin inkspot

offline_config "$work/offline.toml" "$work/cache"
RUST_LOG=warn taskset -c "$SERVER_CPUS" ./target/release/inkspot serve --config "$work/offline.toml" --listen "127.0.0.1:$PORT" &
pids+=($!)
wait_ready "http://127.0.0.1:$PORT"
# Warm-up: the data is fetched once and cached; fonts are loaded.
curl -sf "http://127.0.0.1:$PORT/image?spot=linda-mar&bits=1" -o /dev/null

# 40 widths x 20 heights = 800 variants, shared out between wrk's threads.
cat > "$work/variants.lua" <<'LUA'
-- Each thread has its own Lua state: its number comes from setup, the
-- number of threads from the script's arguments.
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  n = 0
  step = tonumber(args[1])
end
request = function()
  local i = id + n * step
  n = n + 1
  local w = 780 + i % 40
  local h = 470 + math.floor(i / 40) % 20
  return wrk.format(nil, "/image?spot=linda-mar&bits=1&width=" .. w .. "&height=" .. h)
end
LUA
out=$(taskset -c "$WRK_CPUS" wrk -t"$wrk_n" -c"$CONNECTIONS" -d"$DURATION" -s "$work/variants.lua" "http://127.0.0.1:$PORT" -- "$wrk_n")
echo "$out" | grep -E "requests in|Requests/sec|Non-2xx" || true
criterion="target/criterion/surf-800x480/pipeline to 1-bit PNG/new/estimates.json"
python3 - "$out" "$server_n" "$criterion" <<'PY'
import json, os, re, sys
out, cores, crit = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = int(re.search(r'(\d+) requests in', out).group(1))
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
if re.search(r'Non-2xx', out): sys.exit("some renders failed")
if n > 800: print(f"warning: {n} requests for 800 variants: some were cache hits; shorten DURATION")
per = rps / cores
print(f"{rps:.1f} renders/s on {cores} core(s): {per:.1f} per core, {1000 / per:.2f} ms of a core per render")
if os.path.exists(crit):
    median = json.load(open(crit))["median"]["point_estimate"] / 1e6
    print(f"criterion pipeline median {median:.2f} ms: HTTP renders take {1000 / per / median:.2f}x (target <= 1.3x)")
else:
    print("run `cargo bench -- pipeline` first for the comparison with the pipeline median")
PY
