#!/usr/bin/env python3
"""Writes the fixtures for the .npy / .safetensors readers and the CLI (test/fixtures/io/).

- npy/: one file per dtype x byte order x memory order x format version, written by numpy's own
  writer (numpy.lib.format.write_array), plus a few odd shapes; expected.json holds, per file, the
  shape and the values as numpy's astype(float64) in C order (non-finite values as strings).
- safetensors/: written here by hand following the format spec (8-byte little-endian header
  length, UTF-8 JSON header {name: {dtype, shape, data_offsets}} plus __metadata__, padded with
  spaces to a multiple of 8, then the little-endian C-order data), because the `safetensors` pip
  package is not installed here. BF16 values are rounded to nearest-even from float32 and their
  expected values recovered by numpy (bits << 16 viewed as float32).
- cli/: a small synthetic network (features.0..2, weight.0..2, targets) as .safetensors (F64 and
  F32) and as a folder of .npy files, plus the metrics computed here with numpy/scipy in float64
  straight from the SPEC's definitions (an independent reference for `deep-nrc measure --json`).

Run: python3 scripts/make_io_fixtures.py   (numpy >= 1.17, scipy)
"""
import json
import os
import struct

import numpy as np
import scipy.linalg

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "io")


def enc(values):
    """float64 values -> JSON-safe list (non-finite as strings)."""
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel(order="C"):
        if np.isnan(v):
            out.append("NaN")
        elif np.isinf(v):
            out.append("Infinity" if v > 0 else "-Infinity")
        else:
            out.append(float(v))
    return out


def base_values(code, shape, rng):
    """Deterministic test values for a dtype code such as 'f2', 'i8', 'b1', including extremes."""
    n = int(np.prod(shape))
    kind, size = code[0], int(code[1:])
    if kind == "b":
        return rng.integers(0, 2, size=n).astype(bool).reshape(shape)
    if kind == "f":
        dt = np.dtype(f"f{size}")
        v = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, size=n)
        specials = [0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan]
        if size == 2:
            specials += [2.0**-24, 65504.0, 6.103515625e-05]  # smallest subnormal, max, smallest normal
        elif size == 4:
            specials += [1.401298464324817e-45, 3.4028234663852886e38]
        else:
            specials += [5e-324, 1.7976931348623157e308]
        v[: len(specials)] = specials[:n]
        return v.astype(dt).reshape(shape)
    info = np.iinfo(np.dtype(f"{kind}{size}"))
    v = rng.integers(info.min, info.max, size=n, endpoint=True, dtype=np.dtype(f"{kind}{size}"))
    specials = [info.min, info.max, 0, 1]
    if size == 8:
        specials += [2**53 + 1, 2**53 - 1] + ([-(2**53) - 1] if kind == "i" else [2**64 - 2**11 + 1])
    v[: len(specials)] = np.array(specials[:n], dtype=np.dtype(f"{kind}{size}"))
    return v.reshape(shape)


def write_npy(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


def make_npy():
    d = os.path.join(ROOT, "npy")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(20260401)
    expected = {}
    codes = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]
    for code in codes:
        size = int(code[1:])
        base = base_values(code, (5, 3), rng)
        orders = ["|"] if size == 1 else ["<", ">"]
        for bo in orders:
            arr_c = base.astype(np.dtype(bo + code if size > 1 else code))
            for fortran in (False, True):
                arr = np.asfortranarray(arr_c) if fortran else np.ascontiguousarray(arr_c)
                for ver in (1, 2, 3):
                    bo_name = {"<": "le", ">": "be", "|": "na"}[bo]
                    name = f"{code}_{bo_name}_{'F' if fortran else 'C'}_v{ver}.npy"
                    write_npy(os.path.join(d, name), arr, (ver, 0))
                    expected[name] = {
                        "descr": np.lib.format.dtype_to_descr(arr.dtype),
                        "shape": list(arr.shape),
                        "fortran": bool(fortran),
                        "version": ver,
                        "values": enc(arr.astype(np.float64)),
                    }
    # Odd shapes and larger arrays for the row-range and chunking paths.
    extra = {
        "f4_le_C_4d.npy": rng.standard_normal((4, 3, 2, 2)).astype("<f4"),
        "f4_be_F_4d.npy": np.asfortranarray(rng.standard_normal((4, 3, 2, 2)).astype(">f4")),
        "f8_le_F_3d.npy": np.asfortranarray(rng.standard_normal((5, 2, 3))),
        "f8_le_C_1d.npy": rng.standard_normal(7),
        "f8_le_C_0d.npy": np.array(3.25),
        "f8_le_C_empty.npy": np.zeros((0, 3)),
        "f8_le_C_300x7.npy": rng.standard_normal((300, 7)),
        "f8_be_F_300x7.npy": np.asfortranarray(rng.standard_normal((300, 7)).astype(">f8")),
        "i2_be_F_300x7.npy": np.asfortranarray(
            rng.integers(-30000, 30000, size=(300, 7)).astype(">i2")
        ),
    }
    ranges = [[0, 300], [10, 20], [0, 1], [299, 300], [150, 150], [37, 291]]
    for name, arr in extra.items():
        write_npy(os.path.join(d, name), arr, None)
        e = {
            "descr": np.lib.format.dtype_to_descr(arr.dtype),
            "shape": list(arr.shape),
            "fortran": bool(arr.flags.f_contiguous and not arr.flags.c_contiguous),
            "version": 1,
            "values": enc(arr.astype(np.float64)),
        }
        if arr.ndim == 2 and arr.shape[0] == 300:
            e["ranges"] = [
                {"rows": r, "values": enc(arr[r[0] : r[1]].astype(np.float64))} for r in ranges
            ]
        expected[name] = e
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    return len(expected)


