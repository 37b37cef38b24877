/**
 * Exact power-of-two rescaling, so that data scaled by 1e±170 (or 2^±300) neither overflows nor
 * underflows in Gram matrices and squared norms: multiplying by 2^k changes no bit of the
 * mantissas, and every scale-invariant metric (NRC1–NRC3, CKA, stable ranks, principal angles)
 * comes out the same as on data of ordinary size.
 * @module
 */
import type { Mat } from "../backends/types.js";

/**
 * Inputs whose largest |entry| lies in [2^-SAFE, 2^SAFE] are used as given: their Grams
 * (entries ≤ N·2^(2·SAFE), eigenvalues squared in CKA ≤ 2^(4·SAFE+…)) stay finite and normal.
 */
export const SAFE_EXPONENT = 200;

/** 2^e as a product of two factors that are each representable (|e| up to ~2100). */
function scaleBy(data: ArrayLike<number>, e: number): Float64Array {
  const e1 = Math.trunc(e / 2);
  const f1 = 2 ** e1;
  const f2 = 2 ** (e - e1);
  const out = new Float64Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = data[i] * f1 * f2;
  return out;
}

/**
 * `m·2^-exp` with the largest |entry| in [0.5, 1) when it lies outside [2^-SAFE, 2^SAFE], else `m`
 * itself with `exp = 0`. Exact (apart from entries more than 2^1000 below the largest, which may
 * lose bits as subnormals: they are below the rounding of any sum that holds the largest).
 */
export function pow2Normalized(m: Mat): { m: Mat; exp: number } {
  const d = m.data;
  let mx = 0;
  for (let i = 0; i < d.length; i++) {
    const a = Math.abs(d[i]);
    if (a > mx) mx = a;
  }
  if (mx === 0 || !Number.isFinite(mx)) return { m, exp: 0 };
  const exp = Math.floor(Math.log2(mx)) + 1;
  if (Math.abs(exp) <= SAFE_EXPONENT) return { m, exp: 0 };
  return { m: { rows: m.rows, cols: m.cols, data: scaleBy(d, -exp) }, exp };
}

/** {@link pow2Normalized}'s matrix only. */
export const pow2Scaled = (m: Mat): Mat => pow2Normalized(m).m;

/**
 * `v·2^(2·exp)`: a squared quantity of data that was scaled by 2^-exp, back to the data's scale;
 * NaN when that is not a normal float64 (overflow to ±Infinity, or a nonzero value underflowing
 * below 2^-1022, where digits would be lost): callers turn NaN into an error.
 */
export function unscaleSquared(v: number, exp: number): number {
  if (exp === 0) return v;
  const e = 2 * exp;
  const e1 = Math.trunc(e / 2);
  const out = v * 2 ** e1 * 2 ** (e - e1);
  return Number.isFinite(out) && (v === 0 || Math.abs(out) >= 2 ** -1022) ? out : NaN;
}

/** ‖v‖₂ of the entries without overflow or underflow of their squares (scaled by the largest). */
export function scaledNorm(v: ArrayLike<number>): number {
  let mx = 0;
  for (let i = 0; i < v.length; i++) mx = Math.max(mx, Math.abs(v[i]));
  if (mx === 0 || !Number.isFinite(mx)) return mx;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] / mx) ** 2;
  return Math.sqrt(s) * mx;
}
