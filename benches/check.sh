#!/usr/bin/env bash
# Benchmark: a warm `grokmon check` against a loopback API.
# Target (issue #2): median wall <= 10 ms, peak RSS <= 10 MB on a 2-core machine.
#
# Usage: benches/check.sh [BIN...]   (default: target/release/grokmon)
#   Each binary gets its own hyperfine run (with the reference below) and
#   peak-RSS runs; several binaries (e.g. a saved baseline and a new build)
#   are then also run interleaved, one run of each per round, so that they
#   see the same machine load: their paired ratio is the figure to trust.
# Env: RUNS (runs per measurement, default 100), CALLGRIND=1 (also count the
#   instructions of one check under valgrind: noise-free, unlike wall time).
#
# The machine is shared, so wall times move with its load. Each run also
# times a reference command in the same hyperfine run,
#   systemctl --user show grokmon.service -p ActiveState
# (the one child process every check spawns), and prints each binary's
# median as a ratio to it: compare ratios across runs, not raw medians.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- target/release/grokmon
[ -x "$1" ] || cargo build --release
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done
runs=${RUNS:-100}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

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

ref="systemctl --user show grokmon.service -p ActiveState"
# Each binary gets its own state directory: a binary that deletes the WAL at
# exit must not make another pay for recreating it.
state_of() { echo "$work/state-$1"; }

i=0
for b in "${bins[@]}"; do
    export XDG_STATE_HOME; XDG_STATE_HOME=$(state_of $i)
    # Warm: the first runs create the state database and store CPU counters.
    for _ in 1 2 3; do "$b" check --quiet >/dev/null || true; done
    echo "== hyperfine: warm $b check, $runs runs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    hyperfine --warmup 5 --runs "$runs" -N -i --export-json "$work/check.json" \
        "$b check --quiet" "$ref" 2>&1 | grep -v -e Warning -e '^ *$' | sed 's/^/  /'
    python3 - "$work/check.json" <<'PY'
import json, sys, statistics
res = json.load(open(sys.argv[1]))["results"]
ref = statistics.median(res[-1]["times"])
for r in res:
    med = statistics.median(r["times"])
    print(f"{r['command']}: median {med*1000:.2f} ms, min {r['min']*1000:.2f} ms, "
          f"mean {r['mean']*1000:.2f} ms, max {r['max']*1000:.2f} ms over {len(r['times'])} runs; "
          f"median/reference {med/ref:.2f}")
PY
    max=0
    for _ in $(seq 20); do
        /usr/bin/time -v -o "$work/time.txt" "$b" check --quiet >/dev/null 2>&1 || true
        kb=$(awk '/Maximum resident set size/ {print $6}' "$work/time.txt")
        [ "$kb" -gt "$max" ] && max=$kb
    done
    echo "peak RSS over 20 runs (/usr/bin/time -v): ${max} KiB ($(awk -v k="$max" 'BEGIN{printf "%.1f", k/1024}') MiB)"
    if [ "${CALLGRIND:-0}" = 1 ]; then
        valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$b" check --quiet \
            >/dev/null 2>"$work/cg.txt" || true
        echo "instructions of one warm check (callgrind, all threads, not children): $(awk '/Collected :/ {print $4}' "$work/cg.txt")"
    fi
    i=$((i + 1))
done

if [ ${#bins[@]} -gt 1 ]; then
    # Runs alternate between the binaries, so a change of machine load hits
    # all of them alike; the paired ratio is the figure to trust.
    echo "== interleaved: $runs rounds of one run each; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 - "$runs" "$work" "${bins[@]}" <<'PY'
import os, sys, time, statistics
runs, work, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
null = os.open(os.devnull, os.O_WRONLY)
wall = [[] for _ in bins]
cpu = [[] for _ in bins]  # user + system of the check and its systemctl
for _ in range(runs):
    for i, b in enumerate(bins):
        env = dict(os.environ, XDG_STATE_HOME=f"{work}/state-{i}")
        t = time.perf_counter()
        pid = os.posix_spawn(b, [b, "check", "--quiet"], env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
        _, _, ru = os.wait4(pid, 0)
        wall[i].append(time.perf_counter() - t)
        cpu[i].append(ru.ru_utime + ru.ru_stime)
for i, b in enumerate(bins):
    ratio = statistics.median(t / a for t, a in zip(wall[i], wall[0]))
    print(f"{b}: median {statistics.median(wall[i])*1000:.2f} ms, min {min(wall[i])*1000:.2f} ms, "
          f"median CPU {statistics.median(cpu[i])*1000:.2f} ms; median of paired wall ratios to the first {ratio:.3f}")
PY
fi
