#!/usr/bin/python3
"""Writes test/fixtures/onnx-external/: tiny ONNX models whose weight lives in an external data
file, for the byte-range reader and its refusals (src/onnx/external-data.ts). Only the .onnx
files are committed; the tests make the data files (a sparse file of > 2 GiB, a symlink, ...).

Each model: x [N, 4] float32 → Gemm(x, W, B, transB=1) → ReLU → Gemm(·, W2, transB=1) → y [N, 2].
W (3×4, float32) = (arange(12) − 5.5) / 4 reshaped, stored externally at `offset` of `location`;
W2 and B are inline. Models:
- big.onnx:     location "big.data", offset 3·2³⁰ (3 GiB; the test writes W there in a sparse file)
- small.onnx:   location "small.data", offset 0 (the test makes small.data a file, a symlink, …)
- escape.onnx:  location "../outside.data" (leaves the model's folder)
- abs.onnx:     location "/etc/hostname" (an absolute path)

Run: /usr/bin/python3 scripts/make_external_data_fixtures.py   (Debian's python3-onnx)
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "onnx-external")


def model(location, offset):
    w = TensorProto()
    w.name, w.data_type = "W", TensorProto.FLOAT
    w.dims.extend([3, 4])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", "48")):
        e = w.external_data.add()
        e.key, e.value = k, v
    b = helper.make_tensor("B", TensorProto.FLOAT, [3], [0.1, -0.2, 0.3])
    w2 = helper.make_tensor("W2", TensorProto.FLOAT, [2, 3], [1.0, 0.5, -0.5, 0.25, -1.0, 2.0])
    nodes = [
        helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "W2"], ["y"], name="fc2", transB=1),
    ]
    g = helper.make_graph(
        nodes,
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        initializer=[w, b, w2],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)], producer_name="deep-nrc fixtures")
    m.ir_version = 8
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, loc, off in (
        ("big", "big.data", 3 << 30),
        ("small", "small.data", 0),
        ("escape", "../outside.data", 0),
        ("abs", "/etc/hostname", 0),
    ):
        onnx.save(model(loc, off), os.path.join(OUT, f"{name}.onnx"))
    w = ((np.arange(12, dtype=np.float32) - 5.5) / 4).reshape(3, 4)
    print("W =", w.tolist())


if __name__ == "__main__":
    main()
