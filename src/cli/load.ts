/**
 * Finding and reading a network's tensors for `deep-nrc measure`: a `.safetensors` file, or a
 * folder with one `.npy` file per tensor. Names: `features.0`, `features.1`, … (N×d, or N×C×h×w
 * for conv layers), optional `weight.0`, … (out×in, or Cout×Cin×kh×kw) and `targets` (N×t, or N).
 * Node only.
 * @module
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { NRCInputError } from "../errors.js";
import type { LayerInput } from "../engine/measure.js";
import type { AccumulatorBatch } from "../engine/accumulator.js";
import type { MatrixInput } from "../linalg/matrix.js";
import type { TensorInput } from "../io/conv.js";
import { isFloat32Dtype, type Tensor, type TensorF32 } from "../io/common.js";
import { readNpy, readNpyHeader } from "../io/npy.js";
import {
  readSafetensor,
  readSafetensorsHeader,
  type SafetensorsHeader,
} from "../io/safetensors.js";
import { openFileSource, type FileSource } from "../node/file-source.js";

/** One tensor the loader found: its role, name, shape and how to read it. */
interface Entry {
  name: string;
  shape: number[];
  dtype: string;
  /** Bytes in the file (for progress). */
  bytes: number;
  /** `into`: decode into this buffer (see ReadTensorOptions.into). */
  read(rows?: [number, number], into?: Float64Array): Promise<Tensor>;
  /** The same, float32 tensors' values kept as float32 (`into` of the matching type). */
  readKeep(rows: [number, number], into?: Float64Array | Float32Array): Promise<Tensor | TensorF32>;
}

/** What {@link openNetwork} found. */
export interface NetworkFiles {
  /** `"safetensors"` or `"npy folder"`. */
  kind: string;
  features: Entry[];
  /** `weights[k]` reads `features[k]`; null where absent. */
  weights: (Entry | null)[];
  targets: Entry;
  /** Tensors present but not used (reported as a note). */
  ignored: string[];
  /** Samples N (first dimension of the targets). */
  samples: number;
  /** Bytes to read for all used tensors. */
  totalBytes: number;
  close(): Promise<void>;
}

/**
 * The precision the files' features were computed in, for NRC4's cutoff (engine/nrc4-cutoff.ts):
 * float16 when any features.k is stored as float16 or bfloat16 (bfloat16 gets float16's ε, finer
 * than its own 2⁻⁷), else float32 when any is float32, else float64 (the readers may widen
 * them to float64: the dtype in the file says what they were).
 */
export function filePrecision(net: NetworkFiles): "float64" | "float32" | "float16" {
  const dtypes = net.features.map((e) => e.dtype);
  if (dtypes.some((d) => /^(F16|BF16|[<>|]f2)$/.test(d))) return "float16";
  return dtypes.some(isFloat32Dtype) ? "float32" : "float64";
}

const FEATURE = /^features\.(\d+)$/;
const WEIGHT = /^weight\.(\d+)$/;

function fail(msg: string): never {
  throw new NRCInputError("deep-nrc measure", "path", msg);
}

function shapeStr(s: readonly number[]): string {
  return s.length ? s.join("×") : "scalar";
}

/**
 * Orders the named tensors into layers and checks their shapes agree before anything is read.
 */
