#!/usr/bin/env python3
"""Reference SVDs for test/backends/svd.test.ts, written to test/fixtures/svd.json.

Independent float64 references: numpy's LAPACK SVD (gesdd) for general matrices; for matrices
built as U·diag(s)·Vᵀ with orthogonal U, V (QR of Gaussian matrices) the singular values s of
the construction; for graded bidiagonal matrices (where a bidiagonal SVD must get every value
to high *relative* accuracy) mpmath's SVD at 250 digits.

Each case: the matrix A (row-major), right-hand sides B (rows(A)×3), the reference singular
values S, the reference U and V (thin, numpy's signs: the test compares them sign- and
cluster-invariantly) and Uᵀ·B, and how S is to be compared ("abs": |ΔS| ≤ tol·σ_max,
"rel": |ΔS| ≤ tol·S).

Run: python3 scripts/make_svd_fixtures.py
"""
import json
import os

import numpy as np

try:
    import mpmath
except ImportError:  # pragma: no cover
    mpmath = None

rng = np.random.default_rng(20261206)


def orth(n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def case(name, a, kind="abs", s_exact=None):
    a = np.asarray(a, dtype=np.float64)
    m, n = a.shape
    b = rng.standard_normal((m, 3))
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    if s_exact is not None:
        s = np.asarray(s_exact, dtype=np.float64)
    return {
        "name": name,
        "rows": m,
        "cols": n,
        "a": a.ravel().tolist(),
        "b": b.ravel().tolist(),
        "S": s.tolist(),
        "U": u.ravel().tolist(),
        "V": vt.T.ravel().tolist(),
        "UtB": (u.T @ b).ravel().tolist(),
        "compare": kind,
    }


def mp_singular_values(a):
    mpmath.mp.dps = 250  # beyond log10(σ_max/σ_min) + 50: the references resolve every value
    s = mpmath.svd_r(mpmath.matrix(a.tolist()), compute_uv=False)
    return sorted((float(x) for x in s), reverse=True)


def bidiagonal(d, e):
    n = len(d)
    a = np.zeros((n, n))
    a[np.arange(n), np.arange(n)] = d
    a[np.arange(n - 1), np.arange(1, n)] = e
    return a


cases = []
cases.append(case("random tall 40×12", rng.standard_normal((40, 12))))
cases.append(case("random wide 12×40", rng.standard_normal((12, 40))))
cases.append(case("random square 60×60", rng.standard_normal((60, 60))))
cases.append(case("random tall 90×50 (QR first)", rng.standard_normal((90, 50))))
cases.append(case("random 24×24 (near the Jacobi crossover)", rng.standard_normal((24, 24))))

# Dense graded: known singular values 1 … 1e-15 (absolute accuracy ε·σ_max is what is attainable).
n = 48
s = np.logspace(0, -15, n)
cases.append(case("dense graded 48×48, σ = 1…1e-15", orth(n) @ np.diag(s) @ orth(n).T, "abs", s))
s = np.concatenate([np.logspace(0, -15, 30)])
cases.append(
    case("dense graded 50×30, σ = 1…1e-15", orth(50)[:, :30] @ np.diag(s) @ orth(30).T, "abs", s)
)

# Graded bidiagonal: high relative accuracy is attainable and expected (mpmath reference).
if mpmath is not None:
    n = 40
    g = np.logspace(0, -15, n)
    d = g * rng.uniform(0.5, 1.5, n)
    e = g[:-1] * rng.uniform(0.5, 1.5, n - 1)
    a = bidiagonal(d, e)
    cases.append(case("graded bidiagonal 40×40 (large at top)", a, "rel", mp_singular_values(a)))
    a = bidiagonal(d[::-1].copy(), e[::-1].copy())
    cases.append(case("graded bidiagonal 40×40 (large at bottom)", a, "rel", mp_singular_values(a)))
    a = bidiagonal(rng.uniform(0.5, 1.5, 30) * np.logspace(0, -12, 30)[rng.permutation(30)],
                   rng.uniform(0.5, 1.5, 29) * 1e-3)
    cases.append(case("bidiagonal 30×30, scattered scales", a, "rel", mp_singular_values(a)))

# Exact zeros, rank deficiency, degenerate shapes.
a = rng.standard_normal((30, 20))
a[:, [3, 7, 19]] = 0
cases.append(case("30×20 with zero columns 3, 7, 19", a))
a = rng.standard_normal((20, 30))
a[[0, 11, 12], :] = 0
cases.append(case("20×30 with zero rows 0, 11, 12", a))
cases.append(case("50×30 of rank 5", rng.standard_normal((50, 5)) @ rng.standard_normal((5, 30))))
cases.append(case("zero 5×4", np.zeros((5, 4))))
cases.append(case("1×1", [[-2.5]]))
cases.append(case("1×7", rng.standard_normal((1, 7))))
cases.append(case("7×1", rng.standard_normal((7, 1))))
cases.append(case("2×2 triangular", [[1.0, 1e8], [0.0, 1e-3]]))
# A triangular R like NRC4's: the QR factor of a layer with dead (zero) units.
h = np.maximum(rng.standard_normal((400, 40)) @ rng.standard_normal((40, 40)), 0)
h[:, rng.choice(40, 12, replace=False)] = 0
cases.append(case("NRC4-like R 40×40 (12 dead units)", np.linalg.qr(h, mode="r")))

out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "svd.json")
with open(out, "w") as f:
    json.dump({"generator": "scripts/make_svd_fixtures.py", "cases": cases}, f)
print(f"wrote {out}: {len(cases)} cases")
