/**
 * Mergeable running sums for debiased CKA between two fixed representations X (n×p) and Y
 * (n×q) of the same samples — the accumulator's debiased NRC2 with the `reference-code` preset,
 * where X = H[:, :t]. Besides the counts, means and centered products (M = X̃ᵀX̃, C = X̃ᵀỸ,
 * N = ỸᵀỸ, merged with Chan et al.'s update), the unbiased HSIC estimator needs
 * Σ a_i b_i, Σ a_i², Σ b_i² with a_i = ‖x_i − μ_X‖², b_i = ‖y_i − μ_Y‖² about the *global* means;
 * moving them to a new center (a merge moves each side to the merged means) needs the
 * third-order vectors Σ a_i x̃_i, Σ b_i x̃_i, Σ a_i ỹ_i, Σ b_i ỹ_i, which move with M, C and N
 * alone — so the set closes. With δ, ε the moves of the X and Y centers, A = tr M, B = tr N:
 *
 *   Σa'² = Σa² − 4δᵀΣax̃ + 4δᵀMδ + 2‖δ‖²A + n‖δ‖⁴,
 *   Σa'b' = Σab − 2εᵀΣaỹ − 2δᵀΣbx̃ + 4δᵀCε + ‖ε‖²A + ‖δ‖²B + n‖δ‖²‖ε‖²,
 *   Σa'x̃' = Σax̃ − Aδ − 2Mδ − n‖δ‖²δ,   Σb'x̃' = Σbx̃ − Bδ − 2Cε − n‖ε‖²δ,
 *
 * and symmetrically for Y. Exact algebra; with shards of similar data δ and ε are small.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError } from "../errors.js";

/**
 * The sums debiased CKA needs: the three squared Frobenius products and, per sample,
 * a_i = ‖x_i‖², b_i = ‖y_i‖² (rows of the centered data) summed as Σa, Σb, Σab, Σa², Σb².
 * @internal
 */
export interface DebiasedSums {
  n: number;
  /** ‖XcᵀYc‖²_F, ‖XcᵀXc‖²_F, ‖YcᵀYc‖²_F. */
  cross: number;
  xx: number;
  yy: number;
  a: number;
  b: number;
  ab: number;
  aa: number;
  bb: number;
}

/**
 * n(n−3)·HSIC_u from the feature-space sums (see the module doc).
 * @internal
 */
export function unbiasedHSIC(n: number, prod: number, sa: number, sb: number, sab: number): number {
  return prod + (sa * sb) / ((n - 1) * (n - 2)) - (n / (n - 2)) * sab;
}

/**
 * Debiased CKA from its sums, or null when an unbiased self-HSIC is ≤ 0 (the estimate of a
 * positive quantity came out non-positive: too few samples for the estimator).
 * @internal
 */
export function debiasedFromSums(s: DebiasedSums): number | null {
  const { n } = s;
  const xy = unbiasedHSIC(n, s.cross, s.a, s.b, s.ab);
  const xx = unbiasedHSIC(n, s.xx, s.a, s.a, s.aa);
  const yy = unbiasedHSIC(n, s.yy, s.b, s.b, s.bb);
  if (!(xx > 0 && yy > 0)) return null;
  return xy / Math.sqrt(xx) / Math.sqrt(yy);
}

/** The running sums (all about this state's own means). */
export interface HsicSums {
  n: number;
  p: number;
  q: number;
  meanX: Float64Array;
  meanY: Float64Array;
  /** p×p, p×q, q×q row-major. */
  m: Float64Array;
  c: Float64Array;
  nn: Float64Array;
  /** Σab, Σa², Σb². */
  ab: number;
  aa: number;
  bb: number;
  /** Σa x̃ (p), Σb x̃ (p), Σa ỹ (q), Σb ỹ (q). */
  ax: Float64Array;
  bx: Float64Array;
  ay: Float64Array;
  by: Float64Array;
}

