#!/usr/bin/env bash
# Benchmark: a warm `grokmon check` with every probe active, the service probe
# included, side by side in ONE hyperfine run with the three monitoring-plugins
# a Nagios user runs for the same job (check_load + check_disk + check_http).
# Target (issue #15): median <= 5 ms and >= 2x faster than the three plugins,
# peak RSS <= 10 MB, on a 2-core machine.
#
# Usage: benches/check.sh [BIN]   (default: target/release/grokmon)
# Env: RUNS (runs per command, default 200); API=python: the loopback
#   endpoint is a Python stand-in instead of `grokmon run` (below); UNIT=NAME: ask the running
#   system manager about NAME instead (scope system; used inside a real
#   systemd by benches/check_nspawn.sh); HISTORY_DAYS (default 30): days of
#   stored samples, one check every 5 minutes, as an install has them after
#   a month (0: only the warm-up runs' few); BASELINE=BIN: also time another
#   build in the same run (on a state of its own, seeded the same way), e.g.
#   the previous release;
#   INTERLEAVE=ROUNDS: then time them again interleaved, round by round
#   (benches/interleave.py), which a drifting machine skews less.
#
# The service probe asks systemd over D-Bus. This machine has no systemd as
# PID 1, so the bench starts a private dbus-daemon with the test suite's fake
# systemd manager on it (tests/util/fake_systemd.py, served by libdbus), and
# points the user scope at it (XDG_RUNTIME_DIR without systemd/private,
# DBUS_SESSION_BUS_ADDRESS). The plugins run in one `sh -c`, so the run also
# times `sh -c :` (the shell's own start) for a fair reading.
# Needs: hyperfine, dbus-daemon, python3-dbus, python3-gi,
# monitoring-plugins-basic, sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/grokmon}")
[ -x "$bin" ] || cargo build --release
runs=${RUNS:-200}
plugins=/usr/lib/nagios/plugins
for t in hyperfine dbus-daemon sqlite3 "$plugins/check_http"; do
    command -v "$t" >/dev/null || { echo "needs $t"; exit 1; }
done

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

# A loopback health endpoint on a free port: by default `grokmon run`'s own
# health API (the endpoint a check probes where grokmon runs the service:
# `check.api.url` defaults to `orchestrator.listen`), served by the build
# under test, with one simulated sensor; API=python: a Python stand-in
# (http.server, a thread per connection: ~1.2 ms of CPU a request here,
# which the check and the plugins wait on alike), as before 2026-12-03 18:10 UTC.
if [ "${API:-grokmon}" = python ]; then
cat > "$work/api.py" <<'PY'
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
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
pids+=($!)
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
else
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/run"
printf '[paths]\ndatabase = "%s/run/grokmon.db"\nalerts_log = "%s/run/alerts.log"\nstate = "%s/run/state.db"\nbackups = "%s/run/backups"\n[orchestrator]\nlisten = "127.0.0.1:%s"\n[[sensor]]\nname = "temp"\nkind = "sim"\ninterval = "60s"\nunit = "C"\nseed = 1\n' \
    "$work" "$work" "$work" "$work" "$port" > "$work/run/run.toml"
"$bin" --config "$work/run/run.toml" run > "$work/run/out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/api/health', timeout=1)" 2>/dev/null && break
    sleep 0.1
done
fi

if [ -z "${UNIT:-}" ]; then
# A private bus with the fake systemd serving grokmon.service.
dbus-daemon --session --nofork --nopidfile --print-address=1 \
    --address="unix:path=$work/bus" > "$work/bus.addr" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/bus.addr" ] && break; sleep 0.1; done
export DBUS_SESSION_BUS_ADDRESS; DBUS_SESSION_BUS_ADDRESS=$(head -1 "$work/bus.addr")
started=$(( ($(date +%s) - 3 * 3600) * 1000000 ))
cat > "$work/props.json" <<JSON
{"unit": "grokmon.service",
 "Unit": {"Id": ["s", "grokmon.service"], "LoadState": ["s", "loaded"],
  "ActiveState": ["s", "active"], "SubState": ["s", "running"],
  "ActiveEnterTimestamp": ["t", $started], "FragmentPath": ["s", "/etc/systemd/user/grokmon.service"],
  "StartLimitBurst": ["u", 5], "StartLimitIntervalUSec": ["t", 600000000]},
 "Service": {"Result": ["s", "success"], "NRestarts": ["u", 0], "MainPID": ["u", 4242],
  "MemoryCurrent": ["t", 104857600], "MemoryMax": ["t", 524288000],
  "Restart": ["s", "on-failure"], "RestartPreventExitStatus": ["(aiai)", [[78], []]],
  "TimeoutStopUSec": ["t", 15000000], "CPUQuotaPerSecUSec": ["t", 2000000],
  "WatchdogUSec": ["t", 60000000], "ControlGroup": ["s", "/user.slice/grokmon.service"]}}
JSON
/usr/bin/python3 tests/util/fake_systemd.py "$work/props.json" > "$work/fake.out" &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
fi
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share" \
    XDG_STATE_HOME="$work/home/.local/state" XDG_RUNTIME_DIR="$work/run"
