/**
 * The `wasm` backend: float64 kernels written in C, compiled to WebAssembly with SIMD (f64x2),
 * multi-threaded over a shared `WebAssembly.Memory` (Node `worker_threads` / browser Web Workers),
 * with a single-thread build where `SharedArrayBuffer` is unavailable (e.g. a page that is not
 * cross-origin isolated). The compiled modules are embedded (base64), so no file loading is needed.
 *
 * Nothing starts on import: {@link wasmBackend} returns a description whose `init()` compiles the
 * module and spawns the workers; `dispose()` on the kernels stops them.
 * @module
 */
import { NRCInputError, checkKeys } from "../../errors.js";
import type { Backend } from "../types.js";
import { makeKernels, type WasmKernels } from "./kernels.js";
import { startRuntime, type WasmBackendOptions } from "./runtime.js";

export { relaxedSimdAvailable } from "./env.js";
export { WASM_DIAGNOSTICS, WASM_JACOBI_SVD, type WasmKernels } from "./kernels.js";
export type { WasmBackendOptions } from "./runtime.js";

/**
 * The `wasm` backend: SIMD float64 kernels in WebAssembly, multi-threaded over shared memory.
 *
 * `init()` compiles the embedded module, creates the memory and starts `threads − 1` workers (the
 * calling thread computes too); where shared memory is unavailable it falls back to a
 * single-thread module (or throws with `requireThreads`). Every product accumulates in float64;
 * where the engine has relaxed SIMD the products are fused multiply-adds (`fma`).
 * Call `dispose()` on the returned kernels to stop the workers (they never keep Node alive).
 *
 * @param opts - `threads` (default: logical CPUs, at most 8), `requireThreads`, `fma` (default:
 *   where relaxed SIMD is available).
 * @returns A {@link Backend} named `"wasm"`.
 * @throws NRCInputError on an unknown option key (e.g. `thread`).
 * @throws Error from `init()` when WebAssembly (with SIMD) is unavailable, when `threads` is not an
 *   integer in 1…64, when `fma: true` meets an engine without relaxed SIMD, or when workers cannot
 *   start.
 * @example
 * ```ts
 * import { measureNRC, wasmBackend } from "deep-nrc";
 * const backend = wasmBackend({ threads: 2 });
 * const report = await measureNRC({ layers, targets, backend });
 * ```
 */
export function wasmBackend(opts: WasmBackendOptions = {}): Backend {
  if (opts === null || typeof opts !== "object")
    throw new NRCInputError(
      "wasmBackend",
      "opts",
      `opts must be { threads?, requireThreads?, fma? }; got ${opts === null ? "null" : typeof opts}`,
    );
  checkKeys("wasmBackend", "opts", opts, ["threads", "requireThreads", "fma"]);
  return Object.freeze({
    name: "wasm",
    async init(): Promise<WasmKernels> {
      const rt = await startRuntime(opts);
      return makeKernels(rt, rt.reason);
    },
  });
}
