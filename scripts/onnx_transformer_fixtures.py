"""Transformer fixtures for the ONNX tests (imported by make_onnx_fixtures.py; `--only transformers`).

One small encoder, trained once, exported twice by PyTorch's own exporter (opset 17, dynamic batch):
- tf_bf: batch-first, input N×L×6 (axis 0 dynamic);
- tf_sf: the same weights sequence-first, input L×N×6 (axis 1 dynamic): nn.MultiheadAttention and
  the feed-forward maps read L×N×E, the out-projection reads a Reshape to (L·N)×E rows.
Model: Linear(6, 32) → nn.TransformerEncoder(2 × TransformerEncoderLayer(32, 4 heads, 64, GELU,
LayerNorm, dropout 0)) → mean over tokens → Linear(32, 3). Ten linear maps: inp, per layer
in_proj (96×32), out_proj, linear1, linear2, and head.

The reference is PyTorch's own activations, from examples/pytorch/capture.py's `collect` (forward
hooks with the fast path off; attention projections recomputed, see its _Attention), measured here
in float64 numpy with tokens as samples (each token paired with its sample's targets): NRC1, NRC2
(paper), NRC3, NRC4 (rtol max(M, d)·ε₆₄ and max(M, d)·ε₃₂), stable ranks, written to
transformer.reference.json with the ONNX node names of the maps (graph order) for the record.
Inputs: tf.inputs.npy (N×L×6 float32; the sequence-first model reads its transpose), tf.targets.npy.
- mha_cross: nn.MultiheadAttention called directly, sequence-first, as cross-attention (the first
  token's query over all tokens): maps inp, q_proj (1 row per sample), kv_proj (L rows per sample),
  out_proj ((1·N)×E rows), head.
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn

from capture import collect

N, L, DIN, E, HEADS, FF, T = 256, 8, 6, 32, 4, 64, 3
EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


class Encoder(nn.Module):
    def __init__(self, batch_first):
        super().__init__()
        self.batch_first = batch_first
        self.inp = nn.Linear(DIN, E)
        layer = nn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.0, activation="gelu", batch_first=batch_first)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(E, T)

    def forward(self, x):
        h = self.enc(self.inp(x))
        return self.head(h.mean(dim=1 if self.batch_first else 0))


class CrossAttention(nn.Module):
    """nn.MultiheadAttention as users call it (sequence-first by default): the first token attends
    over all of them (query 1×N×E, key = value L×N×E: PyTorch's packed weight split into q and kv)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(DIN, E)
        self.attn = nn.MultiheadAttention(E, HEADS)
        self.head = nn.Linear(E, T)

    def forward(self, x):  # N×L×6
        h = torch.relu(self.inp(x)).transpose(0, 1)  # L×N×E
        a = self.attn(h[:1], h, h, need_weights=False)[0]  # 1×N×E
        return self.head(a[0])


def data(seed=7):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, L, DIN, generator=g)
    a = torch.randn(DIN, T, generator=g) / DIN**0.5
    b = torch.randn(DIN, T, generator=g) / DIN**0.5
    # a target of the whole sequence: the mean token and the largest token response
    y = torch.tanh(x.mean(1) @ a * 2) + 0.5 * (x @ b).amax(1) + 0.05 * torch.randn(N, T, generator=g)
    return x, y


def fsum(v):
    return math.fsum(np.asarray(v, dtype=np.float64).ravel().tolist())


def orth(a):
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    return u[:, : int(np.sum(s > max(a.shape) * EPS64 * s[0]))]


def angles(qa, qb):
    """Principal angles, cosines (descending) paired with sines (ascending) as SPEC.md asks."""
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    m = qa.T @ qb
    cos = np.clip(np.linalg.svd(m, compute_uv=False)[: qb.shape[1]], 0, 1)
    sin = np.clip(np.sort(np.linalg.svd(qb - qa @ m, compute_uv=False))[: qb.shape[1]], 0, 1)
    return np.where(cos * cos >= 0.5, np.arcsin(sin), np.arccos(cos))


def cka(x, y):
    xc, yc = x - x.mean(0), y - y.mean(0)
    return fsum((yc.T @ xc) ** 2) / math.sqrt(fsum((xc.T @ xc) ** 2) * fsum((yc.T @ yc) ** 2))


def nrc4(h, yc, rtol):
    u, s, _ = np.linalg.svd(h, full_matrices=False)
    ur = u[:, s > rtol * s[0]]
    return fsum((yc - ur @ (ur.T @ yc)) ** 2) / yc.size


def metrics(h, y, w, t=T):
    """One map's float64 metrics; h: M×d rows (tokens), y: M×t their samples' targets."""
    m, d = h.shape
    hc = h - h.mean(0)
    _, s, vt = np.linalg.svd(hc, full_matrices=False)
    lam = s * s
    ut = vt[:t].T
    z = hc @ ut
    _, sw, vwt = np.linalg.svd(w, full_matrices=False)
    yc = y - y.mean(0)
    return {
        "nrc1": fsum(lam[t:]) / fsum(lam),
        "nrc2": cka(z, y),
        "nrc3": float(np.mean(np.cos(angles(ut, vwt[:t].T)))),
        "nrc4": nrc4(h, yc, max(m, d) * EPS64),
        "nrc4Float32Rtol": nrc4(h, yc, max(m, d) * EPS32),
        "stableRankFeatures": fsum(lam) / lam[0],
        "stableRankWeight": fsum(sw * sw) / sw[0] ** 2,
        "samples": m,
        "features": d,
    }


