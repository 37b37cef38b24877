/**
 * NRC4's residual `‖(I − A·pinv(A))·Yc‖²` for an ill-conditioned A (N×w: a layer's features, or
 * their reduced columns) without a Householder QR of all of A: a two-level solve whose data work
 * is one Gram of N×w plus O(N·w·m), m the width of the first level (the "QR cliff" of issue 22).
 *
 * Level 1 is what the float64 Gram resolves: V₁ = the leading eigenvectors of the centered Gram
 * with λ ≥ 1e-8·λ₁ and the mean direction μ (m ≤ w/4 columns). A·V₁ = Q₁·R₁ (a QR of N×m), and
 * the data deflated of it, `Z = (I − Q₁Q₁ᵀ)·A` (formed from the data, twice, so Z ⟂ Q₁ to
 * rounding). Since ‖A·x‖² = ‖T₁·x‖² + ‖Z·x‖² with T₁ = Q₁ᵀA, span(A) = span(Q₁) ⊕ range(Z) and
 * what the pinv keeps is decided level by level:
 *
 * - `"cut"`: ‖Z‖_F ≤ cut/4 and σ_min(T₁) ≥ 4·cut (cut = rtol·σ_max(A), taken at its upper
 *   bound where that is the safe side): A's singular values beyond the m-th are ≤ ‖Z‖_F, the
 *   first m ≥ σ_min(T₁) — the pinv keeps exactly m directions (an exactly rank-deficient
 *   bottleneck). Their right singular subspace is row(T₁) to an angle φ ≤ ‖Z‖²/σ_m(T₁)², so the
 *   residual is that of Yc off A·Ŵ, Ŵ an orthonormal basis of row(T₁) (a QR of N×m), whose span
 *   is the kept left singular subspace to ‖Z‖·φ/σ_m.
 * - `"refined"`: every singular value is above the cut (a collapsed layer, a bottleneck with
 *   noise: κ(A) up to 1/rtol): the residual is that of r₁ = (I − Q₁Q₁ᵀ)·Yc off range(Z), a
 *   least-squares problem as well conditioned as the second level alone. It is solved with the
 *   Cholesky factor of M = G + α·V₁V₁ᵀ (G ≈ ZᵀZ: the backend's float32 Gram where it has one,
 *   else — or where that fails — the float64 Gram; V₁ spans Z's null space) and refined
 *   against Z in float64 (each pass forms r₁ − Z·X from the data). The kept-all
 *   decision needs λ_min(ZᵀZ) on V₁'s complement ≥ 16·cut²: estimated by inverse iteration with
 *   the factor (÷4), and certified by the refinement's observed contraction ρ < ½ (then M⁻¹ZᵀZ
 *   has its spectrum in [½, 3/2] there); the residual's excess over the minimum is ≤ change/(1−ρ).
 *
 * Anything else — a singular value of either level near the cut, a second level that is itself
 * partly cut or too graded for its Gram, a refinement that does not converge, a first level wider
 * than w/4 — returns null, and the caller takes the Householder QR of [A | Y | 1].
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import { cholSolveVec } from "./lstsq.js";
import { cholMinEigenEstimate } from "./preconditioned.js";

const EPS = 2 ** -52;
/** Level 1: eigenvalues of the centered Gram at or above this fraction of the largest. */
export const LEVEL1_REL = 1e-8;
/** Level 1 may take at most this fraction of the columns (else the QR is as cheap). */
const LEVEL1_MAX_FRACTION = 0.25;
/**
 * Stop refining when a step changes ‖R‖² by less than this fraction of it: the residual's excess
 * is then ≤ 1e-12/(1 − ρ) relative, far inside the 1e-9 contract.
 */
const STEP_TOL = 1e-12;
const MAX_STEPS = 8;

