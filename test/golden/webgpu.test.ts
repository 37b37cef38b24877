/**
 * The golden fixtures and the trained-like layers on the WebGPU backend (exact products from integer slices), at the same
 * tolerances as the float64 backends: Mesa llvmpipe in CI (scripts/ci-webgpu-setup.sh). Skipped,
 * with the reason in the test name, where no adapter can be had.
 */
import { afterAll, describe, expect, it } from "vitest";
import { webgpuBackend, type WebGPUKernels } from "../../src/backends/webgpu/index.js";
import { runGoldenSuite, worst } from "./suite.js";
import { trainedSuite, worst as worstTrained } from "./trained-suite.js";
import { measureNRC } from "../../src/index.js";
import { loadFixture, type FixtureMatrix } from "../helpers/fixtures.js";

let gpu: WebGPUKernels | null = null;
let reason = "";
try {
  gpu = (await webgpuBackend().init()) as WebGPUKernels;
} catch (e) {
  reason = (e as Error).message;
}
afterAll(async () => {
  if (process.env.NRC_PRINT_ACCURACY) {
    console.table(worst);
    console.table(worstTrained);
  }
  await gpu?.dispose();
});

if (!gpu) it.skip(`webgpu: skipped, no WebGPU adapter here (${reason})`, () => {});
else {
  const k = gpu;
  runGoldenSuite("webgpu", () => k);
  trainedSuite("webgpu", () => k);
  certifiedOnWebGPU(() => k);
}

/**
 * Issue 22's adversarial layers (test/fixtures/certified.json) on webgpu, where the certified path
 * starts from the GPU's float32 `lowGram`: the layers it can certify carry a certificate, those
 * built to defeat it fall back to the exact products, and every value is within the contract
 * (tolerances as test/golden/certified.test.ts states them).
 */
function certifiedOnWebGPU(kernels: () => WebGPUKernels): void {
  const fx = loadFixture("certified") as unknown as {
    targets: FixtureMatrix;
    cases: (Record<"features" | "weight", FixtureMatrix> & {
      name: string;
      float32: boolean;
      expected: Record<"nrc1" | "nrc2" | "nrc3" | "nrc4" | "stableRankFeatures", number>;
    })[];
  };
  const certify = ["healthy", "collapsed", "repeated"];
  const fallBack = ["gap-below-f32", "kappa-past-preconditioner", "float32-duplicates"];
  describe("certified path on webgpu (GPU lowGram, float64 refinement on the data)", () => {
    for (const c of fx.cases)
      it(c.name, async () => {
        const f = c.features;
        const features = c.float32 ? { ...f, data: Float32Array.from(f.data) } : f;
        const rep = await measureNRC({
          layers: [{ features, weight: c.weight }],
          targets: fx.targets,
          backend: kernels(),
        });
        const l = rep.layers[0];
        if (certify.includes(c.name)) expect(l.certificate, "certified").toBeDefined();
        if (fallBack.includes(c.name)) expect(l.certificate, "fell back").toBeUndefined();
        const e = c.expected;
        const sub = c.name === "gap-below-f32" ? 1e-6 : 1e-9;
        const nrc4 = c.name === "collapsed" || c.name.startsWith("kappa") ? 1e-6 : 1e-9;
        const checks: [number | null, number, number, number][] = [
          [l.nrc1, e.nrc1, 1e-9, 1e-16],
          [l.nrc4, e.nrc4, nrc4, 1e-20],
          [l.nrc2, e.nrc2, sub, 0],
          [l.nrc3, e.nrc3, sub, 0],
          [l.stableRankFeatures, e.stableRankFeatures, 1e-9, 0],
        ];
        checks.forEach(([got, want, rel, abs], i) =>
          expect(Math.abs((got as number) - want), `metric ${i}`).toBeLessThanOrEqual(
            rel * Math.abs(want) + abs,
          ),
        );
      });
  });
}