mkdir -p "$XDG_CONFIG_HOME/grokmon" "$XDG_DATA_HOME/grokmon/backups" "$XDG_RUNTIME_DIR"
cat > "$XDG_CONFIG_HOME/grokmon/config.toml" <<TOML
[paths]
alerts_log = "$work/alerts.log"
state = "$work/state/state.db"
[check.api]
url = "http://127.0.0.1:$port/api/health"
TOML
[ -z "${UNIT:-}" ] || printf '[service]\nunit = "%s"\nscope = "system"\n' "$UNIT" >> "$XDG_CONFIG_HOME/grokmon/config.toml"
sqlite3 "$XDG_DATA_HOME/grokmon/grokmon.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
touch "$XDG_DATA_HOME/grokmon/backups/grokmon-$(date -u +%Y%m%dT%H%M%SZ).db.zst"

# A second configuration and state for BASELINE: each build on a state it
# wrote itself (the samples' layout changed with schema 3).
sed "s#$work/state/#$work/state-base/#; s#$work/alerts.log#$work/alerts-base.log#" \
    "$XDG_CONFIG_HOME/grokmon/config.toml" > "$work/base.toml"
base_cmd=()
[ -z "${BASELINE:-}" ] || base_cmd=("$(realpath "$BASELINE")" check --quiet --config "$work/base.toml")

# Warm: the first runs create the state database and store CPU counters;
# then a month of history: every metric the warm-up stored, every 5 minutes.
days=${HISTORY_DAYS:-30}
warm() { # STATE_DB COMMAND...
    local db=$1; shift
    for _ in 1 2 3; do "$@" >/dev/null || true; done
    if [ "$days" -gt 0 ]; then
        echo "== state $(basename "$(dirname "$db")"): $(python3 benches/seed_history.py "$db" "$days")"
        "$@" >/dev/null || true
    fi
}
warm "$work/state/state.db" "$bin" check --quiet
[ -z "${BASELINE:-}" ] || warm "$work/state-base/state.db" "${base_cmd[@]}"
echo "== the service probe as one check sees it (D-Bus, then systemctl when no bus):"
cat > "$work/svc.py" <<'PY'
import json, sys
p = [p for p in json.load(sys.stdin)["probes"] if p["probe"] == "service"][0]
print(f"  {sys.argv[1]}: {p['status']}: {p['message'][:60]}... (probe {p['duration_ms']} ms)")
PY
cat > "$work/probes.py" <<'PY'
import json, sys
v = json.load(sys.stdin)
print("  each probe's own time in one check (ms): " + ", ".join(
    f"{p['probe']} {p['duration_ms']}" for p in v["probes"] if "duration_ms" in p))
PY
("$bin" check --format json || true) | python3 "$work/svc.py" "over D-Bus"
("$bin" check --format json || true) | python3 "$work/probes.py"
if [ -z "${UNIT:-}" ]; then
    (DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent "$bin" check --format json || true) | python3 "$work/svc.py" "systemctl "
fi

plugins_cmd="sh -c '$plugins/check_load -r -w 2,2,2 -c 4,4,4 >/dev/null; $plugins/check_disk -w 10% -c 5% -p / >/dev/null; $plugins/check_http -H 127.0.0.1 -p $port -u /api/health >/dev/null'"
echo "== hyperfine, $runs runs each; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# Inside a real systemd, also what the probe spared: one `systemctl show`.
extra=()
[ -z "${UNIT:-}" ] || extra=("systemctl show $UNIT -p ActiveState,SubState,NRestarts,MainPID --timestamp=unix")
[ -z "${BASELINE:-}" ] || extra+=("${base_cmd[*]}")
hyperfine --warmup 10 --runs "$runs" -N -i --export-json "$work/check.json" \
    "$bin check --quiet" "$plugins_cmd" "sh -c :" "${extra[@]}" 2>&1 | grep -v -e Warning -e '^ *$' | sed 's/^/  /'
python3 - "$work/check.json" "${UNIT:+systemctl show}" "${BASELINE:+baseline check}" <<'PY'
import json, sys, statistics
res = json.load(open(sys.argv[1]))["results"]
med = [statistics.median(r["times"]) for r in res]
names = ["grokmon check", "check_load + check_disk + check_http", "sh -c :"] + [a for a in sys.argv[2:] if a]
for n, r, m in zip(names, res, med):
    print(f"{n}: median {m*1000:.2f} ms, min {r['min']*1000:.2f} ms, mean {r['mean']*1000:.2f} ms over {len(r['times'])} runs")
print(f"plugins / grokmon: {med[1]/med[0]:.2f}x (without the shell's own start: {(med[1]-med[2])/med[0]:.2f}x)")
PY
if [ -n "${INTERLEAVE:-}" ]; then
    # The same commands again, interleaved round by round (drift falls on
    # all alike): INTERLEAVE=ROUNDS.
    echo "== interleaved, $INTERLEAVE rounds (benches/interleave.py):"
    ilv=("$bin check --quiet" "$plugins_cmd" "sh -c :")
    [ -z "${BASELINE:-}" ] || ilv+=("${base_cmd[*]}")
    python3 benches/interleave.py "$INTERLEAVE" "${ilv[@]}"
fi
max=0
for _ in $(seq 20); do
    /usr/bin/time -v -o "$work/time.txt" "$bin" check --quiet >/dev/null 2>&1 || true
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
    [ "$kb" -gt "$max" ] && max=$kb
done
echo "peak RSS over 20 runs (/usr/bin/time -v): ${max} KiB ($((max / 1024)).$((max * 10 / 1024 % 10)) MiB)"
