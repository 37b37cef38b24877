/**
 * The golden fixtures and the trained-like layers on the WebGPU backend (exact products from integer slices), at the same
 * tolerances as the float64 backends: Mesa llvmpipe in CI (scripts/ci-webgpu-setup.sh). Skipped,
 * with the reason in the test name, where no adapter can be had.
 */
import { afterAll, it } from "vitest";
import { webgpuBackend, type WebGPUKernels } from "../../src/backends/webgpu/index.js";
import { runGoldenSuite, worst } from "./suite.js";
import { trainedSuite, worst as worstTrained } from "./trained-suite.js";

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
}
