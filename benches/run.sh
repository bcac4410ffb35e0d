#!/bin/sh
# Benchmark of `grokmon run` (issue 5): 10 sim sensors at 1 s.
# Measures steady RSS (VmRSS after WARMUP s), CPU over a WINDOW s window
# (utime+stime from /proc/PID/stat), and SIGTERM-to-exit time (median of
# RUNS starts). Usage: benches/run.sh   (env: WARMUP=30 WINDOW=60 RUNS=5)
set -eu
cd "$(dirname "$0")/.."
WARMUP=${WARMUP:-30}
WINDOW=${WINDOW:-60}
RUNS=${RUNS:-5}
cargo build --release --locked --quiet
BIN=$PWD/target/release/grokmon
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  printf '[paths]\ndatabase = "%s/grokmon.db"\nalerts_log = "%s/alerts.log"\n' "$DIR" "$DIR"
  printf '[orchestrator]\nlisten = "127.0.0.1:%s"\n' "$PORT"
  for i in 0 1 2 3 4 5 6 7 8 9; do
    printf '[[sensor]]\nname = "s%s"\nkind = "sim"\ninterval = "1s"\nunit = "C"\nseed = %s\n' "$i" "$i"
  done
} > "$DIR/bench.toml"

start() {
  "$BIN" --config "$DIR/bench.toml" run 2>>"$DIR/stderr" &
  PID=$!
  i=0
  until curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "not healthy"; cat "$DIR/stderr"; exit 1; }
    sleep 0.05
  done
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start
sleep "$WARMUP"
RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
T0=$(ticks "$PID")
sleep "$WINDOW"
T1=$(ticks "$PID")
HZ=$(getconf CLK_TCK)
CPU=$(echo "$T0 $T1 $HZ $WINDOW" | awk '{printf "%.2f", ($2 - $1) / $3 / $4 * 100}')
ROWS=$(sqlite3 "$DIR/grokmon.db" 'SELECT count(*) FROM readings')
RSS_END=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
kill -TERM "$PID"; wait "$PID" || true

TIMES=""
for r in $(seq "$RUNS"); do
  start
  sleep 2
  A=$(date +%s%N)
  kill -TERM "$PID"
  wait "$PID"; CODE=$?
  B=$(date +%s%N)
  [ "$CODE" -eq 0 ] || { echo "exit $CODE"; exit 1; }
  TIMES="$TIMES $(( (B - A) / 1000000 ))"
done
MEDIAN=$(echo $TIMES | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

echo "grokmon run, 10 sim sensors at 1s ($(nproc) cores, $(uname -m))"
echo "steady RSS after ${WARMUP}s: ${RSS} kB (after $((WARMUP + WINDOW))s: ${RSS_END} kB)"
echo "CPU over ${WINDOW}s: ${CPU}% of one core"
echo "readings stored: $ROWS"
echo "SIGTERM-to-exit (ms, $RUNS runs):$TIMES; median ${MEDIAN} ms"
