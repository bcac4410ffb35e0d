#!/usr/bin/env bash
# benches/check.sh N times in a row, each a run of its own (fresh state, one
# hyperfine invocation), then the spread of the runs' medians: on a shared
# VM whose speed moves by 20-30 % within a minute, one run says little about
# a target at the edge (issue #15: median <= 5 ms and >= 2x the plugins).
#
# Usage: benches/check_series.sh N [BIN]
# Env: passed on to benches/check.sh (RUNS, default 300 here; BASELINE;
#   HISTORY_DAYS; UNIT; API). INTERLEAVE is not passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: benches/check_series.sh N [BIN]}
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$n"); do
    echo "== run $i of $n, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    RUNS=${RUNS:-300} INTERLEAVE='' benches/check.sh "$@" 2>&1 |
        grep -E '^(grokmon check|check_load|sh -c :|baseline check|systemctl show|plugins /|peak RSS)' | tee -a "$out"
done
python3 - "$out" <<'PY'
import re, statistics, sys

runs = open(sys.argv[1]).read().split("== run ")[1:]
rows = []
for r in runs:
    def med(name):
        m = re.search(re.escape(name) + r": median ([\d.]+) ms", r)
        return float(m.group(1)) if m else None
    g, p, s, b = med("grokmon check"), med("check_load + check_disk + check_http"), med("sh -c :"), med("baseline check")
    if g and p and s:
        rows.append({"grokmon": g, "plugins": p, "sh": s, "baseline": b,
                     "ratio": p / g, "ratio_wo_sh": (p - s) / g})
if not rows:
    sys.exit("no complete run")
print(f"== {len(rows)} runs: median of the runs' medians (lowest-highest)")
for k, label in [("grokmon", "grokmon check, ms"), ("plugins", "plugins, ms"), ("baseline", "baseline, ms"),
                 ("ratio", "plugins / grokmon"), ("ratio_wo_sh", "same without sh -c")]:
    v = [r[k] for r in rows if r[k] is not None]
    if v:
        print(f"  {label}: {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})")
both = sum(1 for r in rows if r["grokmon"] <= 5 and r["ratio"] >= 2)
strict = sum(1 for r in rows if r["grokmon"] <= 5 and r["ratio_wo_sh"] >= 2)
print(f"  runs with median <= 5 ms and >= 2x: {both} of {len(rows)} ({strict} without the plugins' sh -c)")
PY
