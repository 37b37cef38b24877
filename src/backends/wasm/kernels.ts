/**
 * The `wasm` backend's kernels over a started runtime: the dense factorisations (Cholesky, QR,
 * SVD, symmetric eigensolvers) here, the row-streaming ones from streaming.ts.
 * @module
 */
import type {
  Kernels,
  Mat,
  QrResult,
  SvdPartsOptions,
  SvdPartsResult,
  SvdResult,
  SymEigOptions,
  SymEigResult,
  TopEigResult,
} from "../types.js";
import { svdWith } from "../js/svd.js";
import { transpose } from "../js/blas.js";
import { makeCertKernels } from "./cert.js";
import { makeMomentKernels } from "./streaming.js";
import type { Runtime } from "./runtime.js";

/** The kernels of a started `wasm` backend. */
export interface WasmKernels extends Kernels {
  /** Threads actually in use (1 when shared memory or workers were unavailable). */
  readonly threads: number;
  /** Why threads were not used, when `threads` is 1 but more were asked for. */
  readonly singleThreadReason?: string;
  /** Whether the fused multiply-add build is in use ({@link WasmBackendOptions.fma}). */
  readonly fma: boolean;
}

/**
 * Internal (tests): `kernels[WASM_DIAGNOSTICS]()` says which tridiagonal solver the last `symEig`
 * used: `"ql+inverse"` (eigenvalues by the rational QL, the few vectors asked for by inverse
 * iteration),
 * `"dc"` (divide and conquer: all vectors, or the fallback when a check failed), `"zero"` (A was
 * zero: nothing to solve) or `"ql-rotations+inverse"` (the rational QL did not converge and QL
 * with rotations gave the eigenvalues); `lastTopEig` whether the last `topEig` was answered by the
 * Krylov method (`"krylov"`, with `lastTopEigDim` basis vectors) or the dense solver (`"dense"`;
 * `lastTopEigDim` then the basis size at which the Krylov attempt gave up, 0 if none was made).
 * @internal
 */
export const WASM_DIAGNOSTICS: unique symbol = Symbol("deep-nrc wasm diagnostics");

/**
 * Internal (bench): `kernels[WASM_JACOBI_SVD](a)` is the thin SVD by preconditioned one-sided
 * Jacobi (the JS kernel's algorithm with the sweeps in C; `svd` before the bidiagonal path), to
 * compare with it.
 * @internal
 */
export const WASM_JACOBI_SVD: unique symbol = Symbol("deep-nrc wasm Jacobi SVD");
/** Below this order `topEig` goes straight to the dense solver (cheap there anyway). */
const TOPEIG_MIN_N = 64;

