#!/usr/bin/env python3
"""Golden fixtures for NRC4's two-level solve (src/linalg/deflated.ts, issue 22 part B): layers
whose NRC4 the Gram's normal equations cannot refine (kappa(H^T H) past 1e12), each built so that
a backward-stable float64 reference is itself well determined, and one that must take the
Householder QR fallback (singular values at the pinv cutoff).

Reference (numpy, LAPACK Householder): R of [H | Yc], SVD of R11, pinv's cutoff
sigma <= max(N, d) * eps * sigma_max, residual = the part of U^T R12 off the kept directions plus
||R22||^2, sums of squares only. Each case is checked to be well posed: a second route (QR of H
alone, residual off Q U_k formed explicitly) agrees with it to 1e-10 relative (plus 1e-14 * N * q
absolute, the NRC4 floor; 1e-8 for the near-cutoff case, whose kept directions sit 3x above
the cutoff), else the script stops; the disagreement is written as `referenceSpread`. And each
case must be determined by its float64 data: moving every entry of H by one ulp (random signs, 4
draws) changes NRC4 by at most 2e-10 relative (`ulpSpread`; not asserted for the near-cutoff
case, where it is ~1e-8).

Cases (N = 400, d = 48, t = q = 3):
  bottleneck-exact    rank 6 (graded 1 ... 1e-3) plus the mean: the second level is rounding,
                      below the cutoff (route "cut")
  bottleneck-noise    rank 6 plus a noise bulk 3e-7: kappa(H^T H) ~ 1e14, every direction kept
                      (route "refined")
  collapsed           two of the three targets' span plus an offset and noise 1e-6 (route
                      "refined"; the third target's part off span(H) is the residual)
  collapsed-reduced   the same (noise 1e-5) with dead, saturated (nonzero constant) and duplicated units: the
                      column reduction, 1 in span(H) (route "refined" on the reduced columns)
  graded-second-level rank 4 plus a second level graded 1e-4 ... 1e-8 (route "refined")
  near-cutoff         rank 6 plus singular values spread over 0.3 ... 3 times the cutoff: must
                      take the QR fallback

Run:  python3 scripts/make_deflated_fixtures.py   (writes test/fixtures/deflated.json; deterministic)
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import enc_matrix, fl, write_json  # noqa: E402

EPS = float(np.finfo(np.float64).eps)
N, D, Q = 400, 48, 3


def fsum2(a) -> float:
    return math.fsum((np.asarray(a) ** 2).ravel().tolist())


def nrc4(h, y, spread=1e-10):
    """NRC4 by the R factor of [H | Yc] and by Q of H (the second route checks the first, to
    `spread` relative); returns the value, the kept rank, the nearest singular value's distance
    from the cutoff in decades, and the two routes' relative disagreement."""
    n, d = h.shape
    yc = y - y.mean(axis=0)
    rtol = max(n, d) * EPS
    ra = np.linalg.qr(np.hstack([h, yc]), mode="r")
    u1, s1, _ = np.linalg.svd(ra[:d, :d])
    keep = s1 > rtol * s1[0]
    z = u1.T @ ra[:d, d:]
    res = math.fsum((z[~keep] ** 2).ravel().tolist()) + fsum2(ra[d:, d:])
    qh, rh = np.linalg.qr(h)
    u2, s2, _ = np.linalg.svd(rh)
    k2 = int((s2 > rtol * s2[0]).sum())
    b = qh @ u2[:, :k2]
    res2 = fsum2(yc - b @ (b.T @ yc))
    floor = 1e-14 * n * y.shape[1]
    assert abs(res - res2) <= spread * res + floor, (res, res2)
    assert k2 == int(keep.sum())
    # How close the nearest singular value is to the cutoff (ratio), for the record.
    cut = rtol * s1[0]
    near = float(np.min(np.abs(np.log10(s1[s1 > 0] / cut))))
    return fl(res / (n * y.shape[1])), int(keep.sum()), fl(near), fl(abs(res - res2) / res)


def ulp_spread(h, y, draws=4):
    """The largest relative change of NRC4 when every entry of H moves by one ulp (random signs):
    how well the float64 data determine the value at all. A case must be below the test's 1e-9."""
    rng = np.random.default_rng(7)
    v0 = nrc4(h, y, 1.0)[0]
    worst = 0.0
    for _ in range(draws):
        hp = h * (1 + EPS * rng.choice([-1.0, 1.0], size=h.shape))
        worst = max(worst, abs(nrc4(hp, y, 1.0)[0] - v0) / v0)
    return worst


