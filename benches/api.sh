#!/bin/sh
# Benchmark of the health API of `grokmon run` under load (issue #15): wrk at
# CONNS keep-alive connections (default 2000) on /api/health, then on
# /api/status, DURATION s each (default 15): requests/s and p99 latency; the
# server's RSS before and after (VmRSS, and VmHWM the peak); and, during each
# load, fresh clients (a new connection, `GET /api/health`, a 5 s timeout:
# what `grokmon check` does) one per second, with how many were answered and
# their slowest time.
# Usage: benches/api.sh [BIN]   (env: CONNS=2000 DURATION=15 THREADS=2)
# Needs: wrk, curl. wrk needs a descriptor per connection: `ulimit -n` is
# raised to the hard limit here.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-target/release/grokmon}
[ -x "$BIN" ] || cargo build --release --locked --quiet
BIN=$(realpath "$BIN")
CONNS=${CONNS:-2000}
DURATION=${DURATION:-15}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((CONNS + 100)) ] || { echo "ulimit -n $(ulimit -n) is too low for $CONNS connections"; exit 1; }
DIR=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  printf '[paths]\ndatabase = "%s/grokmon.db"\nalerts_log = "%s/alerts.log"\n' "$DIR" "$DIR"
  printf '[orchestrator]\nlisten = "127.0.0.1:%s"\n' "$PORT"
  for i in 0 1 2 3 4 5 6 7 8 9; do
    printf '[[sensor]]\nname = "s%s"\nkind = "sim"\ninterval = "1s"\nunit = "C"\nseed = %s\n' "$i" "$i"
  done
} > "$DIR/bench.toml"

"$BIN" --config "$DIR/bench.toml" run 2>>"$DIR/stderr" &
PID=$!
i=0
until curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "not healthy"; cat "$DIR/stderr"; exit 1; }
  sleep 0.05
done
sleep 2
rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "VmRSS %s kB (peak VmHWM %s kB)", r, h}' "/proc/$PID/status"; }
echo "grokmon run: $(rss) before; ulimit -n $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# Fresh clients, one a second, during a load: "answered/asked, slowest".
probe() {
  n=0; ok=0; worst=0
  while [ $n -lt $((DURATION - 3)) ]; do
    t=$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT/api/health" || true)
    n=$((n + 1))
    case "$t" in 200\ *) ok=$((ok + 1)); worst=$(echo "$worst ${t#* }" | awk '{print ($2 > $1) ? $2 : $1}');; esac
    sleep 1
  done
  echo "fresh clients answered: $ok of $n (5 s timeout), slowest $worst s"
}

for path in /api/health /api/status; do
  echo "== wrk -t$THREADS -c$CONNS -d${DURATION}s --latency $path"
  (sleep 2; probe > "$DIR/probe.txt") &
  PROBE=$!
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path" > "$DIR/wrk.txt" 2>&1 || true
  wait "$PROBE"
  grep -E "Requests/sec|Non-2xx|Socket errors| 99%|Latency  " "$DIR/wrk.txt" | sed 's/^ */  /'
  sed 's/^/  /' "$DIR/probe.txt"
  echo "  grokmon run: $(rss) after"
done
kill -TERM "$PID"; wait "$PID" || true; PID=
