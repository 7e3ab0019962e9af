#!/usr/bin/env bash
# Runs every fuzz target for a while (default 300 s each), seeded from the
# recorded pages and configs in the repository. A crash leaves its input in
# fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ so
# `cargo test --test fuzz_regressions` keeps it fixed.
#
#   fuzz/run.sh            # 300 s per target
#   fuzz/run.sh 60 query   # 60 s, one target
#
# Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(extract config query)

seed() {
    local target=$1 dir="fuzz/corpus/$1"
    mkdir -p "$dir"
    case "$target" in
    extract)
        # First byte: 0 html, 1 json, 2 text.
        for f in examples/recorded/*; do
            case "$f" in
            *.html) kind='\x00' ;;
            *.json) kind='\x01' ;;
            *) kind='\x02' ;;
            esac
            { printf "$kind"; cat "$f"; } >"$dir/seed-$(basename "$f")"
        done
        ;;
    config)
        cp config.toml "$dir/seed-config.toml"
        cp examples/offline.toml "$dir/seed-offline.toml"
        ;;
    query)
        printf 'spot=Linda%%20Mar' >"$dir/seed-1"
        printf 'spot=linda-mar&device=trmnl' >"$dir/seed-2"
        printf 'spot=x&width=600&height=800&bits=2&dither=atkinson&rotate=90&invert=true&format=bmp' >"$dir/seed-3"
        ;;
    esac
    if [ -d "fuzz/regressions/$target" ]; then
        cp fuzz/regressions/"$target"/* "$dir"/ 2>/dev/null || true
    fi
}

for target in "${targets[@]}"; do
    seed "$target"
    echo "== $target: ${seconds}s"
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Crash)' || true
    if [ -n "$(ls -A "fuzz/artifacts/$target" 2>/dev/null)" ]; then
        echo "!! $target found crashes: fuzz/artifacts/$target" >&2
        exit 1
    fi
done
