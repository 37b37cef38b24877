/**
 * The `wasm` backend's kernels against the JS kernels (and against identities that need no
 * reference: QR = A, RᵀR = AᵀA, AV = VΛ, VᵀV = I), on random and structured inputs, with 1, 2
 * and 3 threads, in both builds (plain SIMD, and fused multiply-adds where the engine has relaxed
 * SIMD: Node ≥ 22, or vitest.config.ts's flag on Node 20); its errors; and regression tests for
 * the thread pool (a barrier deadlock under V8's baseline compiler, oversubscribed CPUs).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  relaxedSimdAvailable,
  wasmBackend,
  WASM_DIAGNOSTICS,
  type WasmKernels,
} from "../../src/backends/wasm/index.js";
import { jsKernels } from "../../src/backends/js/index.js";
import type {
  Mat,
  NormalStepResult,
  QrResult,
  ShiftedMomentsResult,
  SvdResult,
  SymEigResult,
  TopEigResult,
} from "../../src/backends/types.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

// ---------------------------------------------------------------------------------------------
// Inputs

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(rows: number, cols: number, seed: number, f32 = false): Mat {
  const u = rng(seed);
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) {
    const v = Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
    data[i] = f32 ? Math.fround(v * 3 + 1) : v;
  }
  return { rows, cols, data };
}

/** rows×cols of rank r (a product of random factors). */
function lowRank(rows: number, cols: number, r: number, seed: number): Mat {
  return jsKernels.matmul(randn(rows, r, seed), randn(r, cols, seed + 1)) as Mat;
}

/** Columns of very different scales (1e-3 … 1e3) and a non-zero mean. */
function scaledCols(rows: number, cols: number, seed: number): Mat {
  const a = randn(rows, cols, seed);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      a.data[i * cols + j] =
        a.data[i * cols + j] * 10 ** (-3 + (6 * j) / Math.max(1, cols - 1)) + 5;
  return a;
}

function symmetric(n: number, seed: number): Mat {
  const a = randn(n, n, seed);
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) s[i * n + j] = a.data[i * n + j] + a.data[j * n + i];
  return { rows: n, cols: n, data: s };
}

/** c·I + a rank-2 term: n−2 equal eigenvalues (exercises deflation). */
function clustered(n: number, seed: number): Mat {
  const u = randn(n, 2, seed);
  const g = jsKernels.matmul(u, transpose(u)) as Mat;
  for (let i = 0; i < n; i++) g.data[i * n + i] += 3;
  return g;
}

function diagonal(values: number[]): Mat {
  const n = values.length;
  const d = new Float64Array(n * n);
  values.forEach((v, i) => (d[i * n + i] = v));
  return { rows: n, cols: n, data: d };
}

function transpose(a: Mat): Mat {
  const t = new Float64Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) t[j * a.rows + i] = a.data[i * a.cols + j];
  return { rows: a.cols, cols: a.rows, data: t };
}

// ---------------------------------------------------------------------------------------------
// Measures

function colNorms(a: Mat): Float64Array {
  const out = new Float64Array(a.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) out[j] += a.data[i * a.cols + j] ** 2;
  return out.map(Math.sqrt);
}

function rowNorms(a: Mat): Float64Array {
  const out = new Float64Array(a.rows);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) out[i] += a.data[i * a.cols + j] ** 2;
  return out.map(Math.sqrt);
}

/** max |Cᵢⱼ − Rᵢⱼ| / (uᵢ vⱼ): the error of a product relative to its factors' norms. */
function scaledErr(c: Mat, ref: Mat, u: Float64Array, v: Float64Array): number {
  expect(c.rows).toBe(ref.rows);
  expect(c.cols).toBe(ref.cols);
  let worst = 0;
  for (let i = 0; i < c.rows; i++)
    for (let j = 0; j < c.cols; j++) {
      const d = Math.abs(c.data[i * c.cols + j] - ref.data[i * c.cols + j]);
      const s = u[i] * v[j];
      const e = s > 0 ? d / s : d === 0 ? 0 : Infinity;
      if (!(e <= worst)) worst = Math.max(worst, Number.isNaN(e) ? Infinity : e);
    }
  return worst;
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

function frob(a: Mat): number {
  const m = maxAbs(a.data);
  if (m === 0) return 0;
  let s = 0;
  for (const v of a.data) s += (v / m) ** 2;
  return m * Math.sqrt(s);
}

/** Runs `f` and checks that none of `inputs` changed. */
async function unchanged<T>(inputs: Mat[], f: () => T | Promise<T>): Promise<T> {
  const before = inputs.map((m) => Float64Array.from(m.data));
  const out = await f();
  // Bitwise (NaN-safe) in a plain loop: toEqual on millions of elements takes seconds.
  inputs.forEach((m, i) => {
    const a = new Uint32Array(m.data.buffer, m.data.byteOffset, m.data.length * 2);
    const b = new Uint32Array(before[i].buffer);
    let first = -1;
    for (let j = 0; j < b.length && first < 0; j++) if (a[j] !== b[j]) first = j >> 1;
    expect(first, `input ${i} changed at element ${first}`).toBe(-1);
  });
  return out;
}

type Diagnostics = { lastEigPath: string; lastTopEig: string; lastTopEigDim: number };
function diag(k: WasmKernels): Diagnostics {
  return (k as unknown as Record<symbol, () => Diagnostics>)[WASM_DIAGNOSTICS]();
}

function checkEig(a: Mat, e: SymEigResult, ref: SymEigResult, k = a.rows): void {
  const n = a.rows;
  expect(e.values.length).toBe(n);
  expect(e.vectors.rows).toBe(n);
  expect(e.vectors.cols).toBe(k);
  const lmax = Math.max(maxAbs(ref.values), Number.MIN_VALUE);
  for (let i = 0; i < n; i++) {
    expect(Math.abs(e.values[i] - ref.values[i])).toBeLessThanOrEqual(1e-12 * lmax);
    if (i > 0) expect(e.values[i]).toBeLessThanOrEqual(e.values[i - 1]);
  }
  expectEigenpairs(a, e.values, e.vectors, k);
}

/** topEig's k pairs against the reference's top k values, and AV = VΛ, VᵀV = I (no reference). */
function checkTopEig(a: Mat, e: TopEigResult, ref: SymEigResult, k: number): void {
  const n = a.rows;
  expect(e.values.length).toBe(k);
  expect(e.vectors.rows).toBe(n);
  expect(e.vectors.cols).toBe(k);
  const lmax = Math.max(maxAbs(ref.values), Number.MIN_VALUE);
  for (let i = 0; i < k; i++)
    expect(Math.abs(e.values[i] - ref.values[i])).toBeLessThanOrEqual(1e-12 * lmax);
  expectEigenpairs(a, e.values, e.vectors, k);
}

/** A·vⱼ = λⱼ·vⱼ (relative to ‖A‖_F) and VᵀV = I for the first k pairs, to ~n·1e-13. */
function expectEigenpairs(a: Mat, values: Float64Array, vectors: Mat, k: number): void {
  const n = a.rows;
  const norm = Math.max(frob(a), Number.MIN_VALUE);
  const V = vectors.data;
  let res = 0;
  let orth = 0;
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += a.data[i * n + l] * V[l * k + j];
      res = Math.max(res, Math.abs(s - values[j] * V[i * k + j]));
    }
    for (let c = j; c < k; c++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += V[l * k + j] * V[l * k + c];
      orth = Math.max(orth, Math.abs(s - (j === c ? 1 : 0)));
    }
  }
  expect(res).toBeLessThanOrEqual(1e-13 * Math.max(n, 8) * norm);
  expect(orth).toBeLessThanOrEqual(1e-13 * Math.max(n, 8));
}

