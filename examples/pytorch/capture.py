"""Capture the features every linear map of a PyTorch model reads, for `deep-nrc measure`.

    from capture import capture
    capture(model, loader, "acts.safetensors")          # nn.Linear and nn.Conv2d layers
    # then:  npx deep-nrc measure acts.safetensors --report report.html

`capture` registers a forward hook on every module of the given types (in the order they run),
runs the model over `loader` (batches of `(inputs, targets)`) in eval mode without gradients, and
writes one `.safetensors` file in the layout the deep-nrc CLI reads:

    features.0, features.1, ...   the INPUT of each hooked module: N×d (Linear), N×C×h×w (Conv2d)
    weight.0,   weight.1,   ...   module.weight as stored: out×in (Linear), Cout×Cin×kh×kw (Conv2d)
    targets                       N×t (a vector of N is written as N×1)

Dtypes are kept (float16/bfloat16/float32/float64); the CLI reads each as float64. Features of a
Linear applied to more than 2 dimensions (N×T×d, e.g. tokens) are written as N×d×T×1, the conv
layout, so that every position counts as a sample like a conv layer's pixels.

Only torch and numpy are needed: the safetensors file is written by hand (8-byte little-endian
header length, a JSON header {name: {dtype, shape, data_offsets}} padded with spaces to a multiple
of 8, then the raw little-endian C-order bytes), following the format's published description.
Everything is held in memory until written; for data sets larger than memory, capture a sample of
rows (deep-nrc's metrics are per-sample statistics), or stream through deep-nrc's accumulator.
"""
from __future__ import annotations

import json
import struct
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

_DTYPES = {
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float32: "F32",
    torch.float64: "F64",
}


def _raw(t: torch.Tensor) -> tuple[str, list[int], bytes]:
    t = t.detach().cpu().contiguous()
    if t.dtype not in _DTYPES:
        t = t.to(torch.float32)
    code = _DTYPES[t.dtype]
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: the top 16 bits of each float32 are the bfloat16 bits.
        bits = t.to(torch.float32).numpy().view(np.uint32) >> 16
        data = bits.astype("<u2").tobytes()
    else:
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
    return code, list(t.shape), data


def write_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Writes `tensors` (name -> tensor) as one .safetensors file."""
    header: dict = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        code, shape, data = _raw(t)
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def _as_feature(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    if isinstance(module, nn.Linear) and x.dim() > 2:
        # N×...×d -> N×d×P×1 (P positions), the conv layout (every position a sample).
        n, d = x.shape[0], x.shape[-1]
        return x.reshape(n, -1, d).transpose(1, 2).unsqueeze(-1)
    return x


def capture(
    model: nn.Module,
    loader: Iterable,
    path: str,
    layers: Sequence[type] | tuple = (nn.Linear, nn.Conv2d),
    max_batches: int | None = None,
) -> list[str]:
    """Runs `model` over `loader` and writes the features/weights/targets of every `layers` module.

    loader: yields `(inputs, targets)` (a DataLoader, or a list of such pairs); inputs are passed to
    the model as `model(inputs)`. Returns the module names, in the order of features.0, features.1, …
    """
    types = tuple(layers)
    order: list[nn.Module] = []
    names = {m: n for n, m in model.named_modules()}
    feats: dict[nn.Module, list[torch.Tensor]] = {}

    def hook(module, inputs, _output):
        if module not in feats:
            order.append(module)
            feats[module] = []
        feats[module].append(_as_feature(inputs[0], module).detach().cpu())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, types)]
    if not handles:
        raise ValueError(f"capture: the model has no module of type {[t.__name__ for t in types]}")
    targets = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i, (x, y) in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                model(x)
                targets.append(torch.as_tensor(y).detach().cpu())
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not targets:
        raise ValueError("capture: the loader yielded no batch")
    out: dict[str, torch.Tensor] = {}
    for k, m in enumerate(order):
        out[f"features.{k}"] = torch.cat(feats[m], 0)
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor):
            out[f"weight.{k}"] = w
    y = torch.cat(targets, 0)
    out["targets"] = y.reshape(y.shape[0], -1)
    layer_names = [names.get(m, type(m).__name__) for m in order]
    write_safetensors(path, out, {"layers": json.dumps(layer_names), "format": "deep-nrc/capture@1"})
    return layer_names
