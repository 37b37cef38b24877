/**
 * The certified spectrum: the leading eigenpairs, the trace and the tail of the covariance of
 * centered features, in float64 at O(N·d·k) from an approximate Gram (float32 products, or any
 * Gram with a known error bound) — block subspace iteration with Rayleigh–Ritz on the data, each
 * value with an a-posteriori bound computed in float64.
 *
 * Notation: Hc = H − 1·μᵀ (N×d, μ the exact column means), G = HcᵀHc with eigenvalues
 * λ₁ ≥ … ≥ λ_d, C̃ the approximate Gram with ‖C̃ − G‖₂ ≤ η. A pass over the data with an
 * orthonormal V (d×k, k = t + extra) gives W = G·V, the trace Σ‖xᵢ‖² and the tail
 * Σ‖xᵢ − V_tV_tᵀxᵢ‖² off V's first t columns (each residual formed entry by entry:
 * `Kernels.subspacePass`). Rayleigh–Ritz: VᵀW = Y·Θ·Yᵀ, Ritz vectors X = V·Y, residuals
 * R = W·Y − X·Θ. The bounds:
 * - **outside spectrum**: ω ≥ λ_max(P⊥GP⊥), P⊥ = I − VVᵀ: λ_max(P⊥C̃P⊥) + η (Weyl), the former
 *   bounded from C̃'s top k + 1 eigenpairs (a backward-stable solver's, plus its slack) in k×k
 *   work (`outsideBound`);
 * - **Ritz values** (Cauchy interlacing: θⱼ ≤ λⱼ; quadratic residual bound, R.-C. Li & L.-H. Zhang
 *   2015, Mathias 1998): 0 ≤ λⱼ − θⱼ ≤ ‖R‖²/(θⱼ − ω) for θⱼ > ω;
 * - **tail** (Ky Fan: the tail off any t-dimensional subspace is ≥ the true tail Σ_{i>t}λᵢ):
 *   tail(V_t) − Σ_{i>t}λᵢ = Σ_{j≤t}(λⱼ − θⱼ) + (Σ_{j≤t}θⱼ − tr(V_tᵀGV_t)); the first term by the
 *   Ritz bound, the second (the coupling B = V_tᵀGV_{t+1:k}) by ‖B‖²_F/(λ_min(V_tᵀGV_t) −
 *   λ_max(V_{t+1:k}ᵀGV_{t+1:k}));
 * - **vectors** (Davis–Kahan sin Θ): ‖sin Θ(X_t, U_t)‖_F ≤ ‖R_t‖_F/δ, δ = θ_t − λ_{t+1}'s upper
 *   bound: G in the basis [X, X⊥] is diag(Θ, P⊥GP⊥) plus the off-diagonal R, so (Weyl) every λᵢ
 *   is within ‖R‖₂ of that block diagonal's: λ_{t+1} ≤ θ_{t+1} + min(‖R‖, ‖R‖²/(θ_{t+1} − ω)) when
 *   θ_{t+1} > ω, else ≤ ω + ‖R‖.
 * When the bounds meet the tolerance (default 1e-10 relative) the result is certified; otherwise
 * V ← orth(W·Y) (one power step on the Ritz basis) and another pass, up to `maxPasses`; a caller
 * then takes the float64 path. Eigen-gaps below the approximate Gram's resolution, repeated
 * eigenvalues at t and wide k are the cases that end there.
 * @module
 */
import type { CompleteKernels, Kernels, Mat, MatF32 } from "../backends/types.js";
import { sampledColumnMeans } from "../backends/composed.js";

const EPS = 2 ** -52;

/** An approximate centered Gram (not divided by N) and a bound on its 2-norm error. */
export interface ApproxGram {
  /** ≈ HcᵀHc (d×d, symmetric). */
  gram: Mat;
  /** ‖gram − HcᵀHc‖₂ ≤ error. */
  error: number;
}