/** A Gram of `signal` strong directions (scales 40, 20, 10, …) plus noise: a top that stands apart. */
function separated(n: number, signal: number, seed: number, scale = 1): Mat {
  const x = randn(3 * n, n, seed);
  const s = randn(3 * n, signal, seed + 1);
  const b = randn(signal, n, seed + 2);
  for (let i = 0; i < 3 * n; i++)
    for (let c = 0; c < signal; c++) {
      const v = s.data[i * signal + c] * 40 * 2 ** -c;
      for (let j = 0; j < n; j++) x.data[i * n + j] += v * b.data[c * n + j] * 0.2;
    }
  const g = jsKernels.gram(x) as Mat;
  return scale === 1 ? g : scaleMat(g, scale);
}

function checkQr(a: Mat, b: Mat | undefined, r: QrResult, ref: QrResult, fullRank: boolean): void {
  const m = a.rows;
  const n = a.cols;
  const k = Math.min(m, n);
  expect(r.R.rows).toBe(k);
  expect(r.R.cols).toBe(n);
  const R = r.R.data;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < Math.min(i, n); j++) expect(R[i * n + j]).toBe(0);
    expect(R[i * n + i]).toBeGreaterThanOrEqual(0);
  }
  // RᵀR = AᵀA, relative to the column norms of A.
  const an = colNorms(a);
  const rtr = jsKernels.gram(r.R) as Mat;
  expect(scaledErr(rtr, jsKernels.gram(a) as Mat, an, an)).toBeLessThanOrEqual(1e-12);
  // The JS factor up to the signs of its rows (the wasm one has a non-negative diagonal).
  const sign = new Float64Array(k).map((_, i) => (ref.R.data[i * n + i] < 0 ? -1 : 1));
  if (fullRank) {
    const scale = maxAbs(ref.R.data);
    for (let i = 0; i < k; i++)
      for (let j = 0; j < n; j++)
        expect(Math.abs(R[i * n + j] - sign[i] * ref.R.data[i * n + j])).toBeLessThanOrEqual(
          1e-11 * scale,
        );
  }
  if (b) {
    const q = b.cols;
    const bn = colNorms(b);
    expect(r.QtB!.rows).toBe(k);
    expect(r.QtB!.cols).toBe(q);
    expect(r.residualSq!.length).toBe(q);
    for (let c = 0; c < q; c++) {
      // (With A numerically rank-deficient the fitted subspace, hence the residual, is not
      // unique; the identities below still hold.)
      if (fullRank)
        expect(Math.abs(r.residualSq![c] - ref.residualSq![c])).toBeLessThanOrEqual(
          1e-12 * bn[c] ** 2,
        );
      expect(r.residualSq![c]).toBeGreaterThanOrEqual(0);
      // ‖QᵀB‖² + residual = ‖B‖² (Q orthogonal).
      let s = r.residualSq![c];
      for (let i = 0; i < k; i++) s += r.QtB!.data[i * q + c] ** 2;
      expect(Math.abs(s - bn[c] ** 2)).toBeLessThanOrEqual(1e-12 * bn[c] ** 2);
      if (fullRank)
        for (let i = 0; i < k; i++)
          expect(
            Math.abs(r.QtB!.data[i * q + c] - sign[i] * ref.QtB!.data[i * q + c]),
          ).toBeLessThanOrEqual(1e-10 * bn[c]);
    }
  }
  if (r.Q) {
    expect(r.Q.rows).toBe(m);
    expect(r.Q.cols).toBe(k);
    const qr = jsKernels.matmul(r.Q, r.R) as Mat;
    const rn = rowNorms(a);
    let worst = 0;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++)
        worst = Math.max(worst, Math.abs(qr.data[i * n + j] - a.data[i * n + j]));
    expect(worst).toBeLessThanOrEqual(1e-13 * Math.max(m, n) * Math.max(maxAbs(rn), 1e-300));
    const qtq = jsKernels.gram(r.Q) as Mat;
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++)
        expect(Math.abs(qtq.data[i * k + j] - (i === j ? 1 : 0))).toBeLessThanOrEqual(
          1e-13 * Math.max(m, 8),
        );
  }
}

function checkSvd(a: Mat, r: SvdResult, ref: SvdResult): void {
  const m = a.rows;
  const n = a.cols;
  const k = Math.min(m, n);
  expect(r.S.length).toBe(k);
  expect([r.U.rows, r.U.cols, r.V.rows, r.V.cols]).toEqual([m, k, n, k]);
  const smax = Math.max(ref.S[0] ?? 0, Number.MIN_VALUE);
  for (let i = 0; i < k; i++) {
    expect(Math.abs(r.S[i] - ref.S[i])).toBeLessThanOrEqual(1e-12 * smax);
    expect(r.S[i]).toBeGreaterThanOrEqual(0);
    if (i > 0) expect(r.S[i]).toBeLessThanOrEqual(r.S[i - 1]);
  }
  // A = U·diag(S)·Vᵀ
  let worst = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += r.U.data[i * k + l] * r.S[l] * r.V.data[j * k + l];
      worst = Math.max(worst, Math.abs(s - a.data[i * n + j]));
    }
  expect(worst).toBeLessThanOrEqual(1e-13 * Math.max(m, n, 8) * smax);
  // VᵀV = I; UᵀU = I on the columns with σ > 0, and those of σ = 0 orthonormal too (the
  // bidiagonal path completes U's basis; the JS reference leaves them zero).
  const vtv = jsKernels.gram(r.V) as Mat;
  const utu = jsKernels.gram(r.U) as Mat;
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      expect(Math.abs(vtv.data[i * k + j] - (i === j ? 1 : 0))).toBeLessThanOrEqual(1e-12);
      const want = i === j && r.S[i] > 0 ? 1 : 0;
      if (r.S[i] > 1e-10 * smax && r.S[j] > 1e-10 * smax)
        expect(Math.abs(utu.data[i * k + j] - want)).toBeLessThanOrEqual(1e-12);
      if (r.S[i] === 0) expect(Math.abs(utu.data[i * k + i] - 1)).toBeLessThanOrEqual(1e-12);
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

