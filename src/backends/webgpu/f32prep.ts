/**
 * Host-side preparation shared by the float32 backends (WebGPU, tfjs): per-column float64 means,
 * exact power-of-two scales, float32 chunks of the centered scaled rows, and the exact float64
 * correction that turns a product of centered scaled matrices back into `AᵀB`.
 *
 * Why: a float32 product loses everything below ~1e-7 of the *raw* values' magnitude. Centering
 * first makes the error relative to the centered data (what the metrics use), and power-of-two
 * column scaling (exact in binary floating point) keeps every column near 1 so float32 products
 * neither overflow (|x| > 1.8e19) nor underflow (|x| < 1e-19) for any float64 input.
 *
 * @module
 */
import type { Mat, MatF32 } from "../types.js";

/** Column statistics used to center and scale a matrix before the float32 upload. */
export interface ColPrep {
  mean: Float64Array;
  /** Σ_r (a_rj − mean_j) in float64 (≈ 0; kept for an exact correction). */
  csum: Float64Array;
  /** Power-of-two scale applied before rounding to float32 (largest |entry| about 1). */
  scale: Float64Array;
}

export function prepColumns(a: Mat | MatF32): ColPrep {
  const { rows: m, cols: n, data } = a;
  const mean = new Float64Array(n);
  for (let r = 0; r < m; r++) {
    const o = r * n;
    for (let j = 0; j < n; j++) mean[j] += data[o + j];
  }
  for (let j = 0; j < n; j++) mean[j] /= m;
  const csum = new Float64Array(n);
  const maxAbs = new Float64Array(n);
  for (let r = 0; r < m; r++) {
    const o = r * n;
    for (let j = 0; j < n; j++) {
      const v = data[o + j] - mean[j];
      csum[j] += v;
      const av = Math.abs(v);
      if (av > maxAbs[j]) maxAbs[j] = av;
    }
  }
  return { mean, csum, scale: maxAbs.map(pow2Scale) };
}

/**
 * The power of two that brings a column whose largest |entry| is `mx` to about 1 (1 for a zero or
 * non-finite `mx`). The exponent is clamped so that both the scale and its inverse stay finite
 * doubles (a subnormal column would otherwise ask for 2^1074 = Infinity); ±1000 keeps |entries|
 * within float32's range (≥ 2^-1074+1000 ≈ 1e-22, ≤ 2^24).
 */
export function pow2Scale(mx: number): number {
  const e = Math.min(1000, Math.max(-1000, Math.ceil(Math.log2(mx))));
  return mx > 0 && Number.isFinite(mx) ? Math.pow(2, -e) : 1;
}

/**
 * Writes rows [r0, r1) of a, centered and scaled, into dst (float32, row-major) and zero-fills
 * the rest of dst.
 */
export function fillChunk(
  a: Mat | MatF32,
  p: ColPrep,
  r0: number,
  r1: number,
  dst: Float32Array,
): void {
  const n = a.cols;
  const d = a.data;
  const { mean, scale } = p;
  let k = 0;
  for (let r = r0; r < r1; r++) {
    const o = r * n;
    for (let j = 0; j < n; j++) dst[k++] = (d[o + j] - mean[j]) * scale[j];
  }
  if (k < dst.length) dst.fill(0, k);
}

/**
 * Turns `acc` = Σ_tiles F̃ᵀG̃ (float64 sum of the products of the centered, scaled float32 matrices)
 * back into `AᵀB`: undo the scales, then add the means exactly,
 * `AᵀB = ÃᵀB̃ + s_a μ_bᵀ + μ_a s_bᵀ + m μ_a μ_bᵀ` with `s` the float64 column sums of the centered
 * matrices (≈ 0). With `sym` (a Gram, A = B) only the upper triangle of `acc` is read and mirrored.
 */
export function finishProduct(
  acc: Float64Array,
  m: number,
  pa: ColPrep,
  pb: ColPrep,
  sym: boolean,
): Mat {
  const n = pa.mean.length;
  const q = pb.mean.length;
  const out = new Float64Array(n * q);
  for (let i = 0; i < n; i++) {
    const si = 1 / pa.scale[i];
    const ma = pa.mean[i];
    const ca = pa.csum[i];
    for (let j = sym ? i : 0; j < q; j++) {
      const v =
        (acc[i * q + j] * si) / pb.scale[j] +
        ca * pb.mean[j] +
        ma * pb.csum[j] +
        m * ma * pb.mean[j];
      out[i * q + j] = v;
      if (sym) out[j * q + i] = v;
    }
  }
  return { rows: n, cols: q, data: out };
}

/** `lowGram`'s host pass: per column, `Σ(aᵢ − s)`, `Σ(aᵢ − s)²` and `max|aᵢ − s|`, in float64. */
export function shiftedStats(
  a: Mat | MatF32,
  s: Float64Array,
): { sums: Float64Array; squares: Float64Array; maxAbs: Float64Array } {
  const { rows: m, cols: d, data } = a;
  const sums = new Float64Array(d);
  const squares = new Float64Array(d);
  const maxAbs = new Float64Array(d);
  for (let o = 0; o < m * d; o += d)
    for (let j = 0; j < d; j++) {
      const v = data[o + j] - s[j];
      sums[j] += v;
      squares[j] += v * v;
      const av = Math.abs(v);
      if (!(av <= maxAbs[j])) maxAbs[j] = av;
    }
  return { sums, squares, maxAbs };
}

/** The {@link ColPrep} that makes {@link fillChunk} write (a − s)·scale (one float32 rounding). */
export function shiftPrep(s: Float64Array, scale: Float64Array): ColPrep {
  return { mean: s, csum: new Float64Array(s.length), scale };
}

/**
 * `lowGram`'s result from the float32 pass's symmetric accumulator `acc` = Σ x̃x̃ᵀ of the scaled
 * columns centered at c = s + off (off = 0 when the host subtracted s itself): the Gram moved to
 * s, `Σ(aᵢ − s)(aᵢ − s)ᵀ = acc/scale² + csum·offᵀ + off·csumᵀ + m·off·offᵀ` (csum = Σ(aᵢ − c)),
 * with the float64 sums and squares about s and the float32 unit roundoff.
 */
export function lowGramResult(
  acc: Float64Array,
  m: number,
  off: Float64Array,
  scale: Float64Array,
  stats: { sums: Float64Array; squares: Float64Array },
  blockRows: number,
): {
  gram: Mat;
  sums: Float64Array;
  squares: Float64Array;
  blockRows: number;
  unitRoundoff: number;
} {
  const p: ColPrep = { mean: off, csum: stats.sums.map((v, j) => v - m * off[j]), scale };
  const gram = finishProduct(acc, m, p, p, true);
  return { gram, sums: stats.sums, squares: stats.squares, blockRows, unitRoundoff: 2 ** -24 };
}
