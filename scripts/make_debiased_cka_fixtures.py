#!/usr/bin/env python3
"""Golden fixtures for debiased linear CKA and debiased NRC2: an independent numpy reference.

Run:  python3 scripts/make_debiased_cka_fixtures.py
Writes test/fixtures/debiased-cka.json (deterministic: fixed seeds, no timestamps).

The reference is the unbiased HSIC estimator of Song et al. (2012, "Feature selection via
dependence maximization", eq. 5) evaluated in SAMPLE space with N x N linear kernels of the raw,
uncentered data (the library works in feature space, with centered data and running sums):

  HSIC_u(K, L) = [tr(K~ L~) + (1' K~ 1)(1' L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1' K~ L~ 1] / (n(n-3)),

K~, L~ the kernels with their diagonals set to zero; debiased CKA = HSIC_u(K,L) /
sqrt(HSIC_u(K,K) HSIC_u(L,L)) (Nguyen, Raghu & Kornblith 2021 use this estimator for CKA).
Biased CKA (Kornblith et al. 2019) = HSIC with H K H, also in sample space, for comparison.
NRC2 (paper preset): X = Hc U_t (U_t the top-t eigenvectors of the features' covariance, from
numpy's SVD of Hc); reference-code preset: X = H[:, :t].
"""

from __future__ import annotations

import base64
import json
import math
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "debiased-cka.json")


def enc_matrix(a) -> dict:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    b = np.ascontiguousarray(a, dtype="<f8").tobytes()
    return {
        "rows": int(a.shape[0]),
        "cols": int(a.shape[1]),
        "f64": base64.b64encode(b).decode("ascii"),
        "sum": math.fsum(a.ravel().tolist()),
        "sumAbs": math.fsum(np.abs(a).ravel().tolist()),
    }


def hsic_unbiased(K, L):
    n = K.shape[0]
    K = K.copy()
    L = L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one = np.ones(n, dtype=K.dtype)
    t1 = np.trace(K @ L)
    t2 = (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
    t3 = 2 * (one @ K @ L @ one) / (n - 2)
    return (t1 + t2 - t3) / (n * (n - 3))


def hsic_biased(K, L):
    n = K.shape[0]
    H = np.eye(n, dtype=K.dtype) - np.ones((n, n), dtype=K.dtype) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def cka_in(X, Y, unbiased, dt):
    X = np.asarray(X, dtype=dt)
    Y = np.asarray(Y, dtype=dt)
    K = X @ X.T
    L = Y @ Y.T
    f = hsic_unbiased if unbiased else hsic_biased
    return f(K, L) / np.sqrt(f(K, K) * f(L, L))


def cka(X, Y, unbiased):
    """In extended precision (x87 long double: the raw kernels cancel what the means add), checked
    against float64."""
    hi = cka_in(X, Y, unbiased, np.longdouble)
    lo = cka_in(X, Y, unbiased, np.float64)
    assert abs(hi - lo) <= 1e-9 * abs(hi) + 1e-12, (hi, lo)
    return float(hi)


def projected(H, t):
    Hc = H - H.mean(axis=0)
    _, _, Vt = np.linalg.svd(Hc, full_matrices=False)  # float64: only the features are projected
    return Hc @ Vt[:t].T


cases = []


def add_cka(name, X, Y):
    cases.append(
        {
            "name": name,
            "x": enc_matrix(X),
            "y": enc_matrix(Y),
            "biased": cka(X, Y, False),
            "debiased": cka(X, Y, True),
        }
    )


rng = np.random.default_rng(20260612)
# Independent data at N = 32: the biased estimator reads ~0.2, the unbiased one ~0.
ind = []
for rep in range(200):
    X = rng.standard_normal((32, 16))
    Y = rng.standard_normal((32, 4))
    ind.append((cka(X, Y, False), cka(X, Y, True)))
    if rep < 3:
        add_cka(f"independent N=32 #{rep}", X + 5.0, Y - 2.0)  # shifted: the estimators don't care
ind = np.array(ind)
# Dependent data with large means and unequal scales.
X = rng.standard_normal((50, 6)) * np.array([1, 2, 3, 0.5, 1, 10]) + 20.0
Y = X[:, :2] @ rng.standard_normal((2, 4)) + 0.5 * rng.standard_normal((50, 4)) - 7.0
add_cka("dependent N=50, means 20", X, Y)
# Identical representations: 1.
X = rng.standard_normal((12, 4))
add_cka("x vs x, N=12", X, X)
# Kornblith-style wide features, N smaller than the width.
add_cka("wide N=20, p=64", rng.standard_normal((20, 64)), rng.standard_normal((20, 5)))

# NRC2: the SPEC's small example and a random layer.
nrc2 = []


def add_nrc2(name, H, Y, t):
    Hp = projected(H, t)
    nrc2.append(
        {
            "name": name,
            "h": enc_matrix(H),
            "y": enc_matrix(Y),
            "t": t,
            "paper": {"biased": cka(Hp, Y, False), "debiased": cka(Hp, Y, True)},
            "referenceCode": {"debiased": cka(H[:, :t], Y, True)},
        }
    )


H = np.array([[1, 2, 0], [2, 1, 1], [3, 5, 1], [4, 3, 2], [0, 1, 0], [5, 4, 3]], dtype=float)
Y = np.array([[1, 0], [0, 1], [2, 1], [1, 3], [0, 0], [3, 1]], dtype=float)
add_nrc2("SPEC small example", H, Y, 2)
assert abs(nrc2[0]["paper"]["biased"] - 0.8007472778855418) < 1e-12, nrc2[0]["paper"]["biased"]
Yr = rng.standard_normal((40, 3))
Hr = Yr @ rng.standard_normal((3, 9)) + 0.3 * rng.standard_normal((40, 9)) + 3.0
add_nrc2("random layer N=40, d=9, t=3", Hr, Yr, 3)

out = {
    "generator": "scripts/make_debiased_cka_fixtures.py (numpy, sample-space unbiased HSIC)",
    "independentN32": {
        "trials": len(ind),
        "meanBiased": float(ind[:, 0].mean()),
        "x": [32, 16],
        "y": [32, 4],
        "meanDebiased": float(ind[:, 1].mean()),
        "sdDebiased": float(ind[:, 1].std()),
    },
    "cka": cases,
    "nrc2": nrc2,
}
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(out, f, allow_nan=False, separators=(",", ":"))
    f.write("\n")
print(f"wrote {os.path.relpath(OUT, ROOT)}")
print("independent N=32: mean biased %.4f, mean debiased %.4f (sd %.4f)" % (ind[:, 0].mean(), ind[:, 1].mean(), ind[:, 1].std()))
for c in cases:
    print(f"  {c['name']}: biased {c['biased']:.6f}, debiased {c['debiased']:.6f}")
for c in nrc2:
    print(f"  NRC2 {c['name']}: paper {c['paper']}, reference-code {c['referenceCode']}")