const productInputs: [string, () => Mat][] = [
  ["tall 2000×37", () => randn(2000, 37, 1)],
  ["wide 5×300", () => randn(5, 300, 2)],
  ["one column 500×1", () => randn(500, 1, 3)],
  ["one row 1×9", () => randn(1, 9, 4)],
  ["1×1", () => randn(1, 1, 5)],
  ["odd sizes 67×13", () => randn(67, 13, 6)],
  ["rank 5, 400×30", () => lowRank(400, 30, 5, 7)],
  ["float32-valued 1500×64", () => randn(1500, 64, 8, true)],
  ["column scales 1e-3…1e3, mean 5, 301×17", () => scaledCols(301, 17, 9)],
  ["parallel path 3000×131", () => randn(3000, 131, 10)],
  ["zeros 40×6", () => ({ rows: 40, cols: 6, data: new Float64Array(240) })],
  [
    "three row chunks (one copied while the threads work on another) 20000×64",
    () => randn(20000, 64, 110),
  ],
];

/** Extra shapes for shiftedMoments: no right-hand side, wider than its packed panel allows. */
const momentInputs: [string, () => [Mat, Mat]][] = [
  ["no columns in B, 3000×131 (parallel)", () => [randn(3000, 131, 90), randn(3000, 0, 91)]],
  ["1300 columns (composition fallback) · 40×2", () => [randn(40, 1300, 92), randn(40, 2, 93)]],
  ["mean 1e3, 513×70 · 513×3", () => [offset(randn(513, 70, 94), 1e3), randn(513, 3, 95)]],
  ["three row chunks 20000×64 · 20000×3", () => [randn(20000, 64, 111), randn(20000, 3, 112)]],
];

function offset(a: Mat, c: number): Mat {
  return { rows: a.rows, cols: a.cols, data: a.data.map((v) => v + c) };
}

/** Moments about a shift against the JS kernels on the explicitly shifted copy `ac` = A − 1sᵀ. */
function expectMomentsOf(got: ShiftedMomentsResult, ac: Mat, b: Mat): void {
  const n = colNorms(ac);
  expect(scaledErr(got.gram, jsKernels.gram(ac) as Mat, n, n)).toBeLessThanOrEqual(1e-12);
  expect(
    scaledErr(got.cross, jsKernels.crossProd(ac, b) as Mat, n, colNorms(b)),
  ).toBeLessThanOrEqual(1e-12);
  for (let j = 0; j < ac.cols; j++) {
    let s = 0;
    for (let i = 0; i < ac.rows; i++) s += ac.data[i * ac.cols + j];
    expect(Math.abs(got.sums[j] - s)).toBeLessThanOrEqual(1e-12 * Math.sqrt(ac.rows) * n[j]);
  }
}

const crossInputs: [string, () => [Mat, Mat]][] = [
  ["tall 2000×37 · 2000×5", () => [randn(2000, 37, 11), randn(2000, 5, 12)]],
  ["wide 5×300 · 5×7", () => [randn(5, 300, 13), randn(5, 7, 14)]],
  ["one column 500×1 · 500×1", () => [randn(500, 1, 15), randn(500, 1, 16)]],
  ["odd sizes 67×13 · 67×130", () => [randn(67, 13, 17), randn(67, 130, 18)]],
  ["rank 3 · float32 900×40 · 900×9", () => [lowRank(900, 40, 3, 19), randn(900, 9, 20, true)]],
  ["parallel path 3000×130 · 3000×11", () => [randn(3000, 130, 21), randn(3000, 11, 22)]],
  ["three row chunks 20000×64 · 20000×4", () => [randn(20000, 64, 113), randn(20000, 4, 114)]],
];

const stepInputs: [string, () => [Mat, Mat, Mat | undefined]][] = [
  ["no X, 2000×37 · 2000×3", () => [randn(2000, 37, 41), randn(2000, 3, 42), undefined]],
  [
    "odd rows and cols 301×131, q = 6",
    () => [randn(301, 131, 43), randn(301, 6, 44), randn(131, 6, 45)],
  ],
  [
    "one row 1×9, q = 5 (two column blocks)",
    () => [randn(1, 9, 46), randn(1, 5, 47), randn(9, 5, 48)],
  ],
  [
    "parallel path 5000×64, q = 3",
    () => [randn(5000, 64, 49), randn(5000, 3, 50), randn(64, 3, 51)],
  ],
  [
    "three row chunks 20000×64, q = 3",
    () => [randn(20000, 64, 115), randn(20000, 3, 116), randn(64, 3, 117)],
  ],
  [
    "exact fit (R = 0)",
    () => {
      const a = randn(300, 7, 52);
      const x = randn(7, 2, 53);
      return [a, jsKernels.matmul(a, x) as Mat, x];
    },
  ],
];

/** Aᵀ(B − A·X) and ‖B − A·X‖² per column from the JS matmul and cross product (no normalStep). */
function stepReference(a: Mat, b: Mat, x: Mat | undefined): { g: Mat; rss: Float64Array; r: Mat } {
  const ax = x ? (jsKernels.matmul(a, x) as Mat) : null;
  const r = { rows: b.rows, cols: b.cols, data: b.data.map((v, i) => v - (ax ? ax.data[i] : 0)) };
  const rss = new Float64Array(b.cols);
  for (let i = 0; i < r.data.length; i++) rss[i % b.cols] += r.data[i] ** 2;
  return { g: jsKernels.crossProd(a, r) as Mat, rss, r };
}

