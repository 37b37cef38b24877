/**
 * The `wasm` backend's runtime: the compiled modules (one per build), the shared memory, the
 * worker threads, and the arena/persisted blocks that move matrices in and out.
 * @module
 */
import type { Mat } from "../types.js";
import type { Exports } from "./abi.js";
import {
  defaultThreads,
  nodeCpuCount,
  relaxedSimdAvailable,
  threadsUnavailableReason,
} from "./env.js";
import {
  WASM_SINGLE_BASE64,
  WASM_SINGLE_FMA_BASE64,
  WASM_THREADS_BASE64,
  WASM_THREADS_FMA_BASE64,
} from "./module.generated.js";
import { isNode, startWorkers, type WorkerPool } from "./workers.js";

/** Options of `wasmBackend` (index.ts). */
export interface WasmBackendOptions {
  /**
   * Threads to compute on, including the calling thread (default: the number of logical CPUs,
   * at most 8). `1` uses the single-thread module and spawns no worker.
   */
  threads?: number;
  /** Throw in `init()` instead of falling back to one thread when threads are unavailable. */
  requireThreads?: boolean;
  /**
   * Use the build whose products are fused multiply-adds (WebAssembly relaxed SIMD's
   * `f64x2.relaxed_madd`; one rounding instead of two, and the Gram ~1.2× faster on x86-64).
   * Default: when the engine supports relaxed SIMD (Node ≥ 22, Chrome ≥ 114, Firefox ≥ 120;
   * Node 20 with `--experimental-wasm-relaxed-simd`). `true` throws in `init()` where it does not;
   * `false` always uses plain SIMD (results then do not depend on the CPU's FMA support).
   */
  fma?: boolean;
}

const PAGE = 65536;
const WORKER_STACK = 1 << 20;

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const B = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
  if (B) {
    const src = B.from(b64, "base64");
    const out = new Uint8Array(src.length);
    out.set(src);
    return out;
  }
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A started module instance plus helpers to move matrices in and out. */
export class Runtime {
  readonly ex: Exports;
  readonly memory: WebAssembly.Memory;
  readonly threads: number;
  /** Whether the fused multiply-add build runs. */
  fma = false;
  private heapStart = 0;
  /** Blocks that outlive kernel calls (moments runs), packed from the arena's old start up. */
  private blocks: { p: number; bytes: number; free: boolean }[] = [];
  private pool: WorkerPool | undefined;
  private disposed = false;

  isDisposed(): boolean {
    return this.disposed;
  }

  constructor(ex: Exports, memory: WebAssembly.Memory, threads: number) {
    this.ex = ex;
    this.memory = memory;
    this.threads = threads;
  }

  setPool(pool: WorkerPool | undefined, heapStart: number): void {
    this.pool = pool;
    this.heapStart = heapStart;
  }

  /** Float64 view of the whole memory (recreated: memory may have grown). */
  f64(): Float64Array {
    return new Float64Array(this.memory.buffer);
  }

  /** Float32 view of the whole memory. */
  f32(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }

  begin(fn: string): void {
    if (this.disposed) throw new Error(`wasm ${fn}: the backend was disposed`);
    this.ex.arena_reset(this.heapStart);
  }

  alloc(doubles: number): number {
    return this.allocBytes(doubles * 8);
  }

  allocBytes(bytes: number): number {
    if (bytes > 0xffff0000)
      throw new Error(`wasm: a ${bytes}-byte buffer exceeds the 4 GiB memory`);
    try {
      return this.ex.arena_alloc(bytes) >>> 0;
    } catch (e) {
      throw new Error(
        `wasm: out of WebAssembly memory allocating ${bytes} bytes (${(e as Error).message})`,
      );
    }
  }

  /**
   * Reserves `bytes` that later calls' arenas leave alone (the arena starts above them) until
   * {@link release}. A freed block of the same size is reused; freed blocks on top give their
   * room back to the arena.
   */
  persist(bytes: number): number {
    const need = Math.ceil(bytes / 64) * 64;
    const reuse = this.blocks.find((b) => b.free && b.bytes === need);
    if (reuse) {
      reuse.free = false;
      return reuse.p;
    }
    this.ex.arena_reset(this.heapStart);
    const p = this.allocBytes(need);
    this.blocks.push({ p, bytes: need, free: false });
    this.heapStart = this.ex.arena_top() >>> 0;
    return p;
  }

  release(p: number): void {
    const b = this.blocks.find((x) => x.p === p);
    if (b) b.free = true;
    while (this.blocks.length > 0 && this.blocks[this.blocks.length - 1].free)
      this.heapStart = this.blocks.pop()!.p;
  }

  put(data: Float64Array): number {
    const p = this.alloc(data.length);
    this.f64().set(data, p / 8);
    return p;
  }

