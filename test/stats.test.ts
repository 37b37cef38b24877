/**
 * batchStats takes H's moments about the mean of a sample of rows and re-centers them: the result
 * must equal exactly centered moments (two-pass, computed here independently) whatever the
 * sample, with a second pass only when the sample's mean is too far from the mean.
 */
import { describe, it, expect } from "vitest";
import { jsKernels } from "../src/backends/js/index.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
import type { CompleteKernels } from "../src/backends/types.js";
import { batchStats } from "../src/stats/moments.js";
import { SHIFT_SAMPLE_ROWS } from "../src/backends/composed.js";

type M = { rows: number; cols: number; data: Float64Array };

/** Two-pass centered moments Σ(h−μ)(h−μ)ᵀ and Σ(h−μ)(y−ν)ᵀ, plain loops. */
function reference(h: M, y: M) {
  const mean = (m: M) => {
    const mu = new Float64Array(m.cols);
    for (let i = 0; i < m.rows; i++)
      for (let j = 0; j < m.cols; j++) mu[j] += m.data[i * m.cols + j];
    for (let j = 0; j < m.cols; j++) mu[j] /= m.rows;
    const corr = new Float64Array(m.cols);
    for (let i = 0; i < m.rows; i++)
      for (let j = 0; j < m.cols; j++) corr[j] += m.data[i * m.cols + j] - mu[j];
    for (let j = 0; j < m.cols; j++) mu[j] += corr[j] / m.rows;
    return mu;
  };
  const mh = mean(h);
  const my = mean(y);
  const d = h.cols;
  const q = y.cols;
  const m2H = new Float64Array(d * d);
  const cross = new Float64Array(d * q);
  const hc = new Float64Array(d);
  for (let i = 0; i < h.rows; i++) {
    for (let j = 0; j < d; j++) hc[j] = h.data[i * d + j] - mh[j];
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) m2H[a * d + b] += hc[a] * hc[b];
      for (let c = 0; c < q; c++) cross[a * q + c] += hc[a] * (y.data[i * q + c] - my[c]);
    }
  }
  return { meanH: mh, m2H, cross };
}

/** Counts shiftedMoments calls. */
function counting(k: CompleteKernels): { k: CompleteKernels; calls: () => number } {
  let calls = 0;
  const sm = (...args: Parameters<CompleteKernels["shiftedMoments"]>) => {
    calls++;
    return k.shiftedMoments(...args);
  };
  const wrapped = new Proxy({} as CompleteKernels, {
    get: (_, p) => {
      if (p === "shiftedMoments") return sm;
      const v = Reflect.get(k, p);
      return typeof v === "function" ? v.bind(k) : v;
    },
  });
  return { k: wrapped, calls: () => calls };
}

function expectClose(got: Float64Array, exp: Float64Array, scale: number, tol: number): void {
  let worst = 0;
  for (let i = 0; i < exp.length; i++) worst = Math.max(worst, Math.abs(got[i] - exp[i]));
  expect(worst).toBeLessThanOrEqual(tol * scale);
}

const n = 4 * SHIFT_SAMPLE_ROWS; // the sample is every 4th row
const d = 5;
const q = 2;
/** Column 0 large on exactly the sampled rows; 1: offset 1e6 with unit spread; 2: constant 0.1 + 1/3; 3, 4 plain. */
function data(sampledFar: boolean): { h: M; y: M } {
  const h = new Float64Array(n * d);
  const y = new Float64Array(n * q);
  for (let i = 0; i < n; i++) {
    h[i * d] = (sampledFar && i % 4 === 0 ? 1e3 : 0) + Math.sin(i * 0.37);
    h[i * d + 1] = 1e6 + Math.cos(i * 1.3);
    h[i * d + 2] = 0.1 + 1 / 3;
    h[i * d + 3] = Math.sin(i * 2.1) * Math.cos(i * 0.11);
    h[i * d + 4] = (i % 7) - 3;
    y[i * q] = 0.5 + Math.sin(i * 0.9);
    y[i * q + 1] = Math.cos(i * 0.23) - 2;
  }
  return { h: { rows: n, cols: d, data: h }, y: { rows: n, cols: q, data: y } };
}

describe("batchStats: moments about a sampled shift", () => {
  for (const [name, make] of [
    ["js", async () => jsKernels as CompleteKernels],
    ["wasm (2 threads)", async () => (await wasmBackend({ threads: 2 }).init()) as CompleteKernels],
  ] as const)
    it(`${name}: one pass when the sample is representative, a second when it is not; exact either way`, async () => {
      const base = await make();
      try {
        for (const far of [false, true]) {
          const { h, y } = data(far);
          const before = Float64Array.from(h.data);
          const { k, calls } = counting(base);
          const s = await batchStats(k, h, y, false);
          expect(calls()).toBe(far ? 2 : 1);
          expect(h.data).toEqual(before);
          const ref = reference(h, y);
          let trace = 0;
          for (let j = 0; j < d; j++) trace += ref.m2H[j * d + j];
          expectClose(s.m2H, ref.m2H, trace, 64 * 2 ** -52);
          expectClose(s.cross, ref.cross, Math.sqrt(trace * n * 2), 64 * 2 ** -52);
          expectClose(s.meanH, ref.meanH, 1e6, 4 * 2 ** -52);
          // The constant column's variance is rounding of its own size at most, not the offset's.
          expect(Math.abs(s.m2H[2 * d + 2])).toBeLessThanOrEqual(n * (8 * 2 ** -52 * 0.5) ** 2);
        }
      } finally {
        if (base !== jsKernels) await base.dispose?.();
      }
    });
});
