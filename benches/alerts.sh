#!/usr/bin/env bash
# Benchmark of `grokmon alerts tail` on a generated 1 GiB alerts log (issue 3):
#   - `alerts tail -n 50` against GNU `tail -n 50` (target: within 2x),
#   - `alerts tail --since 1h` (target: under 20 ms),
#   - the same on a 1 MiB log, to show the cost does not grow with the size.
# Warm page cache (the log was just written), release build, hyperfine medians.
# Not a test: run by hand, record the figures in the README.
#
# usage: benches/alerts.sh [SIZE_MIB]   (default 1024; the log goes to /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
dir=${BENCH_DIR:-/tmp/grokmon-bench}
mkdir -p "$dir/home"
big="$dir/alerts-${size}m.log"
small="$dir/alerts-1m.log"

command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }
cargo build --release --quiet
bin="$PWD/target/release/grokmon"

# --since 1h needs lines from the last hour: regenerate logs older than 30 min.
for spec in "$big:$size" "$small:1"; do
    f=${spec%%:*}; s=${spec##*:}
    if [ ! -f "$f" ] || [ -n "$(find "$f" -mmin +30)" ]; then
        python3 benches/gen_alerts_log.py "$f" "$s"
    fi
done

cfg_for() {
    printf '[paths]\nalerts_log = "%s"\nstate = "%s/home/state.db"\n' "$1" "$dir" > "$2"
}
cfg_big="$dir/big.toml"; cfg_small="$dir/small.toml"
cfg_for "$big" "$cfg_big"; cfg_for "$small" "$cfg_small"

export HOME="$dir/home" NO_COLOR=1
hyperfine -N --warmup 5 --runs 50 --export-markdown "$dir/results.md" --export-json "$dir/results.json" \
    -n "GNU tail -n 50 (${size} MiB)" "tail -n 50 $big" \
    -n "grokmon alerts tail -n 50 (${size} MiB)" "$bin --config $cfg_big alerts tail -n 50" \
    -n "grokmon alerts tail -n 50 (1 MiB)" "$bin --config $cfg_small alerts tail -n 50" \
    -n "grokmon alerts tail --since 1h (${size} MiB)" "$bin --config $cfg_big alerts tail --since 1h" \
    -n "grokmon alerts tail --since 1h (1 MiB)" "$bin --config $cfg_small alerts tail --since 1h"

echo
echo "lines printed by --since 1h: $("$bin" --config "$cfg_big" alerts tail --since 1h | wc -l)"
echo "peak memory (max RSS) of --since 1h and -n 50 on the ${size} MiB log:"
for args in "--since 1h" "-n 50"; do
    # shellcheck disable=SC2086
    /usr/bin/time -v "$bin" --config "$cfg_big" alerts tail $args 2>&1 >/dev/null | grep 'Maximum resident' | sed "s/^/  $args: /"
done
python3 - "$dir/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print("\nmedians:")
for x in r:
    print(f"  {x['command']:<48} {x['median'] * 1000:8.2f} ms")
PY
