#!/usr/bin/python3
"""Checks of capture.py on PyTorch's transformers (run: /usr/bin/python3 examples/pytorch/test_capture.py;
needs torch, e.g. Debian's python3-torch). CI has no Python: these run where the ONNX fixtures are made.

- Under torch.no_grad() in eval mode (where PyTorch's fast path skips the modules, and capture.py used
  to keep 2 of 10 layers silently), every linear map of an nn.TransformerEncoder is captured, batch-first
  and sequence-first, with the same features.
- Attention's maps are right: in_proj's features are the query's tokens, and out_proj applied to its
  recomputed features gives the module's own output.
- Frozen parameters (which would let the fast path run) change nothing; a hooked module that never
  runs is named in a warning; parameters' requires_grad and the training flag are restored.
"""
import os
import sys
import warnings

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture import collect  # noqa: E402


def encoder(batch_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=batch_first)
    return nn.Sequential(nn.Linear(5, 16), nn.TransformerEncoder(layer, 2, enable_nested_tensor=False))


def tokens(f):
    """N×d×P×1 → (N·P)×d."""
    return f[..., 0].transpose(1, 2).reshape(-1, f.shape[1])


def main():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 7, 5, generator=g)  # N = 12 samples of 7 tokens
    y = torch.randn(12, 2, generator=g)
    caps = {}
    for bf in (True, False):
        model = encoder(bf).eval()
        xin = x if bf else x.transpose(0, 1)
        loader = [(xin[:6], y[:6]), (xin[6:], y[6:])] if bf else [(xin[:, :6], y[:6]), (xin[:, 6:], y[6:])]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("error")
            out, names = collect(model, loader, batch_dim=0 if bf else 1)
        want = ["0"] + [f"1.layers.{k}.{m}" for k in (0, 1) for m in
                        ("self_attn.in_proj", "self_attn.out_proj", "linear1", "linear2")]
        assert names == want, names
        assert all(p.requires_grad for p in model.parameters()) and not model.training
        caps[bf] = out
        # in_proj reads the first layer's input tokens; out_proj(features) = the attention's output
        h = F.linear(x, model[0].weight, model[0].bias)
        assert torch.allclose(tokens(out["features.1"]), h.reshape(-1, 16), atol=1e-6)
        attn = model[1].layers[0].self_attn
        ref = attn(h if bf else h.transpose(0, 1), h if bf else h.transpose(0, 1),
                   h if bf else h.transpose(0, 1), need_weights=False)[0]
        ref = ref if bf else ref.transpose(0, 1)
        got = F.linear(tokens(out["features.2"]), out["weight.2"], attn.out_proj.bias)
        assert torch.allclose(got, ref.reshape(-1, 16), atol=1e-5), (got - ref.reshape(-1, 16)).abs().max()
        assert out["weight.1"].shape == (48, 16) and out["targets"].shape == (12, 2)
    for k in caps[True]:
        assert torch.allclose(caps[True][k], caps[False][k], atol=1e-5), k
    # frozen parameters (requires_grad False) would let the fast path run: captured all the same
    frozen = encoder(True).eval().requires_grad_(False)
    with torch.no_grad():
        _, names = collect(frozen, [(x, y)])
    assert len(names) == 9 and not any(p.requires_grad for p in frozen.parameters()), names

    class Spare(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(5, 3)
            self.spare = nn.Linear(3, 3)

        def forward(self, v):
            return self.used(v)

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        _, names = collect(Spare(), [(x[:, 0], y)])
    assert names == ["used"] and any("spare (Linear)" in str(m.message) for m in w), [str(m.message) for m in w]
    try:
        collect(encoder(False), [(x.transpose(0, 1), y)], batch_dim=0)  # sequence-first read as batch-first
        raise AssertionError("a sequence-first model read with batch_dim=0 must fail")
    except ValueError as e:
        assert "batch_dim" in str(e), e
    print("capture.py: all checks passed")


if __name__ == "__main__":
    main()
