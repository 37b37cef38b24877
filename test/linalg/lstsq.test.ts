/**
 * refinedResidualSq (NRC4 from refined normal equations) against problems whose residual is known
 * by construction, and against the QR/SVD path (pinvResidualSq, itself checked against numpy in
 * test/golden); and the cases where it must decline (return null) so the caller factorises H.
 */
import { describe, it, expect, afterAll } from "vitest";
import { jsKernels } from "../../src/backends/js/index.js";
import { wasmBackend } from "../../src/backends/wasm/index.js";
import { completeKernels } from "../../src/backends/complete.js";
import type { CompleteKernels, Mat, QrResult } from "../../src/backends/types.js";
import { defaultRtol, pinvResidualSq, refinedResidualSq } from "../../src/linalg/lstsq.js";
import { center } from "../../src/linalg/center.js";
import { makeRng } from "../../src/io/synthetic.js";
import fc from "fast-check";
import { fcParams } from "../properties/generators.js";

function randn(rows: number, cols: number, seed: number): Mat {
  const r = makeRng(seed);
  return { rows, cols, data: Float64Array.from({ length: rows * cols }, () => r.normal()) };
}

/**
 * H = Q₁·diag(s)·Vᵀ + 1·μᵀ and Y = Q₁·A + Q₂·B + 1·cᵀ with [1/√N | Q₁ | Q₂] orthonormal. With
 * μ = 0, Yc's part off range(H) is exactly Q₂·B, so the residual is ‖B‖²_F.
 */
function problem(
  n: number,
  d: number,
  q: number,
  s: number[],
  opts: { mu?: number; offRange?: number; seed?: number } = {},
) {
  const seed = opts.seed ?? 1;
  const m = randn(n, d + q + 1, seed);
  for (let i = 0; i < n; i++) m.data[i * (d + q + 1)] = 1;
  const Q = (jsKernels.qr(m, undefined, { wantQ: true }) as QrResult).Q as Mat;
  const w = d + q + 1;
  const v = (jsKernels.qr(randn(d, d, seed + 1), undefined, { wantQ: true }) as QrResult).Q as Mat;
  const a = randn(d, q, seed + 2);
  const b = randn(q, q, seed + 3);
  const off = opts.offRange ?? 0.3;
  const mu = randn(1, d, seed + 4).data.map((x) => x * (opts.mu ?? 0));
  const h = new Float64Array(n * d);
  const y = new Float64Array(n * q);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let sum = 0;
      for (let l = 0; l < d; l++) sum += Q.data[i * w + 1 + l] * s[l] * v.data[j * d + l];
      h[i * d + j] = sum + mu[j];
    }
    for (let c = 0; c < q; c++) {
      let sum = 0.5 * (c + 1);
      for (let l = 0; l < d; l++) sum += Q.data[i * w + 1 + l] * a.data[l * q + c];
      for (let l = 0; l < q; l++) sum += off * Q.data[i * w + 1 + d + l] * b.data[l * q + c];
      y[i * q + c] = sum;
    }
  }
  let exact = 0;
  for (const x of b.data) exact += (off * x) ** 2;
  return { h: { rows: n, cols: d, data: h }, y: { rows: n, cols: q, data: y }, exact };
}

type SolverKind = "eigen" | "cholesky";

/** The refinement solving with all of C's eigenvectors, or (as measureNRC without r) with C's
 * Cholesky factor next to only the leading eigenvectors. */
async function refined(k: CompleteKernels, h: Mat, y: Mat, rtol: number, solver: SolverKind) {
  const { centered: hc, mean } = center(h);
  const c = await k.gram(hc);
  const e = await k.symEig(c, { vectors: solver === "eigen" ? c.rows : Math.min(3, c.rows) });
  const v = e.values.map((x) => Math.max(x, 0));
  // A backend may return more vectors than asked: keep only the leading ones (at most d − 1, so
  // the Cholesky path is the one taken).
  const kk = solver === "eigen" ? c.rows : Math.min(3, c.rows - 1);
  const vectors: Mat = {
    rows: c.rows,
    cols: kk,
    data: Float64Array.from(
      { length: c.rows * kk },
      (_, i) => e.vectors.data[Math.floor(i / kk) * e.vectors.cols + (i % kk)],
    ),
  };
  const chol = solver === "cholesky" ? await k.cholesky(c) : undefined;
  return refinedResidualSq(k, h, center(y).centered, { values: v, vectors, chol, mean }, rtol);
}

const logspace = (d: number, lo: number) =>
  Array.from({ length: d }, (_, i) => 10 ** ((lo * i) / Math.max(1, d - 1)));

let wasm: CompleteKernels | undefined;
afterAll(async () => {
  await wasm?.dispose?.();
});

