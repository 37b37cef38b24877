/**
 * Environment probes for the `wasm` backend: relaxed SIMD, thread count, shared memory.
 * @module
 */
import { isNode } from "./workers.js";

/**
 * A module with one function `(v128, v128, v128) → v128` = f64x2.relaxed_madd: whether the engine
 * accepts relaxed SIMD.
 */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0,
  32, 0, 32, 1, 32, 2, 253, 135, 2, 11,
]);

/** Whether this engine runs WebAssembly relaxed SIMD (the fused multiply-add build). */
export function relaxedSimdAvailable(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

export function defaultThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  let n = nav?.hardwareConcurrency;
  if (!n && isNode()) {
    const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
    n = Number(p?.env?.DEEP_NRC_THREADS) || undefined;
  }
  return Math.max(1, Math.min(8, n ?? 2));
}

export async function nodeCpuCount(): Promise<number | undefined> {
  if (!isNode()) return undefined;
  try {
    const spec = "node:os";
    const os = (await import(/* @vite-ignore */ /* webpackIgnore: true */ spec)) as {
      availableParallelism?: () => number;
      cpus(): unknown[];
    };
    return os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  } catch {
    return undefined;
  }
}

export function threadsUnavailableReason(): string | undefined {
  if (typeof SharedArrayBuffer === "undefined")
    return "SharedArrayBuffer is unavailable (a browser page must be cross-origin isolated)";
  if (!isNode() && typeof (globalThis as { Worker?: unknown }).Worker !== "function")
    return "Web Workers are unavailable";
  try {
    new WebAssembly.Memory({
      initial: 1,
      maximum: 1,
      shared: true,
    } as WebAssembly.MemoryDescriptor);
  } catch (e) {
    return `shared WebAssembly.Memory is unavailable (${(e as Error).message})`;
  }
  return undefined;
}
