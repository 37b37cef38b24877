/**
 * Samples ↔ rows, proven: which rows of a linear map's input belong to which sample.
 *
 * A map's input is read as R **rows** (blocks): a dense map's rows are its input's leading axes
 * flattened (N×d, N×T×d tokens, T×N×d sequence-first, a Reshape to (T·N)×d…; Gemm's transA
 * transposed first), a conv's rows are its images (axis 0 of N×C×h×w). Whatever the exporter did
 * to the batch axis (Transpose, Reshape, Flatten), if the rows are still one block per
 * (outer, sample, inner) index they split as R = a·n·b and row r belongs to sample ⌊r/b⌋ mod n.
 * The stride b is not guessed from shapes (a batch of n samples and a sequence of n tokens look
 * alike): {@link proveStrides} runs the model on a probe batch and on a permutation of it, and keeps
 * the one stride under which every row of the first run reappears, unchanged, where its sample went
 * in the second. A map whose rows fit no stride (they mix samples, or follow no (…, sample, …)
 * layout) or more than one (its input does not depend on the sample) is not measured, with a
 * note. Layouts are read from the data, not from node names, so any exporter's graph works.
 *
 * {@link pairRows} then lays each batch out as deep-nrc reads it, every row a sample of its
 * sample's targets: one row per sample → N×d; P rows per sample → N×d×P×1 (the conv layout,
 * positions as samples); P images per sample → N×C×(P·h)×w.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { TensorInput } from "../io/conv.js";
import type { ONNXLayerInfo } from "./linear-maps.js";

/** A map's input as `rows` blocks of `width` values, row-major. */
export interface RowView {
  rows: number;
  width: number;
  data: Float64Array;
  /** A conv image's [C, h, w] (a 1-D conv's [C, k, 1]); null for a dense map. */
  image: number[] | null;
}

/** How a map's input rows pair with the samples (proven by {@link proveStrides}). */
export interface RowPairing {
  /** Row r of a batch of n samples belongs to sample ⌊r / stride⌋ mod n. */
  stride: number;
  /** Rows per sample (in the probe batch): 1, or its tokens / positions / images. */
  rowsPerSample: number;
  /** The layout in words, e.g. `8 rows per sample, samples outermost (N·8)`. */
  layout: string;
}

type Layer = Pick<ONNXLayerInfo, "name" | "op" | "input" | "transA">;

/** The input tensor of `l` (its ORT dims and float64 values) as rows. */
export function rowView(fn: string, l: Layer, dims: readonly number[], v: Float64Array): RowView {
  const where = `layer '${l.name}' (${l.op}) reads '${l.input}' of shape [${dims.join(", ")}]`;
  if (l.op === "Conv") {
    if (dims.length !== 3 && dims.length !== 4)
      throw new NRCInputError(fn, "model", `${where}; expected N×C×h×w`);
    const image = [dims[1], dims[2], dims[3] ?? 1];
    return { rows: dims[0], width: image[0] * image[1] * image[2], data: v, image };
  }
  if (l.transA) {
    if (dims.length !== 2) throw new NRCInputError(fn, "model", `${where}; Gemm reads a matrix`);
    const [k, m] = dims;
    const out = new Float64Array(m * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) out[j * k + i] = v[i * m + j];
    return { rows: m, width: k, data: out, image: null };
  }
  if (dims.length === 0) throw new NRCInputError(fn, "model", `${where}; expected rows × features`);
  const width = dims[dims.length - 1];
  return { rows: width === 0 ? 0 : v.length / width, width, data: v, image: null };
}

/** Largest |x| and largest |x − column mean| (the scale rows are compared at). */
function scales(a: RowView): { abs: number; centred: number } {
  const { rows, width, data } = a;
  const mean = new Float64Array(width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) mean[c] += data[r * width + c];
  for (let c = 0; c < width; c++) mean[c] /= rows;
  let abs = 0;
  let centred = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < width; c++) {
      const x = data[r * width + c];
      abs = Math.max(abs, Math.abs(x));
      centred = Math.max(centred, Math.abs(x - mean[c]));
    }
  return { abs, centred };
}

