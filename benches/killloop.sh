#!/usr/bin/env bash
# Reliability bench (issue #10), not a CI test: ROUNDS rounds of a `check`
# killed with SIGKILL at a random instant, then the same check run to the
# end. The API alternates between down and up every round (confirm_after = 1),
# so every round must add exactly one alert line, CRIT or OK in turn:
#   lost       a round that added no line for its transition
#   duplicated a round that added its line more than once
#   phantom    a line of the wrong level for the round (e.g. a CRIT that the
#              state never knew it wrote, so the next round has no OK for it)
#   torn       a line of the log that does not parse
#
# Usage: benches/killloop.sh [BIN]   (default: target/debug/grokmon; the
#   figures are counts, not times, so a debug build serves)
# Env: ROUNDS (default 1000), MAX_DELAY_MS (kill instant drawn uniformly in
#   [0, MAX_DELAY_MS]; default: 1.5 x the median unkilled check, measured first).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/grokmon}")
[ -x "$bin" ] || cargo build --locked
rounds=${ROUNDS:-1000}

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/www/api" "$work/home"
printf '{"status":"healthy"}' >"$work/www/api/health"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
    sleep 0.1
done
log="$work/alerts.log"
config() { # $1: up|down
    local url="http://127.0.0.1:$closed/api/health"
    [ "$1" = up ] && url="http://127.0.0.1:$port/api/health"
    printf '[paths]\nalerts_log = "%s"\nstate = "%s/state.db"\n[check]\nconfirm_after = 1\n%sprobes = ["api"]\n[check.api]\nurl = "%s"\ntimeout = "2s"\n' \
        "$log" "$work" "$flap" "$url" >"$work/config.toml"
}
# The API flips every round: flap detection (where the binary has it) would
# rightly turn that into one "flapping" line; the loop counts transitions.
flap=$'flap_detection = false\n'
config down
env -i HOME="$work/home" PATH=/usr/bin:/bin "$bin" --config "$work/config.toml" alerts tail -n 0 >/dev/null 2>&1 || flap=''
check() { env -i HOME="$work/home" PATH=/usr/bin:/bin "$bin" --config "$work/config.toml" check --quiet >/dev/null 2>&1 || true; }
nlines() { [ -f "$log" ] && wc -l <"$log" || echo 0; }

if [ -z "${MAX_DELAY_MS:-}" ]; then
    config down
    ts=()
    for _ in $(seq 21); do
        s=$(date +%s%N); check; e=$(date +%s%N); ts+=($(( (e - s) / 1000 )))
    done
    med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 11p)
    MAX_DELAY_MS=$(( med * 3 / 2000 + 1 ))
    rm -f "$log" "$work"/state.db*
fi
echo "binary: $bin"
echo "rounds: $rounds, kill instant uniform in [0, ${MAX_DELAY_MS} ms]"

lost=0 dup=0 phantom=0 killed=0 state=up
for i in $(seq "$rounds"); do
    if [ "$state" = up ]; then state=down; want=CRIT; else state=up; want=OK; fi
    config "$state"
    before=$(nlines)
    delay=$(awk -v m="$MAX_DELAY_MS" -v r="$RANDOM$RANDOM" 'BEGIN{srand(r); printf "%.4f", rand()*m/1000}')
    { env -i HOME="$work/home" PATH=/usr/bin:/bin timeout -s KILL "$delay" \
        "$bin" --config "$work/config.toml" check --quiet >/dev/null 2>&1; } 2>/dev/null && rc=0 || rc=$?
    [ "$rc" = 137 ] && killed=$((killed + 1))
    check # the same check, to the end: it must finish what the killed one began
    added=$(tail -n +"$((before + 1))" "$log" | awk '{print $2}')
    n_want=$(printf '%s\n' "$added" | grep -c "^$want$" || true)
    n_other=$(printf '%s\n' "$added" | grep -vc -e "^$want$" -e '^$' || true)
    [ "$n_want" -eq 0 ] && lost=$((lost + 1))
    [ "$n_want" -gt 1 ] && dup=$((dup + n_want - 1))
    phantom=$((phantom + n_other))
    # Resynchronize after a failure, so one fault is counted once.
    if [ "$n_want" -ne 1 ] || [ "$n_other" -ne 0 ]; then
        rm -f "$log" "$work"/state.db* ; state=up
    fi
done
torn=$(python3 - "$log" <<'PY'
import re, sys
pat = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO|OK  |WARN|CRIT) [A-Za-z0-9._-]+: ')
try:
    lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")[:-1]
except FileNotFoundError:
    lines = []
print(sum(1 for l in lines if not pat.match(l)))
PY
)
echo "killed mid-check: $killed of $rounds"
echo "phantom: $phantom  duplicated: $dup  lost: $lost  torn: $torn"