/** What {@link deflatedResidualSq} reads. */
export interface DeflationInput {
  /** N×w columns spanning span(H) with H's nonzero singular values (H, or its reduced columns). */
  a: Mat;
  /** N×q centered targets. */
  yc: Mat;
  /** Column means of `a`. */
  mean: Float64Array;
  /** The centered Gram AcᵀAc (w×w, not divided by N). */
  gram: Mat;
  /** Its eigenvalues, descending, ≥ 0. */
  values: Float64Array;
  /** Its leading eigenvectors where at hand (w×c): used when c covers the first level. */
  vectors?: Mat;
  /** pinv's cutoff relative to σ_max(A). */
  rtol: number;
  /**
   * How far `values` may be off (absolute; default 0: a float64 Gram's, far below the first
   * level's 1e-8·λ₁): eigenvalues below 16× it are not taken into the first level.
   */
  resolution?: number;
}

/** NRC4's residual from the two-level solve, with what certifies it. */
export interface DeflatedResidual {
  /** ‖(I − A·pinv(A))·Yc‖². */
  residual: number;
  /** `"cut"`: the second level lies below the cutoff; `"refined"`: every direction is kept. */
  route: "cut" | "refined";
  /** Width m of the first level. */
  level1: number;
  /** Refinement passes over the second level's data (0 on the `"cut"` route). */
  passes: number;
  /**
   * Upper bound on the residual's error relative to it: the refinement's excess (`"refined"`),
   * or the squared angle bound (‖Z‖·φ/σ_m)² times ‖Yc‖²/residual (`"cut"`).
   */
  errorRel: number;
}

/** Columns of `v` (w×k, orthonormal) and the unit mean direction, orthonormal (w×m). */
function withMean(v: Mat, mean: Float64Array): Mat {
  const w = v.rows;
  const k = v.cols;
  const u = Float64Array.from(mean);
  const norm0 = Math.sqrt(dot2(u));
  if (norm0 > 0)
    // Twice Gram–Schmidt against v's columns.
    for (let pass = 0; pass < 2; pass++)
      for (let c = 0; c < k; c++) {
        let dot = 0;
        for (let i = 0; i < w; i++) dot += v.data[i * k + c] * u[i];
        for (let i = 0; i < w; i++) u[i] -= dot * v.data[i * k + c];
      }
  const norm = Math.sqrt(dot2(u));
  if (!(norm > 1e-6 * norm0)) return v;
  const out = new Float64Array(w * (k + 1));
  for (let i = 0; i < w; i++) {
    out.set(v.data.subarray(i * k, i * k + k), i * (k + 1));
    out[i * (k + 1) + k] = u[i] / norm;
  }
  return { rows: w, cols: k + 1, data: out };
}

/**
 * `X − Q·T` (X N×w, Q N×m, T m×w; a new matrix), row by row as contiguous axpys: for m < 8
 * this runs faster than a GEMM call (whose packing is sized for wide inner dimensions).
 */
function minusProduct(x: Mat, q: Mat, t: Mat): Mat {
  const { rows: n, cols: w } = x;
  const m = q.cols;
  const out = x.data.slice();
  const td = t.data;
  const qd = q.data;
  for (let i = 0; i < n; i++) {
    const o = i * w;
    const qo = i * m;
    let c = 0;
    // Four columns of Q at a time: one read and write of the output row per four products.
    for (; c + 4 <= m; c += 4) {
      const v0 = qd[qo + c];
      const v1 = qd[qo + c + 1];
      const v2 = qd[qo + c + 2];
      const v3 = qd[qo + c + 3];
      const t0 = c * w;
      const t1 = t0 + w;
      const t2 = t1 + w;
      const t3 = t2 + w;
      for (let j = 0; j < w; j++)
        out[o + j] -= v0 * td[t0 + j] + v1 * td[t1 + j] + (v2 * td[t2 + j] + v3 * td[t3 + j]);
    }
    for (; c < m; c++) {
      const v = qd[qo + c];
      const tc = c * w;
      for (let j = 0; j < w; j++) out[o + j] -= v * td[tc + j];
    }
  }
  return { rows: n, cols: w, data: out };
}

