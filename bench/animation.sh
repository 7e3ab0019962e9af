#!/usr/bin/env bash
# Animations through the job API: the time of each job and the server's
# peak resident memory, sampled every 50 ms, for FRAMES frames of the
# shipped Coast map as an animated GIF (global and per-frame palette), an
# APNG and a contact sheet, at WIDTH x HEIGHT, in colour and 1-bit. Frames
# are encoded as they are drawn and written to a file, so the peak should
# not grow with the number of frames: compare FRAMES=8 with FRAMES=48.
# The server is pinned to SERVER_CPUS (default: the first half of the
# cores), and the polling client to WRK_CPUS (the rest).
#
# Needs: cargo, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
split_cpus
FRAMES=${FRAMES:-48}
WIDTH=${WIDTH:-1280}
HEIGHT=${HEIGHT:-800}
PORT=${PORT:-18193}
KEY=bench-key-0123456789abcdef
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin inkspot

offline_config "$work/offline.toml" "$work/cache"
python3 - "$work/offline.toml" "$FRAMES" <<'PY'
import sys
path, frames = sys.argv[1], sys.argv[2]
text = open(path).read()
keys = f'[jobs]\nmax_frames = {frames}\nmax_frame_pixels = 4194304\n\n[[api_keys]]\nname = "bench"\nkey_env = "BENCH_KEY"\nper_minute = 0\n\n'
i = text.index("[[spots]]")
open(path, "w").write(text[:i] + keys + text[i:])
PY
BENCH_KEY=$KEY RUST_LOG=warn taskset -c "$SERVER_CPUS" ./target/release/inkspot serve --config "$work/offline.toml" --listen "127.0.0.1:$PORT" &
pid=$!
pids+=($pid)
base="http://127.0.0.1:$PORT"
wait_ready "$base"
curl -sf -o /dev/null "$base/image?spot=coast"
sleep 1
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
echo "idle after one render of the map: $(rss) MiB"
( while kill -0 "$pid" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$pid/status"; sleep 0.05; done ) > "$work/rss" &
pids+=($!)

# The client on the other cores; taskset runs a program, not a shell word.
curl_bin=$(type -P curl)
curl() { taskset -c "$WRK_CPUS" "$curl_bin" "$@"; }

run() { # name, animation body fields
  local id start status
  start=$(date +%s.%N)
  id=$(curl -sf -H "Authorization: Bearer $KEY" -d "{\"animation\": {\"spot\": \"coast\", \"hours\": {\"to\": $FRAMES}, $2}}" "$base/api/jobs" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  while :; do
    status=$(curl -sf -H "Authorization: Bearer $KEY" "$base/api/jobs/$id")
    case "$status" in *'"status":"done"'* | *'"status":"failed"'*) break ;; esac
    sleep 0.05
  done
  python3 - "$1" "$start" "$(date +%s.%N)" "$status" "$FRAMES" <<'PY'
import json, sys
name, start, end, status, frames = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
size = status.get("result", {}).get("bytes", 0)
print(f"{name:34} {status['status']:6} {end - start:6.2f} s  {(end - start) / frames * 1000:6.1f} ms/frame  {size / 1024:8.0f} KiB")
PY
}
size="\"options\": {\"width\": $WIDTH, \"height\": $HEIGHT}"
gray="\"options\": {\"width\": $WIDTH, \"height\": $HEIGHT, \"bits\": 1}"
echo "$FRAMES frames of ${WIDTH}x${HEIGHT}, server on cores $SERVER_CPUS"
run "gif, global palette, colour" "\"format\": \"gif\", $size"
run "gif, frame palette, colour" "\"format\": \"gif\", \"palette\": \"frame\", $size"
run "gif, 1-bit" "\"format\": \"gif\", $gray"
run "apng, colour" "\"format\": \"apng\", $size"
run "apng, 1-bit" "\"format\": \"apng\", $gray"
run "contact sheet, 1-bit" "\"format\": \"sheet\", $gray"
sleep 0.2
python3 - "$work/rss" <<'PY'
import sys
mb = [int(x) / 1024 for x in open(sys.argv[1]).read().split()]
print(f"peak resident memory during the jobs: {max(mb):.1f} MiB")
PY