  take(p: number, rows: number, cols: number): Mat {
    const start = p / 8;
    return { rows, cols, data: this.f64().slice(start, start + rows * cols) };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.pool) {
      this.ex.pool_shutdown?.();
      await this.pool.terminate();
      this.pool = undefined;
    }
  }
}

/**
 * The compiled modules, one per build (threads × FMA), compiled once per process (or page): every
 * backend started later instantiates the same `WebAssembly.Module` (its workers get it too), so a
 * second start costs the workers' start, not a compile, and V8 keeps the module's optimised code.
 * A failed compile is not cached.
 */
const compiled = new Map<string, Promise<WebAssembly.Module>>();

function compiledModule(threaded: boolean, fma: boolean): Promise<WebAssembly.Module> {
  const key = `${threaded ? "mt" : "st"}${fma ? "-fma" : ""}`;
  let m = compiled.get(key);
  if (!m) {
    const bytes = decodeBase64(
      threaded
        ? fma
          ? WASM_THREADS_FMA_BASE64
          : WASM_THREADS_BASE64
        : fma
          ? WASM_SINGLE_FMA_BASE64
          : WASM_SINGLE_BASE64,
    );
    if (!WebAssembly.validate(bytes))
      throw new Error(
        "wasmBackend: this WebAssembly engine cannot run the module (it needs SIMD" +
          (threaded ? ", threads and bulk memory)" : " and bulk memory)"),
      );
    m = WebAssembly.compile(bytes);
    m.catch(() => compiled.delete(key));
    compiled.set(key, m);
  }
  return m;
}

export async function startRuntime(
  opts: WasmBackendOptions,
): Promise<Runtime & { reason?: string }> {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.Module !== "function")
    throw new Error("wasmBackend: WebAssembly is not available in this environment");
  let want = opts.threads ?? (await nodeCpuCount()) ?? defaultThreads();
  if (!Number.isInteger(want) || want < 1 || want > 64)
    throw new Error(`wasmBackend: threads must be an integer from 1 to 64; got ${opts.threads}`);
  let reason: string | undefined;
  if (want > 1) {
    reason = threadsUnavailableReason();
    if (reason) {
      if (opts.requireThreads) throw new Error(`wasmBackend: threads unavailable: ${reason}`);
      want = 1;
    }
  }
  const threaded = want > 1;
  if (opts.fma !== undefined && typeof opts.fma !== "boolean")
    throw new Error(`wasmBackend: fma must be a boolean; got ${String(opts.fma)}`);
  const fma = opts.fma ?? relaxedSimdAvailable();
  if (fma && !relaxedSimdAvailable())
    throw new Error(
      "wasmBackend: fma: true needs WebAssembly relaxed SIMD, which this engine lacks " +
        "(Node ≥ 22; Node 20: --experimental-wasm-relaxed-simd)",
    );
  const module = await compiledModule(threaded, fma);
  const initialPages = 64;
  let memory: WebAssembly.Memory;
  const maxima = [65536, 32768, 16384];
  for (let i = 0; ; i++) {
    try {
      memory = new WebAssembly.Memory({
        initial: initialPages,
        maximum: maxima[i],
        shared: threaded,
      } as WebAssembly.MemoryDescriptor);
      break;
    } catch (e) {
      if (i === maxima.length - 1)
        throw new Error(`wasmBackend: cannot create WebAssembly memory: ${(e as Error).message}`);
    }
  }
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const ex = instance.exports as unknown as Exports;
  const rt = new Runtime(ex, memory, want) as Runtime & { reason?: string };
  rt.reason = opts.threads && opts.threads > 1 && !threaded ? reason : undefined;
  rt.fma = fma;
  ex.arena_reset(0);
  let pool: WorkerPool | undefined;
  if (threaded) {
    // One contiguous slice per worker; the module tells threads apart by these address ranges.
    const stackLo = rt.allocBytes(WORKER_STACK * (want - 1));
    const sps: number[] = [];
    for (let t = 1; t < want; t++) sps.push(stackLo + t * WORKER_STACK);
    try {
      pool = await startWorkers(module, memory, sps);
    } catch (e) {
      throw new Error(`wasmBackend: could not start worker threads: ${(e as Error).message}`);
    }
    // In Node the calling thread may block in Atomics.wait; a browser main thread may not.
    const canBlock = isNode() || typeof (globalThis as { window?: unknown }).window === "undefined";
    ex.pool_init(want, canBlock ? 1 : 0, stackLo, WORKER_STACK);
  } else {
    ex.pool_init(1, 0, 0, 0);
  }
  rt.setPool(pool, ex.arena_top() >>> 0);
  // The per-thread gemm workspaces, out of every arena: a background task keeps using its own
  // while the host runs other kernels (startShiftedMoments).
  ex.gemm_work_fix(rt.persist(ex.gemm_work_bytes()));
  void PAGE;
  return rt;
}