const matmulInputs: [string, () => [Mat, Mat]][] = [
  ["150×170 · 170×90", () => [randn(150, 170, 23), randn(170, 90, 24)]],
  ["1×5 · 5×1", () => [randn(1, 5, 25), randn(5, 1, 26)]],
  ["7×1 · 1×9", () => [randn(7, 1, 27), randn(1, 9, 28)]],
  ["33×65 · 65×17", () => [randn(33, 65, 29), randn(65, 17, 30)]],
  ["5×300 · 300×2", () => [randn(5, 300, 31), randn(300, 2, 32)]],
  ["2×400 · 400×300 (wide result)", () => [randn(2, 400, 33), randn(400, 300, 34)]],
  ["float32 · rank 4, 60×61 · 61×62", () => [randn(60, 61, 35, true), lowRank(61, 62, 4, 36)]],
];

/** [name, matrix, optional (reference input, factor): the JS reference is computed on the
 * reference input and its eigenvalues multiplied by the factor (the JS kernel over/underflows
 * on extreme scales; eigenvalues scale exactly by powers of ten up to rounding). */
const eigInputs: [string, () => Mat, (() => [Mat, number])?][] = [
  ["1×1", () => diagonal([-2.5])],
  ["2×2", () => symmetric(2, 40)],
  ["3×3", () => symmetric(3, 41)],
  ["31×31 (one QL block)", () => symmetric(31, 42)],
  ["33×33 (one merge)", () => symmetric(33, 43)],
  ["100×100 (parallel tridiagonalisation)", () => symmetric(100, 44)],
  ["Gram 150×150 of rank 7 (deflation)", () => jsKernels.gram(lowRank(300, 150, 7, 45)) as Mat],
  ["clustered 130×130: 3·I + rank 2", () => clustered(130, 46)],
  ["diagonal 97×97 with repeats", () => diagonal(Array.from({ length: 97 }, (_, i) => i % 5))],
  ["zeros 10×10", () => diagonal(new Array(10).fill(0))],
  ["Gram of float32 data 200×200", () => jsKernels.gram(randn(400, 200, 47, true)) as Mat],
  [
    "scaled by 1e-200",
    () => scaleMat(symmetric(40, 48), 1e-200),
    () => [symmetric(40, 48), 1e-200],
  ],
  ["scaled by 1e200", () => scaleMat(symmetric(40, 49), 1e200), () => [symmetric(40, 49), 1e200]],
];

/** [name, matrix, k, whether the Krylov method must answer (else either path may)]. */
const topEigInputs: [string, () => Mat, number, boolean][] = [
  ["Gram 200×200 with 3 strong directions, k = 3", () => separated(200, 3, 70), 3, true],
  ["the same, k = 1", () => separated(200, 3, 70), 1, true],
  ["Gram 300×300 with 6 strong directions, k = 5", () => separated(300, 6, 71), 5, true],
  ["the same scaled by 1e-200", () => separated(200, 3, 72, 1e-200), 3, true],
  ["the same scaled by 1e200", () => separated(200, 3, 72, 1e200), 3, true],
  [
    "clustered 130×130: 3·I + rank 2 (an invariant subspace at once)",
    () => clustered(130, 73),
    3,
    false,
  ],
  ["5 on a 4-dimensional eigenspace, 1 on the rest, 96×96, k = 3", () => repeated(96), 3, false],
  [
    "random Gram 150×150 (top in the bulk: gives up, dense)",
    () => jsKernels.gram(randn(300, 150, 74)) as Mat,
    3,
    false,
  ],
  ["indefinite symmetric 100×100 (algebraically largest)", () => symmetric(100, 75), 3, false],
  ["zeros 80×80", () => diagonal(new Array(80).fill(0)), 3, false],
  ["small 40×40 (dense directly)", () => separated(40, 3, 76), 3, false],
];

/** Q·diag(5,5,5,5,1,…)·Qᵀ for a random orthogonal Q. */
function repeated(n: number): Mat {
  const q = (jsKernels.qr(randn(n, n, 77), undefined, { wantQ: true }) as QrResult).Q as Mat;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += q.data[i * n + l] * q.data[j * n + l] * (l < 4 ? 5 : 1);
      out[i * n + j] = s;
    }
  return { rows: n, cols: n, data: out };
}

/** The JS kernel's eigen-decomposition of a (or of the reference input, values scaled back). */
function eigReference(a: Mat, refOf?: () => [Mat, number]): SymEigResult {
  if (!refOf) return jsKernels.symEig(a) as SymEigResult;
  const [b, f] = refOf();
  const r = jsKernels.symEig(b) as SymEigResult;
  return { values: r.values.map((v) => v * f), vectors: r.vectors };
}

function scaleMat(a: Mat, s: number): Mat {
  return { rows: a.rows, cols: a.cols, data: a.data.map((v) => v * s) };
}

const qrInputs: [string, () => [Mat, Mat | undefined], boolean][] = [
  ["300×20 with 3 right-hand sides", () => [randn(300, 20, 50), randn(300, 3, 51)], true],
  [
    "3000×40 with 4 (tall: split over threads)",
    () => [randn(3000, 40, 52), randn(3000, 4, 53)],
    true,
  ],
  ["50×50 square", () => [randn(50, 50, 54), randn(50, 2, 55)], true],
  ["20×35 wide", () => [randn(20, 35, 56), randn(20, 2, 57)], true],
  ["500×1", () => [randn(500, 1, 58), randn(500, 1, 59)], true],
  ["70×33, odd panel widths", () => [randn(70, 33, 60), randn(70, 5, 61)], true],
  ["rank 5, 400×30", () => [lowRank(400, 30, 5, 62), randn(400, 2, 63)], false],
  ["float32-valued 1200×64", () => [randn(1200, 64, 64, true), randn(1200, 3, 65, true)], true],
  ["no right-hand side 200×12", () => [randn(200, 12, 66), undefined], true],
  ["b in range(A): zero residual", () => inRange(randn(260, 9, 67)), true],
];

function withZeroColumn(a: Mat, col: number): Mat {
  const d = Float64Array.from(a.data);
  for (let i = 0; i < a.rows; i++) d[i * a.cols + col] = 0;
  return { rows: a.rows, cols: a.cols, data: d };
}

