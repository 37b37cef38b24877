"""Read a deep-nrc state file (.nrc.safetensors) with numpy alone.

    python3 read_state.py merged.nrc.safetensors

Layout: 8 bytes little-endian header length n, n bytes of JSON (the safetensors header), then
the data. The deep-nrc header is the JSON string at header["__metadata__"]["deep-nrc"]; from
version 2 on, __metadata__["deep-nrc.sha256"] is the SHA-256 of that string and the header's
"checksums" the SHA-256 of each statistic tensor's bytes, checked here as deep-nrc checks them.
"""
import hashlib
import json
import sys

import numpy as np


def read_state(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    md = header.pop("__metadata__")
    text = md["deep-nrc"]
    meta = json.loads(text)
    data = raw[8 + n :]
    if meta["version"] >= 2 and hashlib.sha256(text.encode()).hexdigest() != md["deep-nrc.sha256"]:
        raise ValueError(f"{path}: the header does not match its checksum")

    def tensor(name):
        t = header[name]
        b, e = t["data_offsets"]
        want = (meta.get("checksums") or {}).get(name)
        if want is not None and hashlib.sha256(data[b:e]).hexdigest() != want:
            raise ValueError(f"{path}: {name} does not match its checksum")
        dt = {"F64": "<f8", "F32": "<f4"}[t["dtype"]]
        return np.frombuffer(data[b:e], dtype=dt).reshape(t["shape"])

    layers = []
    for l, info in enumerate(meta["layers"] or []):
        d, q = info["d"], info["q"]
        p = f"layers.{l}"
        m2h = tensor(f"{p}.m2_h")
        if info["m2h"] == "triu":  # upper triangle, row by row
            full = np.zeros((d, d))
            full[np.triu_indices(d)] = m2h
            m2h = np.triu(full) + np.triu(full, 1).T
        layer = {
            "count": info["count"],
            "mean_h": tensor(f"{p}.mean_h"),
            "mean_y": tensor(f"{p}.mean_y"),
            "m2_h": m2h,  # Σ (h − μ_H)(h − μ_H)ᵀ
            "cross": tensor(f"{p}.cross"),  # Σ (h − μ_H)(y − μ_Y)ᵀ
            "m2_y": tensor(f"{p}.m2_y"),
        }
        if info["r"]:  # TSQR factor of [H | Y | 1]
            k, w = info["r"]["rows"], d + q + 1
            r = tensor(f"{p}.r")
            if info["r"]["packed"]:  # upper-trapezoidal part, row by row
                full = np.zeros((k, w))
                full[np.triu(np.ones((k, w), dtype=bool))] = r
                r = full
            layer["r"] = r
        if meta["weights"] and meta["weights"][l]:
            layer["weight"] = tensor(f"weights.{l}").astype(np.float64)
        layers.append(layer)
    return meta, layers


if __name__ == "__main__":
    meta, layers = read_state(sys.argv[1])
    print(f"{meta['samples']} samples, t = {meta['options']['t']}, preset {meta['options']['preset']}")
    t = meta["options"]["t"] or meta["targets"]
    for l, s in enumerate(layers):
        lam = np.linalg.eigvalsh(s["m2_h"] / s["count"])[::-1]
        nrc1 = lam[t:].sum() / lam.sum()
        print(f"layer {l}: width {s['m2_h'].shape[0]}, NRC1 {nrc1:.6g} (from the Gram)")
