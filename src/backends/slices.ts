/**
 * Exact products from integer slices (the Ozaki scheme), host side: shared by the WebGPU and tfjs
 * backends, whose hardware has no float64.
 *
 * Each column of A is centered about a float64 center c (its mean) and scaled by an exact power of
 * two so that every entry v = (a − c)·2^-e lies in [−1, 1]. v is then written as D integer digits,
 * `v ≈ Σ_k d_k · 2^-(first + bits·k)`, with |d_0| ≤ 2^first and |d_k| ≤ 2^(bits−1) (k ≥ 1): every
 * step (a power-of-two multiply, a rounding, a subtraction of a nearby integer) is exact in float64,
 * so the digits carry v to 2^-(first + bits·(D−1) + 1). The device computes the integer products
 * `S_kᵀ S_l` of the digit planes **exactly** (integer arithmetic, or float32 arithmetic on integers
 * small enough that every partial sum stays below 2^24), and the host recombines them in float64:
 * `ÃᵀB̃ = Σ_{k+l ≤ D−1} 2^-(2·first + bits·(k+l)) · S_kᵀS_l` (terms with k + l ≥ D are below the
 * digits' own truncation and are left out). Nothing is rounded to float32, so the result is as
 * accurate as a float64 product, whatever the compiler does with the arithmetic (integer sums are
 * exact in any order).
 *
 * @module
 */
import type { Mat, MatF32 } from "./types.js";

/** How values are cut into digits. */
export interface SliceFormat {
  /** Bits of the first digit: |d_0| ≤ 2^first. */
  readonly first: number;
  /** Bits of each further digit: |d_k| ≤ 2^(bits − 1). */
  readonly bits: number;
  /** Number of digits D. */
  readonly digits: number;
}

/**
 * The WebGPU integer kernel's format: digits of at most 2^12 in magnitude (products ≤ 2^24; a
 * 32-row block sums to < 2^29 in i32), 5 digits: v to 2^-65, 9 products for a Gram.
 */
export const I32_FORMAT: SliceFormat = { first: 12, bits: 13, digits: 5 };

/**
 * For engines that multiply in float32 (tfjs): digits of at most 2^7 (products ≤ 2^14), so a sum
 * over 1024 rows stays ≤ 2^24, where every float32 integer is exact; 7 digits: v to 2^-56.
 */
export const F32_FORMAT: SliceFormat = { first: 7, bits: 8, digits: 7 };

/** Column statistics for slicing a matrix. */
export interface SlicePrep {
  /** Rows. */
  readonly m: number;
  /** Columns. */
  readonly n: number;
  /** The float64 center c subtracted from each column (its mean). */
  readonly center: Float64Array;
  /** `Σ_r (a_rj − c_j)` in float64 (≈ 0; kept for the exact correction). */
  readonly csum: Float64Array;
  /** Column j's centered entries are at most 2^exp[j] in magnitude. */
  readonly exp: Int32Array;
  /** Per column, the two factors whose product is 2^(first − exp[j]) (split to stay finite). */
  readonly f1: Float64Array;
  readonly f2: Float64Array;
  /** False when an entry is NaN or ±Infinity: the caller must not slice (digits cannot carry it). */
  readonly finite: boolean;
}

/** `x · 2^n` for any integer n, without overflowing the intermediate power of two. */
export function ldexp(x: number, n: number): number {
  let v = x;
  let k = n;
  while (k > 1000) {
    v *= 2 ** 1000;
    k -= 1000;
  }
  while (k < -1000) {
    v *= 2 ** -1000;
    k += 1000;
  }
  return v * 2 ** k;
}

/** The least e with |x| ≤ 2^e (x finite, > 0). */
function ceilLog2(x: number): number {
  let e = Math.ceil(Math.log2(x));
  while (ldexp(x, -e) > 1) e++;
  while (ldexp(x, 1 - e) <= 1) e--;
  return e;
}

/**
 * Centers and scales the columns of A for slicing: means, centered sums, power-of-two exponents.
 * Two passes over A (O(m·n)).
 */