const svdInputs: [string, () => Mat][] = [
  ["tall 400×30 (QR first)", () => randn(400, 30, 100)],
  ["square-ish 40×36", () => randn(40, 36, 101)],
  ["wide 12×50", () => randn(12, 50, 102)],
  ["small 5×3 (no preconditioning)", () => randn(5, 3, 103)],
  ["one column 50×1", () => randn(50, 1, 104)],
  ["one row 1×7", () => randn(1, 7, 105)],
  ["rank 4, 120×20", () => lowRank(120, 20, 4, 106)],
  ["a zero column, 30×10", () => withZeroColumn(randn(30, 10, 107), 3)],
  ["zeros 6×4", () => ({ rows: 6, cols: 4, data: new Float64Array(24) })],
  ["column scales 1e-3…1e3, mean 5, 200×17", () => scaledCols(200, 17, 108)],
];

function inRange(a: Mat): [Mat, Mat] {
  return [a, jsKernels.matmul(a, randn(a.cols, 2, 68)) as Mat];
}

// ---------------------------------------------------------------------------------------------

const NO_RELAXED = relaxedSimdAvailable() ? "" : " (skipped: no relaxed SIMD in this engine)";
for (const fma of [false, true])
  for (const threads of [1, 2, 3]) {
    const name = `wasm kernels, threads: ${threads}${fma ? `, fma${NO_RELAXED}` : ""}`;
    describe.skipIf(fma && NO_RELAXED !== "")(name, () => {
      let k: WasmKernels;
      beforeAll(async () => {
        k = (await wasmBackend({ threads, fma }).init()) as WasmKernels;
      });
      afterAll(async () => {
        await k?.dispose?.();
      });

      it("starts with the requested number of threads and build", () => {
        expect(k.name).toBe("wasm");
        expect(k.threads).toBe(threads);
        expect(k.singleThreadReason).toBeUndefined();
        expect(k.fma).toBe(fma);
      });

      // acc + x·x with acc = −(1 + 2⁻²⁹), x = 1 + 2⁻³⁰: x² = 1 + 2⁻²⁹ + 2⁻⁶⁰ exactly, so a fused
      // multiply-add leaves 2⁻⁶⁰ (the exact answer) and a multiply then an add leaves 0. Shows which
      // build runs and that the rewritten opcode gets its operands in the right order.
      it("products are fused multiply-adds exactly in the fma build", async () => {
        const x = 1 + 2 ** -30;
        const c = -(1 + 2 ** -29);
        const want = fma ? 2 ** -60 : 0;
        const g = await k.gram!({ rows: 2, cols: 2, data: Float64Array.from([1, c, x, x]) });
        expect(g.data[1]).toBe(want);
        const m = await k.matmul!(
          { rows: 1, cols: 2, data: Float64Array.from([1, x]) },
          { rows: 2, cols: 1, data: Float64Array.from([c, x]) },
        );
        expect(m.data[0]).toBe(want);
      });

      for (const [name, make] of productInputs)
        it(`gram: ${name}`, async () => {
          const a = make();
          const g = await unchanged([a], () => k.gram!(a));
          const n = colNorms(a);
          expect(scaledErr(g, jsKernels.gram(a) as Mat, n, n)).toBeLessThanOrEqual(1e-12);
          for (let i = 0; i < a.cols; i++)
            for (let j = 0; j < i; j++) expect(g.data[i * a.cols + j]).toBe(g.data[j * a.cols + i]);
        });

      for (const [name, make] of crossInputs)
        it(`crossProd: ${name}`, async () => {
          const [a, b] = make();
          const c = await unchanged([a, b], () => k.crossProd!(a, b));
          expect(
            scaledErr(c, jsKernels.crossProd(a, b) as Mat, colNorms(a), colNorms(b)),
          ).toBeLessThanOrEqual(1e-12);
        });

      for (const [name, make] of crossInputs.concat(momentInputs))
        it(`shiftedMoments (one pass, shift subtracted while packing): ${name}`, async () => {
          const [a, b] = make();
          // A shift near the means (as callers use it) with an offset, so the sums are not ~0.
          const shift = new Float64Array(a.cols);
          for (let j = 0; j < a.cols; j++) {
            for (let i = 0; i < a.rows; i++) shift[j] += a.data[i * a.cols + j];
            shift[j] = shift[j] / a.rows + 0.25 * Math.sin(j);
          }
          const got = await unchanged([a, b], () => k.shiftedMoments!(a, shift, b));
          // Independent reference: form A − 1sᵀ explicitly, then the JS gram/crossProd and sums.
          const ac = {
            rows: a.rows,
            cols: a.cols,
            data: a.data.map((v, i) => v - shift[i % a.cols]),
          };
          expectMomentsOf(got, ac, b);
          for (let i = 0; i < a.cols; i++)
            for (let j = 0; j < i; j++)
              expect(got.gram.data[i * a.cols + j]).toBe(got.gram.data[j * a.cols + i]);
        });

      for (const [name, make] of crossInputs.concat(momentInputs))
        it(`startShiftedMoments (background), kernels run meanwhile: ${name}`, async () => {
          const [a, b] = make();
          const shift = new Float64Array(a.cols);
          for (let j = 0; j < a.cols; j++) shift[j] = 0.5 * Math.sin(j) + (a.data[j] ?? 0);
          const want = await k.shiftedMoments!(a, shift, b);
          // Other kernels while the workers take the moments: they run on the calling thread
          // alone and must give what they give on an idle pool.
          const s = symmetric(97, 3);
          const w = randn(300, 40, 4);
          const idle = [await k.symEig!(s, { vectors: 3 }), await k.gram!(w), await k.qr!(w)];
          const pending = k.startShiftedMoments!(a, shift, b);
          const busy = [await k.symEig!(s, { vectors: 3 }), await k.gram!(w), await k.qr!(w)];
          const got = await unchanged([a, b], () => pending.join());
          // Against an independent reference (A − 1sᵀ formed, JS gram/crossProd and sums); and
          // bitwise shiftedMoments where that takes the rows in one piece (it streams more rows
          // in 4 MiB chunks, which sums them in another grouping).
          const ac = {
            rows: a.rows,
            cols: a.cols,
            data: a.data.map((v, i) => v - shift[i % a.cols]),
          };
          expectMomentsOf(got, ac, b);
          if (a.rows * (a.cols + b.cols) <= 1 << 19) {
            expect(got.gram.data).toEqual(want.gram.data);
            expect(got.cross.data).toEqual(want.cross.data);
            expect(got.sums).toEqual(want.sums);
          }
          // The eigensolver alone on the calling thread sums A·v in another order than on the pool.
          const lb = (busy[0] as SymEigResult).values;
          const li = (idle[0] as SymEigResult).values;
          for (let e = 0; e < li.length; e++)
            expect(Math.abs(lb[e] - li[e])).toBeLessThanOrEqual(1e-12 * Math.abs(li[0]));
          expect((busy[1] as Mat).data).toEqual((idle[1] as Mat).data);
          expect((busy[2] as QrResult).R.data).toEqual((idle[2] as QrResult).R.data);
        });

      for (const [name, make] of crossInputs.concat(momentInputs))
        it(`momentsRun (moments kept in wasm memory across calls): ${name}`, async () => {
          const [a, b] = make();
          const shift = new Float64Array(a.cols);
          for (let j = 0; j < a.cols; j++) shift[j] = 0.5 * Math.cos(j) + (a.data[j] ?? 0);
          const ac = {
            rows: a.rows,
            cols: a.cols,
            data: a.data.map((v, i) => v - shift[i % a.cols]),
          };
          // Uneven row batches; another run interleaved (and freed first) must not disturb it.
          const cuts = [0, Math.floor(a.rows / 3), Math.floor(a.rows / 3) + 1, a.rows];
          const run = k.momentsRun!(a.cols, b.cols, shift);
          const other = k.momentsRun!(a.cols, b.cols, new Float64Array(a.cols));
          for (let c = 0; c + 1 < cuts.length; c++) {
            const lo = cuts[c];
            const hi = cuts[c + 1];
            const part = (m: Mat): Mat => ({
              rows: hi - lo,
              cols: m.cols,
              data: m.data.slice(lo * m.cols, hi * m.cols),
            });
            await run.add(part(a), part(b));
            await other.add(part(a), part(b));
            await k.gram!(part(a)); // an unrelated kernel call between adds (fresh arena)
          }
          other.dispose();
          const mid = run.probe();
          const got = run.result();
          run.dispose();
          expect(() => run.result()).toThrow(/momentsRun.result: the run was disposed/);
          expectMomentsOf(got, ac, b);
          for (let j = 0; j < a.cols; j++) {
            expect(mid.sums[j]).toBe(got.sums[j]);
            expect(mid.diag[j]).toBe(got.gram.data[j * a.cols + j]);
          }
          // The memory is reused: a new run of the same shape starts from zero.
          const again = k.momentsRun!(a.cols, b.cols, shift);
          const z = again.result();
          again.dispose();
          expect(z.gram.data.every((v) => v === 0) && z.sums.every((v) => v === 0)).toBe(true);
        });

      for (const [name, make] of stepInputs)
        it(`normalStep (wasm and js): ${name}`, async () => {
          const [a, b, x] = make();
          const ref = stepReference(a, b, x);
          // Rounding of R = B − A·X scales with |B| + |A||X|, not with R itself (zero on an exact fit).
          const scale = x
            ? (jsKernels.matmul(
                { rows: a.rows, cols: a.cols, data: a.data.map(Math.abs) },
                { rows: x.rows, cols: x.cols, data: x.data.map(Math.abs) },
              ) as Mat)
            : null;
          let rScale = 0;
          for (let i = 0; i < b.data.length; i++)
            rScale = Math.max(rScale, Math.abs(b.data[i]) + (scale ? scale.data[i] : 0));
          // Also on the copy a joined startShiftedMoments keeps (`rows`: read in place, one pass).
          const joined = await k.startShiftedMoments!(a, new Float64Array(a.cols), b).join();
          const rows = joined.rows ?? a;
          expect(rows.data).toBe(a.data);
          for (const got of [
            await unchanged(x ? [a, b, x] : [a, b], () => k.normalStep!(a, b, x)),
            await unchanged(x ? [a, b, x] : [a, b], () => k.normalStep!(rows, b, x)),
            jsKernels.normalStep(a, b, x) as NormalStepResult,
          ]) {
            const n = colNorms(a);
            const g = got.g;
            for (let j = 0; j < a.cols; j++)
              for (let c = 0; c < b.cols; c++)
                expect(
                  Math.abs(g.data[j * b.cols + c] - ref.g.data[j * b.cols + c]),
                ).toBeLessThanOrEqual(1e-12 * n[j] * rScale * Math.sqrt(a.rows) + 1e-300);
            for (let c = 0; c < b.cols; c++)
              expect(Math.abs(got.rss[c] - ref.rss[c])).toBeLessThanOrEqual(
                1e-12 * (ref.rss[c] + rScale * rScale * a.rows * 1e-4) + 1e-300,
              );
          }
        });

      for (const [name, make] of matmulInputs)
        it(`matmul: ${name}`, async () => {
          const [a, b] = make();
          const c = await unchanged([a, b], () => k.matmul!(a, b));
          expect(
            scaledErr(c, jsKernels.matmul(a, b) as Mat, rowNorms(a), colNorms(b)),
          ).toBeLessThanOrEqual(1e-12);
        });

      for (const [name, make, refOf] of eigInputs)
        it(`symEig: ${name}`, async () => {
          const a = make();
          const e = await unchanged([a], () => k.symEig!(a));
          checkEig(a, e, eigReference(a, refOf));
        });

      for (const [name, make, refOf] of eigInputs)
        it(`symEig, leading vectors only (values by QL, vectors by inverse iteration): ${name}`, async () => {
          const a = make();
          const n = a.rows;
          const ref = eigReference(a, refOf);
          for (const vk of new Set([0, 1, Math.min(3, n), Math.floor(n / 4)])) {
            const e = await unchanged([a], () => k.symEig!(a, { vectors: vk }));
            checkEig(a, e, ref, vk);
            // The cheap path (taken when at most a quarter of the vectors are asked for) must be
            // the one tested: it falls back to divide and conquer only when its a-posteriori check
            // fails, which none of these inputs should provoke.
            const zero = a.data.every((v) => v === 0);
            expect(diag(k).lastEigPath).toBe(zero ? "zero" : 4 * vk <= n ? "ql+inverse" : "dc");
          }
        });

      for (const [name, make, kk, krylov] of topEigInputs)
        it(`topEig (block Krylov, dense fallback): ${name}`, async () => {
          const a = make();
          const e = await unchanged([a], () => k.topEig!(a, kk));
          checkTopEig(a, e, jsKernels.symEig(a) as SymEigResult, kk);
          if (krylov) {
            expect(diag(k).lastTopEig).toBe("krylov");
            expect(diag(k).lastTopEigDim).toBeLessThan(a.rows / 2);
          }
        });

      for (const n of [1, 5, 64, 65, 130, 300])
        it(`cholesky ${n}×${n} (blocked, trailing GEMMs): L·Lᵀ = A, agrees with the JS kernel`, async () => {
          const g = jsKernels.gram(randn(2 * n + 3, n, 300 + n)) as Mat;
          // Junk above the diagonal: only the lower triangle may be read.
          const a = { rows: n, cols: n, data: Float64Array.from(g.data) };
          for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a.data[i * n + j] = 1e300;
          const l = (await unchanged([a], () => k.cholesky!(a))) as Mat;
          const ref = jsKernels.cholesky(g) as Mat;
          let scale = 0;
          for (let i = 0; i < n; i++) scale = Math.max(scale, g.data[i * n + i]);
          for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) {
              if (j > i) expect(l.data[i * n + j]).toBe(0);
              expect(Math.abs(l.data[i * n + j] - ref.data[i * n + j])).toBeLessThanOrEqual(
                1e-10 * Math.sqrt(scale),
              );
              if (j <= i) {
                let s = 0;
                for (let p = 0; p <= j; p++) s += l.data[i * n + p] * l.data[j * n + p];
                expect(Math.abs(s - g.data[i * n + j])).toBeLessThanOrEqual(1e-13 * n * scale);
              }
            }
        });

      it("cholesky returns null when A is not positive definite (js and wasm)", async () => {
        const g = jsKernels.gram(randn(100, 100, 400)) as Mat;
        const a = { rows: 100, cols: 100, data: Float64Array.from(g.data) };
        a.data[70 * 100 + 70] = -1; // a negative diagonal entry
        expect(await k.cholesky!(a)).toBeNull();
        expect(jsKernels.cholesky(a)).toBeNull();
        const rankDef = jsKernels.gram(lowRank(200, 90, 5, 401)) as Mat;
        expect(await k.cholesky!(rankDef)).toBeNull();
      });

      it("symEig reads only the lower triangle", async () => {
        const a = symmetric(70, 70);
        const junk = Float64Array.from(a.data);
        for (let i = 0; i < 70; i++) for (let j = i + 1; j < 70; j++) junk[i * 70 + j] = 1e300;
        const e = await k.symEig!({ rows: 70, cols: 70, data: junk });
        checkEig(a, e, jsKernels.symEig(a) as SymEigResult);
      });

      for (const [name, make, fullRank] of qrInputs)
        it(`qr: ${name}`, async () => {
          const [a, b] = make();
          const inputs = b ? [a, b] : [a];
          const ref = jsKernels.qr(a, b) as QrResult;
          const r = await unchanged(inputs, () => k.qr!(a, b));
          expect(r.Q).toBeUndefined();
          checkQr(a, b, r, ref, fullRank);
          const rq = await unchanged(inputs, () => k.qr!(a, b, { wantQ: true }));
          checkQr(a, b, rq, ref, fullRank);
        });

      for (const [name, make] of svdInputs)
        it(`svd: ${name}`, async () => {
          const a = make();
          const r = await unchanged([a], () => k.svd!(a));
          checkSvd(a, r, jsKernels.svd(a) as SvdResult);
        });

      it("gives the same results on repeated calls (no state leaks between calls)", async () => {
        const a = randn(1000, 50, 80);
        const g1 = await k.gram!(a);
        await k.symEig!(symmetric(120, 81));
        await k.qr!(randn(900, 30, 82), randn(900, 2, 83), { wantQ: true });
        const g2 = await k.gram!(a);
        expect(g2.data).toEqual(g1.data);
      });

      it("rejects mismatched shapes with a clear Error", async () => {
        expect(() => k.crossProd!(randn(5, 2, 1), randn(6, 2, 2))).toThrow(/crossProd.*row/);
        expect(() => k.matmul!(randn(5, 2, 1), randn(3, 2, 2))).toThrow(/matmul.*inner/);
        expect(() => k.symEig!(randn(5, 4, 1))).toThrow(/symEig.*square/);
        expect(() => k.qr!(randn(5, 2, 1), randn(4, 1, 2))).toThrow(/qr.*rows/);
      });
    });
  }

