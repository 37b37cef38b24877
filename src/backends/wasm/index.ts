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
import type {
  Backend,
  Kernels,
  Mat,
  MatF32,
  MomentsRun,
  NormalStepResult,
  PendingMoments,
  ProjectedTailResult,
  QrResult,
  ShiftedMomentsResult,
  SvdPartsOptions,
  SvdPartsResult,
  SvdResult,
  SymEigOptions,
  SymEigResult,
  TopEigResult,
} from "../types.js";
import { svdWith } from "../js/svd.js";
import { transpose } from "../js/blas.js";
import { composedMomentsRun, composedShiftedMoments } from "../composed.js";
import {
  WASM_SINGLE_BASE64,
  WASM_SINGLE_FMA_BASE64,
  WASM_THREADS_BASE64,
  WASM_THREADS_FMA_BASE64,
} from "./module.generated.js";
import { isNode, startWorkers, type WorkerPool } from "./workers.js";

/** Options of {@link wasmBackend}. */
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

/** The kernels of a started `wasm` backend. */
export interface WasmKernels extends Kernels {
  /** Threads actually in use (1 when shared memory or workers were unavailable). */
  readonly threads: number;
  /** Why threads were not used, when `threads` is 1 but more were asked for. */
  readonly singleThreadReason?: string;
  /** Whether the fused multiply-add build is in use ({@link WasmBackendOptions.fma}). */
  readonly fma: boolean;
}

interface Exports {
  __stack_pointer: WebAssembly.Global;
  pool_init(nt: number, canBlock: number, stackLo: number, stackBytes: number): void;
  pool_shutdown?(): void;
  arena_reset(base: number): void;
  arena_top(): number;
  arena_alloc(bytes: number): number;
  acc_begin(n: number, q: number, m: number): number;
  acc_add(acc: number, a: number, b: number, m: number, n: number, q: number): void;
  acc_end(acc: number, c: number, n: number, q: number, gram: number): void;
  k_matmul(a: number, b: number, c: number, m: number, k: number, n: number): void;
  ns_begin(n: number, q: number, m: number): number;
  ns_add(acc: number, a: number, b: number, xt: number, m: number, n: number, q: number): void;
  ns_end(acc: number, g: number, rss: number, n: number, q: number): void;
  k_symeig(a: number, n: number, k: number, values: number, vecs: number): number;
  k_symeig_path(): number;
  par_join(): void;
  k_topeig(pa: number, n: number, k: number, maxdim: number, pv: number, pz: number): number;
  mom_max_cols(): number;
  k_chol(a: number, n: number): number;
  mom_begin(n: number, q: number, m: number): number;
  mom_add(acc: number, a: number, sh: number, b: number, m: number, n: number, q: number): void;
  mom_add_f32(acc: number, a: number, sh: number, b: number, m: number, n: number, q: number): void;
  mom_add_bg_f32(
    acc: number,
    a: number,
    sh: number,
    b: number,
    m: number,
    n: number,
    q: number,
    avail: number,
  ): void;
  ns_add_f32(acc: number, a: number, b: number, xt: number, m: number, n: number, q: number): void;
  mom_end(acc: number, g: number, x: number, s: number, n: number, q: number): void;
  mom_init(acc: number, n: number, q: number, parts: number): void;
  mom_add_bg(
    acc: number,
    a: number,
    sh: number,
    b: number,
    m: number,
    n: number,
    q: number,
    avail: number,
  ): void;
  mom_bg_avail(rows: number): void;
  mom_parts(n: number, q: number, m: number): number;
  par_bg_join(): void;
  gemm_work_bytes(): number;
  gemm_work_fix(p: number): void;
  mom_probe(acc: number, n: number, q: number, s: number, diag: number): void;
  k_jacobi(bt: number, m: number, n: number, vt: number): number;
  k_projtail(a: number, m: number, n: number, mu: number, vt: number, k: number, out: number): void;
  k_bdsvd(
    a: number,
    m: number,
    n: number,
    s: number,
    wantU: number,
    u: number,
    nv: number,
    v: number,
    z: number,
    q: number,
    utz: number,
  ): number;
  k_qr(
    x: number,
    m: number,
    n: number,
    q: number,
    r: number,
    qtb: number,
    res: number,
    qq: number,
  ): void;
}