/** The kernels of a started runtime (`reason`: why threads were not used, if so). */
export function makeKernels(rt: Runtime, reason: string | undefined): WasmKernels {
  const ex = rt.ex;
  // The JS kernel's SVD driver over these kernels, with the Jacobi sweeps in C.
  const svd = svdWith({
    gram: (a) => kernels.gram(a),
    symEig: (a) => kernels.symEig(a),
    matmul: (a, b) => kernels.matmul(a, b),
    qr: (a, b, o) => kernels.qr(a, b, o),
    jacobi(Bc, m, n, Vc) {
      rt.begin("svd");
      const pb = rt.put(Bc); // column-major Bc: row j of the module's Bt is column j
      const pv = rt.put(Vc);
      if (ex.k_jacobi(pb, m, n, pv) !== 0)
        throw new Error(`wasm svd: one-sided Jacobi did not converge for a ${m}×${n} matrix`);
      const heap = rt.f64();
      Bc.set(heap.subarray(pb / 8, pb / 8 + m * n));
      Vc.set(heap.subarray(pv / 8, pv / 8 + n * n));
    },
  });
  /** SVD parts of m×n A, m ≥ n ≥ 1, by bidiagonalisation + bidiagonal QR (bdsvd.c). */
  const bdsvd = (
    a: Mat,
    wantU: boolean,
    nv: number,
    b: Mat | undefined,
  ): { S: Float64Array; U?: Mat; V?: Mat; UtB?: Mat } => {
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : 0;
    rt.begin("svd");
    const pa = rt.put(a.data);
    const ps = rt.alloc(n);
    const pu = wantU ? rt.alloc(m * n) : 0;
    const pv = nv > 0 ? rt.alloc(n * nv) : 0;
    const pz = b && q > 0 ? rt.put(b.data) : 0;
    const pzt = b && q > 0 ? rt.alloc(n * q) : 0;
    if (ex.k_bdsvd(pa, m, n, ps, wantU ? 1 : 0, pu, nv, pv, pz, q, pzt) !== 0)
      throw new Error(`wasm svd: the bidiagonal QR did not converge for a ${m}×${n} matrix`);
    const out: { S: Float64Array; U?: Mat; V?: Mat; UtB?: Mat } = {
      S: rt.f64().slice(ps / 8, ps / 8 + n),
    };
    if (wantU) out.U = rt.take(pu, m, n);
    if (nv > 0) out.V = rt.take(pv, n, nv);
    if (b) out.UtB = q > 0 ? rt.take(pzt, n, q) : { rows: n, cols: 0, data: new Float64Array(0) };
    return out;
  };
  /** Tall enough that a QR first (TSQR, threads) beats bidiagonalising A itself (LAPACK: 1.6). */
  const qrFirst = (m: number, n: number): boolean => m >= 1.6 * n && n >= 2;
  /** svdParts of m×n A with m ≥ n ≥ 1. */
  const partsTall = (a: Mat, nv: number, b: Mat | undefined, wantU: boolean) => {
    if (!qrFirst(a.rows, a.cols)) return bdsvd(a, wantU, nv, b);
    const { R, QtB, Q } = kernels.qr(a, b, { wantQ: wantU });
    const r = bdsvd(R, wantU, nv, QtB);
    if (wantU) r.U = kernels.matmul(Q as Mat, r.U as Mat);
    return r;
  };
  let lastTopEig: "krylov" | "dense" = "dense";
  let lastTopEigDim = 0;
  const mk = makeMomentKernels(rt);
  const cert = makeCertKernels(rt, mk);
  const kernels = {
    name: "wasm",
    float32Inputs: true,
    threads: rt.threads,
    singleThreadReason: reason,
    fma: rt.fma,
    gram: mk.gram,
    shiftedMoments: mk.shiftedMoments,
    startShiftedMoments: mk.startShiftedMoments,
    momentsRun: mk.momentsRun,
    crossProd: mk.crossProd,
    normalStep: mk.normalStep,
    projectedTail: mk.projectedTail,
    lowGram: cert.lowGram,
    subspacePass: cert.subspacePass,
    /** Blocked right-looking Cholesky (chol.c), panels and lower-triangle updates threaded by row blocks. */
    cholesky(a: Mat): Mat | null {
      const n = a.rows;
      if (a.cols !== n)
        throw new Error(`wasm cholesky: expected a square matrix; got ${a.rows}×${a.cols}`);
      rt.begin("cholesky");
      const pa = rt.put(a.data);
      if (ex.k_chol(pa, n) !== 0) return null;
      const l = rt.take(pa, n, n);
      for (let i = 0; i < n; i++) l.data.fill(0, i * n + i + 1, (i + 1) * n);
      return l;
    },
    matmul(a: Mat, b: Mat): Mat {
      if (a.cols !== b.rows)
        throw new Error(
          `wasm matmul: inner dimensions differ (${a.rows}×${a.cols} · ${b.rows}×${b.cols})`,
        );
      rt.begin("matmul");
      const pa = rt.put(a.data);
      const pb = rt.put(b.data);
      const pc = rt.alloc(a.rows * b.cols);
      ex.k_matmul(pa, pb, pc, a.rows, a.cols, b.cols);
      return rt.take(pc, a.rows, b.cols);
    },
    symEig(a: Mat, opts?: SymEigOptions): SymEigResult {
      const n = a.rows;
      const k = Math.max(0, Math.min(n, opts?.vectors ?? n));
      if (a.cols !== n)
        throw new Error(`wasm symEig: expected a square matrix; got ${a.rows}×${a.cols}`);
      rt.begin("symEig");
      const pa = rt.put(a.data);
      const pv = rt.alloc(n);
      const pz = rt.alloc(Math.max(1, n * k));
      const st = ex.k_symeig(pa, n, k, pv, pz);
      if (st !== 0)
        throw new Error(`wasm symEig: the tridiagonal eigensolver did not converge (n = ${n})`);
      const values = rt.f64().slice(pv / 8, pv / 8 + n);
      return { values, vectors: rt.take(pz, n, k) };
    },
    /**
     * The k leading eigenpairs: block Krylov with full reorthogonalisation (topeig.c) where k is
     * small against n, accepted only at a dense solver's backward error; the dense `symEig`
     * otherwise, and whenever the Krylov method does not get there within its budget.
     */
    topEig(a: Mat, k: number): TopEigResult {
      const n = a.rows;
      if (a.cols !== n)
        throw new Error(`wasm topEig: expected a square matrix; got ${a.rows}×${a.cols}`);
      const kk = Math.max(0, Math.min(n, k));
      lastTopEig = "dense";
      lastTopEigDim = 0;
      if (kk >= 1 && n >= TOPEIG_MIN_N && kk * 8 <= n) {
        rt.begin("topEig");
        const pa = rt.put(a.data);
        const pv = rt.alloc(kk);
        const pz = rt.alloc(n * kk);
        const used = ex.k_topeig(pa, n, kk, Math.min(n >> 1, 40 * kk), pv, pz);
        if (used > 0) {
          lastTopEig = "krylov";
          lastTopEigDim = used;
          return { values: rt.f64().slice(pv / 8, pv / 8 + kk), vectors: rt.take(pz, n, kk) };
        }
        lastTopEigDim = -used;
      }
      const r = kernels.symEig(a, { vectors: kk });
      return { values: r.values.slice(0, kk), vectors: r.vectors };
    },
    /**
     * Thin SVD: Householder bidiagonalisation and the bidiagonal QR (bdsvd.c; a QR first for
     * tall matrices). Measured against the preconditioned one-sided Jacobi (the JS kernel's
     * algorithm, in wasm; CPU time, one thread): faster below n = 64 (16×16: 0.05 vs 0.13 ms),
     * within 1.25× of it on well-conditioned 64…512 (512: 179 vs 142 ms), and 3.5–6× faster on
     * graded spectra, where Jacobi needs many sweeps (512, σ = 1…1e-15: 136 vs 798 ms).
     */
    svd(a: Mat): SvdResult {
      rt.begin("svd");
      const m = a.rows;
      const n = a.cols;
      const k = Math.min(m, n);
      if (k === 0)
        return {
          U: { rows: m, cols: k, data: new Float64Array(0) },
          S: new Float64Array(0),
          V: { rows: n, cols: k, data: new Float64Array(0) },
        };
      if (m < n) {
        const r = partsTall(transpose(a), m, undefined, true);
        return { U: r.V as Mat, S: r.S, V: r.U as Mat };
      }
      const r = partsTall(a, n, undefined, true);
      return { U: r.U as Mat, S: r.S, V: r.V as Mat };
    },
    /**
     * Singular values, leading right vectors and Uᵀ·B without forming U: the left rotations of
     * the bidiagonal QR are applied to the rows of QᵀB only.
     */
    svdParts(a: Mat, opts?: SvdPartsOptions): SvdPartsResult {
      const m = a.rows;
      const n = a.cols;
      const k = Math.min(m, n);
      const nv = Math.max(0, Math.min(k, opts?.rightVectors ?? 0));
      const b = opts?.b;
      if (b && b.rows !== m)
        throw new Error(`wasm svdParts: b must have ${m} rows; got ${b.rows}×${b.cols}`);
      let out: SvdPartsResult;
      if (k === 0) {
        out = { S: new Float64Array(0) };
        if (nv > 0) out.V = { rows: n, cols: 0, data: new Float64Array(0) };
        if (b) out.UtB = { rows: 0, cols: b.cols, data: new Float64Array(0) };
        return out;
      }
      if (m >= n) {
        const r = partsTall(a, nv, b, false);
        out = { S: r.S };
        if (nv > 0) out.V = r.V;
        if (b) out.UtB = r.UtB;
        return out;
      }
      // Wide: A = U·S·Vᵀ ⇔ Aᵀ = V·S·Uᵀ; A's U is Aᵀ's right vectors (all k, for Uᵀ·B), A's V
      // the leading columns of Aᵀ's left ones.
      const r = partsTall(transpose(a), b ? k : 0, undefined, nv > 0);
      out = { S: r.S };
      if (nv > 0) {
        const U = r.U as Mat;
        const v = new Float64Array(n * nv);
        for (let i = 0; i < n; i++) v.set(U.data.subarray(i * k, i * k + nv), i * nv);
        out.V = { rows: n, cols: nv, data: v };
      }
      if (b) out.UtB = kernels.matmul(transpose(r.V as Mat), b);
      return out;
    },
    qr(a: Mat, b?: Mat, opts?: { wantQ?: boolean }): QrResult {
      const m = a.rows;
      const n = a.cols;
      const q = b ? b.cols : 0;
      if (b && b.rows !== m)
        throw new Error(
          `wasm qr: a and b must have the same number of rows; got ${m} and ${b.rows}`,
        );
      const k = Math.min(m, n);
      const nc = n + q;
      rt.begin("qr");
      const px = rt.alloc(m * nc);
      const pr = rt.alloc(k * n);
      const pq = rt.alloc(Math.max(1, k * q));
      const ps = rt.alloc(Math.max(1, q));
      const pQ = opts?.wantQ ? rt.alloc(m * k) : 0;
      {
        const heap = rt.f64();
        const base = px / 8;
        if (!b) heap.set(a.data.subarray(0, m * n), base);
        else
          for (let i = 0; i < m; i++) {
            heap.set(a.data.subarray(i * n, i * n + n), base + i * nc);
            heap.set(b.data.subarray(i * q, i * q + q), base + i * nc + n);
          }
      }
      ex.k_qr(px, m, n, q, pr, pq, ps, pQ);
      const out: QrResult = { R: rt.take(pr, k, n) };
      if (b) {
        out.QtB = rt.take(pq, k, q);
        out.residualSq = rt.f64().slice(ps / 8, ps / 8 + q);
      }
      if (pQ) out.Q = rt.take(pQ, m, k);
      return out;
    },
    dispose(): Promise<void> {
      if (!rt.isDisposed()) mk.settle();
      return rt.dispose();
    },
    [WASM_JACOBI_SVD]: (a: Mat): SvdResult => {
      rt.begin("svd");
      return svd(a);
    },
    [WASM_DIAGNOSTICS]: () => ({
      lastEigPath: (["dc", "ql+inverse", "zero", "ql-rotations+inverse"] as const)[
        ex.k_symeig_path()
      ],
      lastTopEig,
      lastTopEigDim,
    }),
  };
  return kernels;
}