def orth(rng, n, k):
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


def main():
    rng = np.random.default_rng(20261208)
    x = rng.standard_normal((N, 5))
    y = np.column_stack([np.tanh(x[:, 0]) + 0.3 * x[:, 1], 0.6 * np.sin(x[:, 2]), 0.3 * x[:, 3] ** 2])
    y += 0.05 * rng.standard_normal((N, Q))
    cases = []

    def add(name, h, route, spread=1e-10):
        value, rank, near, between = nrc4(h, y, spread)
        ulp = ulp_spread(h, y)
        assert route == "qr" or ulp <= 2e-10, (name, ulp)
        cases.append(
            {
                "name": name,
                "features": enc_matrix(h),
                "route": route,
                "expected": {
                    "nrc4": value,
                    "rank": rank,
                    "cutoffDecades": near,
                    "referenceSpread": between,
                    "ulpSpread": fl(ulp),
                },
            }
        )

    def low_rank(r, top=1.0, bottom=1e-3):
        u = orth(rng, N, r)
        v = orth(rng, D, r)
        s = np.geomspace(top, bottom, r) * math.sqrt(N)
        return (u * s) @ v.T

    mu = rng.uniform(0.5, 1.5, size=D)
    # 1. an exactly rank-deficient bottleneck: the second level is rounding
    add("bottleneck-exact", low_rank(6) + mu, "cut")
    # 2. rank 6 plus a noise bulk: every direction kept
    add("bottleneck-noise", low_rank(6) + mu + 3e-7 * rng.standard_normal((N, D)), "refined")
    # 3. collapsed onto two of the three targets, an offset, noise 1e-6
    a = rng.standard_normal((Q - 1, D))
    h = y[:, :2] @ a + 6.0 + rng.uniform(size=D) + 1e-6 * rng.standard_normal((N, D))
    add("collapsed", h, "refined")
    # 4. the same with dead, saturated and duplicated units
    h = y[:, 1:] @ rng.standard_normal((Q - 1, D)) + 6.0 + rng.uniform(size=D)
    h += 1e-5 * rng.standard_normal((N, D))
    h[:, [1, 9, 17, 30]] = 0.0
    h[:, 12] = 0.75
    h[:, 40] = h[:, 3]
    h[:, 41] = h[:, 3]
    add("collapsed-reduced", h, "refined")
    # 5. a second level graded over four decades
    u = orth(rng, N, D)
    s = np.concatenate([np.geomspace(1.0, 1e-2, 4), np.geomspace(1e-4, 1e-8, D - 4)]) * math.sqrt(N)
    v = orth(rng, D, D)
    add("graded-second-level", (u * s) @ v.T, "refined")
    # 6. singular values at the cutoff: only the QR can decide them
    cut = max(N, D) * EPS
    s = np.concatenate([np.geomspace(1.0, 1e-2, 6), np.geomspace(3.0, 0.3, D - 6) * cut])
    s *= math.sqrt(N)
    # Their left singular vectors are taken off 1, Yc and the leading ones, so that which of them
    # the cutoff keeps moves NRC4 only by the rounding of forming H (the value is well posed; the
    # route is what the case tests).
    big = orth(rng, N, 6)
    fixed = np.column_stack([np.ones(N), y - y.mean(axis=0), big])
    pf = np.linalg.qr(fixed)[0]
    small = rng.standard_normal((N, D - 6))
    small = np.linalg.qr(small - pf @ (pf.T @ small))[0]
    # Kept directions at 3x the cutoff are rotated ~1e-3 by forming H: the two reference routes
    # agree to ~5e-10 here, and the test allows that (referenceSpread) — it checks the route.
    add("near-cutoff", (np.hstack([big, small]) * s) @ orth(rng, D, D).T, "qr", spread=1e-8)

    write_json(
        "deflated.json",
        {
            "generator": "scripts/make_deflated_fixtures.py (numpy float64, backward-stable reference)",
            "t": Q,
            "targets": enc_matrix(y),
            "cases": cases,
        },
    )
    for c in cases:
        print(c["name"], c["expected"])


if __name__ == "__main__":
    main()