# --------------------------------------------------------------------------------------------
# safetensors, written by hand following the format spec.

ST_DTYPES = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
    "BOOL": np.dtype("?"),
}


def f32_to_bf16_bits(x):
    """Round float32 to bfloat16 (nearest, ties to even); returns uint16 bit patterns."""
    b = np.asarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def bf16_bits_to_f64(bits):
    return (bits.astype("<u4") << 16).view("<f4").astype(np.float64)


def write_safetensors(path, tensors, metadata=None, order=None):
    """tensors: dict name -> (dtype_str, np array in the file's dtype, C order, little endian)."""
    entries = {}
    blobs = []
    offset = 0
    for name, (dt, arr) in tensors.items():  # data in insertion order
        raw = np.ascontiguousarray(arr).tobytes(order="C")
        entries[name] = {
            "dtype": dt,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in order or list(tensors):  # header entries in `order`
        header[name] = entries[name]
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def make_safetensors():
    d = os.path.join(ROOT, "safetensors")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    tensors, expected = {}, {}
    code_for = {"F16": "f2", "F32": "f4", "F64": "f8", "BOOL": "b1"}
    for st, npdt in ST_DTYPES.items():
        code = code_for.get(st, f"{npdt.kind}{npdt.itemsize}")
        arr = base_values(code, (4, 3), rng).astype(npdt)
        tensors[st.lower()] = (st, arr)
        expected[st.lower()] = {"dtype": st, "shape": [4, 3], "values": enc(arr.astype(np.float64))}
    f32 = (rng.standard_normal(12) * 10.0 ** rng.integers(-3, 4, size=12)).astype("<f4")
    f32[:4] = [1.0, -0.0, np.float32(3.14159), np.inf]
    bits = f32_to_bf16_bits(f32).reshape(4, 3)
    tensors["bf16"] = ("BF16", bits)
    expected["bf16"] = {"dtype": "BF16", "shape": [4, 3], "values": enc(bf16_bits_to_f64(bits))}
    conv = rng.standard_normal((3, 2, 2, 2)).astype("<f4")
    tensors["conv"] = ("F32", conv)
    expected["conv"] = {"dtype": "F32", "shape": [3, 2, 2, 2], "values": enc(conv.astype(np.float64))}
    big = rng.standard_normal((300, 7))
    tensors["big"] = ("F64", big)
    expected["big"] = {
        "dtype": "F64",
        "shape": [300, 7],
        "values": enc(big),
        "ranges": [
            {"rows": r, "values": enc(big[r[0] : r[1]])}
            for r in [[0, 300], [10, 20], [0, 1], [299, 300], [150, 150], [37, 291]]
        ],
    }
    scalar = np.array(2.5, dtype="<f8")
    tensors["scalar"] = ("F64", scalar)
    expected["scalar"] = {"dtype": "F64", "shape": [], "values": [2.5]}
    empty = np.zeros((0, 4), dtype="<f4")
    tensors["empty"] = ("F32", empty)
    expected["empty"] = {"dtype": "F32", "shape": [0, 4], "values": []}
    # Header order differs from data order on purpose (the reader must sort by offset).
    names = list(tensors)
    order = names[::-1]
    write_safetensors(
        os.path.join(d, "all_dtypes.safetensors"),
        tensors,
        metadata={"format": "pt", "note": "deep-nrc fixture"},
        order=order,
    )
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"metadata": {"format": "pt", "note": "deep-nrc fixture"}, "tensors": expected}, f)
    # A minimal valid file: one tensor, no metadata.
    write_safetensors(os.path.join(d, "one.safetensors"), {"x": ("F32", np.arange(6, dtype="<f4").reshape(2, 3))})
    # An empty file: header {} and no data (valid per the spec).
    write_safetensors(os.path.join(d, "empty.safetensors"), {})
    return len(expected)