/** The sums of one batch: the first `p` columns of `h` against `y` (same rows). */
export function hsicBatch(h: Mat, p: number, y: Mat): HsicSums {
  const n = h.rows;
  const q = y.cols;
  const meanX = new Float64Array(p);
  const meanY = new Float64Array(q);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) meanX[j] += h.data[i * h.cols + j];
    for (let j = 0; j < q; j++) meanY[j] += y.data[i * q + j];
  }
  for (let j = 0; j < p; j++) meanX[j] /= n;
  for (let j = 0; j < q; j++) meanY[j] /= n;
  const s = empty(n, p, q, meanX, meanY);
  const xr = new Float64Array(p);
  const yr = new Float64Array(q);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < p; j++) {
      xr[j] = h.data[i * h.cols + j] - meanX[j];
      a += xr[j] * xr[j];
    }
    for (let j = 0; j < q; j++) {
      yr[j] = y.data[i * q + j] - meanY[j];
      b += yr[j] * yr[j];
    }
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < p; k++) s.m[j * p + k] += xr[j] * xr[k];
      for (let k = 0; k < q; k++) s.c[j * q + k] += xr[j] * yr[k];
      s.ax[j] += a * xr[j];
      s.bx[j] += b * xr[j];
    }
    for (let j = 0; j < q; j++) {
      for (let k = 0; k < q; k++) s.nn[j * q + k] += yr[j] * yr[k];
      s.ay[j] += a * yr[j];
      s.by[j] += b * yr[j];
    }
    s.ab += a * b;
    s.aa += a * a;
    s.bb += b * b;
  }
  return s;
}

function empty(
  n: number,
  p: number,
  q: number,
  meanX: Float64Array,
  meanY: Float64Array,
): HsicSums {
  return {
    n,
    p,
    q,
    meanX,
    meanY,
    m: new Float64Array(p * p),
    c: new Float64Array(p * q),
    nn: new Float64Array(q * q),
    ab: 0,
    aa: 0,
    bb: 0,
    ax: new Float64Array(p),
    bx: new Float64Array(p),
    ay: new Float64Array(q),
    by: new Float64Array(q),
  };
}

const dot = (u: Float64Array, v: Float64Array) => {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * v[i];
  return s;
};

/** M·v for a rows×cols row-major M. */
function mv(m: Float64Array, rows: number, cols: number, v: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += m[i * cols + j] * v[j];
    out[i] = s;
  }
  return out;
}

/** Mᵀ·v. */
function mtv(m: Float64Array, rows: number, cols: number, v: Float64Array): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += m[i * cols + j] * v[i];
  return out;
}

/** The fourth- and third-order sums of `s` about its means moved by δ (X) and ε (Y). */
function shifted(s: HsicSums, d: Float64Array, e: Float64Array) {
  const { n, p, q } = s;
  let A = 0;
  let B = 0;
  for (let j = 0; j < p; j++) A += s.m[j * p + j];
  for (let j = 0; j < q; j++) B += s.nn[j * q + j];
  const dd = dot(d, d);
  const ee = dot(e, e);
  const Md = mv(s.m, p, p, d);
  const Ce = mv(s.c, p, q, e);
  const Ctd = mtv(s.c, p, q, d);
  const Ne = mv(s.nn, q, q, e);
  return {
    aa: s.aa - 4 * dot(d, s.ax) + 4 * dot(d, Md) + 2 * dd * A + n * dd * dd,
    bb: s.bb - 4 * dot(e, s.by) + 4 * dot(e, Ne) + 2 * ee * B + n * ee * ee,
    ab: s.ab - 2 * dot(e, s.ay) - 2 * dot(d, s.bx) + 4 * dot(d, Ce) + ee * A + dd * B + n * dd * ee,
    ax: s.ax.map((v, j) => v - A * d[j] - 2 * Md[j] - n * dd * d[j]),
    bx: s.bx.map((v, j) => v - B * d[j] - 2 * Ce[j] - n * ee * d[j]),
    ay: s.ay.map((v, j) => v - A * e[j] - 2 * Ctd[j] - n * dd * e[j]),
    by: s.by.map((v, j) => v - B * e[j] - 2 * Ne[j] - n * ee * e[j]),
  };
}

/** The sums of both sample sets together (neither argument changes). */
export function hsicMerge(a: HsicSums, b: HsicSums): HsicSums {
  const { p, q } = a;
  const n = a.n + b.n;
  const wa = a.n / n;
  const wb = b.n / n;
  const meanX = a.meanX.map((v, j) => wa * v + wb * b.meanX[j]);
  const meanY = a.meanY.map((v, j) => wa * v + wb * b.meanY[j]);
  const s = empty(n, p, q, meanX, meanY);
  // Chan et al. for the second moments.
  const f = (a.n * b.n) / n;
  const dX = b.meanX.map((v, j) => v - a.meanX[j]);
  const dY = b.meanY.map((v, j) => v - a.meanY[j]);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++)
      s.m[i * p + j] = a.m[i * p + j] + b.m[i * p + j] + f * dX[i] * dX[j];
    for (let j = 0; j < q; j++)
      s.c[i * q + j] = a.c[i * q + j] + b.c[i * q + j] + f * dX[i] * dY[j];
  }
  for (let i = 0; i < q; i++)
    for (let j = 0; j < q; j++)
      s.nn[i * q + j] = a.nn[i * q + j] + b.nn[i * q + j] + f * dY[i] * dY[j];
  // Each side's higher sums moved to the merged means, then added.
  for (const part of [a, b]) {
    const d = meanX.map((v, j) => v - part.meanX[j]);
    const e = meanY.map((v, j) => v - part.meanY[j]);
    const m = shifted(part, d, e);
    s.ab += m.ab;
    s.aa += m.aa;
    s.bb += m.bb;
    for (let j = 0; j < p; j++) {
      s.ax[j] += m.ax[j];
      s.bx[j] += m.bx[j];
    }
    for (let j = 0; j < q; j++) {
      s.ay[j] += m.ay[j];
      s.by[j] += m.by[j];
    }
  }
  return s;
}