def as_rows(f, y):
    """Captured features (N×d, or tokens N×d×P×1) → M×d rows with each row's targets."""
    f = f.double().numpy()
    if f.ndim == 2:
        return f, y
    n, d, p, _ = f.shape
    return f[..., 0].transpose(0, 2, 1).reshape(n * p, d), np.repeat(y, p, axis=0)


def make(out, export, linear_nodes, train):
    """Writes the fixtures; export, linear_nodes, train: make_onnx_fixtures.py's."""
    torch.manual_seed(0)
    x, y = data()
    bf = Encoder(True)
    mse = train(bf, x, y, steps=300, lr=3e-3)
    sf = Encoder(False)
    sf.load_state_dict(bf.state_dict())
    bf.eval()
    sf.eval()
    xs = x.transpose(0, 1).contiguous()
    with torch.no_grad():
        assert torch.allclose(bf(x), sf(xs), atol=1e-5)
    torch.manual_seed(1)
    cross = CrossAttention()
    train(cross, x, y, steps=300, lr=3e-3)
    cross.eval()
    export(cross, x, "mha_cross")
    export(bf, x, "tf_bf")
    export(sf, xs, "tf_sf", axis=1)
    np.save(os.path.join(out, "tf.inputs.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, "tf.targets.npy"), y.numpy().astype(np.float64))
    yy = y.numpy().astype(np.float64)
    ref = {"mse": mse, "t": T, "samples": N, "tokens": L, "models": {}}
    for name, model, inputs, bd in (("tf_bf", bf, x, 0), ("tf_sf", sf, xs, 1), ("mha_cross", cross, x, 0)):
        loader = [(inputs[i : i + 64] if bd == 0 else inputs[:, i : i + 64], y[i : i + 64]) for i in range(0, N, 64)]
        tensors, names = collect(model, loader, batch_dim=bd)
        layers = []
        for k, mod in enumerate(names):
            h, yk = as_rows(tensors[f"features.{k}"], yy)
            layers.append({"module": mod, **metrics(h, yk, tensors[f"weight.{k}"].double().numpy())})
        ys = np.linalg.svd(yy - yy.mean(0), compute_uv=False) ** 2
        ref["models"][name] = {
            "layers": layers,
            "targetStableRank": fsum(ys) / ys[0],
            "nodes": linear_nodes(os.path.join(out, f"{name}.onnx")),
        }
    # the two exports are the same network: their references agree to float32 rounding
    for a, b in zip(ref["models"]["tf_bf"]["layers"], ref["models"]["tf_sf"]["layers"]):
        assert abs(a["nrc2"] - b["nrc2"]) < 1e-5, (a, b)
    with open(os.path.join(out, "transformer.reference.json"), "w") as f:
        json.dump(ref, f, indent=1)


def pairing_model(out, opset):
    """pairing.onnx, hand-built (onnx.helper): four MatMuls on layouts of x (N×6×4 tokens):
    - tok:   x itself (samples outermost, stride 6);
    - seq:   Transpose(x) 6×N×4 (sequence-first, stride 1): the same rows as tok, paired alike;
    - pool:  ReduceMean over the samples, 6×4: its rows mix the samples → not measured;
    - const: a constant 6×4 Expanded to N×6×4: rows that depend on the position only still move
             with the samples under one stride only (6), so it is measured;
    - flat:  a constant 1×1×4 Expanded to N×6×4: identical rows fit every stride → not proven,
             not measured."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    w = [numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), f"w{k}") for k in range(5)]
    c = numpy_helper.from_array(rng.standard_normal((6, 4)).astype(np.float32), "c")
    c1 = numpy_helper.from_array(rng.standard_normal((1, 1, 4)).astype(np.float32), "c1")
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["y_tok"], name="tok"),
        helper.make_node("Transpose", ["x"], ["xt"], name="transpose", perm=[1, 0, 2]),
        helper.make_node("MatMul", ["xt", "w1"], ["y_seq"], name="seq"),
        helper.make_node("ReduceMean", ["x"], ["xm"], name="mean", axes=[0], keepdims=0),
        helper.make_node("MatMul", ["xm", "w2"], ["y_pool"], name="pool"),
        helper.make_node("Shape", ["x"], ["xs"], name="shape"),
        helper.make_node("Expand", ["c", "xs"], ["ce"], name="expand"),
        helper.make_node("MatMul", ["ce", "w3"], ["y_const"], name="const"),
        helper.make_node("Expand", ["c1", "xs"], ["fe"], name="expand1"),
        helper.make_node("MatMul", ["fe", "w4"], ["y_flat"], name="flat"),
    ]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in (
        ("y_tok", ["N", 6, 3]), ("y_seq", [6, "N", 3]), ("y_pool", [6, 3]), ("y_const", ["N", 6, 3]), ("y_flat", ["N", 6, 3]))]
    g = helper.make_graph(nodes, "pairing", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6, 4])],
                          outs, initializer=w + [c, c1])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", min(opset, 17))], producer_name="deep-nrc fixtures")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, "pairing.onnx"))
