#!/usr/bin/python3
"""PyTorch side of bench/onnx-models.ts: builds a model, exports it to ONNX, and times the
"forward hooks + numpy" route a Python user would take.

    /usr/bin/python3 bench/onnx_models.py export DIR MODEL N     # writes DIR/model.onnx, X.npy, Y.npy
    /usr/bin/python3 bench/onnx_models.py hooks DIR MODEL N      # prints one JSON line (timings)

MODEL: transformer (Linear(16, 64), a 2-layer nn.TransformerEncoder of width 64, 4 heads, GELU,
batch-first, on 8 tokens of 16 features, mean, Linear(64, 3); exported at opset 17; the hooks route
is examples/pytorch/capture.py's collect, attention's projections included, tokens as samples),
resnet18 (CIFAR-style ResNet-18 written here: 3×3 stem, BasicBlocks [2,2,2,2] of
64/128/256/512, GAP, Linear(512, 3); 11.2 M parameters; torchvision is not packaged) or smallcnn
(a small residual CNN: Conv(3,16)-BN, two 16-wide blocks, one 32-wide block of stride 2, GAP,
Linear(32, 3)). Random weights (seed 0), BatchNorm statistics set to non-trivial values, eval mode;
exported by torch.onnx.export (opset 14, dynamic batch axis, the default eval mode: BatchNorm
folded). X: N×3×32×32 float32 standard normal; Y = the model's standardised output + 0.1·noise (float64).

The hooks route (timed from the loaded X to the metrics; loading outside the timing): forward
passes of 256 inputs under torch.no_grad() with a forward pre-hook on every Conv2d and Linear; each
hook reshapes its input to (B·h·w)×C (conv: every position a sample, SPEC), widens it to float64
and adds HᵀH, Hᵀ1, HᵀY and YᵀY into per-layer numpy sums (BLAS); at the end, per layer: the
covariance Gram, eigh → NRC1, NRC2 (paper), stable rank; NRC3 from the module's weight; NRC4 from
the normal equations (Cholesky, eigh with the cutoff if it fails) — bench/numpy_pipeline.py's
"fast" route on streamed sums. Threads: torch's and BLAS's defaults (all cores).
"""
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch

# Every core, as deep-nrc uses (Debian's torch starts with 1 thread here).
torch.set_num_threads(os.cpu_count() or 1)
from torch import nn