/** `X − Q·T`: by the backend's GEMM from m = 8 columns of Q (the JS loop below that). */
async function minusProductWith(k: CompleteKernels, x: Mat, q: Mat, t: Mat): Promise<Mat> {
  if (q.cols < 8) return minusProduct(x, q, t);
  // The product's own array (new, owned here) receives the difference: no second N×w buffer.
  const out = (await k.matmul(q, t)).data;
  const xd = x.data;
  for (let i = 0; i < out.length; i++) out[i] = xd[i] - out[i];
  return { rows: x.rows, cols: x.cols, data: out };
}

/** `X − Q·(Qᵀ·X)` for Q N×m with orthonormal columns and X N×w (a new matrix). */
async function deflate(k: CompleteKernels, q: Mat, x: Mat): Promise<Mat> {
  return minusProduct(x, q, await k.crossProd(q, x));
}

/** Σ uᵢ². */
function dot2(u: Float64Array): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * u[i];
  return s;
}

/** Sum of a Float64Array. */
function total(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s;
}

/**
 * NRC4's residual by the two-level solve (see the module doc), or null where it cannot certify
 * it (the caller then factorises [A | Y | 1]).
 */
export async function deflatedResidualSq(
  k: CompleteKernels,
  inp: DeflationInput,
): Promise<DeflatedResidual | null> {
  const { a, yc, mean, values, rtol } = inp;
  const n = a.rows;
  const w = a.cols;
  const q = yc.cols;
  const lam0 = values[0];
  if (w === 0 || n < w || !(lam0 > 0)) return null;
  let k1 = 0;
  const floor = Math.max(LEVEL1_REL * lam0, 16 * (inp.resolution ?? 0));
  while (k1 < w && values[k1] >= floor) k1++;
  if (k1 + 1 > LEVEL1_MAX_FRACTION * w) return null;
  const v1 = withMean(await leadingSubspace(k, inp.gram, k1, inp.vectors), mean);
  const m = v1.cols;
  // No first level (nothing resolved above `resolution` and a zero mean): nothing to deflate.
  if (m === 0) return null;
  const f = await k.qr(await k.matmul(a, v1), yc, { wantQ: true });
  const q1 = f.Q as Mat;
  // T₁ = Q₁ᵀA and Z = A − Q₁T₁ (Z ⟂ Q₁ but for rounding; gradients are taken off V₁ below).
  const t1 = await k.crossProd(q1, a);
  const z = await minusProductWith(k, a, q1, t1);
  const s1 = (await k.svdParts({ rows: w, cols: m, data: transposed(t1) })).S;
  let mu2 = 0;
  for (let j = 0; j < w; j++) mu2 += mean[j] * mean[j];
  // σ_max(A) ∈ [σ₁(T₁), √λ₁ + √N·‖μ‖].
  const cutHi = rtol * (Math.sqrt(lam0) + Math.sqrt(n * mu2));
  const cutLo = rtol * s1[0];
  const sm = s1[m - 1];
  if (!(sm >= 4 * cutHi)) return null;
  const low = await secondLevelGram(k, z, true);
  const tr = low.trace;
  let yy = 0;
  for (let i = 0; i < yc.data.length; i++) yy += yc.data[i] * yc.data[i];
  if (Math.sqrt(tr) <= cutLo / 4) {
    // Every singular value past the m-th is ≤ ‖Z‖_F ≤ cut/4: the kept space is A·row(T₁).
    const wh = await k.qr({ rows: w, cols: m, data: transposed(t1) }, undefined, { wantQ: true });
    const g = await k.qr(await k.matmul(a, wh.Q as Mat), yc);
    const residual = total(g.residualSq as Float64Array);
    const phi = tr / (sm * sm);
    const angle = (Math.sqrt(tr) * phi) / sm;
    const errorRel =
      residual > 0 ? (2 * angle * Math.sqrt(yy * residual) + angle ** 2 * yy) / residual : 0;
    return { residual, route: "cut", level1: m, passes: 0, errorRel };
  }
  // Every direction kept: r₁ off range(Z). The float32 Gram first where the backend has one; a
  // second level too graded for it (its Cholesky, λ_min or contraction fails) gets the float64 one.
  const cut = rtol * (Math.sqrt(lam0) + Math.sqrt(n * mu2));
  const r1 = await deflate(k, q1, yc);
  const first = await keptSecondLevel(k, z, r1, v1, low, cut);
  if (first || !low.low) return first;
  return keptSecondLevel(k, z, r1, v1, await secondLevelGram(k, z, false), cut);
}

