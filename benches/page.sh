#!/bin/sh
# Benchmark of the status page at / (issue 14), release build:
#  1. render time of GET / with 10 sensors x 24 h of readings at 1 s
#     (864,000 rows in grokmon.db): the first request (reads the day) and the
#     next ones (read only the new rows), from curl's time_total over one
#     kept-alive connection;
#  2. /api/health latency under the run load (10 sim sensors at 1 s, as
#     benches/run.sh) with wrk, alone and while / is requested back to back
#     and once a second.
# Usage: benches/page.sh   (env: RUNS=200 DURATION=15, BIN=a prebuilt grokmon; needs curl, wrk, python3)
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
DURATION=${DURATION:-15}
for t in curl wrk python3; do
  command -v "$t" >/dev/null || { echo "$t is needed" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked --quiet
  BIN=$PWD/target/release/grokmon
fi
DIR=$(mktemp -d)
PID=
LOOP=
cleanup() {
  [ -n "$LOOP" ] && kill "$LOOP" 2>/dev/null
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
{
  printf '[paths]\ndatabase = "%s/grokmon.db"\nalerts_log = "%s/alerts.log"\nstate = "%s/state.db"\nbackups = "%s/backups"\n' "$DIR" "$DIR" "$DIR" "$DIR"
  printf '[orchestrator]\nlisten = "127.0.0.1:%s"\n' "$PORT"
  for i in 0 1 2 3 4 5 6 7 8 9; do
    printf '[[sensor]]\nname = "s%s"\nkind = "sim"\ninterval = "1s"\nunit = "C"\nseed = %s\n' "$i" "$i"
  done
} > "$DIR/bench.toml"
start() {
  "$BIN" --config "$DIR/bench.toml" run 2>>"$DIR/stderr" &
  PID=$!
  i=0
  until curl -sf "$URL/api/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "not healthy"; cat "$DIR/stderr"; exit 1; }
    sleep 0.05
  done
}
# The schema, then a day of 1 s readings for the 10 sensors, then serve.
start; kill "$PID"; wait "$PID" || true; PID=
python3 benches/gen_readings.py "$DIR/grokmon.db" --sensors s0,s1,s2,s3,s4,s5,s6,s7,s8,s9 --every 1
# 20 alert lines, a check's state and a backup, so that every part is read.
for i in $(seq 20); do echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) WARN sensor.s$((i % 10)): bench line $i"; done > "$DIR/alerts.log"
chmod 600 "$DIR/alerts.log"
start
"$BIN" --config "$DIR/bench.toml" backup >/dev/null 2>&1 || true
"$BIN" --config "$DIR/bench.toml" check >/dev/null 2>&1 || true

stats() { # reads seconds, one a line; prints median, p95, max in ms
  sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms, p95 %.2f ms, max %.2f ms (%d requests)", a[int((NR+1)/2)]*1000, a[int(NR*0.95+0.5)]*1000, a[NR]*1000, NR}'
}
COLD=$(curl -s -o "$DIR/page.html" -w '%{time_total}' "$URL/")
SIZE=$(wc -c <"$DIR/page.html")
# One curl, one kept-alive connection, RUNS requests.
set --
for i in $(seq "$RUNS"); do set -- "$@" -o /dev/null "$URL/"; done
WARM=$(curl -s -w '%{time_total}\n' "$@" | stats)
ROWS=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from readings').fetchone()[0])" "$DIR/grokmon.db")

health() {
  wrk -t1 -c4 -d"${DURATION}s" --latency "$URL/api/health" |
    awk '/Latency  /{avg=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} /Requests\/sec/{rps=$2} END {printf "avg %s, p50 %s, p99 %s, %s req/s", avg, p50, p99, rps}'
}
H0=$(health)
( while :; do curl -s -o /dev/null "$URL/"; done ) & LOOP=$!
H1=$(health)
kill "$LOOP"; wait "$LOOP" 2>/dev/null || true
( while :; do curl -s -o /dev/null "$URL/"; sleep 1; done ) & LOOP=$!
H2=$(health)
kill "$LOOP"; wait "$LOOP" 2>/dev/null || true; LOOP=
H3=$(health)

echo "status page, 10 sensors x 24 h at 1 s ($ROWS readings), $(nproc) cores, $(uname -m)"
echo "page size: $SIZE bytes"
echo "GET / first (reads the day): $(echo "$COLD" | awk '{printf "%.1f ms", $1*1000}')"
echo "GET / next: $WARM"
echo "/api/health (wrk -t1 -c4 -d${DURATION}s), alone:              $H0"
echo "/api/health, while / is requested back to back:  $H1"
echo "/api/health, while / is requested once a second: $H2"
echo "/api/health, alone again (the machine's noise):  $H3"