function assemble(
  kind: string,
  path: string,
  entries: Map<string, Entry>,
  close: () => Promise<void>,
): NetworkFiles {
  const feats = new Map<number, Entry>();
  const weights = new Map<number, Entry>();
  const ignored: string[] = [];
  let targets: Entry | null = null;
  for (const [name, e] of entries) {
    const f = FEATURE.exec(name);
    const w = WEIGHT.exec(name);
    if (f) feats.set(Number(f[1]), e);
    else if (w) weights.set(Number(w[1]), e);
    else if (name === "targets") targets = e;
    else ignored.push(name);
  }
  const where = kind === "safetensors" ? `${path}` : `folder ${path}`;
  const have = [...entries.keys()].slice(0, 12).join(", ") || "nothing";
  if (feats.size === 0)
    fail(
      `${where} has no tensor named features.0 (found: ${have}); expected features.0, features.1, …, targets`,
    );
  if (!targets) fail(`${where} has no tensor named targets (found: ${have})`);
  const n = feats.size;
  for (let k = 0; k < n; k++)
    if (!feats.has(k))
      fail(
        `${where}: features.${k} is missing (found ${[...feats.keys()]
          .sort((a, b) => a - b)
          .map((i) => `features.${i}`)
          .join(", ")}); layers must be numbered 0, 1, 2, … without gaps`,
      );
  for (const k of weights.keys())
    if (!feats.has(k)) fail(`${where}: weight.${k} has no matching features.${k}`);
  const t = targets as Entry;
  if (t.shape.length < 1 || t.shape.length > 2)
    fail(`${where}: targets must be N×t (or a vector of N); got shape ${shapeStr(t.shape)}`);
  const N = t.shape[0];
  const features: Entry[] = [];
  const ws: (Entry | null)[] = [];
  for (let k = 0; k < n; k++) {
    const f = feats.get(k)!;
    if (f.shape.length !== 2 && f.shape.length !== 4)
      fail(`${where}: features.${k} must be N×d or N×C×h×w; got shape ${shapeStr(f.shape)}`);
    if (f.shape[0] !== N)
      fail(
        `${where}: features.${k} has ${f.shape[0]} samples (shape ${shapeStr(f.shape)}) but targets has ${N} (shape ${shapeStr(t.shape)})`,
      );
    const w = weights.get(k) ?? null;
    if (w) {
      if (w.shape.length !== 2 && w.shape.length !== 4)
        fail(
          `${where}: weight.${k} must be out×in or Cout×Cin×kh×kw; got shape ${shapeStr(w.shape)}`,
        );
      const inDim = w.shape[1];
      const featDim = f.shape[1];
      if (inDim !== featDim)
        fail(
          `${where}: weight.${k} (shape ${shapeStr(w.shape)}) reads ${inDim} inputs but features.${k} has ${featDim} ${f.shape.length === 4 ? "channels" : "features"} (shape ${shapeStr(f.shape)}); weights must be out×in (PyTorch layout)`,
        );
    }
    features.push(f);
    ws.push(w);
  }
  const used = [...features, ...ws.filter((w): w is Entry => w !== null), t];
  return {
    kind,
    features,
    weights: ws,
    targets: t,
    ignored,
    samples: N,
    totalBytes: used.reduce((a, e) => a + e.bytes, 0),
    close,
  };
}

async function openSafetensors(path: string): Promise<NetworkFiles> {
  const src = await openFileSource(path);
  try {
    const header: SafetensorsHeader = await readSafetensorsHeader(src);
    const entries = new Map<string, Entry>();
    for (const info of header.tensors)
      entries.set(info.name, {
        name: info.name,
        shape: info.shape,
        dtype: info.dtype,
        bytes: info.dataOffsets[1] - info.dataOffsets[0],
        read: (rows, into) => readSafetensor(src, info.name, { header, rows, into }),
        readKeep: (rows, into) =>
          readSafetensor(src, info.name, { header, rows, into, float32: true }),
      });
    return assemble("safetensors", path, entries, () => src.close());
  } catch (e) {
    await src.close();
    throw e;
  }
}