EPS = float(np.finfo(np.float64).eps)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(h))
        return torch.relu(h + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self, widths, blocks, t=3):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(Block(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, t)

    def forward(self, x):
        h = self.layers(torch.relu(self.bn(self.stem(x))))
        return self.fc(h.mean(dim=(2, 3)))


class Transformer(nn.Module):
    """Linear(16, 64) → nn.TransformerEncoder(2 × (64, 4 heads, 128, GELU), batch-first) → mean
    over the 8 tokens → Linear(64, 3)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(16, 64)
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        return self.head(self.enc(self.inp(x)).mean(dim=1))


def inputs_of(name, n, g):
    if name == "transformer":
        return torch.randn(n, 8, 16, generator=g)
    return torch.randn(n, 3, 32, 32, generator=g)


def build(name):
    torch.manual_seed(0)
    if name == "transformer":
        return Transformer().eval()
    if name == "resnet18":
        net = ResNet([64, 128, 256, 512], [2, 2, 2, 2])
    elif name == "smallcnn":
        net = ResNet([16, 32], [2, 1])
    else:
        raise SystemExit(f"unknown model {name}")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c))
                m.running_var.copy_(0.5 + torch.rand(c))
                m.weight.copy_(0.5 + 0.5 * torch.rand(c))
                m.bias.copy_(0.1 * torch.randn(c))
    return net.eval()


def export(d, name, n):
    net = build(name)
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    x = inputs_of(name, n, g)
    with torch.no_grad():
        y = torch.cat([net(x[i : i + 512]) for i in range(0, n, 512)]).double()
    y = (y - y.mean(0)) / y.std(0) + 0.1 * torch.randn(y.shape, generator=g, dtype=torch.float64)
    torch.onnx.export(
        net, x[:2], os.path.join(d, "model.onnx"), input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=17 if name == "transformer" else 14,
    )
    np.save(os.path.join(d, "X.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "Y.npy"), y.numpy())


def add_sums(sums, i, h, yb):
    """Folds one batch of layer i's float64 features h (rows) and targets yb into its running sums."""
    s = sums[i]
    if s is None:
        dd, q = h.shape[1], yb.shape[1]
        s = sums[i] = dict(n=0, G=np.zeros((dd, dd)), h=np.zeros(dd), C=np.zeros((dd, q)), y=np.zeros(q), yy=np.zeros((q, q)))
    s["n"] += h.shape[0]
    s["G"] += h.T @ h
    s["h"] += h.sum(axis=0)
    s["C"] += h.T @ yb
    s["y"] += yb.sum(axis=0)
    s["yy"] += yb.T @ yb


def finalize(s, W, Yc_sum_sq, t):
    """Metrics of one layer from streamed float64 sums (the numpy 'fast' route)."""
    N, G, hs, C1, = s["n"], s["G"], s["h"], s["C"]
    mu = hs / N
    Gc = G - N * np.outer(mu, mu)
    C = C1 - np.outer(mu, s["y"])  # Hcᵀ Yc (Y summed per row repeat)
    d = G.shape[0]
    lam, V = np.linalg.eigh(Gc)
    lam = np.maximum(lam[::-1], 0.0)
    V = V[:, ::-1]
    total = math.fsum(lam[::-1])
    nrc1 = math.fsum(lam[t:][::-1]) / total
    Ut = V[:, :t]
    yyF = math.sqrt(np.sum(s["YcYc"] ** 2))
    nrc2 = float(np.sum((Ut.T @ C) ** 2) / math.sqrt(np.sum(lam[:t] ** 2)) / yyF)
    wl, wv = np.linalg.eigh(W.T @ W)
    Vt = wv[:, ::-1][:, :t]
    nrc3 = float(np.mean(np.minimum(np.linalg.svd(Ut.T @ Vt, compute_uv=False), 1.0)))
    try:
        L = np.linalg.cholesky(G)
        Z = np.linalg.solve(L, C1 - np.outer(hs, s["y"] / N))
        explained = float(np.sum(Z * Z))
    except np.linalg.LinAlgError:
        el, ev = np.linalg.eigh(G)
        keep = el > (max(N, d) * EPS) ** 2 * el[-1]
        P = ev[:, keep].T @ (C1 - np.outer(hs, s["y"] / N))
        explained = float(np.sum(P * P / el[keep][:, None]))
    q = C.shape[1]
    nrc4 = (float(np.trace(s["YcYc"])) - explained) / (N * q)
    return dict(nrc1=nrc1, nrc2=nrc2, nrc3=nrc3, nrc4=nrc4, stableRankFeatures=total / lam[0])


def hooks_transformer(d, n):
    """The transformer through examples/pytorch/capture.py's collect (every nn.Linear, attention's
    in/out projections recomputed, tokens as samples), one batch of 256 at a time, into the same
    streamed float64 sums."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "pytorch"))
    from capture import collect  # noqa: E402

    net = build("transformer")
    x = torch.from_numpy(np.load(os.path.join(d, "X.npy")))[:n]
    y = np.load(os.path.join(d, "Y.npy"))[:n]
    sums, weights, names = None, None, None
    t0 = time.perf_counter()
    for a in range(0, n, 256):
        tensors, names = collect(net, [(x[a : a + 256], torch.from_numpy(y[a : a + 256]))])
        k = len(names)
        if sums is None:
            sums = [None] * k
            weights = [tensors.get(f"weight.{i}") for i in range(k)]
        yb0 = tensors["targets"].double().numpy()
        for i in range(k):
            f = tensors[f"features.{i}"]
            if f.dim() == 4:  # N×d×P×1: tokens as samples
                rep = f.shape[2]
                h = f.squeeze(-1).transpose(1, 2).reshape(-1, f.shape[1])
            else:
                rep = 1
                h = f
            h = h.double().numpy()
            yb = np.repeat(yb0, rep, axis=0)
            add_sums(sums, i, h, yb)
    fwd = time.perf_counter() - t0
    out = []
    for nm, s, w in zip(names, sums, weights):
        my = s["y"] / s["n"]
        s["YcYc"] = s["yy"] - s["n"] * np.outer(my, my)
        out.append(dict(name=nm, **finalize(s, w.double().numpy(), None, y.shape[1])))
    total = time.perf_counter() - t0
    return total, fwd, out


def hooks(d, name, n):
    if name == "transformer":
        total, fwd, out = hooks_transformer(d, n)
        print(json.dumps(dict(
            seconds=total, hooksForwardSeconds=fwd, layers=out,
            maxRssMB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            torch=torch.__version__, numpy=np.__version__, threads=torch.get_num_threads(),
        )))
        return
    net = build(name)
    x = torch.from_numpy(np.load(os.path.join(d, "X.npy")))[:n]
    y = np.load(os.path.join(d, "Y.npy"))[:n]
    mods = [(k, m) for k, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    sums = [None] * len(mods)
    cur = {}

    def hook_for(i):
        def hook(mod, inp):
            h = inp[0]
            if h.dim() == 4:
                B, C, hh, ww = h.shape
                h = h.permute(0, 2, 3, 1).reshape(-1, C)
                rep = hh * ww
            else:
                rep = 1
            h = h.double().numpy()
            yb = np.repeat(cur["y"], rep, axis=0)
            add_sums(sums, i, h, yb)

        return hook

    handles = [m.register_forward_pre_hook(hook_for(i)) for i, (_, m) in enumerate(mods)]
    t0 = time.perf_counter()
    fwd = 0.0
    with torch.no_grad():
        for a in range(0, n, 256):
            cur["y"] = y[a : a + 256]
            f0 = time.perf_counter()
            net(x[a : a + 256])
            fwd += time.perf_counter() - f0
    out = []
    for (k, m), s in zip(mods, sums):
        W = m.weight.detach().double().numpy()
        if W.ndim == 4:
            W = W.transpose(0, 2, 3, 1).reshape(-1, W.shape[1])
        my = s["y"] / s["n"]
        s["YcYc"] = s["yy"] - s["n"] * np.outer(my, my)
        out.append(dict(name=k, **finalize(s, W, None, y.shape[1])))
    total = time.perf_counter() - t0
    for h in handles:
        h.remove()
    print(json.dumps(dict(
        seconds=total, hooksForwardSeconds=fwd, layers=out,
        maxRssMB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        torch=torch.__version__, numpy=np.__version__, threads=torch.get_num_threads(),
    )))


if __name__ == "__main__":
    cmd, d, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    (export if cmd == "export" else hooks)(d, name, n)
