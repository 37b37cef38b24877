/**
 * The SVD kernels (`svd`, `svdParts`) of every backend through `completeKernels` (scaling and
 * argument checks included): values and vectors against independent float64 references
 * (test/fixtures/svd.json from scripts/make_svd_fixtures.py: numpy's LAPACK SVD, constructions
 * with known singular values, mpmath at 50 digits for graded bidiagonal matrices), properties
 * that need no reference (orthogonality, reconstruction, svdParts' Uᵀ·B against the same
 * backend's full SVD) on random inputs, and the errors. The wasm backend runs in both builds
 * with 1 and 2 threads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { relaxedSimdAvailable, wasmBackend } from "../../src/backends/wasm/index.js";
import { jsKernels } from "../../src/backends/js/index.js";
import { completeKernels } from "../../src/backends/complete.js";
import type { CompleteKernels, Kernels, Mat, SvdResult } from "../../src/backends/types.js";
import { NRCInputError } from "../../src/errors.js";

interface Case {
  name: string;
  rows: number;
  cols: number;
  a: number[];
  b: number[];
  S: number[];
  U: number[];
  V: number[];
  UtB: number[];
  compare: "abs" | "rel";
}

const FIXTURES = JSON.parse(
  readFileSync(fileURLToPath(new URL("../fixtures/svd.json", import.meta.url)), "utf8"),
) as { cases: Case[] };

const EPS = 2 ** -52;
const mat = (rows: number, cols: number, data: ArrayLike<number>): Mat => ({
  rows,
  cols,
  data: Float64Array.from(data),
});

/**
 * Singular values in clusters: consecutive values within `gap` of each other (vectors of a
 * cluster are defined only up to a rotation inside it).
 */
function clusters(S: ArrayLike<number>, gap: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let j = 1; j <= S.length; j++)
    if (j === S.length || S[j - 1] - S[j] > gap) {
      out.push([start, j]);
      start = j;
    }
  return out;
}

/**
 * Columns (`byRows` false) or rows of X against the reference, invariant under signs and
 * rotations within a cluster: per cluster and per coordinate, the sum of squares over the
 * cluster's vectors (for columns: the diagonal of the cluster's projector), and, for isolated
 * values, the absolute values entry by entry.
 */
function compareVectors(
  got: Mat,
  ref: Mat,
  cl: [number, number][],
  byRows: boolean,
  tol: number,
): void {
  expect(got.rows).toBe(ref.rows);
  expect(got.cols).toBe(ref.cols);
  const at = (x: Mat, vec: number, coord: number) =>
    byRows ? x.data[vec * x.cols + coord] : x.data[coord * x.cols + vec];
  const coords = byRows ? ref.cols : ref.rows;
  for (const [lo, hi] of cl) {
    for (let c = 0; c < coords; c++) {
      let sg = 0;
      let sr = 0;
      for (let j = lo; j < hi; j++) {
        sg += at(got, j, c) ** 2;
        sr += at(ref, j, c) ** 2;
      }
      expect(Math.abs(sg - sr)).toBeLessThanOrEqual(tol);
      if (hi - lo === 1)
        expect(Math.abs(Math.abs(at(got, lo, c)) - Math.abs(at(ref, lo, c)))).toBeLessThanOrEqual(
          Math.sqrt(tol),
        );
    }
  }
}

function transposeM(a: Mat): Mat {
  const out = new Float64Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) out[j * a.rows + i] = a.data[i * a.cols + j];
  return { rows: a.cols, cols: a.rows, data: out };
}

function matmulM(a: Mat, b: Mat): Mat {
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let t = 0; t < a.cols; t++) {
      const v = a.data[i * a.cols + t];
      for (let j = 0; j < b.cols; j++) out[i * b.cols + j] += v * b.data[t * b.cols + j];
    }
  return { rows: a.rows, cols: b.cols, data: out };
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** ‖XᵀX − I‖_max over the columns of X that belong to nonzero values (σ > 0). */
function orthErr(x: Mat, ncols: number): number {
  let e = 0;
  for (let p = 0; p < ncols; p++)
    for (let q = 0; q < ncols; q++) {
      let s = 0;
      for (let i = 0; i < x.rows; i++) s += x.data[i * x.cols + p] * x.data[i * x.cols + q];
      e = Math.max(e, Math.abs(s - (p === q ? 1 : 0)));
    }
  return e;
}

