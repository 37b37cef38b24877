"""Capture the features every linear map of a PyTorch model reads, for `deep-nrc measure`.

    from capture import capture
    capture(model, loader, "acts.safetensors")          # nn.Linear and nn.Conv2d layers
    # then:  npx deep-nrc measure acts.safetensors --report report.html

`capture` registers a forward hook on every module of the given types (in the order they run),
runs the model over `loader` (batches of `(inputs, targets)`) in eval mode, and writes one
`.safetensors` file in the layout the deep-nrc CLI reads:

    features.0, features.1, ...   the INPUT of each hooked module: N×d (Linear), N×C×h×w (Conv2d)
    weight.0,   weight.1,   ...   module.weight as stored: out×in (Linear), Cout×Cin×kh×kw (Conv2d)
    targets                       N×t (a vector of N is written as N×1)

Dtypes are kept (float16/bfloat16/float32/float64); the CLI reads each as float64. Features of a
Linear applied to more than 2 dimensions (N×T×d, e.g. tokens) are written as N×d×T×1, the conv
layout, so that every position counts as a sample like a conv layer's pixels (`batch_dim=1` for a
sequence-first L×N×E model). An nn.MultiheadAttention gives two maps, its in-projection (on the
query) and its out-projection (on the attention output, recomputed), tokens as samples.

The model runs with gradients enabled (outputs detached): PyTorch's transformer fast path skips the
modules, and their hooks, only under no_grad. A hooked module that never ran is named in a warning.

Only torch and numpy are needed: the safetensors file is written by hand (8-byte little-endian
header length, a JSON header {name: {dtype, shape, data_offsets}} padded with spaces to a multiple
of 8, then the raw little-endian C-order bytes), following the format's published description.
Everything is held in memory until written; for data sets larger than memory, capture a sample of
rows (deep-nrc's metrics are per-sample statistics), or stream through deep-nrc's accumulator.
"""
from __future__ import annotations

import json
import struct
import warnings
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


def _tokens(x: torch.Tensor, batch_dim: int) -> torch.Tensor:
    """A >2-D linear input with the samples on `batch_dim` -> N×d×P×1 (P positions, in the order of
    the remaining axes): the conv layout, every position (token) a sample of its sample's targets."""
    d = x.shape[-1]
    x = x.movedim(batch_dim, 0)
    return x.reshape(x.shape[0], -1, d).transpose(1, 2).unsqueeze(-1)


def _as_feature(x: torch.Tensor, module: nn.Module, batch_dim: int, n: int) -> torch.Tensor:
    if isinstance(module, nn.Linear) and x.dim() > 2:
        if x.shape[batch_dim] != n:
            raise ValueError(
                f"capture: a {type(module).__name__} reads a tensor of shape {list(x.shape)} whose axis "
                f"{batch_dim} (batch_dim) is not the batch's {n} samples; pass batch_dim=")
        return _tokens(x, batch_dim)
    return x


