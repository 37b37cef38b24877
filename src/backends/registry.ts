/**
 * Choosing a backend. A backend is a value you pass in; nothing registers itself on import and
 * there is no global state. {@link initBackend} tries candidates in order and, when none starts,
 * throws one error that lists every failure (as onnxruntime-web does).
 * @module
 */
import type { Backend, CompleteKernels, Kernels, Mat, MatF32 } from "./types.js";
import { NRCInputError } from "../errors.js";
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
import { projectedTailJS } from "../linalg/tail.js";
import { subspacePassJS } from "./js/subspace.js";
import {
  composedMomentsRun,
  composedShiftedMoments,
  eagerMomentsStart,
  widenMat,
} from "../linalg/center.js";

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

function isBackend(x: unknown): x is Backend {
  return typeof (x as Backend).init === "function";
}

/** A fresh (unshared) {@link Backend} for a name. */
function namedBackend(name: BackendName): Backend {
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
 * A backend's kernels with a float32 A widened before the kernels that read the data matrix
 * (for a backend that does not take {@link MatF32} itself).
 */
function widening(
  k: Kernels,
): Pick<Kernels, "shiftedMoments" | "startShiftedMoments" | "normalStep" | "momentsRun"> {
  const { shiftedMoments: sm, startShiftedMoments: st, normalStep: ns, momentsRun: mr } = k;
  return {
    shiftedMoments: sm && ((a, s, b, sc) => sm.call(k, widenMat(a), s, b, sc)),
    startShiftedMoments: st && ((a, s, b) => st.call(k, widenMat(a), s, b)),
    normalStep: ns && ((a, b, x) => ns.call(k, widenMat(a), b, x)),
    momentsRun:
      mr &&
      ((n, q, s, sc) => {
        const run = mr.call(k, n, q, s, sc);
        return {
          add: (a: Mat | MatF32, b: Mat) => run.add(widenMat(a), b),
          probe: () => run.probe(),
          result: () => run.result(),
          dispose: () => run.dispose(),
        };
      }),
  };
}

/**
 * Fills every kernel a backend lacks from the JS kernels. A backend that does not declare
 * `float32Inputs` gets float32 matrices widened to float64 before its own `shiftedMoments`,
 * `startShiftedMoments`, `momentsRun().add` and `normalStep` see them.
 */
export function completeKernels(k: Kernels): CompleteKernels {
  const gram = k.gram ? k.gram.bind(k) : jsKernels.gram;
  const crossProd = k.crossProd ? k.crossProd.bind(k) : jsKernels.crossProd;
  // The data-reading kernels as called: widening a float32 A first where k does not take it.
  const own = k.float32Inputs
    ? {
        shiftedMoments: k.shiftedMoments?.bind(k),
        startShiftedMoments: k.startShiftedMoments?.bind(k),
        normalStep: k.normalStep?.bind(k),
        momentsRun: k.momentsRun?.bind(k),
      }
    : widening(k);
  const shiftedMoments = own.shiftedMoments ?? composedShiftedMoments(gram, crossProd);
  const symEig = k.symEig ? scaledSymEig(k.symEig.bind(k)) : jsKernels.symEig;
  const svd = k.svd ? scaledSvd(k.svd.bind(k)) : jsKernels.svd;
  return {
    name: k.name,
    float32Inputs: true,
    gram,
    crossProd,
    shiftedMoments,
    startShiftedMoments: own.startShiftedMoments ?? eagerMomentsStart(shiftedMoments),
    momentsRun: own.momentsRun ?? composedMomentsRun(shiftedMoments),
    matmul: k.matmul ? k.matmul.bind(k) : jsKernels.matmul,
    normalStep: own.normalStep ?? jsKernels.normalStep,
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
    projectedTail: k.projectedTail ? k.projectedTail.bind(k) : projectedTailJS,
    subspacePass: k.subspacePass ? k.subspacePass.bind(k) : subspacePassJS,
    lowGram: k.lowGram?.bind(k),
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

/** How long a shared backend stays started after its last use (ms). */
export const SHARED_BACKEND_IDLE_MS = 5000;

/**
 * A process-wide backend started on first use by name (or as the default), shared by every call
 * that names it, and disposed after {@link SHARED_BACKEND_IDLE_MS} without a call. Its idle timer
 * and the wasm workers never keep Node alive, so a script that measured once exits by itself.
 */
class SharedBackend {
  private kernels: Promise<CompleteKernels> | undefined;
  private users = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(private readonly start: () => Promise<CompleteKernels>) {}

  async acquire(): Promise<CompleteKernels> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.users++;
    if (!this.kernels) {
      const p = this.start();
      this.kernels = p;
      p.catch(() => {
        if (this.kernels === p) this.kernels = undefined;
      });
    }
    try {
      return await this.kernels;
    } catch (e) {
      this.release();
      throw e;
    }
  }

  get started(): boolean {
    return this.kernels !== undefined;
  }

  release(): void {
    if (--this.users > 0 || !this.kernels) return;
    this.timer = setTimeout(() => void this.dispose(), SHARED_BACKEND_IDLE_MS);
    (this.timer as { unref?: () => void }).unref?.();
  }

  async dispose(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const k = this.kernels;
    this.kernels = undefined;
    if (k) await (await k.catch(() => undefined))?.dispose?.();
  }
}

const shared = new Map<BackendName, SharedBackend>();

function sharedBackend(name: BackendName): SharedBackend {
  let b = shared.get(name);
  if (!b) {
    // "auto" is the shared wasm backend where it starts (one set of workers for both names).
    const start =
      name === "auto"
        ? async () => {
            try {
              return await sharedBackend("wasm").acquire();
            } catch {
              return jsKernels;
            }
          }
        : () => initBackend(namedBackend(name));
    b = new SharedBackend(
      name === "auto"
        ? async () => {
            const k = await start();
            // The wasm use taken above is held for as long as "auto" is started.
            return { ...k, dispose: async () => sharedBackend("wasm").release() };
          }
        : start,
    );
    shared.set(name, b);
  }
  return b;
}

/** Whether the shared backend of that name is started now. @internal (tests) */
export function sharedBackendStarted(name: BackendName): boolean {
  return shared.get(name)?.started ?? false;
}

/**
 * Disposes the backends that calls started by name or by default (the next such call starts
 * them again). They are released after {@link SHARED_BACKEND_IDLE_MS} idle anyway; call this to
 * free their workers and memory at once.
 * @returns when every shared backend is disposed.
 * @example
 * ```ts
 * import { measureNRC, releaseSharedBackends } from "deep-nrc";
 * const report = await measureNRC({ layers, targets }); // starts the shared wasm backend
 * await releaseSharedBackends();
 * ```
 */
export async function releaseSharedBackends(): Promise<void> {
  // "auto" first: it holds a use of "wasm".
  await shared.get("auto")?.dispose();
  await Promise.all([...shared.values()].map((b) => b.dispose()));
}

/**
 * Runs `body` with kernels from `option`. Without an option: the JS kernels for light work, and
 * the shared `"auto"` backend when `work` (≈ flops) reaches {@link AUTO_BACKEND_MIN_WORK}. A name
 * uses the shared backend of that name (started once, reused by later calls, released when idle);
 * a {@link Backend} is started for this call and disposed afterwards; kernels passed in already
 * started are left running for the caller.
 * @throws NRCInputError (naming `fn` and its `backend` argument) for an option that is none of these.
 * @internal
 */
export async function withKernels<T>(
  fn: string,
  option: BackendOption | undefined,
  work: number,
  body: (k: CompleteKernels) => Promise<T>,
): Promise<T> {
  if (option === undefined) {
    if (!(work >= AUTO_BACKEND_MIN_WORK)) return body(jsKernels);
    option = "auto";
  }
  checkBackendOption(fn, "backend", option);
  const list = (Array.isArray(option) ? option : [option]) as (BackendName | Backend | Kernels)[];
  const failures: string[] = [];
  for (const c of list) {
    if (c === "js") return body(jsKernels);
    if (typeof c === "string") {
      const sb = sharedBackend(c);
      let k: CompleteKernels;
      try {
        k = await sb.acquire();
      } catch (err) {
        failures.push(`  ${c}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      try {
        return await body(k);
      } finally {
        sb.release();
      }
    }
    if (!isBackend(c)) return body(completeKernels(c));
    let k: CompleteKernels;
    try {
      k = completeKernels(await c.init());
    } catch (err) {
      failures.push(`  ${c.name}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    try {
      return await body(k);
    } finally {
      await k.dispose?.();
    }
  }
  throw new Error(`${fn}: no backend could be started:\n${failures.join("\n")}`);
}
