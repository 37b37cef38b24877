#!/usr/bin/python3
"""Writes test/fixtures/onnx/ with PyTorch's own ONNX exporter (torch.onnx.export).

For each model: <name>.onnx, <name>.inputs.npy (float32, or float16 for the f16 model),
<name>.targets.npy (N×t float64), and <name>.hooks.safetensors: what PyTorch's forward hooks see,
written by examples/pytorch/capture.py (features.k = the input of the k-th linear map, weight.k =
its weight out×in or Cout×Cin×kh×kw, targets). manifest.json lists, per model, the ONNX nodes
that are its linear maps (in graph order) and the module each one came from.

Debian bookworm ships torch 1.13, whose exporter is the TorchScript one (`dynamo=False` in newer
torch; the dynamo exporter needs onnxscript, which is not packaged). Opset 17 (LayerNormalization).

Models (small on purpose: a few hundred samples, widths ≤ 32):
- mlp_bias:    Linear(8,32)-ReLU-Linear(32,16)-ReLU-Linear(16,3)           -> Gemm
- mlp_nobias:  the same without biases                                     -> MatMul (folded W^T)
- cnn_gap:     Conv(1,4,3,p1)-ReLU-Conv(4,8,3,p1)-ReLU-GAP-Linear(8,2)      -> Conv, Gemm
- ln_residual: Linear(8,16), two blocks h + Linear(ReLU(LayerNorm(h))), LayerNorm, Linear(16,3)
- matmul:      x @ W1 + b1 (W1 a parameter in×out), ReLU, x @ W2           -> MatMul
- tokens:      Linear(6,12) on N×5×6 token inputs, ReLU, mean over tokens, Linear(12,2)
               (MatMul on a 3-D input: every token a sample, features written N×d×T×1)
- mlp_f64:     mlp_bias in float64 (weights cast exactly; reference: mlp_bias's float32 hooks)
- mlp_ext:     mlp_bias saved with its tensors in an external data file (mlp_ext.onnx.data)
- mlp_f16:     mlp_bias in float16 (ONNX from the float32 export with every float tensor cast to
               float16: torch 1.13 cannot run half-precision matmuls on the CPU, so its hooks'
               features are the float32 model's, cast to float16 per layer is not the same thing;
               the reference here is numpy's float16 forward of the same ops, see f16_forward)

- tf_bf, tf_sf: a small nn.TransformerEncoder, batch-first and sequence-first (see
               onnx_transformer_fixtures.py; reference metrics, not tensors, to keep them small)
- pairing:     hand-built maps on layouts of the samples that can and cannot be paired
- cnn_bn, cnn_bn_preserve: a residual CNN with BatchNorm, exported in eval mode (BatchNorm folded
               into the convs) and with training=PRESERVE (kept); see onnx_cnn_fixtures.py
     (run with `--only transformers` or `--only cnn_bn` to write just those)

Run: bash scripts/make_onnx_fixtures.sh   (apt's torch + onnx; /usr/bin/python3)
     bash scripts/make_onnx_fixtures.sh --only transformers   (just those)
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "pytorch"))
from capture import capture, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "test", "fixtures", "onnx")
OPSET = 17


class MLP(nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.fc1 = nn.Linear(8, 32, bias=bias)
        self.fc2 = nn.Linear(32, 16, bias=bias)
        self.fc3 = nn.Linear(16, 3, bias=bias)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(h.mean(dim=(2, 3)))


class LNRes(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.ln1 = nn.LayerNorm(16)
        self.b1 = nn.Linear(16, 16)
        self.ln2 = nn.LayerNorm(16)
        self.b2 = nn.Linear(16, 16)
        self.lnf = nn.LayerNorm(16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        h = self.inp(x)
        h = h + self.b1(torch.relu(self.ln1(h)))
        h = h + self.b2(torch.relu(self.ln2(h)))
        return self.head(self.lnf(h))


class MatLinear(nn.Module):
    """y = x @ W (+ b) with W stored in×out, as JAX/TF-style code writes it."""

    def __init__(self, d_in, d_out, bias=True):
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_in, d_out) / d_in**0.5)
        self.b = nn.Parameter(torch.zeros(d_out) + 0.1) if bias else None

    @property
    def weight(self):
        """out×in, as capture() (and deep-nrc) read a weight."""
        return self.W.t()

    def forward(self, x):
        y = x @ self.W
        return y + self.b if self.b is not None else y


class MatMulNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = MatLinear(8, 24)
        self.l2 = MatLinear(24, 3, bias=False)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(6, 12)
        self.head = nn.Linear(12, 2)

    def forward(self, x):  # x: N×T×6
        return self.head(torch.relu(self.emb(x)).mean(dim=1))


def train(model, x, y, steps=150, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return float(loss)


def data(shape, t, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    flat = x.reshape(shape[0], -1)
    a = torch.randn(flat.shape[1], t, generator=g) / flat.shape[1] ** 0.5
    y = torch.tanh(flat @ a) + 0.05 * torch.randn(shape[0], t, generator=g)
    return x, y


def linear_nodes(path):
    import onnx

    m = onnx.load(path)
    inits = {i.name for i in m.graph.initializer}
    out = []
    for n in m.graph.node:
        if n.op_type in ("Gemm", "Conv") or (n.op_type == "MatMul" and n.input[1] in inits):
            out.append({"name": n.name, "op": n.op_type, "input": n.input[0], "weight": n.input[1]})
    return out


def export(model, x, name, axis=0, **kw):
    """torch.onnx.export with the samples on the input's `axis` dynamic (1: sequence-first)."""
    path = os.path.join(OUT, f"{name}.onnx")
    torch.onnx.export(
        model,
        (x[:2] if axis == 0 else x[:, :2],),
        path,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {axis: "N"}, "y": {0: "N"}},
        opset_version=OPSET,
        do_constant_folding=True,
        **kw,
    )
    return path


