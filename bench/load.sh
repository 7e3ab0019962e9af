#!/usr/bin/env bash
# Load test: wrk on loopback against the release build serving 20 spots from
# the offline demo's recorded pages, for DURATION (default 60 s), mixing
#   55% cache hits            /image?spot=sN&device=trmnl
#   20% conditional requests  the same with the image's ETag (304)
#   15% new variants          &width=400..1200, drawn on demand (misses)
#   10% bad requests          unknown spot (404), bits=3 / unknown parameter (400)
# A second wrk on one connection asks only for a cached image meanwhile, for
# the latency a polling device sees under that load.
# It prints the answers by status, p50/p99 latency, and the service's
# resident memory sampled every second, which must stay flat. A warm-up of
# the same mix (WARMUP, default 60 s) runs first, unmeasured, so the caches
# (memory capped at 8 MiB, folder at 32 MiB here) and the allocator have
# filled; memory growth during the measured run is then a leak.
#
# Needs: cargo, wrk, curl, python3 (Debian: wrk curl).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-60}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18191}
MEMORY=${MEMORY:-8MiB}
SPOTS=20
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "missing wrk (apt-get install wrk)"; exit 1; }
cargo build --release --quiet

# 20 copies of Linda Mar from the offline demo, named s0..s19.
python3 - "$work" "$PWD" "$SPOTS" "$MEMORY" <<'PY'
import re, sys
work, repo, n, memory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
text = open(f"{repo}/examples/offline.toml").read()
blocks = text.split("[[spots]]")
spot = "[[spots]]" + blocks[1]
spot = spot.replace("file://recorded/", f"file://{repo}/examples/recorded/")
head = f"""[templates]
dir = "{repo}/templates"
[cache]
dir = "{work}/cache"
memory = "{memory}"
max_disk = "32MiB"
[server.rate_limit]
per_minute = 0
"""
spots = [re.sub(r'name = "Linda Mar"', f'name = "s{i}"', spot, count=1) for i in range(n)]
open(f"{work}/load.toml", "w").write(head + "\n".join(spots))
PY

RUST_LOG=warn ./target/release/inkspot serve --config "$work/load.toml" --listen "127.0.0.1:$PORT" &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

# Warm every spot and note its ETag for the conditional requests.
etags=()
for i in $(seq 0 $((SPOTS - 1))); do
  etag=$(curl -sf -D - -o /dev/null "http://127.0.0.1:$PORT/image?spot=s$i&device=trmnl" | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')
  etags+=("'$etag'")
done
lua_etags=$(IFS=,; echo "${etags[*]}")

cat > "$work/mix.lua" <<LUA
local etags = { $lua_etags }
local spots = $SPOTS
local counts = {}
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  c200, c304, c400, c404, c429, c503, cother = 0, 0, 0, 0, 0, 0, 0
  chit, cmiss, cstale = 0, 0, 0
end

function request()
  local r = math.random(100)
  local s = math.random(0, spots - 1)
  local path = "/image?spot=s" .. s .. "&device=trmnl"
  if r <= 55 then
    return wrk.format("GET", path)
  elseif r <= 75 then
    return wrk.format("GET", path, { ["If-None-Match"] = etags[s + 1] })
  elseif r <= 90 then
    return wrk.format("GET", path .. "&width=" .. math.random(400, 1200))
  elseif r <= 94 then
    return wrk.format("GET", "/image?spot=nowhere-" .. r)
  elseif r <= 97 then
    return wrk.format("GET", path .. "&bits=3")
  else
    return wrk.format("GET", path .. "&colour=red")
  end
end

function response(status, headers, body)
  local cache = headers["x-cache"]
  if cache == "hit" then chit = chit + 1
  elseif cache == "miss" then cmiss = cmiss + 1
  elseif cache == "stale" then cstale = cstale + 1 end
  if status == 200 then c200 = c200 + 1
  elseif status == 304 then c304 = c304 + 1
  elseif status == 400 then c400 = c400 + 1
  elseif status == 404 then c404 = c404 + 1
  elseif status == 429 then c429 = c429 + 1
  elseif status == 503 then c503 = c503 + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local t = { c200 = 0, c304 = 0, c400 = 0, c404 = 0, c429 = 0, c503 = 0, cother = 0,
              chit = 0, cmiss = 0, cstale = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests %d in %.1f s (%.0f req/s)\n", summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6)))
  io.write(string.format("status 200 %d, 304 %d, 400 %d, 404 %d | 429 %d, 503 %d, other %d, socket errors %d\n",
    t.c200, t.c304, t.c400, t.c404, t.c429, t.c503, t.cother, errors))
  io.write(string.format("X-Cache hit %d, miss %d, stale %d\n", t.chit, t.cmiss, t.cstale))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("unintended errors: %d\n", t.c429 + t.c503 + t.cother + errors))
end
LUA

rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
echo "memory before warm-up: $(rss) MiB"
if [ "$WARMUP" -gt 0 ]; then
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 10s -s "$work/mix.lua" "http://127.0.0.1:$PORT" > /dev/null
  # Renders the warm-up's clients left behind still run as their own jobs
  # and hold places in the render queue: let them finish.
  sleep 5
  echo "memory after ${WARMUP}s warm-up: $(rss) MiB"
fi

# Resident memory once a second while wrk runs.
( while kill -0 "$pid" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$pid/status"; sleep 1; done ) > "$work/rss" &
sampler=$!
# Beside the mix, one connection asking only for a cached image: what a
# device polling a warm spot sees while the service is under load.
wrk -t1 -c1 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/image?spot=s0&device=trmnl" > "$work/probe" &
probe=$!
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$work/mix.lua" "http://127.0.0.1:$PORT"
wait "$probe"
kill "$sampler" 2>/dev/null || true
awk '/ 50%/ {p50=$2} / 99%/ {p99=$2} /Non-2xx/ {bad=$5} END {printf "cache hits on a separate connection meanwhile: p50 %s, p99 %s, non-2xx %s\n", p50, p99, bad ? bad : 0}' "$work/probe"
python3 - "$work/rss" "$MEMORY" <<'PY'
import sys
kb = [int(x) for x in open(sys.argv[1]).read().split()]
cache = float(sys.argv[2].removesuffix("MiB"))
mb = [k / 1024 for k in kb]
n = len(mb)
third = max(1, n // 3)
first, last = mb[:third], mb[-third:]
print(f"memory (RSS) start {mb[0]:.1f} MiB, peak {max(mb):.1f} MiB, "
      f"max in first third {max(first):.1f} MiB, max in last third {max(last):.1f} MiB "
      f"({n} samples)")
growth = max(last) - max(mb[third:2 * third] or first)
print(f"growth over the last third: {growth:+.1f} MiB")
step = max(1, n // 12)
print("RSS every " + str(step) + " s (MiB): " + " ".join(f"{m:.0f}" for m in mb[::step]))
print(f"cache.memory {cache:.0f} MiB: peak RSS is cache.memory + {max(mb) - cache:.1f} MiB, "
      f"final + {mb[-1] - cache:.1f} MiB (target: <= + 40 MiB)")
PY