class _Attention:
    """The two linear maps of an nn.MultiheadAttention, which calls F.linear on its parameters (its
    out_proj module never runs as a module, so a hook on it never fires):
    - in_proj: features = the query (tokens as samples), weight = in_proj_weight (3E×E) for
      self-attention with packed weights (one map, as PyTorch's exporter writes it); q_proj (E×E)
      and kv_proj (2E×E) when key is value but not the query (cross-attention); otherwise q_proj,
      k_proj, v_proj on query, key, value (their weights, or in_proj_weight's thirds);
    - out_proj: features = the attention output before out_proj, recomputed by running the module
      again with out_proj set to the identity (exact in floating point: x·1 + 0), weight = out_proj.weight.
    The module's own forward is wrapped (forward hooks of torch < 2.0 do not see keyword arguments
    such as attn_mask)."""

    def __init__(self, m: nn.MultiheadAttention, record):
        self.m = m
        self.record = record
        self.fired = False
        self.orig = m.forward
        m.forward = self.forward

    def remove(self):
        del self.m.forward  # back to the class's forward

    def _batched(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # unbatched L×E: one sample
            return x.t().unsqueeze(0).unsqueeze(-1)
        return _tokens(x, 0 if self.m.batch_first else 1)

    def forward(self, query, key, value, *args, **kwargs):
        out = self.orig(query, key, value, *args, **kwargs)
        self.fired = True
        m = self.m
        e = m.embed_dim
        if m._qkv_same_embed_dim and query is key and key is value:
            self.record(m, "in_proj", self._batched(query), m.in_proj_weight)
        elif m._qkv_same_embed_dim and key is value:
            # PyTorch splits the packed weight into q (E×E) and k,v together (2E×E)
            self.record(m, "q_proj", self._batched(query), m.in_proj_weight[:e])
            self.record(m, "kv_proj", self._batched(key), m.in_proj_weight[e:])
        else:
            for k, (x, name) in enumerate(((query, "q_proj"), (key, "k_proj"), (value, "v_proj"))):
                w = getattr(m, f"{name}_weight") if not m._qkv_same_embed_dim else m.in_proj_weight[k * e:(k + 1) * e]
                self.record(m, name, self._batched(x), w)
        w, b = m.out_proj.weight, m.out_proj.bias
        try:
            m.out_proj.weight = nn.Parameter(torch.eye(e, dtype=w.dtype, device=w.device))
            if b is not None:
                m.out_proj.bias = nn.Parameter(torch.zeros_like(b))
            kw = dict(kwargs, need_weights=False)
            pre = self.orig(query, key, value, *args, **kw)[0]
        finally:
            m.out_proj.weight = w
            if b is not None:
                m.out_proj.bias = b
        self.record(m, "out_proj", self._batched(pre), w)
        return out


def capture(
    model: nn.Module,
    loader: Iterable,
    path: str,
    layers: Sequence[type] | tuple = (nn.Linear, nn.Conv2d),
    max_batches: int | None = None,
    batch_dim: int = 0,
) -> list[str]:
    """Runs `model` over `loader` and writes the features/weights/targets of every `layers` module.

    loader: yields `(inputs, targets)` (a DataLoader, or a list of such pairs); inputs are passed to
    the model as `model(inputs)`. Returns the module names, in the order of features.0, features.1, …
    See `collect` for batch_dim and attention.
    """
    tensors, layer_names = collect(model, loader, layers, max_batches, batch_dim)
    write_safetensors(path, tensors, {"layers": json.dumps(layer_names), "format": "deep-nrc/capture@1"})
    return layer_names


def collect(
    model: nn.Module,
    loader: Iterable,
    layers: Sequence[type] | tuple = (nn.Linear, nn.Conv2d),
    max_batches: int | None = None,
    batch_dim: int = 0,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """What `capture` writes, in memory: ({features.k, weight.k, targets}, layer names).

    - The model runs in eval mode with gradients **enabled** and every float parameter requiring
      grad (restored after): PyTorch's transformer fast path (torch._transformer_encoder_layer_fwd,
      _native_multi_head_attention), which skips the modules and so their hooks, is taken only without
      gradients. A hooked module that never ran is reported with a warning, never silently dropped.
    - nn.MultiheadAttention (when nn.Linear is in `layers`) gives its in-projection and out-projection
      maps (see _Attention), named `<module>.in_proj` and `<module>.out_proj`, tokens as samples.
    - batch_dim: the axis of the samples in the inputs of >2-D nn.Linear calls: 0 (batch-first, the
      default), 1 for a sequence-first (L×N×E) transformer. Attention reads its own batch_first.
    """
    types = tuple(layers)
    order: list[tuple[nn.Module, str]] = []
    names = {m: n for n, m in model.named_modules()}
    feats: dict[tuple[nn.Module, str], list[torch.Tensor]] = {}
    weights: dict[tuple[nn.Module, str], torch.Tensor] = {}
    batch_n = [0]

    def record(module, part, x, w):
        key = (module, part)
        if key not in feats:
            order.append(key)
            feats[key] = []
            weights[key] = w
        if x.shape[0] != batch_n[0]:
            raise ValueError(
                f"capture: {names.get(module, type(module).__name__)} {part} reads {x.shape[0]} samples "
                f"where the batch has {batch_n[0]} targets (batch_dim?)")
        feats[key].append(x.detach().cpu())

    def hook(module, inputs, _output):
        x = _as_feature(inputs[0], module, batch_dim, batch_n[0])
        record(module, "", x, getattr(module, "weight", None))

    attn = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)] if nn.Linear in types else []
    inner = {m.out_proj for m in attn}
    hooked = [m for m in model.modules() if isinstance(m, types) and m not in inner]
    if not hooked and not attn:
        raise ValueError(f"capture: the model has no module of type {[t.__name__ for t in types]}")
    handles = [m.register_forward_hook(hook) for m in hooked]
    wrappers = [_Attention(m, record) for m in attn]
    targets = []
    was_training = model.training
    params = [p for p in model.parameters() if p.is_floating_point() and not p.requires_grad]
    model.eval()
    try:
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            for i, (x, y) in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                y = torch.as_tensor(y)
                batch_n[0] = y.shape[0]
                model(x)
                targets.append(y.detach().cpu())
    finally:
        for h in handles:
            h.remove()
        for a in wrappers:
            a.remove()
        for p in params:
            p.requires_grad_(False)
        model.train(was_training)
    if not targets:
        raise ValueError("capture: the loader yielded no batch")
    silent = [m for m in hooked if (m, "") not in feats] + [a.m for a in wrappers if not a.fired]
    if silent:
        warnings.warn(
            "capture: these hooked modules never ran a forward, so they are not in the file: "
            + ", ".join(f"{names.get(m, '?')} ({type(m).__name__})" for m in silent),
            stacklevel=2,
        )
    out: dict[str, torch.Tensor] = {}
    for k, key in enumerate(order):
        out[f"features.{k}"] = torch.cat(feats[key], 0)
        w = weights[key]
        if isinstance(w, torch.Tensor):
            out[f"weight.{k}"] = w.detach()
    y = torch.cat(targets, 0)
    out["targets"] = y.reshape(y.shape[0], -1)
    layer_names = [names.get(m, type(m).__name__) + (f".{part}" if part else "") for m, part in order]
    return out, layer_names