def save_npy(name, kind, a):
    np.save(os.path.join(OUT, f"{name}.{kind}.npy"), a)


def make(name, model, x, y, layers=(nn.Linear, nn.Conv2d)):
    torch.manual_seed(0)
    mse = train(model, x, y)
    model.eval()
    export(model, x, name)
    save_npy(name, "inputs", x.numpy().astype(np.float32))
    save_npy(name, "targets", y.numpy().astype(np.float64))
    loader = [(x[i : i + 64], y[i : i + 64]) for i in range(0, x.shape[0], 64)]
    mods = capture(model, loader, os.path.join(OUT, f"{name}.hooks.safetensors"), layers=layers)
    return {"mse": mse, "modules": mods, "nodes": linear_nodes(os.path.join(OUT, f"{name}.onnx"))}


def f16_model(name, src_name, x, y, model):
    """The float32 export with every float tensor turned float16; reference: numpy float16."""
    import onnx
    from onnx import numpy_helper, TensorProto

    m = onnx.load(os.path.join(OUT, f"{src_name}.onnx"))
    for init in m.graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, f"{name}.onnx"))
    x16 = x.numpy().astype(np.float16)
    save_npy(name, "inputs", x16)
    save_npy(name, "targets", y.numpy().astype(np.float64))
    # The same forward in float16 (each product rounded to float16 like ORT's float16 Gemm output;
    # the sums may differ in order, so tests compare to float16 rounding).
    ws = [(l.weight.detach().numpy().astype(np.float16), l.bias.detach().numpy().astype(np.float16))
          for l in (model.fc1, model.fc2, model.fc3)]
    feats = []
    h = x16
    for k, (w, b) in enumerate(ws):
        feats.append(h)
        h = (h.astype(np.float32) @ w.astype(np.float32).T + b.astype(np.float32)).astype(np.float16)
        if k < 2:
            h = np.maximum(h, np.float16(0))
    tensors = {f"features.{k}": torch.from_numpy(f.copy()) for k, f in enumerate(feats)}
    for k, (w, _) in enumerate(ws):
        tensors[f"weight.{k}"] = torch.from_numpy(w.copy())
    tensors["targets"] = torch.from_numpy(y.numpy().astype(np.float64))
    write_safetensors(os.path.join(OUT, f"{name}.hooks.safetensors"), tensors, {"format": "numpy float16 forward"})
    return {"modules": ["fc1", "fc2", "fc3"], "nodes": linear_nodes(os.path.join(OUT, f"{name}.onnx"))}


def f64_model():
    """mlp_bias with every float tensor float64 (weights cast exactly); reference: mlp_bias's hooks
    (float32 forward), so features agree to float32 rounding."""
    import onnx
    from onnx import numpy_helper, TensorProto

    m = onnx.load(os.path.join(OUT, "mlp_bias.onnx"))
    for init in m.graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float64), init.name))
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, "mlp_f64.onnx"))