/**
 * The strides b (with n·b dividing the row count) under which the rows of `a` (the model run on
 * samples 0…n−1) reappear in `b` (run on samples perm[0], …, perm[n−1]) where their samples went:
 * row (i, s, j) of `a` equals row (i, perm⁻¹[s], j) of `b` to 1e-4 of the rows' spread. Exactly
 * one stride proves the pairing; none or several do not.
 */
export function proveStrides(a: RowView, b: RowView, perm: Int32Array): number[] {
  const n = perm.length;
  if (a.rows !== b.rows || a.width !== b.width || a.rows % n !== 0) return [];
  const inv = new Int32Array(n);
  for (let j = 0; j < n; j++) inv[perm[j]] = j;
  const { abs, centred } = scales(a);
  const tol = 1e-4 * centred + 1e-6 * abs;
  const w = a.width;
  const per = a.rows / n;
  const found: number[] = [];
  for (let stride = 1; stride <= per; stride++) {
    if (per % stride !== 0) continue;
    let ok = true;
    for (let r = 0; r < a.rows && ok; r++) {
      const q = Math.floor(r / stride);
      const s = q % n;
      const r2 = (q - s + inv[s]) * stride + (r % stride);
      for (let c = 0; c < w; c++)
        if (!(Math.abs(a.data[r * w + c] - b.data[r2 * w + c]) <= tol)) {
          ok = false;
          break;
        }
    }
    if (ok) found.push(stride);
  }
  return found;
}

/** The pairing of a proven stride, in words for the report. */
export function describePairing(
  stride: number,
  rows: number,
  n: number,
  conv: boolean,
): RowPairing {
  const per = rows / n;
  const what = conv ? "images" : "rows";
  const outer = per / stride;
  const layout =
    per === 1
      ? `one ${conv ? "image" : "row"} per sample`
      : outer === 1
        ? `${per} ${what} per sample, samples outermost (N·${per})`
        : stride === 1
          ? `${per} ${what} per sample, samples innermost (${per}·N, sequence-first)`
          : `${per} ${what} per sample, samples in the middle (${outer}·N·${stride})`;
  return { stride, rowsPerSample: per, layout };
}

/**
 * One batch's input of a map, every row paired with its sample (see the module note): N×d when
 * each sample has one row, else N×d×P×1 (dense) or N×C×(P·h)×w (conv), positions in (outer,
 * inner) order.
 * @throws NRCInputError when the batch's rows do not split as the probe proved.
 */
export function pairRows(
  fn: string,
  l: Layer,
  v: RowView,
  n: number,
  pairing: RowPairing,
): Mat | TensorInput {
  // A batch of one sample: every row is that sample's.
  const stride = n === 1 ? v.rows : pairing.stride;
  if (v.rows % (n * stride) !== 0)
    throw new NRCInputError(
      fn,
      "model",
      `layer '${l.name}' (${l.op}) reads ${v.rows} rows for a batch of ${n} samples, which do not split in blocks of ${stride} rows per sample as the probe batch did (${pairing.layout}); the model's layout depends on the batch size`,
    );
  const outer = v.rows / (n * stride);
  const P = outer * stride;
  const w = v.width;
  if (v.image) {
    const [C, h, wd] = v.image;
    if (P === 1) return { data: v.data, shape: [n, C, h, wd] };
    const out = new Float64Array(v.data.length);
    const plane = h * wd;
    for (let r = 0; r < v.rows; r++) {
      const q = Math.floor(r / stride);
      const s = q % n;
      const p = Math.floor(q / n) * stride + (r % stride);
      for (let c = 0; c < C; c++)
        out.set(
          v.data.subarray(r * w + c * plane, r * w + (c + 1) * plane),
          ((s * C + c) * P + p) * plane,
        );
    }
    return { data: out, shape: [n, C, P * h, wd] };
  }
  if (P === 1) return { rows: n, cols: w, data: v.data };
  const out = new Float64Array(v.data.length);
  for (let r = 0; r < v.rows; r++) {
    const q = Math.floor(r / stride);
    const s = q % n;
    const p = Math.floor(q / n) * stride + (r % stride);
    const base = s * w * P + p;
    for (let c = 0; c < w; c++) out[base + c * P] = v.data[r * w + c];
  }
  return { data: out, shape: [n, w, P, 1] };
}
