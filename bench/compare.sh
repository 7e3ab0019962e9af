#!/usr/bin/env bash
# Compares inkspot's render time with other SVG renderers on the same input:
# the shipped surf template filled from the offline demo (800x480).
#
#   inkspot       median of the criterion bench "pipeline to 1-bit PNG"
#                 (fonts loaded once, as in the service)
#   rsvg-convert  one process per image, timed with hyperfine
#   chromium      headless screenshot, one process per image, if installed
#
# Needs: cargo, hyperfine, rsvg-convert (Debian: hyperfine librsvg2-bin).
# Prints each time and inkspot's time as a ratio to it. Bounded: a few
# minutes including the criterion run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for tool in hyperfine rsvg-convert; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install hyperfine librsvg2-bin)"; exit 1; }
done

cargo build --release --quiet
./target/release/inkspot --log-format text render --config examples/offline.toml \
  --spot "Linda Mar" --out "$work/inkspot.png" --svg "$work/surf.svg" >/dev/null

cargo bench --quiet --bench pipeline -- --noplot "pipeline to 1-bit PNG" >/dev/null 2>&1 || \
  cargo bench --quiet --bench pipeline -- "pipeline to 1-bit PNG" >/dev/null
estimates=$(find target/criterion -path '*pipeline to 1-bit PNG/new/estimates.json' | head -1)
inkspot_ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate']/1e6)" "$estimates")

median_ms() { # hyperfine JSON -> median in ms
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median']*1000)" "$1"
}

hyperfine --warmup 3 --runs 30 --export-json "$work/rsvg.json" \
  "rsvg-convert -w 800 -h 480 $work/surf.svg -o $work/rsvg.png" >/dev/null
rsvg_ms=$(median_ms "$work/rsvg.json")

printf '%-28s %8.2f ms\n' "inkspot (in process)" "$inkspot_ms"
printf '%-28s %8.2f ms   inkspot is %.1fx faster\n' "rsvg-convert (process)" "$rsvg_ms" \
  "$(python3 -c "print($rsvg_ms/$inkspot_ms)")"

chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chrome" ]; then
  flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars"
  hyperfine --warmup 1 --runs 10 --export-json "$work/chrome.json" \
    "$chrome $flags --user-data-dir=$work/profile --window-size=800,480 --screenshot=$work/chrome.png file://$work/surf.svg" >/dev/null 2>&1
  chrome_ms=$(median_ms "$work/chrome.json")
  printf '%-28s %8.2f ms   inkspot is %.1fx faster\n' "chromium (process)" "$chrome_ms" \
    "$(python3 -c "print($chrome_ms/$inkspot_ms)")"
else
  echo "chromium not installed: skipped (apt-get install chromium)"
fi