/** Options of {@link certifiedSpectrum}. */
export interface CertifiedSpectrumOptions {
  /** Vectors wanted and the tail's split: Σ_{i>t} λᵢ (t ≥ 1). */
  t: number;
  /** Extra basis vectors beyond t (default 8): the Ritz bounds use the gap to λ_{t+extra+1}. */
  extra?: number;
  /** Passes over the data before giving up (default 5). */
  maxPasses?: number;
  /** Relative accuracy every certified value must have (default 1e-10). */
  rtol?: number;
  /**
   * Absolute floor of the tail's bound, relative to the total (default 1e-16: NRC1's absolute
   * floor; below it the tail's bound is dominated by float64 rounding of the pass itself).
   */
  tailFloor?: number;
}

/** The a-posteriori bounds of a {@link CertifiedSpectrum}. */
export interface SpectrumCertificate {
  /** Whether every bound below met the tolerance. */
  certified: boolean;
  /** Passes over the data made. */
  passes: number;
  /**
   * Upper bound on (tail − Σ_{i>t}λᵢ)/tail (the tail is never below the true one); certified when
   * the excess is ≤ rtol·tail + tailFloor·total.
   */
  tailRel: number;
  /** Upper bound on max_{j≤t} (λⱼ − θⱼ)/θⱼ (θⱼ ≤ λⱼ). */
  valueRel: number;
  /** Upper bound on ‖sin Θ‖_F between the returned vectors and the top-t eigenspace. */
  sinTheta: number;
  /** The approximate Gram's error bound η and the outside-spectrum bound ω (not divided by N). */
  gramError: number;
  outside: number;
  /** Why it is not certified (absent when it is). */
  reason?: string;
}

/** Eigen-information of Σ = HcᵀHc/N with its {@link SpectrumCertificate}. */
export interface CertifiedSpectrum {
  /** The k Ritz values divided by N, descending (θⱼ ≤ λⱼ, the first t certified). */
  values: Float64Array;
  /** d×t, the Ritz vectors of the first t values. */
  vectors: Mat;
  /** tr(Σ), from the data in float64. */
  total: number;
  /** Σ_{i>t} λᵢ(Σ), read from the data (≥ the true tail, by at most `tailRel`). */
  tail: number;
  certificate: SpectrumCertificate;
}

/**
 * The approximate centered Gram from the backend's reduced-precision Gram (`lowGram`) about a
 * sampled shift s, with the exact means and the error bound: x − s rounded once to unit roundoff
 * u and products summed over b rows in that precision give |Eᵢⱼ| ≤ γ_{b+2}·Σᵣ|xᵣᵢ||xᵣⱼ|, so
 * ‖E‖₂ ≤ γ_{b+2}·Σ‖xᵣ‖² (γₙ = nu/(1 − nu)); re-centering (C̃ = G̃ − N·δδᵀ, δ = Σ(x − s)/N) adds
 * float64 rounding. Null when the backend has no `lowGram`.
 */
export async function lowPrecisionGram(
  k: Kernels,
  h: Mat | MatF32,
): Promise<{
  approx: ApproxGram;
  mean: Float64Array;
  trace: number;
  diag: Float64Array;
} | null> {
  if (!k.lowGram) return null;
  const n = h.rows;
  const d = h.cols;
  const shift = sampledColumnMeans(h as Mat);
  const lg = await k.lowGram(h, shift);
  const g = Float64Array.from(lg.gram.data);
  const mean = new Float64Array(d);
  const delta = new Float64Array(d);
  let sq = 0;
  let nd2 = 0;
  for (let j = 0; j < d; j++) {
    delta[j] = lg.sums[j] / n;
    mean[j] = shift[j] + delta[j];
    sq += lg.squares[j];
    nd2 += n * delta[j] * delta[j];
  }
  for (let i = 0; i < d; i++) {
    const di = n * delta[i];
    if (di !== 0) for (let j = 0; j < d; j++) g[i * d + j] -= di * delta[j];
  }
  const bu = (lg.blockRows + 2) * lg.unitRoundoff;
  const error = (bu / (1 - bu)) * sq + 4 * (d + 2) * EPS * (sq + nd2);
  // The diagonal in float64 (exact squares, re-centered): a sample of the Gram's actual error.
  const diag = Float64Array.from(lg.squares, (v, j) => v - n * delta[j] * delta[j]);
  return { approx: { gram: { rows: d, cols: d, data: g }, error }, mean, trace: sq - nd2, diag };
}

