#!/usr/bin/env python3
"""Golden fixtures built to defeat the certified path's float32 pass (issue 22): a float32 Gram
refined in float64 on the data must either certify values within the contract or hand the layer
to the float64 path. An independent float64 reference, numpy only, backward stable throughout
(the same `reference` as scripts/make_trained_fixtures.py: spectrum from the SVD of Hc, tails
read from the data, NRC4 from the R factor of [H | Yc]).

Cases (N = 400 samples, d = 128 features, t = 3, so the certified path is eligible):
  healthy            signal of rank 3 plus noise, column means ~5
  collapsed          the same with noise 1e-7 of the signal (NRC1 ~ 1e-14)
  gap-below-f32      lambda_3 and lambda_4 1e-9 apart (relative): below what a float32 Gram
                     resolves; the top-3 subspace is ill-conditioned (NRC2/NRC3 to ~1e-7 only)
  kappa-past-preconditioner
                     singular values of Hc from 1 to 1e-6 (kappa(Hc^T Hc) = 1e12): past what the
                     float32 Cholesky preconditions
  repeated           lambda_1 = lambda_2 and a tail of equal eigenvalues (singular values set
                     exactly through an orthonormal U and V)
  large-mean         means 1e4 with spread ~1 (the float32 rounding of x - s is what matters)
  float32-duplicates float32-representable features with exactly duplicated columns and rows

Run:  python3 scripts/make_certified_fixtures.py   (writes test/fixtures/certified.json)
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import enc_matrix, write_json  # noqa: E402
from make_trained_fixtures import reference  # noqa: E402

N, D, T = 400, 128, 3


def orthonormal_centered(rng, n, k):
    """n x k orthonormal columns, each orthogonal to the ones vector."""
    a = rng.standard_normal((n, k))
    a -= a.mean(axis=0)
    q, _ = np.linalg.qr(a)
    return q


def with_spectrum(rng, s, mean):
    """H = U diag(s) V^T + 1 mean^T with U centered orthonormal, V orthogonal: the singular values
    of Hc are s (to rounding)."""
    u = orthonormal_centered(rng, N, D)
    v, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return (u * s) @ v.T + mean


def main():
    rng = np.random.default_rng(20261208)
    y = rng.standard_normal((N, 3)) * np.array([1.0, 0.6, 0.3]) + 0.2
    cases = []

    def add(name, h, note, f32=False):
        w = rng.standard_normal((16, D)) / math.sqrt(D)
        exp = reference(h, w, y)
        exp.pop("intrinsic")
        cases.append(
            {
                "name": name,
                "note": note,
                "float32": f32,
                "features": enc_matrix(h),
                "weight": enc_matrix(w),
                "expected": exp,
            }
        )

    b = rng.standard_normal((3, D))
    means = 5 + rng.standard_normal(D)

    def signal(noise):
        z = y + 0.2 * rng.standard_normal((N, 3))
        return z @ b + noise * rng.standard_normal((N, D)) + means

    add("healthy", signal(0.3), "rank-3 signal plus noise 0.3")
    add("collapsed", signal(1e-7), "noise 1e-7 of the signal: NRC1 ~ 1e-14")
    s = np.concatenate([[10.0, 6.0, 3.0, 3.0 * (1 - 1e-9)], 0.5 * 0.97 ** np.arange(D - 4)])
    add("gap-below-f32", with_spectrum(rng, s, means), "lambda_3/lambda_4 - 1 = 2e-9")
    s = np.geomspace(1.0, 1e-6, D) * 10
    add("kappa-past-preconditioner", with_spectrum(rng, s, means), "sigma from 10 to 1e-5")
    s = np.concatenate([[8.0, 8.0, 4.0], np.full(D - 3, 0.25)])
    add("repeated", with_spectrum(rng, s, means), "lambda_1 = lambda_2; lambda_4 = ... = lambda_d")
    h = signal(0.3) - means + 1e4 + rng.standard_normal(D)
    add("large-mean", h, "means 1e4, spread ~1")
    h = signal(0.3).astype(np.float32)
    h[:, 7] = h[:, 3]
    h[:, 90] = h[:, 3]
    h[:, 100] = h[:, 50]
    h[200:210] = h[10:20]
    add("float32-duplicates", h.astype(np.float64), "float32 values; columns 3=7=90, 50=100; rows 200..209 = 10..19", True)

    write_json(
        "certified.json",
        {
            "generator": "scripts/make_certified_fixtures.py (numpy float64, backward-stable reference)",
            "t": T,
            "targets": enc_matrix(y),
            "cases": cases,
        },
    )


if __name__ == "__main__":
    main()