describe("wasm backend lifecycle and errors", () => {
  it("throws a clear Error after dispose()", async () => {
    const k = (await wasmBackend({ threads: 2 }).init()) as WasmKernels;
    const a = randn(10, 3, 1);
    expect((await k.gram!(a)).rows).toBe(3);
    await k.dispose!();
    await k.dispose!(); // idempotent
    expect(() => k.gram!(a)).toThrow(/wasm gram: the backend was disposed/);
    expect(() => k.crossProd!(a, a)).toThrow(/disposed/);
    expect(() => k.matmul!(a, randn(3, 2, 2))).toThrow(/disposed/);
    expect(() => k.symEig!(symmetric(3, 3))).toThrow(/disposed/);
    expect(() => k.qr!(a)).toThrow(/disposed/);
    expect(() => k.svd!(a)).toThrow(/wasm svd: the backend was disposed/);
  });

  it.each([0, 1.5, -1, 65, Number.NaN])(
    "init() rejects threads: %s naming wasmBackend and the argument",
    async (threads) => {
      await expect(wasmBackend({ threads }).init()).rejects.toThrow(
        new RegExp(`wasmBackend: threads must be an integer.*got ${threads}`),
      );
    },
  );

  it("threads: 1 uses the single-thread module and spawns no worker", async () => {
    const k = (await wasmBackend({ threads: 1, requireThreads: true }).init()) as WasmKernels;
    expect(k.threads).toBe(1);
    const a = randn(300, 20, 5);
    const n = colNorms(a);
    expect(scaledErr(await k.gram!(a), jsKernels.gram(a) as Mat, n, n)).toBeLessThanOrEqual(1e-12);
    await k.dispose!();
  });

  it.each([1, "yes", null])(
    "init() rejects fma: %s naming wasmBackend and the argument",
    async (fma) => {
      await expect(wasmBackend({ fma: fma as unknown as boolean }).init()).rejects.toThrow(
        new RegExp(`wasmBackend: fma must be a boolean; got ${fma}`),
      );
    },
  );

  it("defaults to the fma build exactly where relaxed SIMD is available", async () => {
    const k = (await wasmBackend({ threads: 1 }).init()) as WasmKernels;
    expect(k.fma).toBe(relaxedSimdAvailable());
    await k.dispose!();
  });

  it.skipIf(Number(process.versions.node.split(".")[0]) >= 22)(
    "fma: true on an engine without relaxed SIMD (Node 20 without the flag) throws; the default falls back",
    async () => {
      const code = `
        const { wasmBackend } = await import(${JSON.stringify(ROOT + "src/backends/wasm/index.ts")});
        const k = await wasmBackend({ threads: 1 }).init();
        console.log("default fma " + k.fma);
        await k.dispose();
        try { await wasmBackend({ threads: 1, fma: true }).init(); console.log("no error"); }
        catch (e) { console.log(e.message); }
      `;
      const out = await runNode(["--import", "tsx", "--input-type=module", "-e", code], 60_000);
      expect(out.stdout).toContain("default fma false");
      expect(out.stdout).toMatch(/wasmBackend: fma: true needs WebAssembly relaxed SIMD/);
    },
    90_000,
  );

  it("startShiftedMoments: a second start completes the first (whose join still returns its moments); dispose() completes a pending one", async () => {
    const k = (await wasmBackend({ threads: 2 }).init()) as WasmKernels;
    const a = randn(3000, 64, 11);
    const b = randn(3000, 2, 12);
    const shift = new Float64Array(64);
    const want = await k.shiftedMoments!(a, shift, b);
    const first = k.startShiftedMoments!(a, shift, b);
    const second = k.startShiftedMoments!(a, shift, b);
    const early = await first.join();
    expect(early.gram.data).toEqual(want.gram.data);
    expect(early.cross.data).toEqual(want.cross.data);
    expect(early.sums).toEqual(want.sums);
    expect((await second.join()).gram.data).toEqual(want.gram.data);
    expect(() => second.join()).toThrow(/startShiftedMoments: this job was already joined/);
    expect(() => first.join()).toThrow(/startShiftedMoments: this job was already joined/);
    const last = k.startShiftedMoments!(a, shift, b);
    await k.dispose!();
    expect((await last.join()).gram.data).toEqual(want.gram.data);
    expect(() => k.startShiftedMoments!(a, shift, b)).toThrow(/disposed/);
  });

  it("startShiftedMoments past the 64 MiB background copy computes at once, the same sums", async () => {
    const k = (await wasmBackend({ threads: 2 }).init()) as WasmKernels;
    const a = randn(16500, 512, 13); // 8·16500·515 bytes ≈ 68 MB with B
    const b = randn(16500, 3, 14);
    const shift = new Float64Array(512);
    const pending = k.startShiftedMoments!(a, shift, b);
    const got = await pending.join();
    const want = await k.shiftedMoments!(a, shift, b);
    expect(got.gram.data).toEqual(want.gram.data);
    await k.dispose!();
  });

  it("requireThreads succeeds where threads are available (Node)", async () => {
    const k = (await wasmBackend({ threads: 2, requireThreads: true }).init()) as WasmKernels;
    expect(k.threads).toBe(2);
    await k.dispose!();
  });

  it("several backends run side by side", async () => {
    const [k1, k2] = (await Promise.all([
      wasmBackend({ threads: 2 }).init(),
      wasmBackend({ threads: 2 }).init(),
    ])) as WasmKernels[];
    const a = symmetric(128, 7);
    const [e1, e2] = await Promise.all([k1.symEig!(a), k2.symEig!(a)]);
    expect(e1.values).toEqual(e2.values);
    await Promise.all([k1.dispose!(), k2.dispose!()]);
  });
});

