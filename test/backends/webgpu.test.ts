/**
 * The WebGPU backend on whatever adapter this machine has: in CI, Mesa's llvmpipe through OpenGL
 * ES (scripts/ci-webgpu-setup.sh installs it; the backend sets EGL_PLATFORM=surfaceless). Skipped,
 * with the reason in the test name, when no adapter can be had.
 */
import { describe, it, expect, afterAll } from "vitest";
import { webgpuBackend, type WebGPUKernels } from "../../src/backends/webgpu/index.js";
import { noiseComponent } from "../../src/index.js";
import { runPropertySuite } from "../properties/suite.js";
import { crossRef, normalisedError, randn, runFloat32Suite, KERNEL_BOUND } from "./f32-suite.js";

let gpu: WebGPUKernels | null = null;
let reason = "";
try {
  gpu = (await webgpuBackend().init()) as WebGPUKernels;
} catch (e) {
  reason = (e as Error).message;
}
const extra: WebGPUKernels[] = [];
afterAll(async () => {
  for (const k of extra) await k.dispose();
  await gpu?.dispose();
});

if (!gpu) {
  it.skip(`webgpu: skipped, no WebGPU adapter here (${reason})`, () => {});
} else {
  const k = gpu;
  describe(`webgpu on ${k.adapterInfo}`, () => {
    it("starts with the documented defaults and names its adapter", () => {
      expect(k.name).toBe("webgpu");
      expect(k.tileRows).toBe(1024);
      expect(k.adapterInfo.length).toBeGreaterThan(0);
      // no float64-only kernels: those fall back to JS
      expect((k as { symEig?: unknown }).symEig).toBeUndefined();
      expect((k as { matmul?: unknown }).matmul).toBeUndefined();
    });

    it("splits rows into many chunks (double-buffered) and wide outputs into column panels", async () => {
      const small = (await webgpuBackend({
        device: k.device,
        tileRows: 64,
        maxBufferBytes: 16 * 1024,
      }).init()) as WebGPUKernels;
      extra.push(small);
      // 3000 rows × 20 cols: 64-row tiles, at most 10 tiles of 20×20 per 16 KiB chunk → 5 chunks.
      const a = randn(3000, 20, 1);
      const b = randn(3000, 9, 2);
      expect(normalisedError(await small.gram(a), crossRef(a, a), a, a)).toBeLessThanOrEqual(
        KERNEL_BOUND,
      );
      expect(
        normalisedError(await small.crossProd(a, b), crossRef(a, b), a, b),
      ).toBeLessThanOrEqual(KERNEL_BOUND);
      // 100×100 partials (40 KB) exceed 16 KiB: 32-column panels.
      const w = randn(500, 100, 3);
      const g = await small.gram(w);
      expect(normalisedError(g, crossRef(w, w), w, w)).toBeLessThanOrEqual(KERNEL_BOUND);
      for (let i = 0; i < 100; i++)
        for (let j = 0; j < i; j++) expect(g.data[i * 100 + j]).toBe(g.data[j * 100 + i]);
    });

    it("runs concurrent calls one at a time, each correct", async () => {
      const mats = [randn(700, 33, 1), randn(900, 12, 2), randn(50, 70, 3)];
      const res = await Promise.all(mats.map((m) => k.gram(m)));
      res.forEach((g, i) =>
        expect(
          normalisedError(g, crossRef(mats[i], mats[i]), mats[i], mats[i]),
        ).toBeLessThanOrEqual(KERNEL_BOUND),
      );
    });

    it("a collapsed layer's NRC1 (1e-10 in float64) reads as float32 noise, below 5e-7", async () => {
      // top-2 signal plus noise of variance 1e-10 relative: the documented limit of float32 paths
      const s = randn(2000, 2, 4);
      const n = randn(2000, 16, 5);
      const h = randn(2000, 16, 6);
      for (let r = 0; r < 2000; r++)
        for (let j = 0; j < 16; j++)
          h.data[r * 16 + j] =
            s.data[r * 2] * (j + 1) + s.data[r * 2 + 1] * (16 - j) + 1e-4 * n.data[r * 16 + j];
      const exact = await noiseComponent(h, 2);
      const approx = await noiseComponent(h, 2, { backend: k });
      expect(exact).toBeLessThan(1e-8);
      expect(Math.abs(approx - exact)).toBeLessThan(5e-7);
    });

    it("rejects calls after dispose", async () => {
      const own = (await webgpuBackend({ device: k.device }).init()) as WebGPUKernels;
      await own.dispose();
      await expect(own.gram(randn(4, 2, 1))).rejects.toThrow(/disposed/);
    });
  });
  runFloat32Suite("webgpu", () => k);
  runPropertySuite("webgpu", () => k, { float32: true });
}

describe("webgpu backend without WebGPU", () => {
  it("init() rejects, saying why, when the given GPU has no adapter", async () => {
    const fakeGpu = { requestAdapter: async () => null } as unknown as GPU;
    await expect(webgpuBackend({ gpu: fakeGpu }).init()).rejects.toThrow(/no adapter/);
  });
});
