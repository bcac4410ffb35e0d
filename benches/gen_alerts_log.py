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

# Every line is exactly LINE bytes, so the count is known and the last line
# lands exactly on `end`.
LINE = 128
n_lines = target // LINE
step = 3  # seconds between lines
end = int(time.time())
t0 = end - (n_lines - 1) * step
buf = []
with open(path, "w", encoding="utf-8") as f:
    for i in range(n_lines):
        t = t0 + i * step
        if random.random() < 0.0001:
            line = "a hand-edited note, not a grokmon line"
        else:
            msg = " ".join(random.choice(words) for _ in range(14))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            line = f"{stamp} {random.choice(levels)} {random.choice(sources)}: {msg}"
        line = line[: LINE - 1].ljust(LINE - 1, ".") + "\n"
        buf.append(line)
        if len(buf) >= 10000:
            f.write("".join(buf))
            buf.clear()
    f.write("".join(buf))
print(f"wrote {n_lines * LINE} bytes ({n_lines} lines) to {path}, last line at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(end))}")
