#!/usr/bin/env python3
"""Fills the readings table of an existing grokmon.db (created by `grokmon run`)
with the last 24 h of readings, for the status page bench and screenshot.

    gen_readings.py DB --sensors s0,s1,... --every 1      # 1 s readings, flat-ish walk
    gen_readings.py DB --demo                             # the README screenshot's story

Values are a daily cycle plus a seeded random walk; --demo adds a stale stretch
and a gap. Times end at now, in unix milliseconds, as the store writes them.
"""
import argparse
import math
import random
import sqlite3
import time

DAY_MS = 86_400_000


def rows(name, unit, base, amp, noise, every_s, end_ms, seed, stale=None, gap=None):
    rng = random.Random(seed)
    walk = 0.0
    last = base
    step = int(every_s * 1000)
    for ts in range(end_ms - DAY_MS, end_ms, step):
        ago_h = (end_ms - ts) / 3_600_000
        if gap and gap[1] <= ago_h < gap[0]:
            continue
        if stale and stale[1] <= ago_h < stale[0]:
            yield (ts, name, last, unit, 1)
            continue
        walk = walk * 0.999 + rng.gauss(0, noise)
        hour = (ts / 3_600_000) % 24
        last = base + amp * math.sin((hour - 9) / 24 * 2 * math.pi) + walk
        yield (ts, name, round(last, 3), unit, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--sensors", default="")
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--demo", action="store_true")
    a = ap.parse_args()
    end = int(time.time() * 1000)
    c = sqlite3.connect(a.db)
    c.execute("PRAGMA journal_mode=WAL")
    sql = "INSERT INTO readings (ts, sensor, value, unit, stale) VALUES (?,?,?,?,?)"
    if a.demo:
        series = [
            rows("air", "°C", 23.0, 2.5, 0.02, 60, end, 1),
            rows("humidity", "%", 58.0, -7.0, 0.08, 60, end, 2, stale=(2.0, 0.0)),
            rows("soil", "%", 41.0, 0.6, 0.05, 300, end, 3, gap=(15.0, 11.5)),
            rows("water", "°C", 19.5, 0.8, 0.01, 60, end, 4),
            rows("co2", "ppm", 720.0, 140.0, 2.0, 60, end, 5),
            rows("tent", "°C", 25.5, 1.8, 0.03, 60, end, 6),
        ]
    else:
        names = [s for s in a.sensors.split(",") if s]
        series = [
            rows(n, "C", 20.0 + i, 2.0, 0.01, a.every, end, i) for i, n in enumerate(names)
        ]
    last = {}

    def remember(rs):
        for r in rs:
            if not r[4]:
                last[r[1]] = r[2]
            yield r

    with c:
        for s in series:
            c.executemany(sql, remember(s))
    if a.demo:
        # The sim sensors go on from where the history ends.
        with open(a.db + ".last", "w") as f:
            for k, v in last.items():
                f.write(f"{k} {v}\n")
    n = c.execute("SELECT count(*) FROM readings").fetchone()[0]
    print(f"{a.db}: {n} readings")


if __name__ == "__main__":
    main()