# --------------------------------------------------------------------------------------------
# The CLI's synthetic network and its metrics, straight from the SPEC's definitions.


def cka(X, Y):
    Xc = X - X.mean(0)
    Yc = Y - Y.mean(0)
    return np.linalg.norm(Yc.T @ Xc, "fro") ** 2 / (
        np.linalg.norm(Xc.T @ Xc, "fro") * np.linalg.norm(Yc.T @ Yc, "fro")
    )


def ref_cka(X, Y):
    """The authors' guarded CKA (SPEC, preset reference-code)."""
    Xc = X - X.mean(0)
    Yc = Y - Y.mean(0)
    num = np.sum((Yc.T @ Xc) ** 2)
    den = np.sqrt(np.sum((Xc.T @ Xc) ** 2) * np.sum((Yc.T @ Yc) ** 2) + 1e-12)
    return 0.0 if den <= 1e-12 else num / den


def layer_metrics(H, W, Y, t, preset):
    N, dim = H.shape
    Hc = H - H.mean(0)
    Yc = Y - Y.mean(0)
    lam, U = np.linalg.eigh(Hc.T @ Hc / N)
    lam, U = lam[::-1].clip(min=0), U[:, ::-1]
    Ut = U[:, :t]
    nrc1 = lam[t:].sum() / lam.sum()
    nrc2 = cka(Hc @ Ut @ Ut.T, Y) if preset == "paper" else ref_cka(H[:, :t], Y)
    nrc3 = None
    srw = None
    if W is not None:
        _, s, Vt = np.linalg.svd(W, full_matrices=False)
        ang = scipy.linalg.subspace_angles(Ut, Vt[:t].T)
        nrc3 = float(np.mean(np.cos(ang)))
        srw = float(np.sum(s**2) / s[0] ** 2)
    rtol = max(N, dim) * np.finfo(float).eps if preset == "paper" else 1e-3
    P = H @ np.linalg.pinv(H, rcond=rtol)
    nrc4 = np.linalg.norm(P @ Yc - Yc, "fro") ** 2 / (N * Y.shape[1])
    srf = lam.sum() / lam[0] if preset == "paper" else np.sum(lam**2) / lam[0] ** 2
    return {
        "nrc1": float(nrc1),
        "nrc2": float(nrc2),
        "nrc3": nrc3,
        "nrc4": float(nrc4),
        "stableRankFeatures": float(srf),
        "stableRankWeight": srw,
        "topEigenvalues": [float(x) for x in lam[: t + 2]],
    }


