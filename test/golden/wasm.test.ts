import { afterAll, beforeAll } from "vitest";
import { wasmBackend } from "../../src/backends/wasm/index.js";
import type { Kernels } from "../../src/backends/types.js";
import { runGoldenSuite, worst } from "./suite.js";

// Started once for the file (2 threads, so the pool is exercised); passed as started kernels,
// which the library leaves running, and disposed at the end. The plain-SIMD build here; the fused
// multiply-add build in wasm-fma.test.ts.
let kernels: Kernels;
beforeAll(async () => {
  kernels = await wasmBackend({ threads: 2, fma: false }).init();
});
afterAll(async () => {
  await kernels?.dispose?.();
  if (process.env.NRC_PRINT_ACCURACY) console.table(worst);
});

runGoldenSuite("wasm", () => kernels);
