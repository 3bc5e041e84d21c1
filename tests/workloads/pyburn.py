"""pyburn.py - a Python program with a known CPU split, for tests/integration/python.sh.

Usage: pyburn.py SECONDS [MODE]. Prints its pid, then for SECONDS burns CPU:
  split    (default) three quarters of the time in hot_compute, one quarter in cold_compute,
           both called from handler under main, by wall time slices of 40 ms
  cext     json.loads and hashlib.sha256 from c_extension_phase (C code under a Python frame)
  threads  two threads, each in its own function (thread_alpha, thread_beta), plus main waiting
  deep     hot_compute 30 Python frames deep (<module>, main, descend x 27, hot_compute), for
           tests/bench/agent.sh's cost of walking a Python stack
"""
import hashlib
import json
import os
import sys
import threading
import time


def hot_compute(deadline):
    x = 0
    while time.monotonic() < deadline:
        for i in range(2000):
            x = (x * 31 + i) % 1000003
    return x


def cold_compute(deadline):
    y = 1
    while time.monotonic() < deadline:
        for i in range(2000):
            y = (y * 17 + i) % 999983
    return y


def handler(end):
    while time.monotonic() < end:
        now = time.monotonic()
        hot_compute(now + 0.030)
        cold_compute(now + 0.040)


def c_extension_phase(end):
    doc = json.dumps({"k%d" % i: [i, str(i) * 8, {"v": i}] for i in range(2000)})
    blob = os.urandom(1 << 20)
    while time.monotonic() < end:
        json.loads(doc)
        hashlib.sha256(blob).hexdigest()


def descend(levels, end):
    if levels > 1:
        return descend(levels - 1, end)
    return hot_compute(end)


def thread_alpha(end):
    hot_compute(end)


def thread_beta(end):
    cold_compute(end)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    mode = sys.argv[2] if len(sys.argv) > 2 else "split"
    print(os.getpid(), flush=True)
    end = time.monotonic() + seconds
    if mode == "split":
        handler(end)
    elif mode == "cext":
        c_extension_phase(end)
    elif mode == "deep":
        descend(27, end)
    elif mode == "threads":
        ts = [threading.Thread(target=f, args=(end,), name=f.__name__) for f in (thread_alpha, thread_beta)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    else:
        sys.exit("unknown mode " + mode)


main()