def make_cli():
    d = os.path.join(ROOT, "cli")
    os.makedirs(os.path.join(d, "npy"), exist_ok=True)
    rng = np.random.default_rng(4)
    N, t = 64, 2
    Y = rng.standard_normal((N, t)) @ np.array([[1.0, 0.3], [0.0, 0.8]]) + [0.5, -1.0]
    dims = [10, 8, 6]
    noise = [1.0, 0.05, 1e-4]
    feats, weights = [], []
    for k, (dim, eps) in enumerate(zip(dims, noise)):
        A = rng.standard_normal((t, dim))
        H = Y @ A + eps * rng.standard_normal((N, dim)) + rng.standard_normal(dim)
        feats.append(H)
        Hc = H - H.mean(0)
        _, _, Vt = np.linalg.svd(Hc, full_matrices=False)
        out = dims[k + 1] if k + 1 < len(dims) else t
        # Weight reads mostly the top-t feature directions (more so in the collapsed layers).
        Wk = rng.standard_normal((out, t)) @ Vt[:t] + (0.5 / (k + 1)) * rng.standard_normal((out, dim))
        weights.append(Wk)
    tensors = {}
    for k in range(len(dims)):
        tensors[f"features.{k}"] = ("F64", feats[k].astype("<f8"))
        tensors[f"weight.{k}"] = ("F64", weights[k].astype("<f8"))
    tensors["targets"] = ("F64", Y.astype("<f8"))
    write_safetensors(os.path.join(d, "net.safetensors"), tensors, metadata={"source": "make_io_fixtures.py"})
    t32 = {k: ("F32", v.astype("<f4")) for k, (_, v) in tensors.items()}
    write_safetensors(os.path.join(d, "net_f32.safetensors"), t32)
    # The folder form: one .npy per tensor, in assorted layouts (the values are the same float64).
    for k in range(len(dims)):
        write_npy(os.path.join(d, "npy", f"features.{k}.npy"), feats[k], None)
        write_npy(os.path.join(d, "npy", f"weight.{k}.npy"), np.asfortranarray(weights[k].astype(">f8")), None)
    write_npy(os.path.join(d, "npy", "targets.npy"), Y.astype(">f8"), (2, 0))

    expected = {}
    for name, cast in (("f64", np.float64), ("f32", np.float32)):
        Hs = [h.astype(cast).astype(np.float64) for h in feats]
        Ws = [w.astype(cast).astype(np.float64) for w in weights]
        Yv = Y.astype(cast).astype(np.float64)
        for preset in ("paper", "reference-code"):
            Yc = Yv - Yv.mean(0)
            ly = np.clip(np.linalg.eigvalsh(Yc.T @ Yc / N)[::-1], 0, None)
            tsr = ly.sum() / ly[0] if preset == "paper" else np.sum(ly**2) / ly[0] ** 2
            expected[f"{name}/{preset}"] = {
                "t": t,
                "samples": N,
                "targetStableRank": float(tsr),
                "layers": [layer_metrics(Hs[k], Ws[k], Yv, t, preset) for k in range(len(dims))],
            }
    # Intrinsic dimension r = 1 (paper preset, float64): NRC1/NRC3 at r and bottom alignment.
    intr = []
    for k in range(len(dims)):
        H, W = feats[k], weights[k]
        Hc = H - H.mean(0)
        lam, U = np.linalg.eigh(Hc.T @ Hc / N)
        lam, U = lam[::-1].clip(min=0), U[:, ::-1]
        r = 1
        _, _, Vt = np.linalg.svd(W, full_matrices=False)
        nrc3r = float(np.mean(np.cos(scipy.linalg.subspace_angles(U[:, :r], Vt[:r].T))))
        bottom = float(np.mean(np.cos(scipy.linalg.subspace_angles(U[:, r:], Vt[:r].T))))
        intr.append({"r": r, "nrc1": float(lam[r:].sum() / lam.sum()), "nrc3": nrc3r, "bottomAlignment": bottom})
    expected["f64/paper/r1"] = intr
    # The first 32 samples only (deep-nrc measure --samples 32).
    n2 = 32
    Ys = Y[:n2]
    Ysc = Ys - Ys.mean(0)
    ly = np.clip(np.linalg.eigvalsh(Ysc.T @ Ysc / n2)[::-1], 0, None)
    expected["f64/paper/samples32"] = {
        "t": t,
        "samples": n2,
        "targetStableRank": float(ly.sum() / ly[0]),
        "layers": [layer_metrics(feats[k][:n2], weights[k], Ys, t, "paper") for k in range(len(dims))],
    }

    # A conv layer: features N×C×h×w and filters Cout×Cin×kh×kw, plus a dense layer after it.
    # paper: (N·h·w)×C with each sample's targets repeated for its h·w positions;
    # reference-code: global average pooling to N×C.
    Nc, C, hh, ww, t2 = 40, 5, 3, 2, 2
    Yc2 = rng.standard_normal((Nc, t2))
    A = rng.standard_normal((t2, C))
    F = (Yc2 @ A)[:, :, None, None] * rng.uniform(0.5, 1.5, size=(1, 1, hh, ww)) + 0.1 * rng.standard_normal(
        (Nc, C, hh, ww)
    )
    K = rng.standard_normal((4, C, 3, 3))
    D = rng.standard_normal((Nc, 7)) + Yc2 @ rng.standard_normal((t2, 7))
    Wd = rng.standard_normal((3, 7))
    write_safetensors(
        os.path.join(d, "conv.safetensors"),
        {
            "features.0": ("F32", F.astype("<f4")),
            "weight.0": ("F32", K.astype("<f4")),
            "features.1": ("F64", D),
            "weight.1": ("F64", Wd),
            "targets": ("F64", Yc2),
        },
    )
    F64 = F.astype(np.float32).astype(np.float64)
    K64 = K.astype(np.float32).astype(np.float64)
    Kmat = K64.transpose(0, 2, 3, 1).reshape(-1, C)  # (Cout·kh·kw)×Cin
    Hflat = F64.transpose(0, 2, 3, 1).reshape(-1, C)  # (N·h·w)×C, row (n·h + y)·w + x
    Yrep = np.repeat(Yc2, hh * ww, axis=0)
    Hgap = F64.mean(axis=(2, 3))
    conv_exp = {}
    for preset in ("paper", "reference-code"):
        first = (
            layer_metrics(Hflat, Kmat, Yrep, t2, preset)
            if preset == "paper"
            else layer_metrics(Hgap, Kmat, Yc2, t2, preset)
        )
        conv_exp[preset] = [first, layer_metrics(D, Wd, Yc2, t2, preset)]
    expected["conv"] = conv_exp
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    n1 = make_npy()
    n2 = make_safetensors()
    make_cli()
    total = 0
    for dp, _, fs in os.walk(ROOT):
        total += sum(os.path.getsize(os.path.join(dp, x)) for x in fs)
    print(f"wrote {n1} npy fixtures, {n2} safetensors tensors, CLI net; {total} bytes under {ROOT}")
