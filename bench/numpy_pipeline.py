#!/usr/bin/env python3
"""numpy float64 side of the deep-nrc benchmark (spawned by bench/run.ts).

    python3 bench/numpy_pipeline.py DIR [--reps 3] [--kernels] [--pipeline] [--authors] [--exact]
        [--layers L]

Reads the workload the bench wrote to DIR (Y.npy, H{l}.npy, W{l}.npy float64, workload.json);
file loading is outside every timing. Prints one JSON line.

Pipelines (preset `paper`, same metrics as measureNRC):
  fast     the fastest float64 numpy route, nothing N x N: per layer Hc = H - mean,
           G = Hc^T Hc (numpy uses BLAS syrk for a.T @ a), eigh(G) -> NRC1, NRC2, stable rank;
           C = Hc^T Yc; eigh(W^T W) -> NRC3 (svd of U_t^T V_t), weight stable rank;
           NRC4 from the normal equations H^T H = G + N mu mu^T by Cholesky
           (eigh with the pinv cutoff if Cholesky fails).
  authors  the authors' style (github altayunal/neural-collapse-regression, see SPEC): an SVD of
           each centered H for the spectrum and U_t, np.linalg.pinv(H) for NRC4 (applied as
           H @ (pinv(H) @ Yc), so still nothing N x N), svd of W for its input subspace. It is
           also the float64 *reference*: every eigenvalue comes from an SVD of the data, never a
           Gram, and the NRC4 residual is formed and summed directly.
  exact    a backward-stable route, and the float64 *reference* of the trained-like workload:
           the spectrum from the SVD of the R factor of Hc (qr(mode='r'), values to eps*sigma_1),
           each NRC1 tail summed directly from the data, ||Hc - Hc V_t V_t^T||_F^2 (Ky Fan: the
           tail is a minimum, so the eigenvectors' error enters squared), NRC4 from the R factor
           of [H | Yc]: pinv's cutoff on the SVD of R11, residual ||z off U_k||^2 + ||R22||^2
           (sums of squares; pinv(H) @ Y formed explicitly is off once kappa(H) ~ 1e10).
Kernels: G = Hc^T Hc of H0 and eigh of G / N.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

EPS = float(np.finfo(np.float64).eps)


def load(d, name):
    return np.load(os.path.join(d, name))


def mean_cos(Ut, Vt):
    s = np.linalg.svd(Ut.T @ Vt, compute_uv=False)
    return float(np.mean(np.minimum(s, 1.0)))


def layer_values(nrc1, nrc2, nrc3, nrc4, sr_features, sr_weight):
    """One layer's metrics under the names the TypeScript side reads."""
    return dict(
        nrc1=nrc1,
        nrc2=nrc2,
        nrc3=nrc3,
        nrc4=nrc4,
        stableRankFeatures=sr_features,
        stableRankWeight=sr_weight,
    )


def fast_layer(H, W, Yc, yyF, t):
    N, d = H.shape
    q = Yc.shape[1]
    mu = H.mean(axis=0)
    Hc = H - mu
    G = Hc.T @ Hc
    lam, V = np.linalg.eigh(G)
    lam = np.maximum(lam[::-1], 0.0)
    V = V[:, ::-1]
    total = math.fsum(lam[::-1])
    nrc1 = math.fsum(lam[t:][::-1]) / total
    C = Hc.T @ Yc
    Ut = V[:, :t]
    nrc2 = float(np.sum((Ut.T @ C) ** 2) / math.sqrt(np.sum(lam[:t] ** 2)) / yyF)
    wl, wv = np.linalg.eigh(W.T @ W)
    Vt = wv[:, ::-1][:, :t]
    nrc3 = mean_cos(Ut, Vt)
    srw = float(np.sum(W * W) / max(wl[-1], 0.0))
    HtH = G + N * np.outer(mu, mu)
    try:
        L = np.linalg.cholesky(HtH)
        Z = np.linalg.solve(L, C)
        explained = float(np.sum(Z * Z))
    except np.linalg.LinAlgError:
        el, ev = np.linalg.eigh(HtH)
        keep = el > (max(N, d) * EPS) ** 2 * el[-1]
        P = ev[:, keep].T @ C
        explained = float(np.sum(P * P / el[keep][:, None]))
    nrc4 = (float(np.sum(Yc * Yc)) - explained) / (N * q)
    return layer_values(nrc1, nrc2, nrc3, nrc4, total / lam[0], srw)


def authors_layer(H, W, Yc, yyF, t):
    N, d = H.shape
    q = Yc.shape[1]
    Hc = H - H.mean(axis=0)
    _, s, Vh = np.linalg.svd(Hc, full_matrices=False)
    lam = np.zeros(d)
    lam[: len(s)] = s**2
    total = math.fsum(lam[::-1])
    nrc1 = math.fsum(lam[t:][::-1]) / total
    Ut = Vh[:t].T
    X = Hc @ Ut  # the projected features Hc U_t U_t^T have the same CKA as Hc U_t
    num = float(np.sum((Yc.T @ X) ** 2))
    xx = float(np.linalg.norm(X.T @ X))
    nrc2 = num / xx / yyF
    _, ws, wVh = np.linalg.svd(W, full_matrices=False)
    nrc3 = mean_cos(Ut, wVh[:t].T)
    srw = float(np.sum(ws**2) / ws[0] ** 2)
    rtol = max(N, d) * EPS
    P = np.linalg.pinv(H, rtol=rtol) if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else np.linalg.pinv(H, rcond=rtol)
    R = H @ (P @ Yc) - Yc
    nrc4 = math.fsum((R * R).ravel()) / (N * q)
    return layer_values(nrc1, nrc2, nrc3, nrc4, total / lam[0], srw)