describe("wasm thread pool regressions", () => {
  // The 512×512 eigenproblem of a 10000×512 Gram used to hang for ever with 2 threads: V8's
  // baseline compiler corrupted the barrier's saved state across memory.atomic.wait32.
  it("symEig 512×512 with 2 threads completes and matches the JS kernels", async () => {
    const k = (await wasmBackend({ threads: 2 }).init()) as WasmKernels;
    try {
      const x = randn(10000, 512, 90);
      const g = await k.gram!(x);
      const n = colNorms(x);
      const gRef = jsKernels.gram(x) as Mat;
      expect(scaledErr(g, gRef, n, n)).toBeLessThanOrEqual(1e-12);
      const ref = jsKernels.symEig(gRef) as SymEigResult;
      for (let rep = 0; rep < 3; rep++) {
        const e = await k.symEig!(g);
        const lmax = ref.values[0];
        for (let i = 0; i < 512; i++)
          expect(Math.abs(e.values[i] - ref.values[i])).toBeLessThanOrEqual(1e-12 * lmax);
      }
    } finally {
      await k.dispose!();
    }
  }, 120_000);

  // Deterministic form of the same: with only the baseline compiler every barrier wait was
  // affected, and the old pool hung on the first symEig.
  it("symEig with 2 threads completes under V8's baseline compiler (--liftoff-only)", async () => {
    const code = `
      const { wasmBackend } = await import(${JSON.stringify(ROOT + "src/backends/wasm/index.ts")});
      const n = 300, m = 600;
      const x = new Float64Array(m * n);
      let s = 12345;
      for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648 - 0.5; }
      const k = await wasmBackend({ threads: 2 }).init();
      const g = await k.gram({ rows: m, cols: n, data: x });
      for (let r = 0; r < 3; r++) await k.symEig(g);
      await k.qr({ rows: m, cols: n, data: x }, undefined, { wantQ: true });
      await k.dispose();
      console.log("completed");
    `;
    const out = await runNode(
      ["--liftoff-only", "--import", "tsx", "--input-type=module", "-e", code],
      90_000,
    );
    expect(out.timedOut, `hung; stderr: ${out.stderr}`).toBe(false);
    expect(out.stdout).toContain("completed");
    expect(out.code).toBe(0);
  }, 120_000);

  it("does not stall with more threads than CPUs while another process spins", async () => {
    const busy = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
    try {
      const k = (await wasmBackend({ threads: 4 }).init()) as WasmKernels;
      try {
        const a = symmetric(256, 91);
        const ref = jsKernels.symEig(a) as SymEigResult;
        const t0 = performance.now();
        for (let rep = 0; rep < 3; rep++) {
          const e = await k.symEig!(a);
          expect(Math.abs(e.values[0] - ref.values[0])).toBeLessThanOrEqual(1e-12 * ref.values[0]);
        }
        const x = randn(4000, 200, 92);
        const n = colNorms(x);
        expect(scaledErr(await k.gram!(x), jsKernels.gram(x) as Mat, n, n)).toBeLessThanOrEqual(
          1e-12,
        );
        // Generous: a few hundred ms on 2 busy cores; a spinning pool takes tens of seconds.
        expect(performance.now() - t0).toBeLessThan(30_000);
      } finally {
        await k.dispose!();
      }
    } finally {
      busy.kill();
    }
  }, 120_000);
});

function runNode(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
