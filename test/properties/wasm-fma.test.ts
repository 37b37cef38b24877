import { afterAll, beforeAll } from "vitest";
import { wasmBackend } from "../../src/backends/wasm/index.js";
import type { Kernels } from "../../src/backends/types.js";
import { runPropertySuite } from "./suite.js";

// Started once for the file (2 threads, so the pool is exercised); passed as started kernels,
// which the library leaves running, and disposed at the end. The fused multiply-add build (relaxed
// SIMD: Node ≥ 22, or vitest.config.ts's flag on Node 20); the plain one in wasm.test.ts.
let kernels: Kernels;
beforeAll(async () => {
  kernels = await wasmBackend({ threads: 2, fma: true }).init();
});
afterAll(async () => {
  await kernels?.dispose?.();
});

runPropertySuite("wasm-fma", () => kernels);
