#!/bin/sh
# The README's screenshot of the status page (docs/status-page.png): a real
# `grokmon run` on a day of generated history (benches/gen_readings.py --demo),
# one failing sensor, a real `grokmon check` and `grokmon backup`, a few alert
# lines, then headless Chromium.
#   benches/page_demo.sh [OUT.png] [WIDTHxHEIGHT]   (env: BIN=path/to/grokmon, KEEP=1 keeps it running)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-docs/status-page.png}
SIZE=${2:-1280,1000}
if [ -z "${BIN:-}" ]; then
  cargo build --locked --quiet
  BIN=$PWD/target/debug/grokmon
fi
DIR=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$DIR/demo.toml" <<EOF
[paths]
database = "$DIR/grokmon.db"
backups = "$DIR/backups"
alerts_log = "$DIR/alerts.log"
state = "$DIR/state.db"
[orchestrator]
listen = "127.0.0.1:$PORT"
[check]
probes = ["api", "memory", "database", "backups"]
[check.api]
url = "http://127.0.0.1:$PORT/api/health"
[[sensor]]
name = "air"
kind = "sim"
interval = "5s"
unit = "°C"
start = 22.4
[[sensor]]
name = "humidity"
kind = "command"
command = ["sh", "-c", "echo 'i2c read at 0x44 failed: Remote I/O error' >&2; exit 1"]
interval = "5s"
unit = "%"
[[sensor]]
name = "soil"
kind = "sim"
interval = "5s"
unit = "%"
start = 40.8
seed = 3
[[sensor]]
name = "water"
kind = "sim"
interval = "5s"
unit = "°C"
start = 19.2
seed = 4
[[sensor]]
name = "co2"
kind = "sim"
interval = "5s"
unit = "ppm"
start = 690
seed = 5
[[sensor]]
name = "tent"
kind = "sim"
interval = "5s"
unit = "°C"
start = 25.1
seed = 6
EOF
G="$BIN --config $DIR/demo.toml"
wait_health() {
  i=0
  until curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "not answering"; cat "$DIR/stderr"; exit 1; }
    sleep 0.1
  done
}
# Create the schema, then the history, then serve.
$G run 2>>"$DIR/stderr" & PID=$!
wait_health; kill "$PID"; wait "$PID" || true; PID=
python3 benches/gen_readings.py "$DIR/grokmon.db" --demo
# Each sim sensor starts where its history ends.
python3 - "$DIR/demo.toml" "$DIR/grokmon.db.last" <<'PY'
import re, sys
cfg, last = open(sys.argv[1]).read(), dict(l.split() for l in open(sys.argv[2]))
for name, v in last.items():
    cfg = re.sub(r'(name = "%s"\n(?:[^\[]*\n)*?)start = [0-9.]+' % name, r'\g<1>start = ' + v, cfg)
open(sys.argv[1], "w").write(cfg)
PY
# Humidity's last known value: the generated history ends stale at it.
now() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
{
  echo "$(now '-9 hours') WARN sensor.soil: no reading for 15m: connection refused"
  echo "$(now '-5 hours') OK   sensor.soil: recovered after 3h 30m"
  echo "$(now '-3 hours') INFO backup: grokmon-nightly verified, 12.4 MiB"
  echo "$(now '-2 hours') CRIT api: unreachable: connection refused (2 checks, since $(date -u -d '-2 hours 5 minutes' +%H:%M:%SZ))"
  echo "$(now '-110 minutes') OK   api: recovered after 10m"
  echo "$(now '-100 minutes') WARN sensor.humidity: 3 reads failed: i2c read at 0x44 failed: Remote I/O error"
  echo "$(now '-20 minutes') WARN memory: 86% used (20.2 GiB of 23.5 GiB)"
} > "$DIR/alerts.log"
$G run 2>>"$DIR/stderr" & PID=$!
wait_health
sleep 8
$G backup >/dev/null 2>&1 || true
$G check >/dev/null 2>&1 || true
sleep 1
$G check >/dev/null 2>&1 || true
mkdir -p "$(dirname "$OUT")"
timeout 60 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$DIR/chromium" --window-size="$SIZE" --force-device-scale-factor=1 \
  --screenshot="$OUT" "http://127.0.0.1:$PORT/" 2>>"$DIR/chromium.log" || { cat "$DIR/chromium.log"; exit 1; }
echo "wrote $OUT ($(wc -c <"$OUT") bytes); page $(curl -s "http://127.0.0.1:$PORT/" | wc -c) bytes"
if [ -n "${KEEP:-}" ]; then echo "serving on http://127.0.0.1:$PORT/ (Ctrl-C stops)"; wait "$PID"; fi