def exact_layer(H, W, Yc, yyF, t):
    N, d = H.shape
    q = Yc.shape[1]
    Hc = H - H.mean(axis=0)
    R = np.linalg.qr(Hc, mode="r")
    _, s, Vh = np.linalg.svd(R)
    lam = np.zeros(d)
    lam[: len(s)] = s**2
    total = math.fsum((Hc * Hc).ravel())
    Vt = Vh[:t].T
    X = Hc @ Vt
    E = Hc - X @ Vt.T
    nrc1 = math.fsum((E * E).ravel()) / total
    num = float(np.sum((Yc.T @ X) ** 2))
    nrc2 = num / float(np.linalg.norm(X.T @ X)) / yyF
    _, ws, wVh = np.linalg.svd(W, full_matrices=False)
    nrc3 = mean_cos(Vt, wVh[:t].T)
    srw = float(np.sum(ws**2) / ws[0] ** 2)
    Ra = np.linalg.qr(np.hstack([H, Yc]), mode="r")
    k = min(N, d)
    U1, s1, _ = np.linalg.svd(Ra[:k, :d])
    keep = s1 > max(N, d) * EPS * s1[0]
    z = U1.T @ Ra[:k, d:]
    res = math.fsum((z[~keep] ** 2).ravel()) + math.fsum((Ra[k:, d:] ** 2).ravel())
    nrc4 = res / (N * q)
    return layer_values(nrc1, nrc2, nrc3, nrc4, total / lam[0], srw)


def target_stable_rank(Yc):
    s = np.linalg.svd(Yc, compute_uv=False)
    return float(np.sum(s**2) / s[0] ** 2)


def run_pipeline(fn, Hs, Ws, Y, t, reps):
    times = []
    vals = None
    for _ in range(reps):
        t0 = time.perf_counter()
        Yc = Y - Y.mean(axis=0)
        yyF = float(np.linalg.norm(Yc.T @ Yc))
        vals = [fn(H, W, Yc, yyF, t) for H, W in zip(Hs, Ws)]
        times.append((time.perf_counter() - t0) * 1e3)
    return times, vals


def blas_info():
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        return f"{b.get('name')} {b.get('version')} ({b.get('openblas configuration', '').strip()})"
    except Exception as e:  # older numpy
        return f"unknown ({e})"


def main():
    args = sys.argv[1:]
    d = args[0]
    reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 3
    w = json.load(open(os.path.join(d, "workload.json")))
    L = int(args[args.index("--layers") + 1]) if "--layers" in args else w["layers"]
    L = min(L, w["layers"])
    t = w["t"]
    out = dict(
        numpy=np.__version__,
        blas=blas_info(),
        threads=os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    )
    Y = load(d, "Y.npy")
    if "--kernels" in args:
        H = load(d, "H0.npy")
        gram, eig = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            Hc = H - H.mean(axis=0)
            G = Hc.T @ Hc
            gram.append((time.perf_counter() - t0) * 1e3)
        # Gram alone (no centering), as the backends' gram kernel is timed.
        gram_raw = []
        for _ in range(reps):
            t0 = time.perf_counter()
            G2 = H.T @ H
            gram_raw.append((time.perf_counter() - t0) * 1e3)
        S = G / H.shape[0]
        for _ in range(reps):
            t0 = time.perf_counter()
            np.linalg.eigh(S)
            eig.append((time.perf_counter() - t0) * 1e3)
        out.update(gramMs=gram_raw, gramCenteredMs=gram, eigMs=eig)
        del G2
    if "--pipeline" in args or "--authors" in args or "--exact" in args:
        Hs = [load(d, f"H{l}.npy") for l in range(L)]
        Ws = [load(d, f"W{l}.npy") for l in range(L)]
        Yc = Y - Y.mean(axis=0)
        out["targetStableRank"] = target_stable_rank(Yc)
        if "--pipeline" in args:
            out["fastMs"], out["fast"] = run_pipeline(fast_layer, Hs, Ws, Y, t, reps)
        if "--exact" in args:
            er = int(args[args.index("--exact-reps") + 1]) if "--exact-reps" in args else reps
            out["exactMs"], out["exact"] = run_pipeline(exact_layer, Hs, Ws, Y, t, er)
        if "--authors" in args:
            ar = int(args[args.index("--authors-reps") + 1]) if "--authors-reps" in args else reps
            out["authorsMs"], out["authors"] = run_pipeline(authors_layer, Hs, Ws, Y, t, ar)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