async function openNpyFolder(path: string): Promise<NetworkFiles> {
  const files = (await readdir(path)).filter((f) => f.endsWith(".npy")).sort();
  const sources: FileSource[] = [];
  const closeAll = async () => {
    await Promise.all(sources.map((s) => s.close()));
  };
  try {
    const entries = new Map<string, Entry>();
    for (const f of files) {
      const name = f.slice(0, -4);
      if (!(FEATURE.test(name) || WEIGHT.test(name) || name === "targets")) {
        entries.set(name, {
          name,
          shape: [],
          dtype: "",
          bytes: 0,
          read: () => Promise.reject(new Error("unused")),
          readKeep: () => Promise.reject(new Error("unused")),
        });
        continue;
      }
      const src = await openFileSource(join(path, f));
      sources.push(src);
      const h = await readNpyHeader(src);
      entries.set(name, {
        name,
        shape: h.shape,
        dtype: h.descr,
        bytes: h.dataBytes,
        read: (rows, into) => readNpy(src, { rows, header: h, into }),
        readKeep: (rows, into) => readNpy(src, { rows, header: h, into, float32: true }),
      });
    }
    return assemble("npy folder", path, entries, closeAll);
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * Opens a network's tensors: `path` is a `.safetensors` file or a folder of `.npy` files. Reads
 * only headers; checks names, shapes and sample counts.
 * @throws NRCInputError (fn `deep-nrc measure`) with one line saying what is wrong.
 */
export async function openNetwork(path: string): Promise<NetworkFiles> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(
      `cannot open ${path}: ${code === "ENOENT" ? "no such file or directory" : (e as Error).message}`,
    );
  }
  if (st.isDirectory()) return openNpyFolder(path);
  if (path.endsWith(".npy"))
    fail(
      `${path} is a single .npy file; pass the folder holding features.0.npy, …, targets.npy (or a .safetensors file)`,
    );
  return openSafetensors(path);
}

/** A read tensor as the library's input: 2-D → `{ rows, cols, data }`, 4-D → `{ shape, data }`. */
export function toInput(t: Tensor | TensorF32): MatrixInput | TensorInput {
  if (t.shape.length === 4) return { shape: t.shape, data: t.data };
  if (t.shape.length === 1) return { rows: t.shape[0], cols: 1, data: t.data };
  return { rows: t.shape[0], cols: t.shape[1], data: t.data };
}

/**
 * Reads every used tensor (optionally only the first `samples` rows of features and targets),
 * reporting progress in bytes.
 */
export async function loadLayers(
  net: NetworkFiles,
  opts: { samples?: number; onProgress?: (label: string, done: number, total: number) => void },
): Promise<{ layers: LayerInput[]; targets: MatrixInput }> {
  const n = opts.samples ?? net.samples;
  const rows: [number, number] = [0, n];
  let done = 0;
  const total = net.totalBytes;
  const step = async (e: Entry, sampled: boolean) => {
    opts.onProgress?.(`reading ${e.name}`, done, total);
    const t = await e.read(sampled ? rows : undefined);
    done += e.bytes;
    opts.onProgress?.(`reading ${e.name}`, done, total);
    return t;
  };
  const targets = toInput(await step(net.targets, true)) as MatrixInput;
  const layers: LayerInput[] = [];
  for (let k = 0; k < net.features.length; k++) {
    const f = await step(net.features[k], true);
    const w = net.weights[k];
    layers.push({
      name: `layer ${k}`,
      features: toInput(f),
      weight: w ? toInput(await step(w, false)) : null,
    });
  }
  return { layers, targets };
}

/** Bytes the features would take as float64 if read whole (for choosing streaming). */
export function featureBytesF64(net: NetworkFiles, samples = net.samples): number {
  let per = 0;
  for (const f of net.features) per += f.shape.slice(1).reduce((a, b) => a * b, 1);
  return per * samples * 8;
}

/** Rows per batch so that one batch of every layer's features is about `targetBytes` of float64. */
export function autoBatchRows(net: NetworkFiles, targetBytes = 64 * 2 ** 20): number {
  let per = 0;
  for (const f of net.features) per += f.shape.slice(1).reduce((a, b) => a * b, 1);
  return Math.max(2, Math.floor(targetBytes / (8 * Math.max(1, per))));
}

