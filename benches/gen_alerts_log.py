#!/usr/bin/env python3
"""Writes a large alerts log for benches/alerts.sh: valid grokmon lines with
increasing timestamps that end now, one line every few seconds, with a
hand-edited (unparsable) line now and then so the readers meet some.

usage: gen_alerts_log.py PATH SIZE_MIB
"""
import random
import sys
import time

path, size_mib = sys.argv[1], int(sys.argv[2])
target = size_mib << 20
random.seed(42)
levels = ["INFO", "OK  ", "WARN", "CRIT"]
sources = ["api", "cpu", "memory", "disk", "database", "service", "backups", "restart", "sensor.temp", "notify"]
words = "unreachable connection refused recovered after load used free backup stale restarted by alice latency high".split()

avg_line = 110
n_lines = target // avg_line
step = 3  # seconds between lines
end = int(time.time())
t = end - n_lines * step
written = 0
buf = []
with open(path, "w", encoding="utf-8") as f:
    while written < target:
        t = min(t + step, end)
        if random.random() < 0.0001:
            line = "a hand-edited note, not a grokmon line\n"
        else:
            msg = " ".join(random.choice(words) for _ in range(random.randint(4, 14)))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            line = f"{stamp} {random.choice(levels)} {random.choice(sources)}: {msg}\n"
        buf.append(line)
        written += len(line)
        if len(buf) >= 10000:
            f.write("".join(buf))
            buf.clear()
    f.write("".join(buf))
print(f"wrote {written} bytes to {path}, last line at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))}")
