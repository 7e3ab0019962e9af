#!/usr/bin/env bash
# Memory: resident memory idle after start-up, then under a burst of distinct
# renders (COUNT RGB widths from 400 px of the 800x480 surf template, from
# CLIENTS clients at once) with cache.memory = MEMORY, sampled every 100 ms;
# then once the burst is over. Nothing is set in the environment: what the
# binary does by itself is measured.
# Targets: idle <= 20 MiB; peak and final <= cache.memory + 40 MiB.
#
# Needs: cargo, curl, python3. Bounded: COUNT renders.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
COUNT=${COUNT:-600}
CLIENTS=${CLIENTS:-8}
MEMORY=${MEMORY:-16MiB}
PORT=${PORT:-18192}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin inkspot

offline_config "$work/offline.toml" "$work/cache"
python3 - "$work/offline.toml" "$MEMORY" <<'PY'
import sys
path, memory = sys.argv[1], sys.argv[2]
text = open(path).read()
text = text.replace("[cache]\n", f'[cache]\nmemory = "{memory}"\nmax_disk = "1GiB"\n', 1)
text = text.replace("[server]\n", "[server]\nrender_queue = 64\nrenders_per_client = 64\n", 1) if "[server]\n" in text else "[server]\nrender_queue = 64\nrenders_per_client = 64\n" + text
open(path, "w").write(text)
PY
env -u MALLOC_ARENA_MAX RUST_LOG=warn ./target/release/inkspot serve --config "$work/offline.toml" --listen "127.0.0.1:$PORT" &
pid=$!
pids+=($pid)
wait_ready "http://127.0.0.1:$PORT"
sleep 1
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
echo "idle after start-up: $(rss) MiB (target <= 20 MiB)"
( while kill -0 "$pid" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$pid/status"; sleep 0.1; done ) > "$work/rss" &
pids+=($!)
seq 400 $((400 + COUNT - 1)) | xargs -P "$CLIENTS" -I{} \
  sh -c "curl -sf -o /dev/null 'http://127.0.0.1:$PORT/image?spot=linda-mar&width={}' || echo failed" > "$work/failures"
sleep 2
final=$(rss)
python3 - "$work/rss" "$MEMORY" "$final" "$(wc -l < "$work/failures")" "$COUNT" <<'PY'
import sys
mb = [int(x) / 1024 for x in open(sys.argv[1]).read().split()]
cache = float(sys.argv[2].removesuffix("MiB"))
final, failed, count = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{count} distinct renders, {failed} failed")
print(f"peak {max(mb):.1f} MiB = cache.memory ({cache:.0f} MiB) + {max(mb) - cache:.1f} MiB; "
      f"final {final:.1f} MiB = + {final - cache:.1f} MiB (target: both <= + 40 MiB)")
PY
