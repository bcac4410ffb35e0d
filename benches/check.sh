#!/usr/bin/env bash
# Benchmark: a warm `grokmon check` against a loopback API.
# Target (issue #2): median wall <= 10 ms, peak RSS <= 10 MB on a 2-core machine.
# Usage: benches/check.sh [path/to/grokmon]   (default: target/release/grokmon)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/grokmon}
[ -x "$bin" ] || cargo build --release
bin=$(realpath "$bin")
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

# A loopback health endpoint on a free port.
cat > "$work/api.py" <<'PY'
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
socketserver.TCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), H) as s:
    print(s.server_address[1], flush=True)
    s.serve_forever()
PY
python3 "$work/api.py" > "$work/port" &
server=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share" XDG_STATE_HOME="$work/home/.local/state"
mkdir -p "$XDG_CONFIG_HOME/grokmon" "$XDG_DATA_HOME/grokmon/backups"
cat > "$XDG_CONFIG_HOME/grokmon/config.toml" <<TOML
[paths]
alerts_log = "$work/alerts.log"
[check.api]
url = "http://127.0.0.1:$port/api/health"
TOML
sqlite3 "$XDG_DATA_HOME/grokmon/grokmon.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
touch "$XDG_DATA_HOME/grokmon/backups/grokmon-$(date -u +%Y%m%dT%H%M%SZ).db.zst"

# Warm: the first run creates the state database and stores CPU counters.
"$bin" check --quiet >/dev/null || true
sleep 1

echo "== hyperfine: warm grokmon check (loopback API)"
hyperfine --warmup 5 --runs 100 -N -i --export-json "$work/check.json" "$bin check --quiet" | sed 's/^/  /'
python3 - "$work/check.json" <<'PY'
import json, sys, statistics
r = json.load(open(sys.argv[1]))["results"][0]
print(f"median {statistics.median(r['times'])*1000:.2f} ms, mean {r['mean']*1000:.2f} ms, min {r['min']*1000:.2f} ms, max {r['max']*1000:.2f} ms over {len(r['times'])} runs")
PY

echo "== /usr/bin/time -v: peak RSS over 20 runs"
max=0
for _ in $(seq 20); do
    /usr/bin/time -v -o "$work/time.txt" "$bin" check --quiet >/dev/null 2>&1 || true
    kb=$(awk '/Maximum resident set size/ {print $6}' "$work/time.txt")
    [ "$kb" -gt "$max" ] && max=$kb
done
echo "peak RSS: ${max} KiB ($(awk -v k="$max" 'BEGIN{printf "%.1f", k/1024}') MiB)"
