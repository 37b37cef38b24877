/**
 * The WebGPU backend on whatever adapter this machine has: in CI, Mesa's llvmpipe through OpenGL
 * ES (scripts/ci-webgpu-setup.sh installs it; the backend sets EGL_PLATFORM=surfaceless). Skipped,
 * with the reason in the test name, when no adapter can be had. The default (exact) precision is
 * checked against float64 here and by the golden fixtures (test/golden/webgpu.test.ts); the
 * float32 pass against its stated float32 bounds.
 */
import { describe, it, expect, afterAll } from "vitest";
import { webgpuBackend, type WebGPUKernels } from "../../src/backends/webgpu/index.js";
import { jsKernels, noiseComponent, NRCInputError } from "../../src/index.js";
import { runPropertySuite } from "../properties/suite.js";
import {
  collapsedLayer,
  crossRef,
  normalisedError,
  randn,
  runFloat32Suite,
  KERNEL_BOUND,
} from "./f32-suite.js";

/** The exact kernels' bound, relative to the centered column norms (float64 rounding). */
const EXACT_BOUND = 1e-13;

let gpu: WebGPUKernels | null = null;
let gpu32: WebGPUKernels | null = null;
let reason = "";
try {
  gpu = (await webgpuBackend().init()) as WebGPUKernels;
  gpu32 = (await webgpuBackend({
    device: gpu.device,
    precision: "float32",
  }).init()) as WebGPUKernels;
} catch (e) {
  reason = (e as Error).message;
}
const extra: WebGPUKernels[] = [];
afterAll(async () => {
  for (const k of extra) await k.dispose();
  await gpu32?.dispose();
  await gpu?.dispose();
});

