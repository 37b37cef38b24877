import { afterAll, beforeAll, describe } from "vitest";
import { relaxedSimdAvailable, wasmBackend } from "../../src/backends/wasm/index.js";
import type { Kernels } from "../../src/backends/types.js";
import { runGoldenSuite, worst } from "./suite.js";

// Both builds: plain SIMD, and fused multiply-adds (relaxed SIMD: Node ≥ 22, or vitest.config.ts's
// flag on Node 20). Each started once (2 threads, so the pool is exercised) and passed as started
// kernels, which the library leaves running; disposed at the end.
for (const fma of [false, true])
  describe.skipIf(fma && !relaxedSimdAvailable())(
    `wasm${fma ? ", fma build" : ""}${fma && !relaxedSimdAvailable() ? " (skipped: no relaxed SIMD in this engine)" : ""}`,
    () => {
      let kernels: Kernels;
      beforeAll(async () => {
        kernels = await wasmBackend({ threads: 2, fma }).init();
      });
      afterAll(async () => {
        await kernels?.dispose?.();
      });
      runGoldenSuite(fma ? "wasm-fma" : "wasm", () => kernels);
    },
  );

afterAll(() => {
  if (process.env.NRC_PRINT_ACCURACY) console.table(worst);
});