/**
 * The `"refined"` route: r₁ off range(Z), preconditioned with the Cholesky factor of
 * M = G + α·V₁V₁ᵀ (G ≈ ZᵀZ, α its mean eigenvalue on V₁'s complement), after checking that
 * λ_min(ZᵀZ) there is ≥ 16·cut² (estimated; the refinement's contraction certifies); null where
 * either fails.
 */
async function keptSecondLevel(
  k: CompleteKernels,
  z: Mat,
  r1: Mat,
  v1: Mat,
  g: { gram: Mat; trace: number; error: number },
  cut: number,
): Promise<DeflatedResidual | null> {
  const w = z.cols;
  const m = v1.cols;
  const alpha = g.trace / Math.max(1, w - m);
  const p1 = (await k.matmul(v1, { rows: m, cols: w, data: transposed(v1) })).data;
  const mm = Float64Array.from(g.gram.data);
  for (let i = 0; i < mm.length; i++) mm[i] += alpha * p1[i];
  const chol = await k.cholesky({ rows: w, cols: w, data: mm });
  if (!chol) return null;
  const lower = cholMinEigenEstimate(chol.data, w, 8) / 4 - g.error;
  if (!(lower >= 16 * cut * cut)) return null;
  return refineOnZ(k, z, r1, chol.data, v1, g.trace);
}

/**
 * ZᵀZ for the second level's preconditioner, with its trace (exact, float64) and a bound on its
 * 2-norm error: with `float32`, the backend's float32 Gram where it has one (`lowGram`, about
 * twice as fast on 128-bit SIMD; the refinement on Z in float64 is what certifies, the Gram only
 * preconditions), else the float64 Gram.
 */
async function secondLevelGram(
  k: CompleteKernels,
  z: Mat,
  float32: boolean,
): Promise<{ gram: Mat; trace: number; error: number; low: boolean }> {
  const w = z.cols;
  if (float32 && k.lowGram) {
    const lg = await k.lowGram(z, new Float64Array(w));
    const trace = total(lg.squares);
    const bu = (lg.blockRows + 2) * lg.unitRoundoff;
    const error = (bu / (1 - bu)) * trace + 4 * (w + 2) * EPS * trace;
    return { gram: lg.gram, trace, error, low: true };
  }
  const gram = await k.gram(z);
  let trace = 0;
  for (let i = 0; i < w; i++) trace += gram.data[i * w + i];
  return { gram, trace, error: 8 * (w + 16) * EPS * trace, low: false };
}

/**
 * An orthonormal basis (w×c) of the c leading eigenvectors of a symmetric PSD w×w matrix G: the
 * first c of `have` where it holds them, else two steps of subspace iteration from a fixed
 * pseudo-random start, V = orth(G·orth(G·Ω)). Exact eigenvectors are not needed: any basis of
 * span(A·V) is a valid first level, and its quality only sets how well conditioned the second
 * level is (its leftover of the leading directions, (λ_{c+1}/λ_c)² relative after two steps,
 * which the second level's Gram must resolve — or the caller falls back).
 */