/** a (r×c) · b (c×s), row-major, in JS (small operands). */
function mul(a: Float64Array, b: Float64Array, r: number, c: number, s: number): Float64Array {
  const out = new Float64Array(r * s);
  for (let i = 0; i < r; i++)
    for (let l = 0; l < c; l++) {
      const v = a[i * c + l];
      if (v === 0) continue;
      for (let j = 0; j < s; j++) out[i * s + j] += v * b[l * s + j];
    }
  return out;
}

/** aᵀ (r×c → c×r) · b (r×s). */
function tmul(a: Float64Array, b: Float64Array, r: number, c: number, s: number): Float64Array {
  const out = new Float64Array(c * s);
  for (let l = 0; l < r; l++)
    for (let i = 0; i < c; i++) {
      const v = a[l * c + i];
      if (v === 0) continue;
      for (let j = 0; j < s; j++) out[i * s + j] += v * b[l * s + j];
    }
  return out;
}

/** Columns of a (d×k) orthonormalised in order (modified Gram–Schmidt, twice); null if rank-deficient. */
function orthonormal(a: Float64Array, d: number, k: number): Float64Array | null {
  const q = Float64Array.from(a);
  for (let j = 0; j < k; j++) {
    for (let rep = 0; rep < 2; rep++)
      for (let p = 0; p < j; p++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += q[i * k + p] * q[i * k + j];
        for (let i = 0; i < d; i++) q[i * k + j] -= s * q[i * k + p];
      }
    let nn = 0;
    for (let i = 0; i < d; i++) nn += q[i * k + j] ** 2;
    const nrm = Math.sqrt(nn);
    if (!(nrm > 0)) return null;
    for (let i = 0; i < d; i++) q[i * k + j] /= nrm;
  }
  return q;
}

/** Eigen-decomposition of a small symmetric k×k matrix (descending). */
async function smallEig(
  k: CompleteKernels,
  m: Float64Array,
  n: number,
): Promise<{ values: Float64Array; vectors: Float64Array }> {
  const r = await k.symEig({ rows: n, cols: n, data: m });
  return { values: r.values, vectors: r.vectors.data };
}

/**
 * An upper bound on λ_max(P⊥·C̃·P⊥), P⊥ = I − VVᵀ, from C̃'s leading eigenpairs (V₀, μ₁…μ_k) and
 * μ_{k+1}: C̃ = V₀M₀V₀ᵀ + C̃₀ with ‖C̃₀‖₂ = μ_{k+1}, so (Weyl) λ_max(P⊥C̃P⊥) ≤ μ_{k+1} +
 * ‖M₀^½V₀ᵀP⊥‖² = μ_{k+1} + λ_max(M₀^½(I − SSᵀ)M₀^½), S = V₀ᵀV — k×k work, no d×d product.
 */
async function outsideBound(
  k: CompleteKernels,
  v0: Float64Array,
  mu: Float64Array,
  muNext: number,
  v: Float64Array,
  d: number,
  kk: number,
): Promise<number> {
  const s = tmul(v0, v, d, kk, kk);
  const m = new Float64Array(kk * kk);
  for (let i = 0; i < kk; i++)
    for (let j = 0; j <= i; j++) {
      let ss = 0;
      for (let p = 0; p < kk; p++) ss += s[i * kk + p] * s[j * kk + p];
      const e = ((i === j ? 1 : 0) - ss) * Math.sqrt(Math.max(mu[i], 0) * Math.max(mu[j], 0));
      m[i * kk + j] = m[j * kk + i] = e;
    }
  const top = (await smallEig(k, m, kk)).values[0];
  return Math.max(muNext, 0) + Math.max(top, 0) + 4 * kk * EPS * Math.max(mu[0], 0);
}

