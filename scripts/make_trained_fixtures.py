#!/usr/bin/env python3
"""Golden fixtures for layers shaped like a trained net's: dead units (exact zero columns),
saturated units (nonzero constant columns), duplicated units, collapsed layers (noise 1e-7 of the
signal, NRC1 ~ 1e-15) and a rank-deficient bottleneck. An independent float64 reference, numpy
only, backward stable throughout:

  * the spectrum of Hc from its SVD; every tail sum read from the data as
    ||Hc - Hc V_k V_k^T||_F^2 (Ky Fan: the tail is a minimum over rank-k projections, so the
    eigenvectors' rounding enters squared), total = ||Hc||_F^2, both summed with math.fsum;
  * NRC2 (paper) = CKA(Hc V_t, Y); NRC3 and the intrinsic alignments from the cosines of the
    principal angles (SVD of the bases' product), bases from full SVDs;
  * NRC4 from the R factor of [H | Yc] (Householder, LAPACK): pinv's cutoff
    sigma <= max(N, d) * eps * sigma_max on the SVD of R11, residual = the part of U^T R12 off
    the kept directions plus ||R22||^2, sums of squares only (never pinv(H) @ Y formed).

Run:  python3 scripts/make_trained_fixtures.py   (writes test/fixtures/trained.json; deterministic)
The construction (which columns are dead, constant, duplicated) is written too, so the tests
check deep-nrc's column reduction against it.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import enc_matrix, fl, write_json  # noqa: E402

EPS = float(np.finfo(np.float64).eps)
N, D, T, R = 200, 24, 3, 2


def fsum2(a) -> float:
    return math.fsum((np.asarray(a) ** 2).ravel().tolist())


def mean_cos(a, b) -> float:
    s = np.linalg.svd(a.T @ b, compute_uv=False)
    return float(np.mean(np.minimum(s, 1.0)))


def cka(x, y) -> float:
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    return fsum2(yc.T @ xc) / math.sqrt(fsum2(xc.T @ xc)) / math.sqrt(fsum2(yc.T @ yc))


def reference(h, w, y):
    n, d = h.shape
    q = y.shape[1]
    hc = h - h.mean(axis=0)
    yc = y - y.mean(axis=0)
    _, s, vh = np.linalg.svd(hc, full_matrices=True)
    v = vh.T
    total = fsum2(hc)

    def tail(k):
        vk = v[:, :k]
        return fsum2(hc - (hc @ vk) @ vk.T)

    _, ws, wvh = np.linalg.svd(w, full_matrices=False)
    wv = wvh.T
    ra = np.linalg.qr(np.hstack([h, yc]), mode="r")
    u1, s1, _ = np.linalg.svd(ra[:d, :d])
    keep = s1 > max(n, d) * EPS * s1[0]
    z = u1.T @ ra[:d, d:]
    res = math.fsum((z[~keep] ** 2).ravel().tolist()) + fsum2(ra[d:, d:])
    return {
        "nrc1": fl(tail(T) / total),
        "nrc2": fl(cka(hc @ v[:, :T], y)),
        "nrc3": fl(mean_cos(v[:, :T], wv[:, :T])),
        "nrc4": fl(res / (n * q)),
        "stableRankFeatures": fl(total / s[0] ** 2),
        "stableRankWeight": fl(fsum2(ws) / ws[0] ** 2),
        "intrinsic": {
            "nrc1": fl(tail(R) / total),
            "nrc3": fl(mean_cos(v[:, :R], wv[:, :R])),
            "bottomAlignment": fl(mean_cos(wv[:, :R], v[:, R:])),
        },
        "rank": int(keep.sum()),
        "sigmaRatio": fl(s[min(d, n) - 1] / s[0]),
    }


def main():
    rng = np.random.default_rng(20261206)
    y = rng.standard_normal((N, 3)) * np.array([1.0, 0.5, 0.25]) + 0.3
    x = rng.standard_normal((N, 6))
    cases = []

    def add(name, h, dead=(), constant=(), duplicates=()):
        w = rng.standard_normal((16, D)) / math.sqrt(D)
        w[:, : T + 1] += 2.0 * rng.standard_normal((16, T + 1))
        cases.append(
            {
                "name": name,
                "features": enc_matrix(h),
                "weight": enc_matrix(w),
                "dead": sorted(int(j) for j in dead),
                "constant": sorted(int(j) for j in constant),
                "duplicates": [sorted(int(j) for j in g) for g in duplicates],
                "expected": reference(h, w, y),
            }
        )

    def relu_layer():
        src = np.hstack([x, y])
        h = src @ rng.standard_normal((9, D)) / 3 + 0.3 * rng.standard_normal(D)
        h += 0.05 * rng.standard_normal((N, D))
        return np.maximum(h, 0.0)

    # 1. a healthy ReLU layer with 30 % dead units
    h = relu_layer()
    dead = rng.choice(D, size=7, replace=False)
    h[:, dead] = 0.0
    add("dead-relu", h, dead=dead)

    # 2. dead units and saturated (nonzero constant) units
    h = relu_layer()
    cols = rng.choice(D, size=6, replace=False)
    h[:, cols[:3]] = 0.0
    h[:, cols[3]] = 0.75
    h[:, cols[4]] = -2.0
    h[:, cols[5]] = 1e-3
    add("constants", h, dead=cols[:3], constant=cols[3:])

    # 3. duplicated units (a pair and a triple) and one dead unit
    h = relu_layer()
    h[:, 10] = h[:, 3]
    h[:, 11] = h[:, 3]
    h[:, 20] = h[:, 5]
    h[:, 22] = 0.0
    add("duplicates", h, dead=[22], duplicates=[[3, 10, 11], [5, 20]])

    # 4. a collapsed layer: the targets' span plus noise 1e-7, 25 % dead, a duplicate
    a = rng.standard_normal((3, D))
    h = y @ a + 6.0 + rng.uniform(size=D) + 1e-7 * rng.standard_normal((N, D))
    dead = [1, 7, 13, 16, 19, 23]
    h[:, dead] = 0.0
    h[:, 21] = h[:, 2]
    add("collapsed", h, dead=dead, duplicates=[[2, 21]])

    # 5. a linear bottleneck of rank 4 plus 1e-9 noise, with one saturated unit
    z = np.tanh(x @ rng.standard_normal((6, 4)))
    h = z @ rng.standard_normal((4, D)) + rng.standard_normal(D) + 1e-9 * rng.standard_normal((N, D))
    h[:, 9] = 0.5
    add("bottleneck", h, constant=[9])

    # 6. a collapsed layer with a saturated unit (1 in span(H)) and a moderate noise 1e-4
    h = y @ rng.standard_normal((3, D)) + 3.0 + 1e-4 * rng.standard_normal((N, D))
    h[:, 0] = 0.0
    h[:, 4] = 1.25
    add("collapsed-constant", h, dead=[0], constant=[4])

    write_json(
        "trained.json",
        {
            "generator": "scripts/make_trained_fixtures.py (numpy float64, backward-stable reference)",
            "t": T,
            "r": R,
            "targets": enc_matrix(y),
            "cases": cases,
        },
    )


if __name__ == "__main__":
    main()
