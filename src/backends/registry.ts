/**
 * Choosing a backend. A backend is a value you pass in; nothing registers itself on import and
 * there is no global state. {@link initBackend} tries candidates in order and, when none starts,
 * throws one error that lists every failure (as onnxruntime-web does).
 * @module
 */
import type { Backend, CompleteKernels, Kernels } from "./types.js";
import { jsBackend, jsKernels } from "./js/index.js";
import { wasmBackend } from "./wasm/index.js";
import {
  scaledSvd,
  scaledSvdParts,
  scaledSymEig,
  scaledTopEig,
  svdPartsFromSvd,
  topEigFromSymEig,
} from "./scaled.js";
import { composedMomentsRun, composedShiftedMoments, eagerMomentsStart } from "../linalg/center.js";

/** What a `backend` option accepts: a backend to start, started kernels, or a list to try in order. */
export type BackendOption = Backend | Kernels | readonly (Backend | Kernels)[];

function isBackend(x: Backend | Kernels): x is Backend {
  return typeof (x as Backend).init === "function";
}

/** Fills every kernel a backend lacks from the JS kernels. */
export function completeKernels(k: Kernels): CompleteKernels {
  const gram = k.gram ? k.gram.bind(k) : jsKernels.gram;
  const crossProd = k.crossProd ? k.crossProd.bind(k) : jsKernels.crossProd;
  const shiftedMoments = k.shiftedMoments
    ? k.shiftedMoments.bind(k)
    : composedShiftedMoments(gram, crossProd);
  const symEig = k.symEig ? scaledSymEig(k.symEig.bind(k)) : jsKernels.symEig;
  const svd = k.svd ? scaledSvd(k.svd.bind(k)) : jsKernels.svd;
  return {
    name: k.name,
    gram,
    crossProd,
    shiftedMoments,
    startShiftedMoments: k.startShiftedMoments
      ? k.startShiftedMoments.bind(k)
      : eagerMomentsStart(shiftedMoments),
    momentsRun: k.momentsRun ? k.momentsRun.bind(k) : composedMomentsRun(shiftedMoments),
    matmul: k.matmul ? k.matmul.bind(k) : jsKernels.matmul,
    normalStep: k.normalStep ? k.normalStep.bind(k) : jsKernels.normalStep,
    cholesky: k.cholesky ? k.cholesky.bind(k) : jsKernels.cholesky,
    symEig,
    topEig: k.topEig ? scaledTopEig(k.topEig.bind(k)) : topEigFromSymEig(symEig),
    svd,
    svdParts: k.svdParts
      ? scaledSvdParts(k.svdParts.bind(k))
      : k.svd
        ? scaledSvdParts(svdPartsFromSvd(svd))
        : jsKernels.svdParts,
    qr: k.qr ? k.qr.bind(k) : jsKernels.qr,
    dispose: k.dispose ? k.dispose.bind(k) : undefined,
  };
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
  const list = (Array.isArray(candidates) ? candidates : [candidates]) as (Backend | Kernels)[];
  if (list.length === 0)
    throw new Error("initBackend: candidates must list at least one backend; got []");
  const failures: string[] = [];
  for (const c of list) {
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
 * Work (floating-point operations, about N·d² summed over the matrices) above which the default
 * backend is {@link autoBackend} rather than the JS kernels. Starting WebAssembly workers costs
 * ~50–80 ms, which pays off from about this size (a 10000×100 Gram takes ~0.1 s in JS).
 */
export const AUTO_BACKEND_MIN_WORK = 1e8;

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

/** Rough work of one pass over matrices (Σ rows·cols²), to choose the default backend. @internal */
export function workOf(...mats: { rows: number; cols: number }[]): number {
  let w = 0;
  for (const m of mats) w += m.rows * m.cols * m.cols;
  return w;
}

/**
 * Runs `body` with kernels from `option`. Without an option: the JS kernels for light work, and
 * {@link autoBackend} when `work` (≈ flops) reaches {@link AUTO_BACKEND_MIN_WORK}. Backends started
 * here are disposed afterwards; kernels passed in already started are left running for the caller.
 * @internal
 */
export async function withKernels<T>(
  option: BackendOption | undefined,
  work: number,
  body: (k: CompleteKernels) => Promise<T>,
): Promise<T> {
  if (option === undefined) {
    if (!(work >= AUTO_BACKEND_MIN_WORK)) return body(jsKernels);
    option = autoBackend();
  }
  const list = (Array.isArray(option) ? option : [option]) as (Backend | Kernels)[];
  const ownsIt = list.some(isBackend);
  const k = await initBackend(list);
  try {
    return await body(k);
  } finally {
    if (ownsIt) await k.dispose?.();
  }
}
