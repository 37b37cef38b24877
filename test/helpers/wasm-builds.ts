/**
 * Runs a suite once per wasm build — plain SIMD, and fused multiply-adds (relaxed SIMD: Node ≥ 22,
 * or vitest.config.ts's flag on Node 20; skipped with the reason where the engine lacks it) — on
 * kernels started once per build (2 threads, so the pool is exercised) and disposed after it.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { relaxedSimdAvailable, wasmBackend } from "../../src/backends/wasm/index.js";
import type { Kernels } from "../../src/backends/types.js";

export function forEachWasmBuild(suite: (name: string, kernels: () => Kernels) => void): void {
  const missing = relaxedSimdAvailable() ? "" : " (skipped: no relaxed SIMD in this engine)";
  for (const fma of [false, true])
    describe.skipIf(fma && missing !== "")(`wasm${fma ? `, fma build${missing}` : ""}`, () => {
      let kernels: Kernels;
      beforeAll(async () => {
        kernels = await wasmBackend({ threads: 2, fma }).init();
      });
      afterAll(async () => {
        await kernels?.dispose?.();
      });
      suite(fma ? "wasm-fma" : "wasm", () => kernels);
    });
}
