"""ResNet-style CNN with BatchNorm for the ONNX tests (imported by make_onnx_fixtures.py; `--only cnn_bn`).

One small residual CNN, trained a little (BatchNorm statistics are the trained running ones), exported
twice by PyTorch's own exporter (opset 17, dynamic batch) in eval mode:
- cnn_bn:          the default export (TrainingMode.EVAL): the exporter folds every BatchNorm into the
                   Conv before it, so the file's conv weights are W·γ/√(σ²+ε) per output channel;
- cnn_bn_preserve: training=TrainingMode.PRESERVE: BatchNormalization nodes kept, weights as in the module.
Model: Conv(3,8,3,p1)-BN-ReLU → residual block [Conv(8,8,3,p1)-BN-ReLU-Conv(8,8,3,p1)-BN] + skip, ReLU
→ Conv(8,16,3,s2,p1)-BN-ReLU → GAP → Linear(16,2). Inputs 64×3×8×8.

Reference (cnn_bn.reference.json): PyTorch's own activations (capture.py's `collect`, hooks on Conv2d
and Linear), measured in float64 numpy, paper preset (conv features (N·h·w)×C, every pixel a sample of
its image's targets; filters (Cout·kh·kw)×Cin): NRC1, NRC2, NRC4, stable ranks, and NRC3 and the
weight's stable rank twice: of the module's weight (`nrc3`, `stableRankWeight`) and of the folded
weight (`nrc3Folded`, `stableRankWeightFolded`), which is what the eval export stores.
"""
import json
import os

import numpy as np
import torch
from torch import nn

from capture import collect
from onnx_transformer_fixtures import fsum, metrics

N, T = 64, 2


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


class ResCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.block = Block(8)
        self.down, self.bnd = nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16)
        self.head = nn.Linear(16, T)

    def forward(self, x):
        h = self.block(torch.relu(self.bn(self.stem(x))))
        h = torch.relu(self.bnd(self.down(h)))
        return self.head(h.mean(dim=(2, 3)))


def folded(conv, bn):
    """The weight the eval export stores: W·γ/√(σ²+ε) per output channel."""
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return conv.weight * s[:, None, None, None]


def rows(f, y):
    f = f.double().numpy()
    if f.ndim == 2:
        return f, y
    n, c, h, w = f.shape
    return f.transpose(0, 2, 3, 1).reshape(n * h * w, c), np.repeat(y, h * w, axis=0)


def wmat(w):
    w = w.detach().double().numpy()
    if w.ndim == 2:
        return w
    co, ci, kh, kw = w.shape
    return w.transpose(0, 2, 3, 1).reshape(co * kh * kw, ci)


def make(out, export, linear_nodes, train):
    """Writes the fixtures; export, linear_nodes, train: make_onnx_fixtures.py's."""
    from torch.onnx import TrainingMode

    torch.manual_seed(3)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(N, 3, 8, 8, generator=g)
    y = torch.stack([x[:, 0].mean((1, 2)) * 3, (x[:, 1] * x[:, 2]).mean((1, 2)) * 5], 1)
    model = ResCNN()
    loss = train(model, x, y, steps=60, lr=1e-2)
    model.eval()
    export(model, x, "cnn_bn")
    export(model, x, "cnn_bn_preserve", training=TrainingMode.PRESERVE)
    np.save(os.path.join(out, "cnn_bn.inputs.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, "cnn_bn.targets.npy"), y.numpy().astype(np.float64))
    yy = y.numpy().astype(np.float64)
    tensors, names = collect(model, [(x[:32], y[:32]), (x[32:], y[32:])])
    pairs = {"stem": model.bn, "block.c1": model.block.b1, "block.c2": model.block.b2, "down": model.bnd}
    layers = []
    for k, name in enumerate(names):
        h, yk = rows(tensors[f"features.{k}"], yy)
        m = metrics(h, yk, wmat(tensors[f"weight.{k}"]), t=T)
        if name in pairs:
            mod = dict(model.named_modules())[name]
            mf = metrics(h, yk, wmat(folded(mod, pairs[name])), t=T)
            m["nrc3Folded"], m["stableRankWeightFolded"] = mf["nrc3"], mf["stableRankWeight"]
        layers.append({"module": name, **m})
    ys = np.linalg.svd(yy - yy.mean(0), compute_uv=False) ** 2
    ref = {"mse": loss, "t": T, "samples": N, "layers": layers, "targetStableRank": fsum(ys) / ys[0],
           "nodes": {k: linear_nodes(os.path.join(out, f"{k}.onnx")) for k in ("cnn_bn", "cnn_bn_preserve")}}
    with open(os.path.join(out, "cnn_bn.reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