async function leadingSubspace(k: CompleteKernels, g: Mat, c: number, have?: Mat): Promise<Mat> {
  const w = g.rows;
  if (have && have.rows === w && have.cols >= c) {
    const out = new Float64Array(w * c);
    for (let i = 0; i < w; i++)
      out.set(have.data.subarray(i * have.cols, i * have.cols + c), i * c);
    return { rows: w, cols: c, data: out };
  }
  if (c === 0) return { rows: w, cols: 0, data: new Float64Array(0) };
  let v: Mat = { rows: w, cols: c, data: new Float64Array(w * c) };
  let seed = 2463534242;
  for (let i = 0; i < v.data.length; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    v.data[i] = seed / 2 ** 32 - 0.5;
  }
  for (let step = 0; step < 2; step++)
    v = (await k.qr(await k.matmul(g, v), undefined, { wantQ: true })).Q as Mat;
  return v;
}

/** The transpose of a row-major matrix's data. */
function transposed(x: Mat): Float64Array {
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < x.rows; i++)
    for (let j = 0; j < x.cols; j++) out[j * x.rows + i] = x.data[i * x.cols + j];
  return out;
}

/**
 * ‖r₁ − Z·X‖² at the least-squares X, by Richardson steps δ = M⁻¹·Zᵀ(r₁ − Z·X) (M = L·Lᵀ),
 * each residual formed from the data, gradients taken off V₁ (Z's null space); null unless it
 * converges with contraction < ½. `zF` is ‖Z‖²_F (the rounding floor of forming the residual).
 */
async function refineOnZ(
  k: CompleteKernels,
  z: Mat,
  r1: Mat,
  L: Float64Array,
  v1: Mat,
  zF: number,
): Promise<DeflatedResidual | null> {
  const w = z.cols;
  const m = v1.cols;
  const q = r1.cols;
  const x = new Float64Array(w * q);
  const col = new Float64Array(w);
  const fwd = new Float64Array(w);
  // δ = M⁻¹g per column, and Σ δᵀMδ = Σ ‖L⁻¹g‖² (the step's predicted change of ‖R‖²).
  const solve = (g: Float64Array): { delta: Float64Array; change: number } => {
    const delta = new Float64Array(w * q);
    let change = 0;
    for (let c = 0; c < q; c++) {
      for (let j = 0; j < w; j++) col[j] = g[j * q + c];
      // Z·V₁ = 0 but for rounding: g's part along V₁ is rounding, and no step along V₁ changes
      // the residual. Dropped, so δ stays in V₁'s complement (M is block diagonal there).
      for (let e = 0; e < m; e++) {
        let dot = 0;
        for (let j = 0; j < w; j++) dot += v1.data[j * m + e] * col[j];
        for (let j = 0; j < w; j++) col[j] -= dot * v1.data[j * m + e];
      }
      cholSolveVec(L, w, col, fwd);
      for (let j = 0; j < w; j++) {
        delta[j * q + c] = col[j];
        change += fwd[j] * fwd[j];
      }
    }
    return { delta, change };
  };
  let { delta, change } = solve((await k.normalStep(z, r1)).g.data);
  let prev = Infinity;
  let yy = 0;
  for (let i = 0; i < r1.data.length; i++) yy += r1.data[i] * r1.data[i];
  for (let pass = 1; pass <= MAX_STEPS; pass++) {
    for (let i = 0; i < x.length; i++) x[i] += delta[i];
    const r = await k.normalStep(z, r1, { rows: w, cols: q, data: x });
    const res = total(r.rss);
    prev = change;
    ({ delta, change } = solve(r.g.data));
    let xF = 0;
    for (let i = 0; i < x.length; i++) xF += x[i] * x[i];
    const floor = (8 * w * EPS) ** 2 * (Math.sqrt(yy) + Math.sqrt(zF * xF)) ** 2;
    const rho = Number.isFinite(prev) && prev > 0 ? Math.sqrt(change / prev) : 0;
    if (pass > 1 && !(rho < 0.5)) return null;
    if (change <= STEP_TOL * res + floor) {
      const excess = change / (1 - Math.min(rho, 0.5));
      return {
        residual: res,
        route: "refined",
        level1: m,
        passes: pass,
        errorRel: res > 0 ? excess / res : 0,
      };
    }
  }
  return null;
}
