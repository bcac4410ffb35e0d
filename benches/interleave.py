#!/usr/bin/env python3
"""Times commands interleaved: each round runs every command once, in a new
random order, so a drift of the machine (a shared VM's speed moves by 20 %
within minutes) falls on all of them alike, unlike hyperfine's one command
after the other. Prints each command's median, quartiles and minimum, and the
ratio of every median to the first command's.

Usage: benches/interleave.py ROUNDS CMD [CMD...]   (each CMD split like a shell
word list, never run by a shell itself; output to /dev/null)
"""
import os
import random
import shlex
import statistics
import sys
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cmds = [shlex.split(c) for c in sys.argv[2:]]
    null = os.open(os.devnull, os.O_WRONLY)
    acts = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]

    def once(argv):
        t = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=acts)
        os.waitpid(pid, 0)
        return time.perf_counter() - t

    for argv in cmds:  # warm-up
        for _ in range(5):
            once(argv)
    times = [[] for _ in cmds]
    for _ in range(rounds):
        order = list(range(len(cmds)))
        random.shuffle(order)
        for i in order:
            times[i].append(once(cmds[i]))
    first = statistics.median(times[0])
    for text, t in zip(sys.argv[2:], times):
        t.sort()
        med = statistics.median(t)
        q1, q3 = t[len(t) // 4], t[3 * len(t) // 4]
        print(f"  median {med * 1000:6.2f} ms (quartiles {q1 * 1000:.2f}-{q3 * 1000:.2f}, "
              f"min {t[0] * 1000:.2f}), {med / first:4.2f}x the first: {text[:100]}")


main()
