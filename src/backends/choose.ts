/**
 * Choosing a backend. A backend is a value you pass in; nothing registers itself on import and
 * there is no global state here. A `backend` option is a name ({@link BACKEND_NAMES}), a
 * {@link Backend} to start, started kernels, or a list of these ({@link checkBackendOption});
 * {@link initBackend} tries candidates in order and, when none starts, throws one error that
 * lists every failure (as onnxruntime-web does). Shared, process-wide backends and the default
 * policy are in `shared.ts`.
 * @module
 */
import type { Backend, CompleteKernels, Kernels } from "./types.js";
import { NRCInputError } from "../errors.js";
import { jsBackend } from "./js/index.js";
import { wasmBackend } from "./wasm/index.js";
import { completeKernels } from "./complete.js";

/** The backends that can be named by a string. */
export const BACKEND_NAMES = ["auto", "wasm", "js", "webgpu", "tfjs"] as const;

/**
 * A backend by name: `"auto"` (wasm, else js), `"wasm"`, `"js"`, `"webgpu"` (the optional peer
 * `webgpu` in Node, `navigator.gpu` in browsers), `"tfjs"` (the optional peer
 * `@tensorflow/tfjs-core` with a registered tfjs backend).
 */
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * What a `backend` option accepts: a name, a backend to start, started kernels, or a list of
 * these to try in order.
 */
export type BackendOption =
  BackendName | Backend | Kernels | readonly (BackendName | Backend | Kernels)[];

const KERNEL_KEYS = [
  "gram",
  "crossProd",
  "matmul",
  "symEig",
  "topEig",
  "svd",
  "qr",
  "shiftedMoments",
  "normalStep",
  "cholesky",
] as const;

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "string") return `'${x}'`;
  if (typeof x === "object") return `an object with keys {${Object.keys(x as object).join(", ")}}`;
  return `${typeof x} ${String(x)}`;
}

/**
 * Checks a `backend` option: a {@link BackendName}, a {@link Backend} (`init()`), started
 * {@link Kernels} (a `name` and kernel functions), or a non-empty list of those.
 * @throws NRCInputError naming `fn`, `arg` and the accepted values otherwise.
 * @internal
 */
export function checkBackendOption(fn: string, arg: string, option: unknown): BackendOption {
  const accepted = `a backend name (${BACKEND_NAMES.map((n) => `"${n}"`).join(", ")}), a Backend (e.g. wasmBackend()), started kernels (initBackend(…)), or a non-empty list of these`;
  const one = (x: unknown, where: string) => {
    if (typeof x === "string") {
      if (!(BACKEND_NAMES as readonly string[]).includes(x))
        throw new NRCInputError(fn, arg, `${where} must be ${accepted}; got '${x}'`);
      return;
    }
    if (x !== null && typeof x === "object" && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      if (typeof o.init === "function") return;
      if (typeof o.name === "string" && KERNEL_KEYS.some((key) => typeof o[key] === "function"))
        return;
    }
    throw new NRCInputError(fn, arg, `${where} must be ${accepted}; got ${describe(x)}`);
  };
  if (Array.isArray(option)) {
    if (option.length === 0) throw new NRCInputError(fn, arg, `${arg} must be ${accepted}; got []`);
    option.forEach((x, i) => one(x, `${arg}[${i}]`));
  } else one(option, arg);
  return option as BackendOption;
}

export function isBackend(x: unknown): x is Backend {
  return typeof (x as Backend).init === "function";
}

/** A fresh (unshared) {@link Backend} for a name. */
export function namedBackend(name: BackendName): Backend {
  switch (name) {
    case "js":
      return jsBackend;
    case "wasm":
      return wasmBackend();
    case "auto":
      return autoBackend();
    case "webgpu":
      return {
        name: "webgpu",
        init: async () => (await import("./webgpu/index.js")).webgpuBackend().init(),
      };
    case "tfjs":
      return {
        name: "tfjs",
        init: async () => (await import("./tfjs/index.js")).tfjsBackend().init(),
      };
  }
}

/**
 * Starts the first backend that works, trying candidates in order.
 * @param candidates - one backend (or started kernels) or a list to try in order.
 * @returns the started kernels, with anything missing filled from the JS kernels. Call
 *   `dispose()` on the result when done with a backend that holds workers or GPU memory.
 * @throws Error listing every candidate's failure when none starts.
 * @example
 * ```ts
 * import { initBackend, jsBackend, measureNRC } from "deep-nrc";
 * const kernels = await initBackend([jsBackend]);
 * const report = await measureNRC({ layers, targets, backend: kernels });
 * await kernels.dispose?.();
 * ```
 */
export async function initBackend(candidates: BackendOption): Promise<CompleteKernels> {
  checkBackendOption("initBackend", "candidates", candidates);
  const list = (Array.isArray(candidates) ? candidates : [candidates]) as (
    BackendName | Backend | Kernels
  )[];
  const failures: string[] = [];
  for (const c0 of list) {
    const c = typeof c0 === "string" ? namedBackend(c0) : c0;
    if (!isBackend(c)) return completeKernels(c);
    try {
      return completeKernels(await c.init());
    } catch (err) {
      failures.push(`  ${c.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`initBackend: no backend could be started:\n${failures.join("\n")}`);
}

/**
 * The default for heavy work: the fastest backend that starts here, i.e. the `wasm` backend
 * (threads where shared memory is available, else one thread), falling back to `js`.
 * @returns a {@link Backend} named `"auto"`; its `init()` reports every failure when none starts.
 * @example
 * ```ts
 * import { autoBackend, measureNRC } from "deep-nrc";
 * const report = await measureNRC({ layers, targets, backend: autoBackend() });
 * console.log(report.backend); // "wasm" where WebAssembly runs
 * ```
 */
export function autoBackend(): Backend {
  return Object.freeze({
    name: "auto",
    init: async () => initBackend([wasmBackend(), jsBackend]),
  });
}