if (!gpu || !gpu32) {
  it.skip(`webgpu: skipped, no WebGPU adapter here (${reason})`, () => {});
} else {
  const k = gpu;
  const k32 = gpu32;
  describe(`webgpu on ${k.adapterInfo}`, () => {
    it("starts with the documented defaults, names its adapter, runs the float64 kernels on the CPU", () => {
      expect(k.name).toBe("webgpu");
      expect(k.precision).toBe("exact");
      expect(k32.precision).toBe("float32");
      expect(k.tileRows).toBe(1024);
      expect(k.adapterInfo.length).toBeGreaterThan(0);
      expect(k.float32Inputs).toBe(true);
      expect(typeof k.symEig).toBe("function");
      expect(typeof k.shiftedMoments).toBe("function");
      // the float32 pass has no shifted moments of its own (composed from gram/crossProd)
      expect(k32.shiftedMoments).toBeUndefined();
    });

    it("rejects an unknown precision with an NRCInputError", async () => {
      await expect(
        webgpuBackend({ device: k.device, precision: "f16" as "exact" }).init(),
      ).rejects.toThrow(NRCInputError);
    });

    for (const precision of ["exact", "float32"] as const) {
      const bound = precision === "exact" ? EXACT_BOUND : KERNEL_BOUND;
      it(`${precision}: splits rows into many chunks (double-buffered) and wide outputs into column panels`, async () => {
        const small = (await webgpuBackend({
          device: k.device,
          precision,
          tileRows: 64,
          maxBufferBytes: 16 * 1024,
          cpu: { name: "js", init: async () => jsKernels },
        }).init()) as WebGPUKernels;
        extra.push(small);
        // 3000 rows × 20 cols in many chunks under 16 KiB per buffer
        const a = randn(3000, 20, 1);
        const b = randn(3000, 9, 2);
        expect(normalisedError(await small.gram(a), crossRef(a, a), a, a)).toBeLessThanOrEqual(
          bound,
        );
        expect(
          normalisedError(await small.crossProd(a, b), crossRef(a, b), a, b),
        ).toBeLessThanOrEqual(bound);
        // a 100×100 product exceeds 16 KiB: column panels
        const w = randn(500, 100, 3);
        const g = await small.gram(w);
        expect(normalisedError(g, crossRef(w, w), w, w)).toBeLessThanOrEqual(bound);
        for (let i = 0; i < 100; i++)
          for (let j = 0; j < i; j++) expect(g.data[i * 100 + j]).toBe(g.data[j * 100 + i]);
        // lowGram of float32 rows uploaded as they are, in chunks and column panels: the bound
        const w32 = { rows: 500, cols: 100, data: Float32Array.from(w.data, (v) => 7 + v) };
        const shift = new Float64Array(100).fill(7.1);
        const lg = await small.lowGram(w32, shift);
        const ref = await jsKernels.shiftedMoments(w32, shift, randn(500, 1, 1));
        const sq = lg.squares.reduce((x, y) => x + y, 0);
        const bu = (lg.blockRows + 2) * lg.unitRoundoff;
        let ef = 0;
        for (let i = 0; i < 100 * 100; i++) ef += (lg.gram.data[i] - ref.gram.data[i]) ** 2;
        expect(Math.sqrt(ef)).toBeLessThanOrEqual((bu / (1 - bu)) * sq);
      });
    }

    it("runs concurrent calls one at a time, each correct", async () => {
      const mats = [randn(700, 33, 1), randn(900, 12, 2), randn(50, 70, 3)];
      const res = await Promise.all(mats.map((m) => k.gram(m)));
      res.forEach((g, i) =>
        expect(
          normalisedError(g, crossRef(mats[i], mats[i]), mats[i], mats[i]),
        ).toBeLessThanOrEqual(EXACT_BOUND),
      );
    });

    it("shiftedMoments: float64 and float32 rows, about a shift far from the mean, as the JS kernels", async () => {
      const a = randn(1500, 24, 7);
      for (let i = 0; i < a.data.length; i++) a.data[i] = 1e3 + 1e-2 * a.data[i];
      const f32 = { rows: a.rows, cols: a.cols, data: Float32Array.from(a.data) };
      const wide = { rows: a.rows, cols: a.cols, data: Float64Array.from(f32.data) };
      const y = randn(1500, 3, 8);
      const shift = new Float64Array(24).fill(1e3 + 0.5);
      for (const [x, ref] of [
        [a, a],
        [f32, wide],
      ] as const) {
        const got = await k.shiftedMoments!(x, shift, y);
        const want = await jsKernels.shiftedMoments(ref, shift, y);
        const d = 24;
        for (let i = 0; i < d; i++) {
          expect(Math.abs(got.sums[i] - want.sums[i])).toBeLessThanOrEqual(
            1e-12 * Math.abs(want.sums[i]),
          );
          for (let j = 0; j < d; j++) {
            const s = Math.sqrt(want.gram.data[i * d + i] * want.gram.data[j * d + j]);
            expect(Math.abs(got.gram.data[i * d + j] - want.gram.data[i * d + j])).toBeLessThan(
              1e-14 * s,
            );
          }
          for (let c = 0; c < 3; c++)
            expect(got.cross.data[i * 3 + c]).toBeCloseTo(want.cross.data[i * 3 + c], 9);
        }
      }
    });

    it("lowGram: the float32 pass about a shift within its a-priori bound, float64 sums and squares", async () => {
      const a = randn(3000, 40, 12);
      for (let i = 0; i < a.data.length; i++) a.data[i] = 50 + (i % 40) + a.data[i];
      const f32 = { rows: a.rows, cols: a.cols, data: Float32Array.from(a.data) };
      const wide = { rows: a.rows, cols: a.cols, data: Float64Array.from(f32.data) };
      const shift = Float64Array.from({ length: 40 }, (_, j) => 50.25 + j);
      for (const kk of [k, k32])
        for (const [x, ref] of [
          [a, a],
          [f32, wide],
        ] as const) {
          const lg = await kk.lowGram(x, shift);
          const exact = await k.shiftedMoments!(ref, shift, randn(3000, 1, 1));
          let sq = 0;
          for (let j = 0; j < 40; j++) {
            let s1 = 0;
            let s2 = 0;
            for (let r = 0; r < 3000; r++) {
              const v = ref.data[r * 40 + j] - shift[j];
              s1 += v;
              s2 += v * v;
            }
            expect(lg.sums[j]).toBeCloseTo(s1, 9);
            expect(Math.abs(lg.squares[j] - s2)).toBeLessThanOrEqual(1e-14 * s2);
            sq += s2;
          }
          // ‖E‖₂ ≤ ‖E‖_F ≤ γ_{b+2}·Σ‖aᵢ − s‖² (issue 22's bound), and it is not vacuous here
          const bu = (lg.blockRows + 2) * lg.unitRoundoff;
          let ef = 0;
          for (let i = 0; i < 1600; i++) ef += (lg.gram.data[i] - exact.gram.data[i]) ** 2;
          expect(Math.sqrt(ef)).toBeLessThanOrEqual((bu / (1 - bu)) * sq);
          expect(Math.sqrt(ef)).toBeGreaterThan(0);
        }
      await expect(k.lowGram(a, new Float64Array(3))).rejects.toThrow(/lowGram: shift must be/);
    });

    it("eigenStart: float32 Jacobi eigenpairs of a batch of PSD matrices (odd orders padded, a dead unit)", async () => {
      const hs = [randn(300, 8, 21), randn(500, 40, 22), randn(400, 33, 23)].map((h, i) => {
        // graded column scales give a spread spectrum; layer 2 gets a dead (zero) unit
        for (let r = 0; r < h.rows; r++)
          for (let j = 0; j < h.cols; j++) h.data[r * h.cols + j] *= 1 + j * (i + 1);
        if (i === 2) for (let r = 0; r < h.rows; r++) h.data[r * h.cols + 5] = 0;
        return h;
      });
      const mats = await Promise.all(hs.map((h) => jsKernels.gram(h)));
      const got = await k.eigenStart(mats, 4);
      for (let i = 0; i < mats.length; i++) {
        const g = mats[i];
        const d = g.rows;
        const ref = await jsKernels.symEig(g);
        const { values, vectors, sweeps, off } = got[i];
        expect(values.length).toBe(d);
        expect(vectors.rows).toBe(d);
        expect(vectors.cols).toBe(4);
        expect(sweeps).toBeLessThan(30);
        expect(off).toBeLessThanOrEqual(1e-6);
        for (let j = 0; j < d; j++)
          expect(Math.abs(values[j] - ref.values[j])).toBeLessThanOrEqual(1e-5 * ref.values[0]);
        // (float32: ~d·u·‖G‖) residuals ‖G v − λ v‖ ≤ 1e-5·‖G‖ for the 4 leading pairs
        for (let c = 0; c < 4; c++) {
          let r2 = 0;
          for (let a = 0; a < d; a++) {
            let gv = 0;
            for (let b = 0; b < d; b++) gv += g.data[a * d + b] * vectors.data[b * 4 + c];
            r2 += (gv - values[c] * vectors.data[a * 4 + c]) ** 2;
          }
          expect(Math.sqrt(r2)).toBeLessThanOrEqual(1e-5 * ref.values[0]);
        }
      }
      await expect(k.eigenStart([randn(3, 2, 1)], 1)).rejects.toThrow(
        /eigenStart: mats\[0\] must be square/,
      );
      await expect(k.eigenStart(mats, 41)).rejects.toThrow(/eigenStart: k must be/);
    });

    it("a NaN or Infinity entry reaches the result (never digits of garbage)", async () => {
      const a = randn(100, 4, 9);
      a.data[37] = NaN;
      const g = await k.gram(a);
      expect(Number.isNaN(g.data[1 * 4 + 1])).toBe(true);
      a.data[37] = Infinity;
      const m = await k.shiftedMoments!(a, new Float64Array(4), randn(100, 2, 1));
      expect(Number.isFinite(m.gram.data[1 * 4 + 1])).toBe(false);
    });

    it("a collapsed layer's NRC1 (~1e-9): exact as float64 by default, float32 noise with the float32 pass", async () => {
      const h = collapsedLayer(2000, 16);
      const exact = await noiseComponent(h, 2, { backend: jsKernels });
      expect(exact).toBeLessThan(1e-8);
      const got = await noiseComponent(h, 2, { backend: k });
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(1e-9 * exact);
      const approx = await noiseComponent(h, 2, { backend: k32 });
      expect(Math.abs(approx - exact)).toBeLessThan(5e-7);
    });

    it("rejects calls after dispose", async () => {
      const own = (await webgpuBackend({
        device: k.device,
        cpu: { name: "js", init: async () => jsKernels },
      }).init()) as WebGPUKernels;
      await own.dispose();
      await expect(own.gram(randn(4, 2, 1))).rejects.toThrow(/disposed/);
    });
  });
  // The larger shapes are covered by the golden suite (test/golden/webgpu.test.ts); llvmpipe is slow.
  runFloat32Suite("webgpu exact", () => k, {
    golden: false,
    kernelBound: EXACT_BOUND,
    maxKernelWork: 2e6,
  });
  runFloat32Suite("webgpu float32", () => k32);
  runPropertySuite("webgpu", () => k);
}

describe("webgpu backend without WebGPU", () => {
  it("init() rejects, saying why, when the given GPU has no adapter", async () => {
    const fakeGpu = { requestAdapter: async () => null } as unknown as GPU;
    await expect(webgpuBackend({ gpu: fakeGpu }).init()).rejects.toThrow(/no adapter/);
  });
});