/**
 * The top-t eigenpairs, trace and tail of Σ = HcᵀHc/N, refined in float64 on the data from an
 * approximate Gram, with a-posteriori bounds (module doc).
 *
 * @param k - the kernels (`subspacePass`, `symEig`).
 * @param h - the features, N×d (float64, or float32 read as given).
 * @param mean - their column means, exact in float64.
 * @param approx - the approximate centered Gram and its error bound ({@link lowPrecisionGram}).
 * @param opts - `t`, `extra`, `maxPasses`, `rtol`.
 * @returns values, vectors, total, tail and the {@link SpectrumCertificate}; `certified: false`
 *   (with the reason) when the bounds do not meet `rtol` — the caller then computes in float64.
 * @throws Error when shapes do not fit or t is out of range (an internal function: callers
 *   validate).
 * @example
 * ```ts
 * const low = await lowPrecisionGram(kernels, h);
 * if (low) {
 *   const s = await certifiedSpectrum(kernels, h, low.mean, low.approx, { t: 3 });
 *   if (s.certificate.certified) console.log(s.tail / s.total); // NRC1
 * }
 * ```
 */
export async function certifiedSpectrum(
  k: CompleteKernels,
  h: Mat | MatF32,
  mean: Float64Array,
  approx: ApproxGram,
  opts: CertifiedSpectrumOptions,
): Promise<CertifiedSpectrum> {
  const n = h.rows;
  const d = h.cols;
  const t = opts.t;
  if (approx.gram.rows !== d || approx.gram.cols !== d || mean.length !== d)
    throw new Error(
      `certifiedSpectrum: shapes do not fit (H ${n}×${d}, Gram ${approx.gram.rows}×${approx.gram.cols}, mean ${mean.length})`,
    );
  if (!Number.isInteger(t) || t < 1 || t > d)
    throw new Error(`certifiedSpectrum: t must be an integer in 1…${d}; got ${t}`);
  const kk = Math.min(d, t + (opts.extra ?? 8));
  const maxPasses = opts.maxPasses ?? 5;
  const rtol = opts.rtol ?? 1e-10;
  const tailFloor = opts.tailFloor ?? 1e-16;
  const eta = approx.error;
  // C̃'s top k + 1 pairs: the start, and the bound on the spectrum outside span(V).
  const kq = Math.min(d, kk + 1);
  // The dense solver with kq vectors (the Krylov one rarely converges on a flat bulk at k ≈ 12
  // and pays its attempt before falling back: 40 vs 17 ms at d = 512, one thread).
  const start = await k.symEig(approx.gram, { vectors: kq });
  const v0 = new Float64Array(d * kk);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < kk; j++) v0[i * kk + j] = start.vectors.data[i * start.vectors.cols + j];
  const mu = start.values.subarray(0, kk);
  const muNext = kq > kk ? start.values[kk] : 0;
  const slack = 4 * d * EPS * Math.abs(start.values[0]);
  let v: Float64Array | null = orthonormal(v0, d, kk);
  const cert: SpectrumCertificate = {
    certified: false,
    passes: 0,
    tailRel: Infinity,
    valueRel: Infinity,
    sinTheta: Infinity,
    gramError: eta,
    outside: Infinity,
  };
  let best: CertifiedSpectrum | null = null;
  let prevSin = Infinity;
  for (let pass = 1; v && pass <= maxPasses; pass++) {
    const vm = { rows: d, cols: kk, data: v };
    // The first pass starts from the float32 Gram's vectors, whose sin Θ (~1e-7) never
    // certifies: it skips the tail (a sixth of a pass) and only refines.
    const first = pass === 1 && maxPasses > 1;
    const p = await k.subspacePass(h, mean, vm, first ? 0 : t);
    cert.passes = pass;
    const w = p.w.data;
    // Rayleigh–Ritz in span(V).
    const hm = tmul(v, w, d, kk, kk);
    for (let i = 0; i < kk; i++)
      for (let j = 0; j < i; j++)
        hm[i * kk + j] = hm[j * kk + i] = 0.5 * (hm[i * kk + j] + hm[j * kk + i]);
    const { values: theta, vectors: y } = await smallEig(k, hm, kk);
    const x = mul(v, y, d, kk, kk);
    const gx = mul(w, y, d, kk, kk);
    const colRes = new Float64Array(kk);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < kk; j++) colRes[j] += (gx[i * kk + j] - x[i * kk + j] * theta[j]) ** 2;
    let rho2 = 0;
    for (let j = 0; j < kk; j++) rho2 += colRes[j];
    // Rounding of the pass itself: W to ~d·ε·trace per column.
    rho2 += kk * (4 * d * EPS * p.trace) ** 2;
    const omega = kk < d ? (await outsideBound(k, v0, mu, muNext, v, d, kk)) + eta + slack : 0;
    cert.outside = omega;
    const bound = (j: number) => (theta[j] > omega ? rho2 / (theta[j] - omega) : Infinity);
    let e1 = 0;
    let valueRel = 0;
    for (let j = 0; j < t; j++) {
      const b = bound(j);
      e1 += b;
      valueRel = Math.max(valueRel, b / theta[j]);
    }
    // Coupling of V_t with the rest of span(V), for the tail taken off V_t (not X_t).
    let e2 = 0;
    if (t < kk) {
      const h11 = new Float64Array(t * t);
      const h22 = new Float64Array((kk - t) * (kk - t));
      let b2 = 0;
      for (let i = 0; i < kk; i++)
        for (let j = 0; j < kk; j++) {
          const e = hm[i * kk + j];
          if (i < t && j < t) h11[i * t + j] = e;
          else if (i >= t && j >= t) h22[(i - t) * (kk - t) + (j - t)] = e;
          else if (i < t) b2 += e * e;
        }
      if (b2 > 0) {
        const lo = (await smallEig(k, h11, t)).values[t - 1];
        const hi = (await smallEig(k, h22, kk - t)).values[0];
        e2 = lo > hi ? b2 / (lo - hi) : Infinity;
      }
    }
    const tailRel = p.tail > 0 ? (e1 + e2) / p.tail : e1 + e2 === 0 ? 0 : Infinity;
    let resT = 0;
    for (let j = 0; j < t; j++) resT += colRes[j];
    // Every eigenvalue of G is within ‖R‖₂ ≤ ρ of diag(Θ, P⊥GP⊥)'s (G in the basis [X, X⊥]),
    // so λ_{t+1} ≤ θ_{t+1} + min(ρ, its quadratic bound) when θ_{t+1} > ω, else ≤ ω + ρ.
    const rho = Math.sqrt(rho2);
    const next = t < kk && theta[t] > omega ? theta[t] + Math.min(rho, bound(t)) : omega + rho;
    const gap = theta[t - 1] - next;
    const sinTheta = gap > 0 ? Math.sqrt(resT + t * (4 * d * EPS * p.trace) ** 2) / gap : Infinity;
    Object.assign(cert, { tailRel, valueRel, sinTheta });
    const vecs = new Float64Array(d * t);
    for (let i = 0; i < d; i++) for (let j = 0; j < t; j++) vecs[i * t + j] = x[i * kk + j];
    best = {
      values: theta.map((e) => Math.max(e, 0) / n),
      vectors: { rows: d, cols: t, data: vecs },
      total: p.trace / n,
      tail: p.tail / n,
      certificate: cert,
    };
    const tailOk = !first && e1 + e2 <= rtol * p.tail + tailFloor * p.trace;
    if (tailOk && valueRel <= rtol && sinTheta <= rtol) {
      cert.certified = true;
      delete cert.reason;
      return best;
    }
    // Subspace iteration converges linearly: stop early when the rate seen so far cannot bring
    // sin Θ to the tolerance within the passes left (the caller's float64 path then costs less).
    if (pass >= 2 && Number.isFinite(prevSin) && sinTheta > rtol) {
      const rate = Math.min(1, sinTheta / prevSin);
      if (sinTheta * rate ** (maxPasses - pass) > 4 * rtol) {
        cert.reason = `sin Θ ${sinTheta.toExponential(1)} converging at ${rate.toFixed(2)} a pass: not within ${rtol} by pass ${maxPasses}`;
        return best;
      }
    }
    prevSin = sinTheta;
    cert.reason =
      gap <= 0 || !Number.isFinite(sinTheta)
        ? `no certified gap after λ_${t} (eigenvalues at t closer than the bounds resolve)`
        : `bounds above ${rtol} after ${pass} pass${pass > 1 ? "es" : ""}`;
    // One power step on the Ritz basis, in Ritz order.
    v = orthonormal(gx, d, kk);
  }
  if (!best) throw new Error("certifiedSpectrum: the starting basis is rank-deficient");
  return best;
}
