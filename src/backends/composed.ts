/**
 * Moments without a dedicated kernel, composed from a backend's Gram and cross products: the
 * shift (column means, or a sampled estimate of them), shifted moments started eagerly, and a
 * running moments accumulator; plus {@link widenMat} for float32 inputs. Used by
 * `completeKernels` for backends that provide only products, and by the JS kernels.
 * @module
 */
import type {
  Mat,
  MatF32,
  MaybePromise,
  MomentsRun,
  PendingMoments,
  ShiftedMomentsResult,
} from "./types.js";

/**
 * A float64 matrix with A's values: A itself, or a float32 A widened (exactly, entry by entry).
 * @internal
 */
export function widenMat(a: Mat | MatF32): Mat {
  return a.data instanceof Float32Array
    ? { rows: a.rows, cols: a.cols, data: Float64Array.from(a.data) }
    : (a as Mat);
}

/** Column sums of `data` (n×d) less `shift`, four rows per sweep (a quarter of the stores). */
function shiftedColumnSums(data: Float64Array, n: number, d: number, shift: Float64Array | null) {
  const s = new Float64Array(d);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = i * d;
    if (shift)
      for (let j = 0; j < d; j++)
        s[j] +=
          data[o + j] -
          shift[j] +
          (data[o + d + j] - shift[j]) +
          (data[o + 2 * d + j] - shift[j] + (data[o + 3 * d + j] - shift[j]));
    else
      for (let j = 0; j < d; j++)
        s[j] += data[o + j] + data[o + d + j] + (data[o + 2 * d + j] + data[o + 3 * d + j]);
  }
  for (; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) s[j] += data[o + j] - (shift ? shift[j] : 0);
  }
  return s;
}

/** Rows a {@link sampledColumnMeans} shift reads at most. */
export const SHIFT_SAMPLE_ROWS = 512;

/**
 * A shift for moments about a point near the mean, cheaply: the column means of at most
 * {@link SHIFT_SAMPLE_ROWS} rows spread evenly over A (every ⌈m/512⌉-th row), not the mean of
 * all of A. Moments about s are exact after re-centering; only their rounding grows with how far
 * s is from the mean (by 1 + nδ²/M2 for a column with δ = mean − s), so a caller checks
 * {@link shiftDrifted} afterwards and takes the moments again about s + δ when it is true.
 */
export function sampledColumnMeans(a: Mat): Float64Array {
  const { rows: m, cols: d, data } = a;
  const step = Math.max(1, Math.ceil(m / SHIFT_SAMPLE_ROWS));
  // About the first row, so a constant column's shift is that constant exactly.
  const s = new Float64Array(d);
  let count = 0;
  for (let i = 0; i < m; i += step, count++) {
    const o = i * d;
    for (let j = 0; j < d; j++) s[j] += data[o + j] - data[j];
  }
  for (let j = 0; j < d; j++) s[j] = data[j] + s[j] / Math.max(1, count);
  return s;
}

/**
 * Whether moments about a shift s over n rows have drifted too far to re-center accurately:
 * true when some column has (Σ(x − s))² > ¼·n·(floorⱼ + Σ(x − s)²), i.e. n·δ² > ¼·(floorⱼ + G)
 * with δ = mean − s and G = Σ(x − s)² (floor: the sum of squares of what the result will be
 * merged with, 0 for a batch alone). Within it the re-centering's subtraction n·δ² takes at most
 * a quarter of what is left and costs well under a bit (see `MomentsAccumulation`). `diag(j)`
 * reads G's j-th diagonal entry.
 */
export function shiftDrifted(
  sums: Float64Array,
  diag: (j: number) => number,
  n: number,
  floor?: Float64Array,
): boolean {
  for (let j = 0; j < sums.length; j++)
    if (!(sums[j] * sums[j] <= 0.25 * n * ((floor ? floor[j] : 0) + diag(j)))) return true;
  return false;
}

