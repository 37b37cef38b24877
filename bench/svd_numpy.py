#!/usr/bin/env python3
"""numpy side of bench/svd.ts: a persistent child that times one task per request.

    python3 bench/svd_numpy.py DIR

Loads the matrices bench/svd.ts wrote to DIR (A.npy 512x512, R.npy 516x516 upper triangular,
B.npy 516x3, L.npy the 10000x512 layer, Y.npy its targets), then reads task names from stdin,
one per line, runs the task once and prints {"task": ..., "ms": wall, "cpu": process CPU time}
(loading is never timed).
Tasks: values (svd, compute_uv=False), full (svd, full_matrices=False), parts (svd of R, then
U^T B), fallback (exact NRC4 route: QR of [H | Y | 1], then SVD of R_H and U^T Z).
"""

import json
import os
import sys
import time

import numpy as np

d = sys.argv[1]
A = np.load(os.path.join(d, "A.npy"))
R = np.load(os.path.join(d, "R.npy"))
B = np.load(os.path.join(d, "B.npy"))
L = np.load(os.path.join(d, "L.npy"))
Y = np.load(os.path.join(d, "Y.npy"))


def fallback():
    n, dd = L.shape
    aug = np.hstack([L, Y, np.ones((n, 1))])
    r = np.linalg.qr(aug, mode="r")
    rh = r[:dd, :dd]
    z = r[:dd, dd:-1] - np.outer(r[:dd, -1], Y.mean(axis=0))
    u, s, _ = np.linalg.svd(rh)
    rank = int(np.sum(s > max(n, dd) * np.finfo(float).eps * s[0]))
    utz = u.T @ z
    return float(np.sum(utz[rank:] ** 2))


TASKS = {
    "values": lambda: np.linalg.svd(A, compute_uv=False),
    "full": lambda: np.linalg.svd(A, full_matrices=False),
    "parts": lambda: (lambda usv: usv[0].T @ B)(np.linalg.svd(R)),
    "fallback": fallback,
}

print(json.dumps({"ready": True, "numpy": np.__version__}), flush=True)
for line in sys.stdin:
    task = line.strip()
    if not task:
        continue
    c0 = time.process_time()
    t0 = time.perf_counter()
    TASKS[task]()
    ms = (time.perf_counter() - t0) * 1000
    cpu = (time.process_time() - c0) * 1000
    print(json.dumps({"task": task, "ms": ms, "cpu": cpu}), flush=True)
