#!/usr/bin/python3
"""Writes test/fixtures/onnx-bn/: one small Conv-BatchNorm network exported twice by PyTorch's own
exporter — eval mode (the default: BatchNorm folded into the Conv) and
training=TrainingMode.PRESERVE (BatchNormalization kept) — and the module's weights, for
src/onnx/batchnorm.ts.

Net: Conv(2,4,3,p1,bias=False)-BN(4)-ReLU-Conv(4,3,3,p1,bias=False)-BN(3)-ReLU-GAP-Linear(3,2).
BatchNorm statistics are set to non-trivial values (running_mean, running_var, γ, β), eval().
weights.json: conv1/conv2 as the module holds them, and as folded (W·γ/√(var+ε) per output channel).

Run: /usr/bin/python3 scripts/make_batchnorm_fixtures.py   (Debian's python3-torch, python3-onnx)
"""
import json
import os

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "onnx-bn")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 3, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        h = torch.relu(self.b2(self.c2(h)))
        return self.fc(h.mean(dim=(2, 3)))


def main():
    torch.manual_seed(3)
    os.makedirs(OUT, exist_ok=True)
    net = Net()
    with torch.no_grad():
        for bn in (net.b1, net.b2):
            c = bn.num_features
            bn.running_mean.copy_(torch.linspace(-0.5, 0.5, c))
            bn.running_var.copy_(torch.linspace(0.25, 4.0, c))
            bn.weight.copy_(torch.linspace(0.5, 2.0, c))
            bn.bias.copy_(torch.linspace(-0.2, 0.2, c))
    net.eval()
    x = torch.randn(6, 2, 5, 5)
    for name, mode in (("eval", torch.onnx.TrainingMode.EVAL), ("preserve", torch.onnx.TrainingMode.PRESERVE)):
        torch.onnx.export(
            net, x, os.path.join(OUT, f"{name}.onnx"), input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=14, training=mode,
            do_constant_folding=True,
        )
    w = {}
    for conv, bn in (("c1", net.b1), ("c2", net.b2)):
        W = getattr(net, conv).weight.detach().double()
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w[conv] = {"shape": list(W.shape), "module": W.flatten().tolist(), "folded": (W * scale[:, None, None, None]).flatten().tolist()}
    with open(os.path.join(OUT, "weights.json"), "w") as f:
        json.dump({"generator": "scripts/make_batchnorm_fixtures.py (torch " + torch.__version__ + ")", **w}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