for (const [name, solver] of [
  ["js", "eigen"],
  ["js", "cholesky"],
  ["wasm", "eigen"],
  ["wasm", "cholesky"],
] as const) {
  describe(`refinedResidualSq (${name} kernels, solving with C's ${solver === "eigen" ? "eigenvectors" : "Cholesky factor"})`, () => {
    const kernels = async () =>
      name === "js"
        ? jsKernels
        : (wasm ??= completeKernels(await wasmBackend({ threads: 2 }).init()));

    for (const decades of [0, 2, 4, 5])
      it(`matches the constructed residual, κ(H) = 1e${decades}`, async () => {
        const k = await kernels();
        const { h, y, exact } = problem(1500, 30, 3, logspace(30, -decades), { seed: decades + 1 });
        const got = await refined(k, h, y, defaultRtol(h.rows, h.cols), solver);
        expect(got).not.toBeNull();
        expect(Math.abs((got as number) - exact)).toBeLessThanOrEqual(1e-11 * exact);
      });

    for (const [mu, decades] of [
      [5, 2],
      [1000, 0],
    ])
      it(`agrees with the QR/SVD path when the features have a mean of ~${mu}, κ(Hc) = 1e${decades}`, async () => {
        const k = await kernels();
        const { h, y } = problem(1200, 25, 2, logspace(25, -decades), { mu, seed: 9 });
        const yc = center(y).centered;
        const qr = (await pinvResidualSq(k, h, yc, defaultRtol(h.rows, h.cols))).perColumn;
        const ref = qr[0] + qr[1];
        const got = await refined(k, h, y, defaultRtol(h.rows, h.cols), solver);
        expect(got).not.toBeNull();
        expect(Math.abs((got as number) - ref)).toBeLessThanOrEqual(1e-10 * ref);
      });

    it("declines when κ(HᵀH) may exceed 1e12 (κ(H) = 1e7)", async () => {
      const k = await kernels();
      const { h, y } = problem(800, 20, 3, logspace(20, -7), { seed: 5 });
      expect(await refined(k, h, y, defaultRtol(h.rows, h.cols), solver)).toBeNull();
    });

    it("declines on exactly rank-deficient features (a repeated column)", async () => {
      const k = await kernels();
      const { h, y } = problem(600, 12, 3, logspace(12, -1), { seed: 6 });
      for (let i = 0; i < h.rows; i++) h.data[i * 12 + 11] = h.data[i * 12 + 3];
      expect(await refined(k, h, y, defaultRtol(h.rows, h.cols), solver)).toBeNull();
    });

    it("declines when pinv's cutoff could drop a direction (reference-code rtol 1e-3)", async () => {
      const k = await kernels();
      const ok = problem(800, 16, 3, logspace(16, -2.3), { seed: 7 });
      const got = await refined(k, ok.h, ok.y, 1e-3, solver);
      expect(got).not.toBeNull();
      expect(Math.abs((got as number) - ok.exact)).toBeLessThanOrEqual(1e-11 * ok.exact);
      const near = problem(800, 16, 3, logspace(16, -2.8), { seed: 7 });
      expect(await refined(k, near.h, near.y, 1e-3, solver)).toBeNull();
    });

    it("reads an exact fit as (absolutely) zero", async () => {
      const k = await kernels();
      const { h, y } = problem(700, 10, 2, logspace(10, -1), { offRange: 0, seed: 8 });
      const got = await refined(k, h, y, defaultRtol(h.rows, h.cols), solver);
      let yy = 0;
      for (const v of center(y).centered.data) yy += v * v;
      expect(got).not.toBeNull();
      expect(got as number).toBeLessThanOrEqual(1e-24 * yy);
    });

    it("agrees with the QR/SVD path whenever it answers (fast-check: conditioning, means, fit)", async () => {
      const k = await kernels();
      let answered = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 16 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 150 }),
          fc.double({ min: 0, max: 9, noNaN: true }),
          fc.constantFrom(0, 0.01, 1, 30, 1000),
          fc.constantFrom(0, 1e-6, 0.01, 0.3, 3),
          fc.constantFrom(defaultRtol(1, 1), 1e-3),
          fc.integer({ min: 1, max: 1e6 }),
          async (d, q, extra, decades, mu, offRange, rtolBase, seed) => {
            const n = d + q + 2 + extra;
            const { h, y } = problem(n, d, q, logspace(d, -decades), { mu, offRange, seed });
            const rtol = rtolBase === 1e-3 ? 1e-3 : defaultRtol(n, d);
            const yc = center(y).centered;
            let yy = 0;
            for (const v of yc.data) yy += v * v;
            const got = await refined(k, h, y, rtol, solver);
            if (got === null) return;
            answered++;
            const qr = (await pinvResidualSq(k, h, yc, rtol)).perColumn.reduce((a, b) => a + b, 0);
            expect(Math.abs(got - qr)).toBeLessThanOrEqual(1e-9 * qr + 1e-22 * yy);
          },
        ),
        fcParams(60),
      );
      expect(answered).toBeGreaterThan(10);
    });

    it("leaves its inputs unchanged", async () => {
      const k = await kernels();
      const { h, y } = problem(300, 8, 2, logspace(8, -1), { seed: 10 });
      const h0 = Float64Array.from(h.data);
      const y0 = Float64Array.from(y.data);
      await refined(k, h, y, defaultRtol(h.rows, h.cols), solver);
      expect(h.data).toEqual(h0);
      expect(y.data).toEqual(y0);
    });
  });
}
