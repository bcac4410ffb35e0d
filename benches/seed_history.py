"""Stores DAYS days of history in a grokmon state database, one sample
every 5 minutes for every metric a few warm-up checks stored, at the
largest value each had: what an install has after a month.

Usage: seed_history.py STATE_DB DAYS

Writes the layout the database has: `sample_hours` (schema 3: an hour of
one metric per row, part 0, 16 bytes a sample, time i64 then value f64,
both little-endian, oldest first) or `samples` (schema 1 and 2, a row each).
"""
import sqlite3
import struct
import sys
import time

db, days = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
now = int(time.time())
times = [now - i * 300 for i in range(days * 288, 0, -1)]
if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'sample_hours'").fetchone():
    last = {}
    for metric, data in c.execute("SELECT metric, data FROM sample_hours"):
        for i in range(0, len(data) - 15, 16):
            v = struct.unpack_from("<qd", data, i)[1]
            last[metric] = max(last.get(metric, v), v)
    hours = {}
    for metric, v in last.items():
        for t in times:
            hours.setdefault((metric, t // 3600), bytearray()).extend(struct.pack("<qd", t, v))
    # Before what the warm-up stored in the same hour: older samples first.
    c.executemany(
        "INSERT INTO sample_hours (metric, hour, part, data) VALUES (?, ?, 0, ?)"
        " ON CONFLICT(metric, hour, part) DO UPDATE SET data = CAST(excluded.data || data AS BLOB)",
        [(m, h, bytes(d)) for (m, h), d in hours.items()],
    )
    n = sum(len(d) // 16 for d in hours.values())
else:
    last = dict(c.execute("SELECT metric, max(value) FROM samples GROUP BY metric"))
    c.executemany(
        "INSERT INTO samples (ts, metric, value) VALUES (?, ?, ?)",
        [(t, m, v) for m, v in last.items() for t in times],
    )
    n = len(last) * len(times)
c.commit()
print(f"{n} samples of {len(last)} metrics over {days} days")
