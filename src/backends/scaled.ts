/**
 * Power-of-two scaling around the small dense factorisations (symmetric eigen, SVD), shared by
 * every backend.
 *
 * Iterative eigen/SVD solvers test convergence relative to the entries they work on; with
 * subnormal entries (say 5e-324 next to zeros) those tests can never pass and rotations underflow
 * without progress. So the matrix is scaled by an exact power of two to max|a| ∈ [0.5, 1), entries
 * below ε² = 2^-104 (≈ 5e-32) are flushed to zero — they move no eigen/singular value by more than
 * n·ε²·‖A‖, far under the solvers' ε·‖A‖ accuracy, and no product of two kept entries can
 * underflow — and eigenvalues / singular values are scaled back exactly. Vectors are unchanged.
 * @module
 */
import { NRCInputError, fmtShape } from "../errors.js";
import type {
  Mat,
  MaybePromise,
  SvdPartsOptions,
  SvdPartsResult,
  SvdResult,
  SymEigOptions,
  SymEigResult,
  TopEigResult,
} from "./types.js";

const FLUSH = 2 ** -104;

/**
 * Beyond this exponent of max|a| the solver gets the scaled copy; within it (and with nothing to
 * flush) the solvers are scale-invariant: their tests are relative, the wasm one scales
 * internally, and squares of the entries stay far from overflow and underflow. */
const SAFE_EXPONENT = 250;

/** The scaled copy of `a` and the exponent e with a ≈ 2^e · copy, or null when no change is needed. */
function scaleForSolver(a: Mat): { m: Mat; e: number } | null {
  const src = a.data;
  let mx = 0;
  let mn = Infinity; // smallest nonzero |entry|
  for (let i = 0; i < src.length; i++) {
    const v = Math.abs(src[i]);
    if (v > mx) mx = v;
    if (v < mn && v !== 0) mn = v;
  }
  if (!(mx > 0) || !Number.isFinite(mx)) return null;
  const e = Math.max(-1000, Math.min(1000, Math.floor(Math.log2(mx)) + 1));
  const sc = Math.pow(2, -e);
  // In range with nothing below the flush level: no copy (this runs before every eigen/SVD call,
  // and a d×d copy costs more than the pass that decides it is not needed).
  if (Math.abs(e) <= SAFE_EXPONENT && mn * sc >= FLUSH) return null;
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i] * sc;
    out[i] = Math.abs(v) < FLUSH ? 0 : v;
  }
  return { m: { rows: a.rows, cols: a.cols, data: out }, e };
}

function then<T, U>(x: MaybePromise<T>, f: (v: T) => U): MaybePromise<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}

/** Runs `fn` on the scaled copy and scales its result back with `unscale(result, 2^e)`. */
function scaled<R, O>(
  fn: (a: Mat, opts?: O) => MaybePromise<R>,
  unscale: (r: R, back: number) => R,
): (a: Mat, opts?: O) => MaybePromise<R> {
  return (a, opts) => {
    const s = scaleForSolver(a);
    if (!s) return fn(a, opts);
    const back = Math.pow(2, s.e);
    return then(fn(s.m, opts), (r) => unscale(r, back));
  };
}

/** Eigenvalues scaled back by `back`; the vectors are unchanged. */
const valuesBack = <R extends { values: Float64Array }>(r: R, back: number): R => ({
  ...r,
  values: Float64Array.from(r.values, (v) => v * back),
});

/** Wraps a symmetric eigensolver: exact power-of-two scaling, sub-ε² flushing (sync where `fn` is). */
export const scaledSymEig = (fn: (a: Mat, opts?: SymEigOptions) => MaybePromise<SymEigResult>) =>
  scaled(fn, valuesBack);

/** Wraps a top-k eigensolver the same way. */
export const scaledTopEig =
  (fn: (a: Mat, k: number) => MaybePromise<TopEigResult>) =>
  (a: Mat, k: number): MaybePromise<TopEigResult> =>
    scaled((m: Mat) => fn(m, k), valuesBack)(a);

/**
 * `topEig` from a full eigensolver: every eigenvalue and the k leading vectors, cut to k (for
 * backends without a cheaper method).
 */
export function topEigFromSymEig(
  symEig: (a: Mat, opts?: SymEigOptions) => MaybePromise<SymEigResult>,
): (a: Mat, k: number) => MaybePromise<TopEigResult> {
  return (a, k) =>
    then(symEig(a, { vectors: k }), (r) => {
      const n = r.vectors.rows;
      const kk = Math.min(k, r.values.length);
      let vectors = r.vectors;
      if (vectors.cols !== kk) {
        const out = new Float64Array(n * kk);
        for (let i = 0; i < n; i++)
          for (let j = 0; j < kk; j++) out[i * kk + j] = r.vectors.data[i * r.vectors.cols + j];
        vectors = { rows: n, cols: kk, data: out };
      }
      return { values: r.values.slice(0, kk), vectors };
    });
}

/** Wraps a thin SVD: exact power-of-two scaling, sub-ε² flushing (sync where `fn` is). */
export const scaledSvd = (fn: (a: Mat) => MaybePromise<SvdResult>) =>
  scaled(fn, (r, back) => ({ U: r.U, S: Float64Array.from(r.S, (v) => v * back), V: r.V }));