function reconErr(a: Mat, r: SvdResult): number {
  const k = r.S.length;
  let e = 0;
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += r.U.data[i * k + t] * r.S[t] * r.V.data[j * k + t];
      e = Math.max(e, Math.abs(s - a.data[i * a.cols + j]));
    }
  return e;
}

function suite(name: string, getKernels: () => CompleteKernels, relAccurate: boolean): void {
  describe(`${name}: svd and svdParts against the references`, () => {
    for (const c of FIXTURES.cases) {
      it(c.name, async () => {
        const k = getKernels();
        const a = mat(c.rows, c.cols, c.a);
        const kk = Math.min(c.rows, c.cols);
        const smax = c.S[0] ?? 0;
        const dim = Math.max(c.rows, c.cols);
        // Attainable: |Δσ| ≲ p(n)·ε·σ_max for a dense matrix; relative ε-level accuracy for a
        // bidiagonal one (Demmel & Kahan), where the backend's algorithm gives it.
        const absTol = 20 * dim * EPS * smax + 1e-300;
        const check = (S: Float64Array) => {
          expect(S.length).toBe(kk);
          for (let j = 0; j < kk; j++) {
            if (c.compare === "rel" && relAccurate)
              expect(Math.abs(S[j] - c.S[j])).toBeLessThanOrEqual(50 * c.cols * EPS * c.S[j]);
            else expect(Math.abs(S[j] - c.S[j])).toBeLessThanOrEqual(absTol);
            if (j > 0) expect(S[j]).toBeLessThanOrEqual(S[j - 1]);
            expect(S[j]).toBeGreaterThanOrEqual(0);
          }
        };
        const full = await k.svd(a);
        check(full.S);
        expect(reconErr(a, full)).toBeLessThanOrEqual(20 * dim * EPS * smax + 1e-300);
        // (The JS kernel's Jacobi leaves the vectors of σ = 0 zero: only those of σ > 0 count.)
        const nz = c.S.filter((s) => s > 1e-10 * smax).length;
        expect(orthErr(full.V, nz)).toBeLessThanOrEqual(20 * dim * EPS);
        expect(orthErr(full.U, nz)).toBeLessThanOrEqual(20 * dim * EPS);
        // Vectors of values separated by 1e-6·σ_max (graded tails excluded: their vectors are
        // only determined to ε·σ_max / gap).
        const cl = clusters(c.S, 1e-6 * smax).filter(([lo]) => c.S[lo] > 1e-6 * smax);
        const vtol = 1e-8;
        if (c.compare === "abs") {
          compareVectors(full.V, mat(c.cols, kk, c.V), cl, false, vtol);
          compareVectors(full.U, mat(c.rows, kk, c.U), cl, false, vtol);
        }
        const b = mat(c.rows, 3, c.b);
        const nv = Math.min(kk, 3);
        const parts = await k.svdParts(a, { rightVectors: nv, b });
        check(parts.S);
        const V = parts.V as Mat;
        const UtB = parts.UtB as Mat;
        expect([V.rows, V.cols]).toEqual([c.cols, nv]);
        expect([UtB.rows, UtB.cols]).toEqual([kk, 3]);
        const bmax = maxAbs(c.b);
        // Uᵀ·B's rows cluster by cluster where the vectors are determined; when U is square
        // (rows ≤ cols) the rest of the values as one block too (its rows of Uᵀ·B are what NRC4
        // sums: B's part off the leading vectors' span).
        const clB = [...cl];
        const done = cl.length ? cl[cl.length - 1][1] : 0;
        if (c.rows <= c.cols && done < kk) clB.push([done, kk]);
        const ref = mat(kk, 3, c.UtB);
        compareVectors(UtB, ref, clB, true, 1e-8 * bmax * bmax * c.rows);
        const vcl = cl.filter(([, hi]) => hi <= nv);
        if (c.compare === "abs") {
          const refV = mat(c.cols, kk, c.V);
          const refV3 = new Float64Array(c.cols * nv);
          for (let i = 0; i < c.cols; i++)
            for (let j = 0; j < nv; j++) refV3[i * nv + j] = refV.data[i * kk + j];
          compareVectors(V, mat(c.cols, nv, refV3), vcl, false, vtol);
        }
        const valuesOnly = await k.svdParts(a);
        check(valuesOnly.S);
        expect(valuesOnly.V).toBeUndefined();
        expect(valuesOnly.UtB).toBeUndefined();
      });
    }
  });

  describe(`${name}: properties`, () => {
    const sizes = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }));
    const input = sizes.chain(([m, n]) =>
      fc
        .tuple(
          fc.array(fc.double({ min: -10, max: 10, noNaN: true }), {
            minLength: m * n,
            maxLength: m * n,
          }),
          fc.array(fc.double({ min: -10, max: 10, noNaN: true }), {
            minLength: m * 2,
            maxLength: m * 2,
          }),
          fc.integer({ min: 0, max: Math.min(m, n) }),
          fc.integer({ min: 0, max: n - 1 }),
        )
        .map(([a, b, nv, zc]) => {
          const am = mat(m, n, a);
          // Often an exact zero column (a dead unit).
          if (zc % 3 === 0) for (let i = 0; i < m; i++) am.data[i * n + zc] = 0;
          return { a: am, b: mat(m, 2, b), nv };
        }),
    );
    it("U, V orthonormal; A = U·S·Vᵀ; svdParts = the full SVD's parts", async () => {
      const k = getKernels();
      await fc.assert(
        fc.asyncProperty(input, async ({ a, b, nv }) => {
          const kk = Math.min(a.rows, a.cols);
          const dim = Math.max(a.rows, a.cols);
          const full = await k.svd(a);
          const smax = full.S[0] ?? 0;
          expect(reconErr(a, full)).toBeLessThanOrEqual(30 * dim * EPS * smax + 1e-300);
          const nz = Array.from(full.S).filter((s) => s > 1e-8 * smax).length;
          expect(orthErr(full.V, nz)).toBeLessThanOrEqual(30 * dim * EPS);
          expect(orthErr(full.U, nz)).toBeLessThanOrEqual(30 * dim * EPS);
          const parts = await k.svdParts(a, { rightVectors: nv, b });
          for (let j = 0; j < kk; j++)
            expect(Math.abs(parts.S[j] - full.S[j])).toBeLessThanOrEqual(
              30 * dim * EPS * smax + 1e-300,
            );
          // Against the full SVD's U, on the values with σ > 1e-6·σ_max (the vectors of smaller
          // ones are not determined; the JS kernel leaves those of σ = 0 zero).
          const utb = matmulM(transposeM(full.U), b);
          const cl = clusters(full.S, 1e-6 * smax).filter(([lo]) => full.S[lo] > 1e-6 * smax);
          const bmax = maxAbs(b.data);
          compareVectors(parts.UtB as Mat, utb, cl, true, 1e-7 * (bmax * bmax + 1) * a.rows);
          const V = parts.V;
          if (nv === 0) expect(V).toBeUndefined();
          else {
            expect([V!.rows, V!.cols]).toEqual([a.cols, nv]);
            // Each returned right vector v_j: ‖A·v_j‖ = S[j].
            const av = matmulM(a, V as Mat);
            for (let j = 0; j < nv; j++) {
              // ‖A·v_j‖ scaled (subnormal inputs: the squares would underflow).
              let mx = 0;
              for (let i = 0; i < a.rows; i++) mx = Math.max(mx, Math.abs(av.data[i * nv + j]));
              let s = 0;
              if (mx > 0) for (let i = 0; i < a.rows; i++) s += (av.data[i * nv + j] / mx) ** 2;
              expect(Math.abs(mx * Math.sqrt(s) - parts.S[j])).toBeLessThanOrEqual(
                1e-10 * (smax + 1e-300),
              );
            }
          }
        }),
        { numRuns: 40, seed: process.env.NRC_SEED ? Number(process.env.NRC_SEED) : undefined },
      );
    });
    it("scales: tiny and huge matrices give scaled singular values", async () => {
      const k = getKernels();
      const a = mat(20, 18, FIXTURES.cases[0].a.slice(0, 360));
      const base = (await k.svdParts(a)).S;
      for (const f of [2 ** -1000, 2 ** 900]) {
        const s = (
          await k.svdParts(
            mat(
              20,
              18,
              Array.from(a.data, (v) => v * f),
            ),
          )
        ).S;
        for (let j = 0; j < s.length; j++) expect(s[j] / f).toBeCloseTo(base[j], 12);
      }
    });
  });

  if (relAccurate)
    it(`${name}: 800×800 with known singular values (large enough for the threaded reduction)`, async () => {
      // A = H1·H2·diag(s)·H3·H4 with Householder reflectors Hi = I − 2·wi·wiᵀ (orthogonal, dense
      // product, O(n²) to form): its singular values are s exactly up to the rounding of A.
      const n = 800;
      const rnd = (() => {
        let x = 12345;
        return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
      })();
      const unit = () => {
        const w = Float64Array.from({ length: n }, rnd);
        const nr = Math.hypot(...w);
        return w.map((v) => v / nr);
      };
      const s = Float64Array.from({ length: n }, (_, i) => Math.pow(10, (-6 * i) / (n - 1)));
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) a[i * n + i] = s[i];
      const left = (w: Float64Array) => {
        // a ← (I − 2wwᵀ)·a
        const t = new Float64Array(n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j] += w[i] * a[i * n + j];
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] -= 2 * w[i] * t[j];
      };
      const right = (w: Float64Array) => {
        for (let i = 0; i < n; i++) {
          let d = 0;
          for (let j = 0; j < n; j++) d += a[i * n + j] * w[j];
          for (let j = 0; j < n; j++) a[i * n + j] -= 2 * d * w[j];
        }
      };
      left(unit());
      left(unit());
      right(unit());
      right(unit());
      const A = mat(n, n, a);
      const b = mat(n, 2, Array.from({ length: 2 * n }, rnd));
      const k = getKernels();
      const p = await k.svdParts(A, { rightVectors: 3, b });
      for (let j = 0; j < n; j++)
        expect(Math.abs(p.S[j] - s[j])).toBeLessThanOrEqual(20 * n * EPS * s[0]);
      // The right vectors: ‖A·v_j‖ = s_j; Uᵀ·B: rows j < 3 are (A·v_j/s_j)ᵀ·B, and U being square
      // the columns of Uᵀ·B keep B's norms.
      const V = p.V as Mat;
      const UtB = p.UtB as Mat;
      for (let j = 0; j < 3; j++) {
        const av = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          let d = 0;
          for (let t = 0; t < n; t++) d += a[i * n + t] * V.data[t * 3 + j];
          av[i] = d;
        }
        expect(Math.abs(Math.hypot(...av) - s[j])).toBeLessThanOrEqual(1e-12);
        for (let c = 0; c < 2; c++) {
          let d = 0;
          for (let i = 0; i < n; i++) d += (av[i] / s[j]) * b.data[i * 2 + c];
          expect(Math.abs(UtB.data[j * 2 + c] - d)).toBeLessThanOrEqual(1e-9);
        }
      }
      for (let c = 0; c < 2; c++) {
        let nb = 0;
        let nu = 0;
        for (let i = 0; i < n; i++) nb += b.data[i * 2 + c] ** 2;
        for (let j = 0; j < n; j++) nu += UtB.data[j * 2 + c] ** 2;
        expect(Math.abs(nu - nb)).toBeLessThanOrEqual(1e-11 * nb);
      }
    });

  describe(`${name}: svdParts errors`, () => {
    it("rejects bad rightVectors and b", () => {
      const k = getKernels();
      const a = mat(4, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(() => k.svdParts(a, { rightVectors: 4 })).toThrow(NRCInputError);
      expect(() => k.svdParts(mat(3, 4, a.data), { rightVectors: 4 })).toThrow(/0…3/);
      expect(() => k.svdParts(a, { rightVectors: -1 })).toThrow(/rightVectors/);
      expect(() => k.svdParts(a, { rightVectors: 1.5 })).toThrow(/0…3/);
      expect(() => k.svdParts(a, { b: mat(3, 2, [1, 2, 3, 4, 5, 6]) })).toThrow(
        /opts\.b must have the rows of a \(4\); got 3×2/,
      );
    });
  });
}

suite("js", () => jsKernels, false);

const missing = relaxedSimdAvailable() ? "" : " (skipped: no relaxed SIMD in this engine)";
for (const fma of [false, true])
  for (const threads of [1, 2])
    describe.skipIf(fma && missing !== "")(
      `wasm${fma ? ", fma build" : ""}, ${threads} thread${threads > 1 ? "s" : ""}${fma ? missing : ""}`,
      () => {
        let raw: Kernels;
        let k: CompleteKernels;
        beforeAll(async () => {
          raw = await wasmBackend({ threads, fma }).init();
          k = completeKernels(raw);
        });
        afterAll(async () => {
          await raw?.dispose?.();
        });
        suite(`wasm${fma ? "-fma" : ""}×${threads}`, () => k, true);
      },
    );
