#!/usr/bin/env python3
"""Writes test/fixtures/nrc4-precision.json: NRC4 of float32 features under the float32-aware
cutoff (src/engine/nrc4-cutoff.ts), from an independent float64 numpy reference.

Case: H = A·B computed in float32 (N×d of rank r exactly, plus float32 rounding noise in the other
d − r directions, ~1e-7 of σ_max, like a LayerNorm or bottleneck output from ONNX Runtime or
PyTorch), targets Y = H_true·C + noise in float64. NRC4 = ‖Yc − U_k U_kᵀ Yc‖²_F / (N·q), U_k the
left singular vectors of H (the float32 values, read exactly as float64) whose σ > rtol·σ_max:
- `nrc4_f32`: rtol = d·2⁻²³ (deep-nrc's float32 rule, max(d·ε₃₂, max(N, d)·ε₆₄)) → rank r;
- `nrc4_f64`: rtol = max(N, d)·2⁻⁵² (the float64 default) → keeps the rounding-noise directions;
- `nrc4_custom`: rtol = 0.1 (an explicit override), which also drops real directions.
Backward-stable route (SPEC, "Numerical care"): Householder QR of H, SVD of R, residual from the
projector, never pinv(H) @ Y. The script checks numpy's own float32 `pinv` agrees with nrc4_f32
(with rtol=None, the Array API default; scipy.linalg.pinv and matrix_rank use the same epsilon)
to float32 accuracy.

Run: python3 scripts/make_precision_fixtures.py   (numpy >= 2.0)
"""
import base64
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "nrc4-precision.json")


def b64(a, dtype):
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()


def nrc4(h, y, rtol):
    h = np.asarray(h, np.float64)
    yc = y - y.mean(axis=0)
    q, r = np.linalg.qr(h)
    u, s, _ = np.linalg.svd(r)
    k = int(np.sum(s > rtol * s[0]))
    qk = q @ u[:, :k]
    res = yc - qk @ (qk.T @ yc)
    return float(np.sum(res * res) / (h.shape[0] * y.shape[1])), k, s / s[0]


def main():
    rng = np.random.default_rng(20)
    n, d, rank, q = 256, 32, 10, 3
    a = rng.standard_normal((n, rank))
    b = rng.standard_normal((rank, d)) * np.linspace(1.0, 0.05, rank)[:, None]
    h_true = a @ b
    h32 = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float32)  # float32 forward
    c = rng.standard_normal((d, q))
    y = h_true @ c + 0.3 * rng.standard_normal((n, q))
    eps32, eps64 = 2.0**-23, 2.0**-52
    cut = max(d * eps32, max(n, d) * eps64)
    f32, k32, srel = nrc4(h32, y, cut)
    f64, k64, _ = nrc4(h32, y, max(n, d) * eps64)
    cust, kc, _ = nrc4(h32, y, 0.1)
    assert k32 == rank, (k32, srel)
    assert k64 > rank and kc < rank
    # Margin of the float32 cutoff on both sides (the rule is decided far from any σ).
    assert srel[rank - 1] > 100 * cut and srel[rank] < cut / 10, (srel[rank - 1], srel[rank], cut)
    # numpy's float32 pinv with the Array-API default max(N, d)·eps(float32) keeps the same
    # directions here (its cutoff is 8× deep-nrc's): same NRC4 to float32 accuracy.
    yc = y - y.mean(axis=0)
    # rtol=None: the Array API default max(M, N)·eps(float32) (numpy's legacy default is 1e-15;
    # scipy.linalg.pinv and numpy.linalg.matrix_rank use max(M, N)·eps of the dtype).
    p = np.linalg.pinv(h32, rtol=None)
    assert np.linalg.matrix_rank(h32) == rank
    r32 = yc - h32.astype(np.float64) @ (p.astype(np.float64) @ yc)
    np_f32 = float(np.sum(r32 * r32) / (n * q))
    assert abs(np_f32 - f32) < 1e-3 * f32, (np_f32, f32)
    out = {
        "generator": "scripts/make_precision_fixtures.py (numpy float64 reference)",
        "numpy": np.__version__,
        "note": "H float32 (little-endian, row-major), Y float64; NRC4 = ||Yc - U_k U_k^T Yc||^2/(N q)",
        "n": n,
        "d": d,
        "q": q,
        "rank": rank,
        "H_f32": b64(h32, "<f4"),
        "Y_f64": b64(y, "<f8"),
        "nrc4_f32": f32,
        "rank_f32": k32,
        "rtol_f32": cut,
        "nrc4_f64": f64,
        "rank_f64": k64,
        "nrc4_custom": cust,
        "rank_custom": kc,
        "rtol_custom": 0.1,
        "numpy_pinv_f32": np_f32,
        "sigma_rel_at_rank": [float(srel[rank - 1]), float(srel[rank])],
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"nrc4 f32 {f32} (rank {k32}), f64 {f64} (rank {k64}), custom {cust} (rank {kc}), numpy f32 pinv {np_f32}")


if __name__ == "__main__":
    main()