/** `startShiftedMoments` for a backend without a background of its own: computed at once. */
export function eagerMomentsStart(
  shiftedMoments: (
    a: Mat | MatF32,
    shift: Float64Array,
    b: Mat,
  ) => MaybePromise<ShiftedMomentsResult>,
): (a: Mat | MatF32, shift: Float64Array, b: Mat) => PendingMoments {
  return (a, shift, b) => {
    const r = shiftedMoments(a, shift, b);
    return { join: () => r };
  };
}

/**
 * `shiftedMoments` for a backend without its own (see the kernel's doc): A − 1sᵀ is formed (in
 * `scratch(m·n)` when given), then the backend's own `gram` and `crossProd` run on it. A float32
 * A is widened entry by entry as it is read.
 */
export function composedShiftedMoments(
  gram: (a: Mat) => MaybePromise<Mat>,
  crossProd: (a: Mat, b: Mat) => MaybePromise<Mat>,
): (
  a: Mat | MatF32,
  shift: Float64Array,
  b: Mat,
  scratch?: (length: number) => Float64Array,
) => Promise<ShiftedMomentsResult> {
  return async (a, shift, b, scratch) => {
    const { rows: n, cols: d, data: src } = a;
    const len = n * d;
    const dst = scratch ? scratch(len).subarray(0, len) : new Float64Array(len);
    const sums = new Float64Array(d);
    for (let o = 0; o < len; o += d)
      for (let j = 0; j < d; j++) {
        const v = src[o + j] - shift[j];
        dst[o + j] = v;
        sums[j] += v;
      }
    const ac: Mat = { rows: n, cols: d, data: dst };
    const [g, x] = await Promise.all([gram(ac), crossProd(ac, b)]);
    return { gram: g, cross: x, sums };
  };
}

/**
 * `momentsRun` for a backend without its own: each `add` is one `shiftedMoments` call, summed
 * into float64 arrays here.
 */
export function composedMomentsRun(
  shiftedMoments: (
    a: Mat | MatF32,
    shift: Float64Array,
    b: Mat,
    scratch?: (length: number) => Float64Array,
  ) => MaybePromise<ShiftedMomentsResult>,
): (
  n: number,
  q: number,
  shift: Float64Array,
  scratch?: (length: number) => Float64Array,
) => MomentsRun {
  return (n, q, shift, scratch) => {
    const s = Float64Array.from(shift);
    const gram = new Float64Array(n * n);
    const cross = new Float64Array(n * q);
    const sums = new Float64Array(n);
    let open = true;
    const check = (fn: string) => {
      if (!open) throw new Error(`momentsRun.${fn}: the run was disposed`);
    };
    return {
      async add(a, b) {
        check("add");
        const r = await shiftedMoments(a, s, b, scratch);
        for (let i = 0; i < gram.length; i++) gram[i] += r.gram.data[i];
        for (let i = 0; i < cross.length; i++) cross[i] += r.cross.data[i];
        for (let i = 0; i < n; i++) sums[i] += r.sums[i];
      },
      probe() {
        check("probe");
        const diag = new Float64Array(n);
        for (let i = 0; i < n; i++) diag[i] = gram[i * n + i];
        return { sums: sums.slice(), diag };
      },
      result() {
        check("result");
        return {
          gram: { rows: n, cols: n, data: gram.slice() },
          cross: { rows: n, cols: q, data: cross.slice() },
          sums: sums.slice(),
        };
      },
      dispose() {
        open = false;
      },
    };
  };
}

/** Column means of an N×d matrix (two passes: the mean, then the mean of the residuals). */
export function columnMeans(a: Mat): Float64Array {
  const { rows: n, cols: d, data } = a;
  const mean = shiftedColumnSums(data, n, d, null);
  for (let j = 0; j < d; j++) mean[j] /= n;
  const corr = shiftedColumnSums(data, n, d, mean);
  for (let j = 0; j < d; j++) mean[j] += corr[j] / n;
  return mean;
}
