/**
 * Worker threads for the `wasm` backend: Node `worker_threads` or browser Web Workers, each
 * instantiating the same module on the same shared `WebAssembly.Memory` and then parking in the
 * module's `worker_loop` (all further coordination is through atomics in shared memory).
 * Node-only modules are loaded with a dynamic import behind environment detection, so this file is
 * safe in a browser bundle.
 * @module
 */

/** What a started worker pool hands back. */
export interface WorkerPool {
  /** Stops every worker. */
  terminate(): Promise<void>;
}

/** Message a worker receives once at start. */
interface StartMessage {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  stackPointer: number;
}

/** True when running under Node.js (or a Node-compatible runtime with worker_threads). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

// The worker body, shared by both environments. `post` and `onStart` are bound per environment.
const WORKER_BODY = `
function start(msg, post) {
  try {
    const inst = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } });
    inst.exports.__stack_pointer.value = msg.stackPointer;
    post({ ready: true });
    inst.exports.worker_loop(msg.tid);
    post({ exited: true });
  } catch (e) {
    post({ error: String(e && e.stack || e) });
  }
}
`;

// A dynamic import rather than a CommonJS require, so browser bundles of the core hold no require().
const NODE_WORKER_SOURCE = `${WORKER_BODY}
import("node:worker_threads").then(({ parentPort }) =>
  parentPort.once("message", (msg) => start(msg, (m) => parentPort.postMessage(m))));
`;

const BROWSER_WORKER_SOURCE = `${WORKER_BODY}
self.onmessage = (e) => { self.onmessage = null; start(e.data, (m) => self.postMessage(m)); };
`;

interface AnyWorker {
  postMessage(msg: unknown): void;
  terminate(): unknown;
}

/** The part of a Node `worker_threads.Worker` used here. */
interface NodeWorker extends AnyWorker {
  on(ev: string, fn: (x: unknown) => void): void;
  off(ev: string, fn: (x: unknown) => void): void;
  ref(): void;
  unref(): void;
}

/**
 * Starts `count` workers (thread ids 1…count) and resolves once every one of them has instantiated
 * the module and is about to enter `worker_loop`.
 * @throws Error when no worker implementation is available or a worker fails to start.
 */
export async function startWorkers(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  stackPointers: readonly number[],
): Promise<WorkerPool> {
  const count = stackPointers.length;
  const workers: AnyWorker[] = [];
  const ready: Promise<void>[] = [];
  const exited: Promise<void>[] = [];
  const nodeWorkers: NodeWorker[] = [];
  if (isNode()) {
    const spec = "node:worker_threads";
    const wt = (await import(/* @vite-ignore */ /* webpackIgnore: true */ spec)) as {
      Worker: new (src: string, opts: { eval: boolean }) => NodeWorker;
    };
    for (let i = 0; i < count; i++) {
      // Referenced while starting (the process waits for "ready"); once parked in worker_loop
      // the worker and its message port are unreferenced (see `idle` below), so a backend that
      // is never disposed does not keep Node alive. Every job is joined synchronously by the
      // calling thread, so no job is in flight while the event loop is idle.
      const w = new wt.Worker(NODE_WORKER_SOURCE, { eval: true });
      nodeWorkers.push(w);
      workers.push(w);
      let onExit: () => void = () => {};
      exited.push(new Promise<void>((res) => (onExit = res)));
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMessage = (m: unknown) => {
            const msg = m as { ready?: boolean; error?: string; exited?: boolean };
            if (msg.ready) {
              // A 'message' listener re-references the worker's port: drop it before unref().
              w.off("message", onMessage);
              resolve();
            } else if (msg.error) reject(new Error(`wasmBackend: worker failed: ${msg.error}`));
          };
          w.on("message", onMessage);
          w.on("error", (e) => reject(e instanceof Error ? e : new Error(String(e))));
          w.on("exit", () => {
            onExit();
            reject(new Error("wasmBackend: worker exited during start"));
          });
        }),
      );
    }
  } else {
    const W = (globalThis as { Worker?: new (url: string) => AnyWorker & EventTarget }).Worker;
    if (typeof W !== "function" || typeof Blob === "undefined" || typeof URL === "undefined")
      throw new Error("wasmBackend: Web Workers are not available");
    const url = URL.createObjectURL(new Blob([BROWSER_WORKER_SOURCE], { type: "text/javascript" }));
    try {
      for (let i = 0; i < count; i++) {
        const w = new W(url);
        workers.push(w);
        exited.push(Promise.resolve());
        ready.push(
          new Promise<void>((resolve, reject) => {
            w.addEventListener("message", (e) => {
              const msg = (e as MessageEvent).data as { ready?: boolean; error?: string };
              if (msg.ready) resolve();
              else if (msg.error) reject(new Error(`wasmBackend: worker failed: ${msg.error}`));
            });
            w.addEventListener("error", (e) =>
              reject(new Error(`wasmBackend: worker failed: ${(e as ErrorEvent).message}`)),
            );
          }),
        );
      }
    } finally {
      // The workers have fetched the script by the time they post "ready".
      void Promise.allSettled(ready).then(() => URL.revokeObjectURL(url));
    }
  }
  workers.forEach((w, i) => {
    const msg: StartMessage = { module, memory, tid: i + 1, stackPointer: stackPointers[i] };
    w.postMessage(msg);
  });
  try {
    await Promise.all(ready);
  } catch (e) {
    for (const w of workers) void w.terminate();
    throw e;
  }
  // Idle: parked in worker_loop, woken only through shared memory by a synchronous kernel call.
  for (const w of nodeWorkers) w.unref();
  return {
    async terminate() {
      // Referenced again while stopping, so the process waits for the threads to end.
      for (const w of nodeWorkers) w.ref();
      await Promise.all(workers.map((w) => w.terminate()));
      void exited;
    },
  };
}