export function prepSlices(a: Mat | MatF32, fmt: SliceFormat): SlicePrep {
  const { rows: m, cols: n, data } = a;
  const center = new Float64Array(n);
  for (let o = 0; o < m * n; o += n) for (let j = 0; j < n; j++) center[j] += data[o + j];
  for (let j = 0; j < n; j++) center[j] /= m;
  const csum = new Float64Array(n);
  const maxAbs = new Float64Array(n);
  for (let o = 0; o < m * n; o += n)
    for (let j = 0; j < n; j++) {
      const v = data[o + j] - center[j];
      csum[j] += v;
      const av = Math.abs(v);
      // `!(av <= max)` also catches NaN
      if (!(av <= maxAbs[j])) maxAbs[j] = av;
    }
  const exp = new Int32Array(n);
  const f1 = new Float64Array(n);
  const f2 = new Float64Array(n);
  let finite = true;
  for (let j = 0; j < n; j++) {
    const mx = maxAbs[j];
    if (!Number.isFinite(mx) || !Number.isFinite(center[j])) finite = false;
    const e = mx > 0 && Number.isFinite(mx) ? ceilLog2(mx) : 0;
    exp[j] = e;
    // 2^(first − e) as two finite factors (e ranges over about [−1074, 1024]).
    const s = fmt.first - e;
    const h = Math.trunc(s / 2);
    f1[j] = 2 ** h;
    f2[j] = 2 ** (s - h);
  }
  return { m, n, center, csum, exp, f1, f2, finite };
}

/**
 * Writes the digits of rows [r0, r1) of A into `dst`: digit k of entry (r, j) at
 * `k·plane + (r − r0)·n + j`. Entries beyond r1 in each plane are left as they are.
 */
export function fillDigits(
  a: Mat | MatF32,
  p: SlicePrep,
  fmt: SliceFormat,
  r0: number,
  r1: number,
  dst: Int32Array | Float32Array,
  plane: number,
): void {
  const n = p.n;
  const { center, f1, f2 } = p;
  const data = a.data;
  const step = 2 ** fmt.bits;
  const D = fmt.digits;
  let o = 0;
  for (let r = r0; r < r1; r++) {
    const src = r * n;
    for (let j = 0; j < n; j++, o++) {
      let y = (data[src + j] - center[j]) * f1[j] * f2[j];
      let d = Math.round(y);
      dst[o] = d;
      for (let k = 1; k < D; k++) {
        y = (y - d) * step;
        d = Math.round(y);
        dst[k * plane + o] = d;
      }
    }
  }
}

/**
 * The digit pairs (k, l) whose products are needed: k + l ≤ D − 1; for a Gram (`sym`) only
 * k ≤ l (the product S_lᵀS_k is the transpose of S_kᵀS_l).
 */
export function slicePairs(fmt: SliceFormat, sym: boolean): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < fmt.digits; s++)
    for (let k = 0; k <= s; k++) {
      const l = s - k;
      if (!sym || k <= l) out.push([k, l]);
    }
  return out;
}

/** The weight 2^-(2·first + bits·(k + l)) of the product S_kᵀS_l. */
export function pairWeight(fmt: SliceFormat, k: number, l: number): number {
  return 2 ** -(2 * fmt.first + fmt.bits * (k + l));
}

/**
 * Adds one pair's exact integer product (n×q, row-major, values `get(i, j)`) into `acc`, weighted:
 * for a Gram (`sym`) only the upper triangle of `acc` is kept, and a pair with k ≠ l adds its
 * transpose too.
 */
export function addPair(
  acc: Float64Array,
  n: number,
  q: number,
  w: number,
  sym: boolean,
  diagonal: boolean,
  get: (idx: number) => number,
): void {
  if (!sym) {
    for (let x = 0; x < n * q; x++) acc[x] += w * get(x);
    return;
  }
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++)
      acc[i * n + j] += diagonal ? w * get(i * n + j) : w * (get(i * n + j) + get(j * n + i));
}

/**
 * Turns `acc = Σ ṽ_a ṽ_bᵀ` (the scaled centered columns) into the product about the shifts:
 * `Σ_r (a_r − s_a)(b_r − s_b)ᵀ = 2^(e_i + e_j)·acc + csum_a·o_bᵀ + o_a·csum_bᵀ + m·o_a·o_bᵀ`
 * with o = center − s (s = 0 when absent: the plain product AᵀB). With `sym` (A = B) only the
 * upper triangle of acc is read, and the result is mirrored.
 */
export function finishSliced(
  acc: Float64Array,
  pa: SlicePrep,
  pb: SlicePrep,
  sym: boolean,
  shiftA?: Float64Array,
  shiftB?: Float64Array,
): Mat {
  const { m, n } = pa;
  const q = pb.n;
  const oa = shiftA ? pa.center.map((c, j) => c - shiftA[j]) : pa.center;
  const ob = shiftB ? pb.center.map((c, j) => c - shiftB[j]) : pb.center;
  const out = new Float64Array(n * q);
  for (let i = 0; i < n; i++) {
    const ea = pa.exp[i];
    for (let j = sym ? i : 0; j < q; j++) {
      const v =
        ldexp(acc[i * q + j], ea + pb.exp[j]) +
        pa.csum[i] * ob[j] +
        oa[i] * pb.csum[j] +
        m * oa[i] * ob[j];
      out[i * q + j] = v;
      if (sym) out[j * q + i] = v;
    }
  }
  return { rows: n, cols: q, data: out };
}
