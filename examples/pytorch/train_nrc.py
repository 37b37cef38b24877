#!/usr/bin/env python3
"""Train the paper's MLP configurations (Rangamani & Unal 2026, "Deep Neural Regression Collapse")
on synthetic data with PyTorch, measure Deep NRC per layer in float64, and export per-layer
features and weights for `deep-nrc measure <folder>`.

Export format (one folder per run and epoch), read by the deep-nrc CLI:
  features.0.npy, features.1.npy, ...   N×d_in float32, the INPUT of each nn.Linear (rows = samples)
  weight.0.npy,   weight.1.npy,   ...   out×in float32 (PyTorch's nn.Linear.weight, y = W x)
  targets.npy                           N×t float32 (standardised training targets, same rows)
  meta.json                             config, train/test MSE, rows kept

Metrics computed here (float64, same definitions as deep-nrc's `paper` preset, see SPEC):
NRC1..NRC4, NRC1 at t+1, stable ranks, the intrinsic-dimension metrics at r, and Proposition 1's
two sides. They are an independent implementation, useful to cross-check the library.

Usage:
  python3 train_nrc.py --config deep-nobias --out runs/            # one configuration
  python3 train_nrc.py --suite full --jobs 6 --out runs/           # every paper-scale configuration
  python3 train_nrc.py --suite smoke --out /tmp/smoke --device cpu # a seconds-long check
  python3 train_nrc.py --list
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover
    sys.exit("train_nrc.py needs PyTorch (pip install torch)")


# ---------------------------------------------------------------------------------------------
# Data (paper §4.1, §4.3): x ~ N(0, I_20), n = 10,000; first 80% train, last 20% test.
# ---------------------------------------------------------------------------------------------
def make_teacher(n: int, d_in: int, t: int, r: int, seed: int):
    """Targets from a random 2-hidden-layer ReLU network of width r (Gaussian, 1/sqrt(fan_in))."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, d_in))
    w1 = g.standard_normal((d_in, r)) / math.sqrt(d_in)
    w2 = g.standard_normal((r, r)) / math.sqrt(r)
    w3 = g.standard_normal((r, t)) / math.sqrt(r)
    y = np.maximum(np.maximum(x @ w1, 0) @ w2, 0) @ w3
    return x, y