def error_models():
    """Hand-built (onnx.helper) models for the error paths: a ConvTranspose, a Gemm whose weight is
    computed (Cast of a float16 initializer: measured without NRC3), an opset-6 model, an int64 input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)

    def save(name, nodes, inits, inp, out, opset=OPSET):
        g = helper.make_graph(nodes, name, [inp], [out], initializer=inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="deep-nrc fixtures")
        m.ir_version = 8
        onnx.save(m, os.path.join(OUT, f"{name}.onnx"))

    x4 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])
    save("err_convtranspose",
         [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up1")],
         [numpy_helper.from_array(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")],
         x4, helper.make_tensor_value_info("y", TensorProto.FLOAT, None))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])
    w1 = rng.standard_normal((16, 8)).astype(np.float32)
    w2 = rng.standard_normal((3, 16)).astype(np.float16)
    save("err_computed_weight",
         [helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1", transB=1),
          helper.make_node("Relu", ["h"], ["r"], name="relu"),
          helper.make_node("Cast", ["w2h"], ["w2"], name="cast", to=TensorProto.FLOAT),
          helper.make_node("Gemm", ["r", "w2"], ["y"], name="fc2", transB=1)],
         [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2h")],
         x, helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]))
    save("err_opset6",
         [helper.make_node("Gemm", ["x", "w1"], ["y"], name="fc1", transB=1)],
         [numpy_helper.from_array(w1, "w1")],
         x, helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16]), opset=6)
    xi = helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 8])
    save("err_int_input",
         [helper.make_node("Cast", ["x"], ["xf"], name="cast", to=TensorProto.FLOAT),
          helper.make_node("Gemm", ["xf", "w1"], ["y"], name="fc1", transB=1)],
         [numpy_helper.from_array(w1, "w1")],
         xi, helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16]))


def newer_fixtures(which):
    """The transformer, pairing and BatchNorm fixtures (reference metrics, not tensors)."""
    import onnx_cnn_fixtures
    import onnx_transformer_fixtures

    if which in ("all", "transformers"):
        onnx_transformer_fixtures.make(OUT, export, linear_nodes, train)
        onnx_transformer_fixtures.pairing_model(OUT, OPSET)
    if which in ("all", "cnn_bn"):
        onnx_cnn_fixtures.make(OUT, export, linear_nodes, train)


def main():
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:2] == ["--only"]:
        newer_fixtures(sys.argv[2])
        print(f"wrote the {sys.argv[2]} fixtures")
        return
    torch.manual_seed(0)
    manifest = {"torch": torch.__version__, "opset": OPSET, "models": {}}
    x, y = data((256, 8), 3, 1)
    manifest["models"]["mlp_bias"] = make("mlp_bias", MLP(True), x, y)
    manifest["models"]["mlp_nobias"] = make("mlp_nobias", MLP(False), x, y)
    xc, yc = data((64, 1, 6, 6), 2, 2)
    manifest["models"]["cnn_gap"] = make("cnn_gap", CNN(), xc, yc)
    manifest["models"]["ln_residual"] = make("ln_residual", LNRes(), x, y)
    manifest["models"]["matmul"] = make("matmul", MatMulNet(), x, y, layers=(MatLinear,))
    xt, yt = data((128, 5, 6), 2, 3)
    manifest["models"]["tokens"] = make("tokens", Tokens(), xt, yt)
    # f16: a fresh bias MLP trained on the same data, exported in float32 then cast.
    torch.manual_seed(1)
    m16 = MLP(True)
    train(m16, x, y)
    m16.eval()
    export(m16, x, "_mlp_f32_for_f16")
    manifest["models"]["mlp_f16"] = f16_model("mlp_f16", "_mlp_f32_for_f16", x, y, m16)
    os.remove(os.path.join(OUT, "_mlp_f32_for_f16.onnx"))
    error_models()
    f64_model()
    manifest["models"]["mlp_f64"] = dict(manifest["models"]["mlp_bias"], reference="mlp_bias")
    # mlp_bias again, its tensors in an external data file (onnx.save_model's external data).
    import onnx

    ext = onnx.load(os.path.join(OUT, "mlp_bias.onnx"))
    if os.path.exists(os.path.join(OUT, "mlp_ext.onnx.data")):
        os.remove(os.path.join(OUT, "mlp_ext.onnx.data"))  # onnx appends to an existing file
    onnx.save_model(ext, os.path.join(OUT, "mlp_ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="mlp_ext.onnx.data", size_threshold=0)
    manifest["models"]["mlp_ext"] = dict(manifest["models"]["mlp_bias"], reference="mlp_bias")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    newer_fixtures("all")
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
