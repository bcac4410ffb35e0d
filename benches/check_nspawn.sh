#!/usr/bin/env bash
# benches/check.sh inside a real systemd 252 booted in a container: the
# service probe asks the real manager over D-Bus (systemd's private socket,
# as root), about a `grokmon.service` (a sleep with the shipped unit's
# protections), and the run also times the `systemctl show` it spares.
# Needs root and systemd-nspawn (systemd-container); see FACTS in the README.
# Usage: benches/check_nspawn.sh [BIN]   (env: RUNS, HISTORY_DAYS, BASELINE, INTERLEAVE, API, passed on)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn (apt-get install systemd-container)"; exit 1; }
bin=$(realpath "${1:-target/release/grokmon}")
[ -x "$bin" ] || cargo build --release
name="grokmon-bench-$$"
base=()
[ -z "${BASELINE:-}" ] || base=(--bind-ro="$(realpath "$BASELINE"):/opt/grokmon/bin/baseline")
systemd-nspawn -D / --volatile=yes --boot --register=no --keep-unit --console=pipe \
    --machine="$name" --bind-ro="$PWD:/opt/grokmon-src" --bind-ro="$bin:/opt/grokmon/bin/grokmon" "${base[@]}" \
    -- systemd.firstboot=off >/dev/null 2>&1 &
ns=$!
trap 'kill "$ns" 2>/dev/null; wait "$ns" 2>/dev/null || true' EXIT
pid1=
for _ in $(seq 60); do
    pid1=$(pgrep -P "$ns" | head -1 || true)
    if [ -n "$pid1" ] && nsenter -t "$pid1" -a systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'; then
        break
    fi
    sleep 0.5
done
[ -n "$pid1" ] || { echo "the container did not boot"; exit 1; }
nsenter -t "$pid1" -a sh -c '
    mkdir -p /etc/systemd/system
    printf "[Unit]\nStartLimitIntervalSec=600\nStartLimitBurst=5\n[Service]\nExecStart=/bin/sleep infinity\nRestart=on-failure\nRestartPreventExitStatus=78\nTimeoutStopSec=15\nMemoryMax=500M\nCPUQuota=200%%\n" > /etc/systemd/system/grokmon.service
    systemctl daemon-reload && systemctl start grokmon.service'
echo "== inside systemd $(nsenter -t "$pid1" -a systemctl --version | head -1 | cut -d' ' -f2) in nspawn"
nsenter -t "$pid1" -a env RUNS="${RUNS:-200}" UNIT=grokmon.service HISTORY_DAYS="${HISTORY_DAYS:-30}" \
    ${BASELINE:+BASELINE=/opt/grokmon/bin/baseline} ${INTERLEAVE:+INTERLEAVE=$INTERLEAVE} ${API:+API=$API} \
    /opt/grokmon-src/benches/check.sh /opt/grokmon/bin/grokmon