def make_lowrank(n: int, d_in: int, t: int, r: int, seed: int):
    """Targets y = x B C with B d_in×r, C r×t Gaussian: rank r < t exactly."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, d_in))
    b = g.standard_normal((d_in, r)) / math.sqrt(d_in)
    c = g.standard_normal((r, t)) / math.sqrt(r)
    return x, x @ b @ c


def split_standardize(x, y, frac=0.8):
    n_tr = int(round(len(x) * frac))
    xtr, ytr, xte, yte = x[:n_tr], y[:n_tr], x[n_tr:], y[n_tr:]
    mx, sx = xtr.mean(0), xtr.std(0)
    my, sy = ytr.mean(0), ytr.std(0)
    sx[sx == 0] = 1
    sy[sy == 0] = 1
    return (xtr - mx) / sx, (ytr - my) / sy, (xte - mx) / sx, (yte - my) / sy


# ---------------------------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------------------------
def configs(scale: str) -> dict:
    full = scale == "full"
    E = 1000 if full else (300 if scale == "reduced" else 4)
    n = 10_000 if scale != "smoke" else 600
    w = 512 if full else (128 if scale == "reduced" else 16)
    wr = 1024 if full else (128 if scale == "reduced" else 16)
    depth_r = 10 if scale != "smoke" else 4
    depth = 8 if scale != "smoke" else 4
    base = dict(n=n, d_in=20, epochs=E, batch=128, lr=0.05, momentum=0.9, wd=1e-3, init="default", seed=1)
    c = {}
    teacher = dict(data="teacher", t=3, r=10, data_seed=1)
    c["deep-nobias"] = dict(base, **teacher, depth=depth, width=w, bias=False, export=True)
    c["deep-bias"] = dict(base, **teacher, depth=depth, width=w, bias=True, export=False)
    for b in (False, True):
        nb = "bias" if b else "nobias"
        # 10 layers with PyTorch's default init do not train (the signal shrinks ~6× per layer):
        # Kaiming init at lr 0.01 (0.05 diverges).
        rk = dict(base, data="lowrank", depth=depth_r, width=wr, bias=b, init="kaiming", lr=0.01, export=False)
        c[f"rank10x2-{nb}"] = dict(rk, t=10, r=2, data_seed=2)
        c[f"rank4x1-{nb}"] = dict(rk, t=4, r=1, data_seed=3)
    for wd in (0.0, 1e-5, 1e-4, 2e-3, 3e-3, 5e-3, 1e-2):
        c[f"wd-{wd:g}"] = dict(base, **teacher, depth=depth, width=w, bias=False, wd=wd, export=False)
    return c


# ---------------------------------------------------------------------------------------------
# Metrics (float64), paper preset
# ---------------------------------------------------------------------------------------------
F64 = torch.float64


def _spectrum(h):
    hc = h - h.mean(0, keepdim=True)
    n = h.shape[0]
    lam, vec = torch.linalg.eigh(hc.T @ hc / n)
    lam, vec = lam.flip(0).clamp_min(0), vec.flip(1)
    return hc, lam, vec


def _input_subspace(w, k):
    # top-k right singular vectors of W (out×in): its input subspace
    _, s, vh = torch.linalg.svd(w, full_matrices=False)
    return vh[:k].T, s


def _mean_cos(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    return torch.linalg.svdvals(qa.T @ qb).clamp(max=1).mean().item()


def _cka(x, y):
    xc = x - x.mean(0, keepdim=True)
    yc = y - y.mean(0, keepdim=True)
    num = torch.linalg.norm(yc.T @ xc) ** 2
    den = torch.linalg.norm(xc.T @ xc) * torch.linalg.norm(yc.T @ yc)
    return (num / den).item()


def _proj_residual(a, b, rtol):
    """‖A − Q Qᵀ A‖²_F with Q an orthonormal basis of span(B) (cutoff rtol·σ_max)."""
    u, s, _ = torch.linalg.svd(b, full_matrices=False)
    k = int((s > rtol * s[0]).sum().item())
    q = u[:, :k]
    res = a - q @ (q.T @ a)
    return (res**2).sum().item()


def layer_metrics(h, w, y, t, r=None):
    """Every metric of one layer record (features h N×d entering weight w out×d)."""
    h = h.to(F64)
    w = w.to(F64)
    y = y.to(F64)
    n, d = h.shape
    yc = y - y.mean(0, keepdim=True)
    hc, lam, vec = _spectrum(h)
    total = lam.sum().item()
    if total <= 0:
        return dict(degenerate="zero-variance features")
    m = {"degenerate": None, "d": d}
    tt = min(t, d)
    m["nrc1"] = lam[tt:].sum().item() / total
    m["nrc1_t_plus_1"] = lam[tt + 1 :].sum().item() / total if tt + 1 <= d else None
    m["top_eigenvalues"] = lam[: t + 2].tolist()
    m["nrc2"] = _cka(hc @ vec[:, :tt], yc)
    vt, s = _input_subspace(w, tt)
    m["nrc3"] = _mean_cos(vec[:, :tt], vt)
    rtol = max(n, d) * torch.finfo(F64).eps
    m["nrc4"] = _proj_residual(yc, h, rtol) / (n * y.shape[1])
    m["srank_features"] = total / lam[0].item()
    m["srank_weight"] = ((s**2).sum() / s[0] ** 2).item()
    if r is not None and r < d:
        m["nrc1_r"] = lam[r:].sum().item() / total
        vr, _ = _input_subspace(w, r)
        m["nrc3_r"] = _mean_cos(vec[:, :r], vr)
        m["bottom_alignment"] = _mean_cos(vec[:, r:], vr)
    # Proposition 1: ‖Hc − P_Y Hc‖/‖Hc‖ ≤ √NRC1 + √(1 − NRC2)
    ry = max(n, y.shape[1]) * torch.finfo(F64).eps
    lhs = math.sqrt(_proj_residual(hc, yc, ry) / (hc**2).sum().item())
    bound = math.sqrt(m["nrc1"]) + math.sqrt(max(1 - m["nrc2"], 0))
    m["prop1"] = dict(lhs=lhs, bound=bound, holds=lhs <= bound * (1 + 1e-12))
    return m


# ---------------------------------------------------------------------------------------------
# Model, training, capture
# ---------------------------------------------------------------------------------------------
def make_mlp(d_in, t, depth, width, bias, init):
    dims = [d_in] + [width] * (depth - 1) + [t]
    layers = []
    for i in range(depth):
        lin = nn.Linear(dims[i], dims[i + 1], bias=bias)
        if init == "kaiming":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            if bias:
                nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@torch.no_grad()
def capture(model, x):
    """Inputs of every nn.Linear (forward hooks, as the authors' code) and their weights."""
    feats = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: feats.append(inp[0].detach())) for m in model if isinstance(m, nn.Linear)]
    out = model(x)
    for hk in hooks:
        hk.remove()
    weights = [m.weight.detach() for m in model if isinstance(m, nn.Linear)]
    return feats, weights, out