/** What debiased CKA reads of the sums. */
export function hsicDebiasedSums(s: HsicSums): DebiasedSums {
  const fro2 = (m: Float64Array) => dot(m, m);
  let a = 0;
  let b = 0;
  for (let j = 0; j < s.p; j++) a += s.m[j * s.p + j];
  for (let j = 0; j < s.q; j++) b += s.nn[j * s.q + j];
  return {
    n: s.n,
    cross: fro2(s.c),
    xx: fro2(s.m),
    yy: fro2(s.nn),
    a,
    b,
    ab: s.ab,
    aa: s.aa,
    bb: s.bb,
  };
}

/** Debiased NRC2's running sums (see this module) as plain JSON (numbers round-trip exactly). */
export interface HsicSumsJSON {
  n: number;
  p: number;
  q: number;
  meanX: number[];
  meanY: number[];
  m: number[];
  c: number[];
  nn: number[];
  ab: number;
  aa: number;
  bb: number;
  ax: number[];
  bx: number[];
  ay: number[];
  by: number[];
}

const ARRAYS = ["meanX", "meanY", "m", "c", "nn", "ax", "bx", "ay", "by"] as const;
const SCALARS = ["ab", "aa", "bb"] as const;

/** Lengths of the array fields for p, q. */
export function hsicLengths(p: number, q: number): Record<(typeof ARRAYS)[number], number> {
  return { meanX: p, meanY: q, m: p * p, c: p * q, nn: q * q, ax: p, bx: p, ay: q, by: q };
}
export { ARRAYS as HSIC_ARRAYS, SCALARS as HSIC_SCALARS };

export function hsicToJSON(s: HsicSums): HsicSumsJSON {
  const out = { n: s.n, p: s.p, q: s.q, ab: s.ab, aa: s.aa, bb: s.bb } as HsicSumsJSON;
  for (const k of ARRAYS) out[k] = Array.from(s[k]);
  return out;
}

/** Parses and checks serialised sums (NRCInputError naming `hsic[i].field`). */
export function hsicFromJSON(fn: string, j: unknown, layers: number): HsicSums[] {
  if (!Array.isArray(j) || j.length !== layers)
    throw new NRCInputError(
      fn,
      "hsic",
      `state.hsic must hold debiased NRC2's sums for each of the ${layers} layers; got ${JSON.stringify(j)?.slice(0, 60)}`,
    );
  return j.map((x: Record<string, unknown>, i) => {
    const at = `hsic[${i}]`;
    if (!x || typeof x !== "object") throw new NRCInputError(fn, at, `${at} must be an object`);
    const { n, p, q } = x as { n: number; p: number; q: number };
    for (const [k, v] of Object.entries({ n, p, q }))
      if (!Number.isSafeInteger(v) || v < 1)
        throw new NRCInputError(
          fn,
          `${at}.${k}`,
          `${at}.${k} must be a positive integer; got ${JSON.stringify(v)}`,
        );
    const len = hsicLengths(p, q);
    const out = { n, p, q } as HsicSums;
    for (const k of ARRAYS) {
      const v = x[k];
      if (
        !Array.isArray(v) ||
        v.length !== len[k] ||
        !v.every((e) => typeof e === "number" && Number.isFinite(e))
      )
        throw new NRCInputError(fn, `${at}.${k}`, `${at}.${k} must be ${len[k]} finite numbers`);
      out[k] = Float64Array.from(v as number[]);
    }
    for (const k of SCALARS) {
      const v = x[k];
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new NRCInputError(
          fn,
          `${at}.${k}`,
          `${at}.${k} must be a finite number; got ${JSON.stringify(v)}`,
        );
      out[k] = v;
    }
    return out;
  });
}