/**
 * Internal (tests): `kernels[WASM_DIAGNOSTICS]()` says which tridiagonal solver the last `symEig`
 * used: `"ql+inverse"` (eigenvalues by the rational QL, the few vectors asked for by inverse
 * iteration),
 * `"dc"` (divide and conquer: all vectors, or the fallback when a check failed), `"zero"` (A was
 * zero: nothing to solve) or `"ql-rotations+inverse"` (the rational QL did not converge and QL
 * with rotations gave the eigenvalues); `lastTopEig` whether the last `topEig` was answered by the
 * Krylov method (`"krylov"`, with `lastTopEigDim` basis vectors) or the dense solver (`"dense"`;
 * `lastTopEigDim` then the basis size at which the Krylov attempt gave up, 0 if none was made).
 * @internal
 */
export const WASM_DIAGNOSTICS: unique symbol = Symbol("deep-nrc wasm diagnostics");

/**
 * Internal (bench): `kernels[WASM_JACOBI_SVD](a)` is the thin SVD by preconditioned one-sided
 * Jacobi (the JS kernel's algorithm with the sweeps in C; `svd` before the bidiagonal path), to
 * compare with it.
 * @internal
 */
export const WASM_JACOBI_SVD: unique symbol = Symbol("deep-nrc wasm Jacobi SVD");
/** Below this order `topEig` goes straight to the dense solver (cheap there anyway). */
const TOPEIG_MIN_N = 64;
const PAGE = 65536;
const WORKER_STACK = 1 << 20;
/**
 * Rows are streamed into wasm memory in chunks of about this many doubles (4 MiB; two buffers,
 * one filled while the threads work on the other).
 */
const CHUNK_DOUBLES = 1 << 19;
/**
 * `startShiftedMoments` copies a layer (and its targets) whole into wasm memory for the worker
 * threads to work on in the background, up to this many bytes; a larger one is computed at once,
 * streamed in chunks. The copy stays allocated as part of the module's memory (which never
 * shrinks) — a bounded block, whatever N is.
 */
const BACKGROUND_MAX_BYTES = 64 * 2 ** 20;

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

function defaultThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  let n = nav?.hardwareConcurrency;
  if (!n && isNode()) {
    const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
    n = Number(p?.env?.DEEP_NRC_THREADS) || undefined;
  }
  return Math.max(1, Math.min(8, n ?? 2));
}

