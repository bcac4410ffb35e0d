#!/usr/bin/env bash
# Benchmark for `grokmon backup` (issue 4). Not a test: it measures, on a
# generated 256 MiB WAL database,
#   1. wall time of `grokmon backup` against `sqlite3 DB ".backup OUT"` + `zstd -3`
#      (hyperfine, medians; target: within 1.2x);
#   2. compressed size against `gzip -9` of the same database (target: no larger);
#   3. the longest stall seen by a concurrent writer (a Python sqlite3 loop
#      committing every 5 ms) while grokmon backs up (target: under 100 ms).
# Usage: benches/backup.sh [SIZE_MIB]   (default 256; needs sqlite3, zstd, gzip,
# python3, hyperfine; builds the release binary). Everything lives in a temp dir.
set -euo pipefail

SIZE_MIB=${1:-256}
RUNS=${RUNS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in sqlite3 zstd gzip python3 hyperfine; do
    command -v "$tool" >/dev/null || { echo "benches/backup.sh: needs $tool" >&2; exit 2; }
done
(cd "$ROOT" && cargo build --release --locked --quiet)
BIN="$ROOT/target/release/grokmon"

T=$(mktemp -d "${TMPDIR:-/var/tmp}/grokmon-bench-backup.XXXXXX")
trap 'rm -rf "$T"' EXIT
DB="$T/big.db"

cat > "$T/gen.py" <<'PY'
# A store like the orchestrator's: WAL, readings with an index, decisions.
import os, random, sqlite3, sys
path, target = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
c = sqlite3.connect(path)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA synchronous=OFF")
c.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, note TEXT)")
c.execute("CREATE INDEX readings_sensor_ts ON readings(sensor, ts)")
c.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, action TEXT, reason TEXT)")
rnd = random.Random(42)
sensors = ["temp", "humidity", "co2", "soil", "light", "fan_rpm"]
words = "fan on off humid dry warm cool stale retry ok degraded sensor read failed backoff".split()
ts = 1_700_000_000
while os.path.getsize(path) < target:
    rows = []
    for _ in range(20000):
        ts += 1
        rows.append((rnd.choice(sensors), ts, rnd.gauss(20, 5),
                     " ".join(rnd.choice(words) for _ in range(rnd.randint(0, 8)))))
    c.executemany("INSERT INTO readings (sensor, ts, value, note) VALUES (?,?,?,?)", rows)
    c.executemany("INSERT INTO decisions (ts, action, reason) VALUES (?,?,?)",
                  [(ts, rnd.choice(words), " ".join(rnd.choice(words) for _ in range(12))) for _ in range(400)])
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
PY

cat > "$T/writer.py" <<'PY'
# Commits one small row every 5 ms until STOP exists; prints the longest
# commit (the writer's stall) and the longest gap between commits, for the
# window during which the file BUSY exists (the backup) and outside it.
import os, sqlite3, sys, time
db, busy, stop, ready = sys.argv[1:5]
c = sqlite3.connect(db, timeout=30, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA synchronous=NORMAL")
stats = {True: [0.0, 0.0, 0], False: [0.0, 0.0, 0]}  # max commit, max gap, count
last = time.monotonic()
open(ready, "w").close()
while not os.path.exists(stop):
    during = os.path.exists(busy)
    t0 = time.monotonic()
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO decisions (ts, action, reason) VALUES (?, 'bench', 'writer')", (int(time.time()),))
    c.execute("COMMIT")
    t1 = time.monotonic()
    s = stats[during]
    s[0] = max(s[0], t1 - t0)
    s[1] = max(s[1], t1 - last)
    s[2] += 1
    last = t1
    time.sleep(0.005)
for k, name in ((True, "during backup"), (False, "outside backup")):
    s = stats[k]
    print(f"writer {name}: {s[2]} commits, longest commit {s[0]*1000:.1f} ms, longest gap between commits {s[1]*1000:.1f} ms (includes the 5 ms sleep)")
PY

echo "== generating a ${SIZE_MIB} MiB database in $T"
python3 "$T/gen.py" "$DB" "$SIZE_MIB"
ls -l "$DB"

cat > "$T/config.toml" <<TOML
[paths]
database = "$DB"
backups = "$T/backups"
alerts_log = "$T/alerts.log"
[backup]
compression = "zstd"
level = 3
TOML

echo "== wall time (hyperfine, $RUNS runs)"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$T/hf.json" \
    --prepare "rm -f $T/backups/grokmon-* $T/out.db $T/out.db.zst" \
    -n "grokmon backup" "$BIN --config $T/config.toml backup" \
    -n "sqlite3 .backup + zstd -3" "sqlite3 $DB '.backup $T/out.db' && zstd -q -3 -f $T/out.db -o $T/out.db.zst"
python3 - "$T/hf.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
g, b = r["grokmon backup"]["median"], r["sqlite3 .backup + zstd -3"]["median"]
print(f"median: grokmon {g:.3f} s, sqlite3+zstd {b:.3f} s, ratio {g/b:.2f}x (target <= 1.2x)")
PY

echo "== sizes"
rm -f "$T"/backups/grokmon-*
"$BIN" --config "$T/config.toml" backup
OURS=$(stat -c %s "$T"/backups/grokmon-*.db.zst)
sqlite3 "$DB" ".backup $T/out.db"
GZ=$(gzip -9 -c "$T/out.db" | wc -c)
ZS=$(zstd -q -3 -c "$T/out.db" | wc -c)
echo "database $(stat -c %s "$T/out.db") B; grokmon zstd-3 $OURS B; zstd -3 CLI $ZS B; gzip -9 $GZ B"
[ "$OURS" -le "$GZ" ] && echo "compressed size: not larger than gzip -9 (ok)" || echo "compressed size: LARGER than gzip -9"
/usr/bin/time -v "$BIN" --config "$T/config.toml" backup 2> "$T/time.txt" >/dev/null
grep -E "Maximum resident|Elapsed" "$T/time.txt"

echo "== writer stall during a backup"
rm -f "$T"/backups/grokmon-* "$T/busy" "$T/stop" "$T/ready"
python3 "$T/writer.py" "$DB" "$T/busy" "$T/stop" "$T/ready" > "$T/writer.txt" &
WPID=$!
while [ ! -e "$T/ready" ]; do sleep 0.05; done
sleep 2
touch "$T/busy"
"$BIN" --config "$T/config.toml" backup
rm -f "$T/busy"
sleep 2
touch "$T/stop"
wait "$WPID"
cat "$T/writer.txt"