@torch.no_grad()
def mse(model, x, y):
    return torch.mean((model(x) - y) ** 2).item()


def schedule(E):
    return sorted({0, round(E / 60), round(E / 15), round(E / 6), round(E / 3), round(2 * E / 3), E})


def run_config(name, cfg, out_dir, device, export_rows, log):
    torch.manual_seed(cfg["seed"])
    maker = make_teacher if cfg["data"] == "teacher" else make_lowrank
    x, y = maker(cfg["n"], cfg["d_in"], cfg["t"], cfg["r"], cfg["data_seed"])
    xtr, ytr, xte, yte = (torch.tensor(a, dtype=torch.float32, device=device) for a in split_standardize(x, y))
    model = make_mlp(cfg["d_in"], cfg["t"], cfg["depth"], cfg["width"], cfg["bias"], cfg["init"]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["wd"])
    E = cfg["epochs"]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[E // 3, 2 * E // 3], gamma=0.1)
    lossf = nn.MSELoss()
    r = cfg["r"] if cfg["data"] == "lowrank" else None
    record = dict(name=name, config=cfg, device=str(device), torch=torch.__version__, epochs=[], curve=[], error=None)
    measure_at = set(schedule(E))
    t0 = time.time()
    measure_s = 0.0
    n_tr = xtr.shape[0]
    for epoch in range(E + 1):
        if epoch > 0:
            model.train()
            perm = torch.randperm(n_tr, device=device)
            for s in range(0, n_tr, cfg["batch"]):
                idx = perm[s : s + cfg["batch"]]
                opt.zero_grad(set_to_none=True)
                loss = lossf(model(xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
            sched.step()
        model.eval()
        tr, te = mse(model, xtr, ytr), mse(model, xte, yte)
        record["curve"].append(dict(epoch=epoch, train_mse=tr, test_mse=te))
        if not math.isfinite(tr):
            record["error"] = f"diverged at epoch {epoch}"
            log(f"[{name}] {record['error']}")
            break
        if epoch in measure_at:
            m0 = time.time()
            feats, weights, _ = capture(model, xtr)
            layers = [layer_metrics(h, w, ytr, cfg["t"], r) for h, w in zip(feats, weights)]
            record["epochs"].append(dict(epoch=epoch, train_mse=tr, test_mse=te, layers=layers))
            measure_s += time.time() - m0
            log(f"[{name}] epoch {epoch} train {tr:.4g} test {te:.4g} NRC1 " + " ".join("-" if l.get("degenerate") else f"{l['nrc1']:.1e}" for l in layers))
            record["seconds"] = dict(total=time.time() - t0, measure=measure_s, partial=True)
            with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
                json.dump(record, f)
            if epoch == E and cfg.get("export") and export_rows:
                export(model, feats, weights, ytr, cfg, name, epoch, tr, te, out_dir, export_rows, r, record)
    record["seconds"] = dict(total=time.time() - t0, measure=measure_s)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(record, f)
    return record


def export(model, feats, weights, ytr, cfg, name, epoch, tr, te, out_dir, rows, r, record):
    """Write the .npy folder for `deep-nrc measure`; rows subsampled (seeded) to keep it small."""
    n = ytr.shape[0]
    g = torch.Generator(device="cpu").manual_seed(123)
    idx = torch.randperm(n, generator=g)[: min(rows, n)].sort().values.to(ytr.device)
    folder = os.path.join(out_dir, f"{name}-epoch{epoch}")
    os.makedirs(folder, exist_ok=True)
    for i, (h, w) in enumerate(zip(feats, weights)):
        np.save(os.path.join(folder, f"features.{i}.npy"), h[idx].float().cpu().numpy())
        np.save(os.path.join(folder, f"weight.{i}.npy"), w.float().cpu().numpy())
    np.save(os.path.join(folder, "targets.npy"), ytr[idx].float().cpu().numpy())
    # The same metrics on exactly the exported rows (float64 from the float32 files), to compare
    # with what deep-nrc computes from the folder.
    sub = [layer_metrics(h[idx].float(), w.float(), ytr[idx].float(), cfg["t"], r) for h, w in zip(feats, weights)]
    meta = dict(name=name, epoch=epoch, config=cfg, train_mse=tr, test_mse=te, rows=int(len(idx)), of_rows=int(n), metrics_on_exported_rows=sub)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f)
    record["export"] = folder


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="one configuration name (see --list)")
    ap.add_argument("--suite", choices=["full", "reduced", "smoke"], help="run every configuration at this scale")
    ap.add_argument("--scale", default="full", choices=["full", "reduced", "smoke"], help="scale of --config")
    ap.add_argument("--only", nargs="*", help="with --suite: only these configurations")
    ap.add_argument("--out", required=False, default="runs")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--jobs", type=int, default=1, help="with --suite: configurations trained at once")
    ap.add_argument("--export-rows", type=int, default=1000, help="rows kept in the exported .npy files (0: no export)")
    ap.add_argument("--epochs", type=int, help="override the epochs")
    ap.add_argument("--wd", type=float, help="override the weight decay (the run is named <config>-wd<λ>)")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for k, v in configs(a.scale).items():
            print(k, json.dumps(v))
        return
    os.makedirs(a.out, exist_ok=True)
    log = lambda s: print(s, flush=True)
    if a.suite:
        names = a.only or list(configs(a.suite))
        procs, t0 = [], time.time()
        pending = list(names)
        while pending or procs:
            while pending and len(procs) < a.jobs:
                nm = pending.pop(0)
                cmd = [sys.executable, __file__, "--config", nm, "--scale", a.suite, "--out", a.out, "--device", a.device, "--export-rows", str(a.export_rows)]
                if a.epochs:
                    cmd += ["--epochs", str(a.epochs)]
                if a.wd is not None:
                    cmd += ["--wd", str(a.wd)]
                procs.append((nm, subprocess.Popen(cmd)))
            time.sleep(0.5)
            for p in [p for p in procs if p[1].poll() is not None]:
                procs.remove(p)
                log(f"== {p[0]} finished (rc {p[1].returncode}) at {time.time() - t0:.0f} s")
        return
    cfgs = configs(a.scale)
    if a.config not in cfgs:
        sys.exit(f"unknown config {a.config}; one of {', '.join(cfgs)}")
    cfg = dict(cfgs[a.config])
    name = a.config
    if a.epochs:
        cfg["epochs"] = a.epochs
    if a.wd is not None:
        cfg["wd"] = a.wd
        name = f"{a.config}-wd{a.wd:g}"
    rec = run_config(name, cfg, a.out, torch.device(a.device), a.export_rows, log)
    while rec["error"] and cfg["lr"] > 0.001:
        # Divergence: retry at half the learning rate (the record keeps the lr that ran).
        cfg["lr"] /= 2
        log(f"[{a.config}] retrying at lr {cfg['lr']}")
        rec = run_config(name, cfg, a.out, torch.device(a.device), a.export_rows, log)
    log(f"[{name}] done in {rec['seconds']['total']:.0f} s")


if __name__ == "__main__":
    main()