async function nodeCpuCount(): Promise<number | undefined> {
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

function threadsUnavailableReason(): string | undefined {
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

/** A started module instance plus helpers to move matrices in and out. */
class Runtime {
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

async function startRuntime(opts: WasmBackendOptions): Promise<Runtime & { reason?: string }> {
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

function makeKernels(rt: Runtime, reason: string | undefined): WasmKernels {
  const ex = rt.ex;
  /**
   * Copies A (and B, row-aligned) into wasm memory in chunks of about CHUNK_DOUBLES (at least
   * `minRows` rows) and calls `start(pa, pb, rows)` per chunk (pb = 0 without B): an export
   * that hands the chunk to the worker threads and returns (par_start). The next chunk is copied
   * into a second buffer while they work on it, then `par_join` adds the host's share and waits:
   * the copy costs the host's time, not the workers'.
   */
  const streamRows = (
    a: Mat | MatF32,
    b: Mat | undefined,
    minRows: number,
    start: (pa: number, pb: number, rows: number) => void,
  ): void => {
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : 0;
    // Float32 rows are copied as they are (4 bytes an entry; the kernel widens them).
    const f32 = a.data instanceof Float32Array;
    const chunk = Math.max(minRows, Math.min(m, Math.floor(CHUNK_DOUBLES / (n + q))));
    const bufs = [0, 1]
      .slice(0, chunk < m ? 2 : 1)
      .map(() => [
        f32 ? rt.allocBytes(chunk * n * 4) : rt.alloc(chunk * n),
        b ? rt.alloc(Math.max(1, chunk * q)) : 0,
      ]);
    let pending = false;
    try {
      for (let r = 0, i = 0; r < m; r += chunk, i++) {
        const rows = Math.min(chunk, m - r);
        const [pa, pb] = bufs[i % bufs.length];
        if (f32) rt.f32().set(a.data.subarray(r * n, (r + rows) * n), pa / 4);
        else rt.f64().set(a.data.subarray(r * n, (r + rows) * n), pa / 8);
        if (b) rt.f64().set(b.data.subarray(r * q, (r + rows) * q), pb / 8);
        if (pending) ex.par_join();
        pending = false;
        start(pa, pb, rows);
        pending = true;
      }
    } finally {
      if (pending) ex.par_join();
    }
  };
  /** The moments' slots at `acc` summed (mom_end) and copied out. */
  const momentsOf = (acc: number, n: number, q: number): ShiftedMomentsResult => {
    const pg = rt.alloc(n * n);
    const px = rt.alloc(Math.max(1, n * q));
    const ps = rt.alloc(n);
    ex.mom_end(acc, pg, px, ps, n, q);
    const sums = rt.f64().slice(ps / 8, ps / 8 + n);
    return { gram: rt.take(pg, n, n), cross: rt.take(px, n, q), sums };
  };
  /** Σ over row chunks of AᵀB (or AᵀA when b is undefined). */
  const accumulate = (fn: string, a: Mat, b: Mat | undefined): Mat => {
    rt.begin(fn);
    const n = a.cols;
    const q = b ? b.cols : n;
    const acc = ex.acc_begin(n, q, a.rows) >>> 0;
    const pc = rt.alloc(n * q);
    streamRows(a, b, 1, (pa, pb, rows) => ex.acc_add(acc, pa, pb, rows, n, q));
    ex.acc_end(acc, pc, n, q, b ? 0 : 1);
    return rt.take(pc, n, q);
  };
  /**
   * One refinement pass (nstep.c): g = Aᵀ(B − A·X) and the residual's column norms². A float32
   * A is copied as float32 and widened entry by entry in the pass (ns_add_f32).
   */
  const normalStep = (
    fn: string,
    a: Mat | MatF32,
    b: Mat,
    x: Mat | undefined,
  ): NormalStepResult => {
    rt.begin(fn);
    const n = a.cols;
    const q = b.cols;
    const acc = ex.ns_begin(n, q, a.rows) >>> 0;
    let pxt = 0;
    if (x) {
      const xt = new Float64Array(n * q);
      for (let j = 0; j < n; j++) for (let c = 0; c < q; c++) xt[c * n + j] = x.data[j * q + c];
      pxt = rt.put(xt);
    }
    const pg = rt.alloc(n * q);
    const ps = rt.alloc(q);
    const add = a.data instanceof Float32Array ? ex.ns_add_f32 : ex.ns_add;
    if (resident && a === resident.mat) {
      // A is already in memory (startShiftedMoments' copy): one pass, only B copied.
      const pb = rt.put(b.data);
      add(acc, resident.p, pb, pxt, a.rows, n, q);
      ex.par_join();
    } else streamRows(a, b, 2, (pa, pb, rows) => add(acc, pa, pb, pxt, rows, n, q));
    ex.ns_end(acc, pg, ps, n, q);
    const heap = rt.f64();
    const gc = heap.subarray(pg / 8, pg / 8 + n * q);
    const g = new Float64Array(n * q);
    for (let j = 0; j < n; j++) for (let c = 0; c < q; c++) g[j * q + c] = gc[c * n + j];
    return { g: { rows: n, cols: q, data: g }, rss: heap.slice(ps / 8, ps / 8 + q) };
  };
  // The JS kernel's SVD driver over these kernels, with the Jacobi sweeps in C.
  const svd = svdWith({
    gram: (a) => kernels.gram(a),
    symEig: (a) => kernels.symEig(a),
    matmul: (a, b) => kernels.matmul(a, b),
    qr: (a, b, o) => kernels.qr(a, b, o),
    jacobi(Bc, m, n, Vc) {
      rt.begin("svd");
      const pb = rt.put(Bc); // column-major Bc: row j of the module's Bt is column j
      const pv = rt.put(Vc);
      if (ex.k_jacobi(pb, m, n, pv) !== 0)
        throw new Error(`wasm svd: one-sided Jacobi did not converge for a ${m}×${n} matrix`);
      const heap = rt.f64();
      Bc.set(heap.subarray(pb / 8, pb / 8 + m * n));
      Vc.set(heap.subarray(pv / 8, pv / 8 + n * n));
    },
  });
  /** SVD parts of m×n A, m ≥ n ≥ 1, by bidiagonalisation + bidiagonal QR (bdsvd.c). */
  const bdsvd = (
    a: Mat,
    wantU: boolean,
    nv: number,
    b: Mat | undefined,
  ): { S: Float64Array; U?: Mat; V?: Mat; UtB?: Mat } => {
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : 0;
    rt.begin("svd");
    const pa = rt.put(a.data);
    const ps = rt.alloc(n);
    const pu = wantU ? rt.alloc(m * n) : 0;
    const pv = nv > 0 ? rt.alloc(n * nv) : 0;
    const pz = b && q > 0 ? rt.put(b.data) : 0;
    const pzt = b && q > 0 ? rt.alloc(n * q) : 0;
    if (ex.k_bdsvd(pa, m, n, ps, wantU ? 1 : 0, pu, nv, pv, pz, q, pzt) !== 0)
      throw new Error(`wasm svd: the bidiagonal QR did not converge for a ${m}×${n} matrix`);
    const out: { S: Float64Array; U?: Mat; V?: Mat; UtB?: Mat } = {
      S: rt.f64().slice(ps / 8, ps / 8 + n),
    };
    if (wantU) out.U = rt.take(pu, m, n);
    if (nv > 0) out.V = rt.take(pv, n, nv);
    if (b) out.UtB = q > 0 ? rt.take(pzt, n, q) : { rows: n, cols: 0, data: new Float64Array(0) };
    return out;
  };
  /** Tall enough that a QR first (TSQR, threads) beats bidiagonalising A itself (LAPACK: 1.6). */
  const qrFirst = (m: number, n: number): boolean => m >= 1.6 * n && n >= 2;
  /** svdParts of m×n A with m ≥ n ≥ 1. */
  const partsTall = (a: Mat, nv: number, b: Mat | undefined, wantU: boolean) => {
    if (!qrFirst(a.rows, a.cols)) return bdsvd(a, wantU, nv, b);
    const { R, QtB, Q } = kernels.qr(a, b, { wantQ: wantU });
    const r = bdsvd(R, wantU, nv, QtB);
    if (wantU) r.U = kernels.matmul(Q as Mat, r.U as Mat);
    return r;
  };
  const composedRun = composedMomentsRun((a, sh, b, scratch) =>
    kernels.shiftedMoments(a, sh, b, scratch),
  );
  const composed = composedShiftedMoments(
    (a) => accumulate("gram", a, undefined),
    (a, b) =>
      b.cols <= 8 ? normalStep("crossProd", a, b, undefined).g : accumulate("crossProd", a, b),
  );
  let lastTopEig: "krylov" | "dense" = "dense";
  let lastTopEigDim = 0;
  /**
   * The pending startShiftedMoments job: its persisted blocks (released when it completes) and,
   * when a later start or dispose() completes it before its own join(), the moments it computed,
   * which that join() then returns (so callers sharing one backend never lose a job).
   */
  interface BackgroundJob {
    blocks: number[];
    n: number;
    q: number;
    done?: ShiftedMomentsResult;
  }
  let background: BackgroundJob | null = null;
  /** The last joined job's copy of A (float32 when A was), which normalStep reads for `mat`. */
  let resident: { mat: Mat | MatF32; p: number } | null = null;
  const dropResident = (): void => {
    if (resident) rt.release(resident.p);
    resident = null;
  };
  const settleBackground = (): void => {
    const job = background;
    if (!job) return;
    background = null;
    ex.par_bg_join();
    try {
      rt.begin("startShiftedMoments.join");
      job.done = momentsOf(job.blocks[0], job.n, job.q);
    } finally {
      for (const p of job.blocks) rt.release(p);
    }
  };
  const kernels = {
    name: "wasm",
    float32Inputs: true,
    threads: rt.threads,
    singleThreadReason: reason,
    fma: rt.fma,
    gram(a: Mat): Mat {
      return accumulate("gram", a, undefined);
    },
    /** One pass over A: the shift is subtracted while packing, cross products and sums read off the packed panels. */
    shiftedMoments(
      a: Mat | MatF32,
      shift: Float64Array,
      b: Mat,
      scratch?: (length: number) => Float64Array,
    ): ShiftedMomentsResult | Promise<ShiftedMomentsResult> {
      if (a.rows !== b.rows || shift.length !== a.cols)
        throw new Error(
          `wasm shiftedMoments: shapes do not fit (A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}, shift ${shift.length})`,
        );
      const n = a.cols;
      const q = b.cols;
      // Wider than the packed panel allows: the composition (center, then gram and crossProd).
      if (n > ex.mom_max_cols()) return composed(a, shift, b, scratch);
      rt.begin("shiftedMoments");
      const acc = ex.mom_begin(n, q, a.rows) >>> 0;
      const psh = rt.put(shift);
      const add = a.data instanceof Float32Array ? ex.mom_add_f32 : ex.mom_add;
      streamRows(a, b, 1, (pa, pb, rows) => add(acc, pa, psh, pb, rows, n, q));
      return momentsOf(acc, n, q);
    },
    /**
     * shiftedMoments over worker threads in the background (par_bg_start): A, B and the shift are
     * copied whole into blocks kept out of the host's arenas (up to BACKGROUND_MAX_BYTES, else it
     * is computed at once), the slots are those `shiftedMoments` would use (same part count), and
     * `join()` adds the host's share of what is left, reduces, and releases the blocks but A's,
     * which stays (with the previous job's A dropped) for `normalStep` on the returned `rows`.
     * Kernels called meanwhile run on the calling thread alone.
     */
    startShiftedMoments(a: Mat | MatF32, shift: Float64Array, b: Mat): PendingMoments {
      if (a.rows !== b.rows || shift.length !== a.cols)
        throw new Error(
          `wasm startShiftedMoments: shapes do not fit (A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}, shift ${shift.length})`,
        );
      const m = a.rows;
      const n = a.cols;
      const q = b.cols;
      settleBackground();
      const f32 = a.data instanceof Float32Array;
      const size = f32 ? 4 : 8;
      if (
        rt.threads === 1 ||
        n > ex.mom_max_cols() ||
        size * m * n + 8 * m * q > BACKGROUND_MAX_BYTES
      ) {
        const r = kernels.shiftedMoments(a, shift, b);
        return { join: () => r };
      }
      rt.begin("startShiftedMoments");
      const per = n * n + n * q + n;
      const parts = ex.mom_parts(n, q, m);
      const acc = rt.persist((2 + parts * per) * 8);
      const psh = rt.persist(n * 8);
      const pa = rt.persist(m * n * size);
      const pb = rt.persist(Math.max(1, m * q) * 8);
      const heap = rt.f64();
      heap.set(b.data, pb / 8);
      heap.set(shift, psh / 8);
      rt.begin("startShiftedMoments");
      ex.mom_init(acc, n, q, parts);
      // The workers start on A's first rows while the rest is copied, 1 MiB at a time (float32
      // rows as they are: the kernel widens them).
      const piece = Math.max(1, Math.floor(2 ** 17 / n));
      const aHeap = f32 ? rt.f32() : heap;
      const at = pa / size;
      let copied = Math.min(m, piece);
      aHeap.set(a.data.subarray(0, copied * n), at);
      (f32 ? ex.mom_add_bg_f32 : ex.mom_add_bg)(acc, pa, psh, pb, m, n, q, copied);
      for (; copied < m;) {
        const next = Math.min(m, copied + piece);
        aHeap.set(a.data.subarray(copied * n, next * n), at + copied * n);
        ex.mom_bg_avail((copied = next));
      }
      const job: BackgroundJob = { blocks: [acc, psh, pa, pb], n, q };
      background = job;
      let joined = false;
      return {
        join(): ShiftedMomentsResult & { rows?: Mat | MatF32 } {
          if (joined) throw new Error("wasm startShiftedMoments: this job was already joined");
          joined = true;
          // Completed early by another caller's start (or dispose()): its moments were kept.
          if (job.done) return job.done;
          ex.par_bg_join();
          background = null;
          rt.begin("startShiftedMoments.join");
          let r: ShiftedMomentsResult;
          try {
            r = momentsOf(acc, n, q);
          } finally {
            for (const p of [acc, psh, pb]) rt.release(p);
          }
          // A's copy stays for normalStep's pass over the same rows (the previous one goes).
          dropResident();
          const rows: Mat | MatF32 = f32
            ? { rows: m, cols: n, data: a.data as Float32Array }
            : { rows: m, cols: n, data: a.data as Float64Array };
          resident = { mat: rows, p: pa };
          return { ...r, rows };
        },
      };
    },
    /**
     * The moments accumulate in the module's memory across calls (parts' slots, summed only by
     * `result`): a streamed batch costs its copy-in and the kernel, no d×d reduction or copy-out.
     */
    momentsRun(
      n: number,
      q: number,
      shift: Float64Array,
      scratch?: (length: number) => Float64Array,
    ): MomentsRun {
      if (shift.length !== n)
        throw new Error(`wasm momentsRun: the shift has ${shift.length} entries for ${n} columns`);
      if (n > ex.mom_max_cols()) return composedRun(n, q, shift, scratch);
      // Two parts per thread (slack for a thread that falls behind, preempted by I/O or the GC)
      // while that stays under 32 MiB a run, else one: a run holds its slots for as long as the
      // stream goes on, one run per layer, next to the layer's own d² statistics.
      const per = n * n + n * q + n;
      const parts =
        rt.threads === 1
          ? 1
          : 2 * rt.threads * per * 8 <= 32 * 2 ** 20
            ? 2 * rt.threads
            : rt.threads;
      const base = rt.persist((2 + parts * per + n) * 8);
      const psh = base + (2 + parts * per) * 8;
      rt.f64().set(shift, psh / 8);
      rt.begin("momentsRun");
      ex.mom_init(base, n, q, parts);
      let open = true;
      const check = (fn: string) => {
        if (!open) throw new Error(`wasm momentsRun.${fn}: the run was disposed`);
      };
      return {
        add(a: Mat | MatF32, b: Mat): void {
          check("add");
          if (a.cols !== n || b.cols !== q || a.rows !== b.rows)
            throw new Error(
              `wasm momentsRun.add: expected A m×${n} and B m×${q}; got ${a.rows}×${a.cols} and ${b.rows}×${b.cols}`,
            );
          rt.begin("momentsRun.add");
          const add = a.data instanceof Float32Array ? ex.mom_add_f32 : ex.mom_add;
          streamRows(a, b, 1, (pa, pb, rows) => add(base, pa, psh, pb, rows, n, q));
        },
        probe() {
          check("probe");
          rt.begin("momentsRun.probe");
          const ps = rt.alloc(n);
          const pd = rt.alloc(n);
          ex.mom_probe(base, n, q, ps, pd);
          const heap = rt.f64();
          return {
            sums: heap.slice(ps / 8, ps / 8 + n),
            diag: heap.slice(pd / 8, pd / 8 + n),
          };
        },
        result(): ShiftedMomentsResult {
          check("result");
          rt.begin("momentsRun.result");
          return momentsOf(base, n, q);
        },
        dispose(): void {
          if (!open) return;
          open = false;
          rt.release(base);
        },
      };
    },
    /** Blocked right-looking Cholesky (chol.c), panels and lower-triangle updates threaded by row blocks. */
    cholesky(a: Mat): Mat | null {
      const n = a.rows;
      if (a.cols !== n)
        throw new Error(`wasm cholesky: expected a square matrix; got ${a.rows}×${a.cols}`);
      rt.begin("cholesky");
      const pa = rt.put(a.data);
      if (ex.k_chol(pa, n) !== 0) return null;
      const l = rt.take(pa, n, n);
      for (let i = 0; i < n; i++) l.data.fill(0, i * n + i + 1, (i + 1) * n);
      return l;
    },
    crossProd(a: Mat, b: Mat): Mat {
      if (a.rows !== b.rows)
        throw new Error(`wasm crossProd: row counts differ (${a.rows} and ${b.rows})`);
      // Few columns: the row-streaming pass beats the packed GEMM's wide panels.
      if (b.cols <= 8) return normalStep("crossProd", a, b, undefined).g;
      return accumulate("crossProd", a, b);
    },
    normalStep(a: Mat | MatF32, b: Mat, x?: Mat): NormalStepResult {
      if (a.rows !== b.rows || (x && (x.rows !== a.cols || x.cols !== b.cols)))
        throw new Error(
          `wasm normalStep: shapes do not fit (A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}${x ? `, X ${x.rows}×${x.cols}` : ""})`,
        );
      return normalStep("normalStep", a, b, x);
    },
    projectedTail(a: Mat, mean: Float64Array, v: Mat): ProjectedTailResult {
      const { rows: m, cols: n } = a;
      const k = v.cols;
      if (mean.length !== n || v.rows !== n)
        throw new Error(
          `wasm projectedTail: shapes do not fit (A ${m}×${n}, mean ${mean.length}, V ${v.rows}×${k})`,
        );
      rt.begin("projectedTail");
      const vt = new Float64Array(k * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vt[j * n + i] = v.data[i * k + j];
      const pmu = rt.put(mean);
      const pvt = rt.put(vt);
      const pout = rt.alloc(k + 1);
      // A is read in place where startShiftedMoments left its (float64) copy, else copied in.
      const pa =
        resident && a === resident.mat && !(resident.mat.data instanceof Float32Array)
          ? resident.p
          : rt.put(a.data);
      ex.k_projtail(pa, m, n, pmu, pvt, k, pout);
      const out = rt.f64().slice(pout / 8, pout / 8 + k + 1);
      return { tail: out[k], energy: out.subarray(0, k) };
    },
    matmul(a: Mat, b: Mat): Mat {
      if (a.cols !== b.rows)
        throw new Error(
          `wasm matmul: inner dimensions differ (${a.rows}×${a.cols} · ${b.rows}×${b.cols})`,
        );
      rt.begin("matmul");
      const pa = rt.put(a.data);
      const pb = rt.put(b.data);
      const pc = rt.alloc(a.rows * b.cols);
      ex.k_matmul(pa, pb, pc, a.rows, a.cols, b.cols);
      return rt.take(pc, a.rows, b.cols);
    },
    symEig(a: Mat, opts?: SymEigOptions): SymEigResult {
      const n = a.rows;
      const k = Math.max(0, Math.min(n, opts?.vectors ?? n));
      if (a.cols !== n)
        throw new Error(`wasm symEig: expected a square matrix; got ${a.rows}×${a.cols}`);
      rt.begin("symEig");
      const pa = rt.put(a.data);
      const pv = rt.alloc(n);
      const pz = rt.alloc(Math.max(1, n * k));
      const st = ex.k_symeig(pa, n, k, pv, pz);
      if (st !== 0)
        throw new Error(`wasm symEig: the tridiagonal eigensolver did not converge (n = ${n})`);
      const values = rt.f64().slice(pv / 8, pv / 8 + n);
      return { values, vectors: rt.take(pz, n, k) };
    },
    /**
     * The k leading eigenpairs: block Krylov with full reorthogonalisation (topeig.c) where k is
     * small against n, accepted only at a dense solver's backward error; the dense `symEig`
     * otherwise, and whenever the Krylov method does not get there within its budget.
     */
    topEig(a: Mat, k: number): TopEigResult {
      const n = a.rows;
      if (a.cols !== n)
        throw new Error(`wasm topEig: expected a square matrix; got ${a.rows}×${a.cols}`);
      const kk = Math.max(0, Math.min(n, k));
      lastTopEig = "dense";
      lastTopEigDim = 0;
      if (kk >= 1 && n >= TOPEIG_MIN_N && kk * 8 <= n) {
        rt.begin("topEig");
        const pa = rt.put(a.data);
        const pv = rt.alloc(kk);
        const pz = rt.alloc(n * kk);
        const used = ex.k_topeig(pa, n, kk, Math.min(n >> 1, 40 * kk), pv, pz);
        if (used > 0) {
          lastTopEig = "krylov";
          lastTopEigDim = used;
          return { values: rt.f64().slice(pv / 8, pv / 8 + kk), vectors: rt.take(pz, n, kk) };
        }
        lastTopEigDim = -used;
      }
      const r = kernels.symEig(a, { vectors: kk });
      return { values: r.values.slice(0, kk), vectors: r.vectors };
    },
    /**
     * Thin SVD: Householder bidiagonalisation and the bidiagonal QR (bdsvd.c; a QR first for
     * tall matrices). Measured against the preconditioned one-sided Jacobi (the JS kernel's
     * algorithm, in wasm; CPU time, one thread): faster below n = 64 (16×16: 0.05 vs 0.13 ms),
     * within 1.25× of it on well-conditioned 64…512 (512: 179 vs 142 ms), and 3.5–6× faster on
     * graded spectra, where Jacobi needs many sweeps (512, σ = 1…1e-15: 136 vs 798 ms).
     */
    svd(a: Mat): SvdResult {
      rt.begin("svd");
      const m = a.rows;
      const n = a.cols;
      const k = Math.min(m, n);
      if (k === 0)
        return {
          U: { rows: m, cols: k, data: new Float64Array(0) },
          S: new Float64Array(0),
          V: { rows: n, cols: k, data: new Float64Array(0) },
        };
      if (m < n) {
        const r = partsTall(transpose(a), m, undefined, true);
        return { U: r.V as Mat, S: r.S, V: r.U as Mat };
      }
      const r = partsTall(a, n, undefined, true);
      return { U: r.U as Mat, S: r.S, V: r.V as Mat };
    },
    /**
     * Singular values, leading right vectors and Uᵀ·B without forming U: the left rotations of
     * the bidiagonal QR are applied to the rows of QᵀB only.
     */
    svdParts(a: Mat, opts?: SvdPartsOptions): SvdPartsResult {
      const m = a.rows;
      const n = a.cols;
      const k = Math.min(m, n);
      const nv = Math.max(0, Math.min(k, opts?.rightVectors ?? 0));
      const b = opts?.b;
      if (b && b.rows !== m)
        throw new Error(`wasm svdParts: b must have ${m} rows; got ${b.rows}×${b.cols}`);
      let out: SvdPartsResult;
      if (k === 0) {
        out = { S: new Float64Array(0) };
        if (nv > 0) out.V = { rows: n, cols: 0, data: new Float64Array(0) };
        if (b) out.UtB = { rows: 0, cols: b.cols, data: new Float64Array(0) };
        return out;
      }
      if (m >= n) {
        const r = partsTall(a, nv, b, false);
        out = { S: r.S };
        if (nv > 0) out.V = r.V;
        if (b) out.UtB = r.UtB;
        return out;
      }
      // Wide: A = U·S·Vᵀ ⇔ Aᵀ = V·S·Uᵀ; A's U is Aᵀ's right vectors (all k, for Uᵀ·B), A's V
      // the leading columns of Aᵀ's left ones.
      const r = partsTall(transpose(a), b ? k : 0, undefined, nv > 0);
      out = { S: r.S };
      if (nv > 0) {
        const U = r.U as Mat;
        const v = new Float64Array(n * nv);
        for (let i = 0; i < n; i++) v.set(U.data.subarray(i * k, i * k + nv), i * nv);
        out.V = { rows: n, cols: nv, data: v };
      }
      if (b) out.UtB = kernels.matmul(transpose(r.V as Mat), b);
      return out;
    },
    qr(a: Mat, b?: Mat, opts?: { wantQ?: boolean }): QrResult {
      const m = a.rows;
      const n = a.cols;
      const q = b ? b.cols : 0;
      if (b && b.rows !== m)
        throw new Error(
          `wasm qr: a and b must have the same number of rows; got ${m} and ${b.rows}`,
        );
      const k = Math.min(m, n);
      const nc = n + q;
      rt.begin("qr");
      const px = rt.alloc(m * nc);
      const pr = rt.alloc(k * n);
      const pq = rt.alloc(Math.max(1, k * q));
      const ps = rt.alloc(Math.max(1, q));
      const pQ = opts?.wantQ ? rt.alloc(m * k) : 0;
      {
        const heap = rt.f64();
        const base = px / 8;
        if (!b) heap.set(a.data.subarray(0, m * n), base);
        else
          for (let i = 0; i < m; i++) {
            heap.set(a.data.subarray(i * n, i * n + n), base + i * nc);
            heap.set(b.data.subarray(i * q, i * q + q), base + i * nc + n);
          }
      }
      ex.k_qr(px, m, n, q, pr, pq, ps, pQ);
      const out: QrResult = { R: rt.take(pr, k, n) };
      if (b) {
        out.QtB = rt.take(pq, k, q);
        out.residualSq = rt.f64().slice(ps / 8, ps / 8 + q);
      }
      if (pQ) out.Q = rt.take(pQ, m, k);
      return out;
    },
    dispose(): Promise<void> {
      if (!rt.isDisposed()) {
        settleBackground();
        dropResident();
      }
      return rt.dispose();
    },
    [WASM_JACOBI_SVD]: (a: Mat): SvdResult => {
      rt.begin("svd");
      return svd(a);
    },
    [WASM_DIAGNOSTICS]: () => ({
      lastEigPath: (["dc", "ql+inverse", "zero", "ql-rotations+inverse"] as const)[
        ex.k_symeig_path()
      ],
      lastTopEig,
      lastTopEigDim,
    }),
  };
  return kernels;
}

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