/** Reads the weights whole (they are small next to the features). */
export async function loadWeights(
  net: NetworkFiles,
): Promise<(MatrixInput | TensorInput | null)[]> {
  const out: (MatrixInput | TensorInput | null)[] = [];
  for (const w of net.weights) out.push(w ? toInput(await w.read()) : null);
  return out;
}

/**
 * The first `samples` rows as batches of `batchRows` rows, reading only one batch of each tensor
 * at a time (memory independent of N); each iteration reads the files afresh. A final batch of a
 * single row is folded into the one before it. A batch's arrays are reused for the batch after
 * next: the caller must be done with a batch when it asks for the next one (the accumulator is).
 */
export async function* fileBatches(
  net: NetworkFiles,
  opts: {
    samples?: number;
    batchRows: number;
    label?: string;
    onProgress?: (label: string, done: number, total: number) => void;
    /**
     * Last batch first. A second pass over files larger than the OS page cache reads backwards
     * so that what the cache still holds from the first pass (the end of each file) is read
     * before being evicted; a forward re-read would evict each block just before needing it.
     */
    reverse?: boolean;
  },
): AsyncGenerator<AccumulatorBatch> {
  const n = opts.samples ?? net.samples;
  const b = Math.max(2, opts.batchRows);
  const label = opts.label ?? "streaming";
  const ranges: [number, number][] = [];
  for (let start = 0; start < n;) {
    let end = Math.min(n, start + b);
    if (n - end === 1) end = n;
    ranges.push([start, end]);
    start = end;
  }
  if (opts.reverse) ranges.reverse();
  // Two sets of output buffers, alternating: batch i is decoded into set i % 2, so the batch
  // being read (i + 1) never overwrites the one the caller holds (i); a fresh buffer per batch
  // would cost page faults and leave ~the batch's size to the garbage collector each time.
  // Float32 features stay float32 (the accumulator's kernels widen them as they pack them: no
  // conversion pass here and half the bytes to copy); the targets are converted.
  const tensors = [net.targets, ...net.features];
  const rowSize = tensors.map((e) => e.shape.slice(1).reduce((a, x) => a * x, 1));
  const keep = tensors.map((e, j) => j > 0 && isFloat32Dtype(e.dtype));
  const most = ranges.reduce((m, [s, e]) => Math.max(m, e - s), 0);
  const sets: (Float64Array | Float32Array)[][] = [];
  const read = (rows: [number, number], slot: number): Promise<AccumulatorBatch> => {
    const bufs = (sets[slot] ??= rowSize.map((r, j) =>
      keep[j] ? new Float32Array(r * most) : new Float64Array(r * most),
    ));
    // Every tensor's rows are requested at once: the reads proceed in the I/O threads while the
    // caller computes, instead of one file at a time between its computations.
    const p = Promise.all(
      tensors.map((e, j) =>
        keep[j] ? e.readKeep(rows, bufs[j]) : e.read(rows, bufs[j] as Float64Array),
      ),
    ).then(([t, ...fs]) => ({
      features: fs.map((f) => toInput(f)) as (MatrixInput | TensorInput)[],
      targets: toInput(t) as MatrixInput,
    }));
    // A read still in flight when the consumer stops (it threw) must not become an unhandled
    // rejection; awaiting `p` still sees the error.
    p.catch(() => undefined);
    return p;
  };
  // The next batch is read while the caller computes on this one (reads wait on the disk, not
  // the CPU: at full scale they were a quarter of the streaming time when not overlapped).
  let next = ranges.length ? read(ranges[0], 0) : null;
  let done = 0;
  for (let i = 0; i < ranges.length; i++) {
    const [start, end] = ranges[i];
    opts.onProgress?.(`${label} samples ${start}–${end} of ${n}`, done, n);
    const batch = await next!;
    next = i + 1 < ranges.length ? read(ranges[i + 1], (i + 1) % 2) : null;
    yield batch;
    done += end - start;
    opts.onProgress?.(`${label} samples ${done} of ${n}`, done, n);
  }
}
