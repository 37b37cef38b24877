/**
 * The one default-backend policy, and the process-wide shared backends behind it. Without a
 * `backend` option a call runs on the JS kernels when its work (≈ flops) is under
 * {@link AUTO_BACKEND_MIN_WORK}, else on the shared `"auto"` backend (wasm with threads, else
 * js); a name uses the shared backend of that name, started once per process and released after
 * {@link SHARED_BACKEND_IDLE_MS} idle. {@link withKernels} runs one call's body this way;
 * {@link acquireKernels} holds kernels for longer (the streaming accumulator) under the same
 * policy.
 * @module
 */
import type { Backend, CompleteKernels, Kernels } from "./types.js";
import { NRCInputError } from "../errors.js";
import { jsKernels } from "./js/index.js";
import { completeKernels } from "./complete.js";
import {
  checkBackendOption,
  isBackend,
  namedBackend,
  initBackend,
  type BackendName,
  type BackendOption,
} from "./choose.js";

/**
 * Work (floating-point operations, about N·d² summed over the matrices) above which the default
 * backend is {@link autoBackend} rather than the JS kernels. Starting WebAssembly workers costs
 * ~50–80 ms, which pays off from about this size (a 10000×100 Gram takes ~0.1 s in JS).
 */
export const AUTO_BACKEND_MIN_WORK = 1e8;

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
 * The default when no `backend` is given: `"js"` for light work (under
 * {@link AUTO_BACKEND_MIN_WORK} flops), else the shared `"auto"` backend.
 * @param work - the call's work in ≈ flops (Σ N·d² of its features); a stream passes an
 *   estimate (the accumulator: its first batch × {@link STREAM_WORK_FACTOR}).
 */
export function defaultBackend(work: number): "js" | "auto" {
  return work >= AUTO_BACKEND_MIN_WORK ? "auto" : "js";
}

/**
 * How many batches a stream is assumed to carry when its first batch decides the default
 * backend: starting the fastest backend once pays off over the batches that follow.
 */
export const STREAM_WORK_FACTOR = 10;

/** Kernels held by a caller, with how to give them back. @internal */
export interface HeldKernels {
  kernels: CompleteKernels;
  /** Releases a shared backend's use, disposes a backend started here, leaves given kernels running. */
  release(): Promise<void>;
}

/**
 * Kernels from `option` under the one policy: no option → {@link defaultBackend}(`work`); a name
 * → the shared backend of that name; a {@link Backend} → started here (disposed by `release`);
 * started kernels → as they are. A list is tried in order; when none starts, one error lists
 * every failure.
 * @throws NRCInputError (naming `fn` and its `backend` argument) for an option that is none of these.
 * @internal
 */
export async function acquireKernels(
  fn: string,
  option: BackendOption | undefined,
  work: number,
): Promise<HeldKernels> {
  if (option === undefined) option = defaultBackend(work);
  checkBackendOption(fn, "backend", option);
  const list = (Array.isArray(option) ? option : [option]) as (BackendName | Backend | Kernels)[];
  const failures: string[] = [];
  for (const c of list) {
    if (c === "js") return { kernels: jsKernels, release: async () => {} };
    if (typeof c === "string") {
      const sb = sharedBackend(c);
      try {
        return { kernels: await sb.acquire(), release: async () => sb.release() };
      } catch (err) {
        failures.push(`  ${c}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
    }
    if (!isBackend(c)) return { kernels: completeKernels(c), release: async () => {} };
    try {
      const k = completeKernels(await c.init());
      return { kernels: k, release: async () => void (await k.dispose?.()) };
    } catch (err) {
      failures.push(`  ${c.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`${fn}: no backend could be started:\n${failures.join("\n")}`);
}

/**
 * Runs `body` with kernels from `option`, acquired by {@link acquireKernels} (the one default
 * policy) and released afterwards: a shared backend's use is released, a {@link Backend} started
 * for this call is disposed, kernels passed in already started are left running for the caller.
 * @throws NRCInputError (naming `fn` and its `backend` argument) for an option that is none of these.
 * @internal
 */
export async function withKernels<T>(
  fn: string,
  option: BackendOption | undefined,
  work: number,
  body: (k: CompleteKernels) => Promise<T>,
): Promise<T> {
  const held = await acquireKernels(fn, option, work);
  try {
    return await body(held.kernels);
  } finally {
    await held.release();
  }
}