/**
 * Checks `svdParts`' arguments (the same for every backend): `rightVectors` an integer in
 * 0…min(rows, cols) (a thin SVD has that many), `b` a matrix with a's number of rows.
 */
export function checkSvdParts(a: Mat, opts?: SvdPartsOptions): void {
  const nv = opts?.rightVectors;
  const k = Math.min(a.rows, a.cols);
  if (nv !== undefined && !(Number.isInteger(nv) && nv >= 0 && nv <= k))
    throw new NRCInputError(
      "svdParts",
      "opts.rightVectors",
      `opts.rightVectors must be an integer in 0…${k} (min(rows, cols) of a ${fmtShape(a.rows, a.cols)}); got ${String(nv)}`,
    );
  const b = opts?.b;
  if (b !== undefined && (b === null || typeof b !== "object" || b.rows !== a.rows))
    throw new NRCInputError(
      "svdParts",
      "opts.b",
      `opts.b must have the rows of a (${a.rows}); got ${
        b && typeof b === "object" ? fmtShape(b.rows, b.cols) : String(b)
      }`,
    );
}

/**
 * Uᵀ·B (k×q) from a thin SVD's U, whose columns are trusted only for σ > ε·σ_max (an SVD may
 * leave those of σ = 0 zero, and one-sided Jacobi does not rotate columns at its zero floor): the
 * rows of the others are B's coordinates in an orthonormal basis of the complement of the
 * trusted columns' span (Householder QR of those columns applied to B), so that the rows beyond
 * any kept rank still carry B's part off the kept vectors' span, as NRC4's residual needs.
 */
function utbFrom(U: Mat, S: Float64Array, b: Mat): Mat {
  const m = U.rows;
  const k = U.cols;
  const q = b.cols;
  let r = 0;
  const cut = (S[0] ?? 0) * 2 ** -52;
  while (r < k && S[r] > cut) r++;
  const out = new Float64Array(k * q);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < r; j++) {
      const u = U.data[i * k + j];
      if (u !== 0) for (let c = 0; c < q; c++) out[j * q + c] += u * b.data[i * q + c];
    }
  if (r === k) return { rows: k, cols: q, data: out };
  // Householder on W = U[:, :r] (m×r), the same reflectors applied to a copy of B.
  const w = new Float64Array(m * r);
  for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) w[i * r + j] = U.data[i * k + j];
  const z = Float64Array.from(b.data);
  const v = new Float64Array(m);
  for (let j = 0; j < r; j++) {
    let nrm = 0;
    for (let i = j; i < m; i++) nrm += w[i * r + j] ** 2;
    nrm = Math.sqrt(nrm);
    if (nrm === 0) continue;
    const alpha = w[j * r + j];
    const beta = alpha >= 0 ? -nrm : nrm;
    for (let i = j; i < m; i++) v[i] = w[i * r + j];
    v[j] = alpha - beta;
    const vv = v[j] * v[j] + (nrm * nrm - alpha * alpha);
    if (!(vv > 0)) continue;
    const apply = (x: Float64Array, cols: number, c0: number) => {
      for (let c = c0; c < cols; c++) {
        let d = 0;
        for (let i = j; i < m; i++) d += v[i] * x[i * cols + c];
        const f = (2 * d) / vv;
        for (let i = j; i < m; i++) x[i * cols + c] -= f * v[i];
      }
    };
    apply(w, r, j + 1);
    apply(z, q, 0);
  }
  for (let j = r; j < k; j++) for (let c = 0; c < q; c++) out[j * q + c] = z[j * q + c];
  return { rows: k, cols: q, data: out };
}

/**
 * `svdParts` from a thin SVD, for backends without one: V cut to the columns asked, Uᵀ·B by a
 * plain product.
 */
export function svdPartsFromSvd(
  svd: (a: Mat) => MaybePromise<SvdResult>,
): (a: Mat, opts?: SvdPartsOptions) => MaybePromise<SvdPartsResult> {
  return (a, opts) =>
    then(svd(a), ({ U, S, V }) => {
      const out: SvdPartsResult = { S };
      const nv = Math.min(opts?.rightVectors ?? 0, V.cols);
      if (nv > 0) {
        const v = new Float64Array(V.rows * nv);
        for (let i = 0; i < V.rows; i++)
          for (let j = 0; j < nv; j++) v[i * nv + j] = V.data[i * V.cols + j];
        out.V = { rows: V.rows, cols: nv, data: v };
      }
      const b = opts?.b;
      if (b) out.UtB = utbFrom(U, S, b);
      return out;
    });
}

/**
 * Wraps `svdParts` (scaling as {@link scaledSvd}: S scaled back, V and Uᵀ·B unchanged, b never
 * scaled) after checking its arguments.
 */
export const scaledSvdParts =
  (fn: (a: Mat, opts?: SvdPartsOptions) => MaybePromise<SvdPartsResult>) =>
  (a: Mat, opts?: SvdPartsOptions): MaybePromise<SvdPartsResult> => {
    checkSvdParts(a, opts);
    return scaled(fn, (r: SvdPartsResult, back: number) => ({
      ...r,
      S: Float64Array.from(r.S, (v) => v * back),
    }))(a, opts);
  };
