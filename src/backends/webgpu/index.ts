/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend (`deep-nrc/webgpu`): WGSL compute kernels for the O(N·d²) work — Gram
 * matrices, the shifted moments of a layer, cross products — with the float64 eigen, SVD, QR and
 * least-squares kernels on the CPU (the wasm backend where it starts, else JS).
 *
 * WGSL has no float64. The default (`precision: "exact"`) computes every product exactly from
 * integer slices (the Ozaki scheme, `../slices.ts`): each column is centered in float64 and cut
 * into 5 integer digits of ≤ 13 bits, the GPU forms the integer products of the digit planes in
 * i32 arithmetic (no rounding, nothing for a compiler to reassociate), and the host recombines
 * them in float64 — a Gram as accurate as a float64 one, so every metric is what the `wasm`
 * backend returns, collapsed layers included. It costs 9 integer products per Gram.
 * `precision: "float32"` is the float32 pass: float32 partial products over row tiles (default
 * 1024 rows) summed in float64 on the host, columns centered and power-of-two scaled first:
 * |ΔGᵢⱼ| ≤ 2e-7·‖ãᵢ‖‖ãⱼ‖ (llvmpipe, 10000×512: 9e-8), NRC1 within 8e-8 absolute, NRC2/NRC3 within
 * 6e-7 — not for collapsed layers.
 *
 * Works in browsers (`navigator.gpu`) and in Node through the optional peer package `webgpu`
 * (Dawn). In Node, without a hardware adapter it falls back to Mesa's llvmpipe software renderer
 * through OpenGL ES (setting `EGL_PLATFORM=surfaceless` when unset), unless `allowSoftware: false`.
 *
 * @module
 */
import type { Backend, Kernels, Mat, MatF32 } from "../types.js";
import { checkMat, checkMatPair, checkPrecision } from "../peer.js";
import { NRCInputError } from "../../errors.js";
import {
  HOST_CROSS_MAX,
  checkShift,
  cpuKernels,
  hostCross,
  ieeeProduct,
  startCpu,
  type LowGram,
} from "../offload.js";

export type { LowGram } from "../offload.js";
export type { EigenStart } from "./jacobi.js";
import { I32_FORMAT, finishSliced, prepSlices } from "../slices.js";
import { BLOCK, CROSS_TILES_WGSL } from "./shaders.js";
import { INT_PAIRS_WGSL } from "./int-shader.js";
import {
  type ColPrep,
  fillChunk,
  shiftPrep,
  finishProduct,
  lowGramResult,
  pow2Scale,
  prepColumns,
  shiftedStats,
} from "./f32prep.js";
import { type F32Side, f32Plan, filledSide, intOutBytes, intPlan } from "./products.js";
import { type StreamPlan, streamChunks } from "./stream.js";
import { type EigenStart, jacobiEigen } from "./jacobi.js";
import { type Acquired, type WebGPUDevice, type WebGPUEntry, acquire } from "./device.js";

export type { WebGPUDevice, WebGPUEntry } from "./device.js";

const MiB = 1024 * 1024;

/** Options of {@link webgpuBackend}. */
export interface WebGPUBackendOptions {
  /** Use this device (it is not destroyed by `dispose`). */
  device?: WebGPUDevice;
  /** Request the adapter from this `GPU` object (default `navigator.gpu`, or in Node the `webgpu` package). */
  gpu?: WebGPUEntry;
  /**
   * Rows per float32 partial product (default 1024). Smaller tiles: less float32 rounding, more
   * data read back. Rounded up to a multiple of 32.
   */
  tileRows?: number;
  /**
   * Node only, when no `gpu`/`device` is given: fall back to Mesa's llvmpipe software adapter
   * through OpenGL ES when no hardware adapter exists (default true). Slow, but exact to float32.
   */
  allowSoftware?: boolean;
  /** Upper bound on each GPU buffer in bytes (default 32 MiB, capped by the device's limits). */
  maxBufferBytes?: number;
  /**
   * `"exact"` (default): products from integer slices, as accurate as float64. `"float32"`: the
   * float32 pass (~1e-7 of the centered data; faster, not for collapsed layers).
   */
  precision?: "exact" | "float32";
  /**
   * The CPU backend for the float64 kernels the GPU does not run (eigen, SVD, QR, least squares).
   * Default: `wasmBackend()`, else the JS kernels where WebAssembly does not start. Started by
   * `init()` and disposed with the backend.
   */
  cpu?: Backend;
}

/** The kernels a started WebGPU backend provides. */
export interface WebGPUKernels extends Kernels {
  readonly name: "webgpu";
  /** The adapter, in words (e.g. `llvmpipe … OpenGL ES 3.2 Mesa …`), or `"user device"`. */
  readonly adapterInfo: string;
  /** Rows per float32 partial product (the float32 pass). */
  readonly tileRows: number;
  /** How the products are computed: exactly from integer slices, or by the float32 pass. */
  readonly precision: "exact" | "float32";
  /** The GPU device in use. */
  readonly device: WebGPUDevice;
  gram(a: Mat): Promise<Mat>;
  crossProd(a: Mat, b: Mat): Promise<Mat>;
  /**
   * The float32 pass's Gram of A − 1·sᵀ with float64 column sums and squares: the start of the
   * certified float64 spectrum (issue 22's `Kernels.lowGram`), whatever `precision` says.
   */
  lowGram(a: Mat | MatF32, shift: Float64Array): Promise<LowGram>;
  /**
   * Starting subspaces, batched over layers: the eigenvalues and the k leading eigenvectors of each
   * symmetric positive semidefinite d×d matrix (e.g. each layer's `lowGram`), by parallel one-sided
   * Jacobi in float32 on the GPU — accurate to float32 (a start for float64 refinement, never a
   * metric).
   * @throws NRCInputError when a matrix is not square or k is not an integer in [1, d].
   */
  eigenStart(mats: readonly Mat[], k: number): Promise<EigenStart[]>;
  dispose(): Promise<void>;
}

/** Creates the kernels on a device, the CPU's kernels beside them. */
function makeKernels(
  acq: Acquired,
  cpu: Kernels | null,
  opts: WebGPUBackendOptions,
): WebGPUKernels {
  const device = acq.device;
  let keepAlive: unknown = acq.keepAlive;
  let lostReason: string | null = null;
  let disposed = false;
  void device.lost.then((info) => {
    if (!disposed) lostReason = `${info.reason}: ${info.message}`;
  });
  const precision = opts.precision ?? "exact";
  const tileRows = Math.max(BLOCK, Math.ceil((opts.tileRows ?? 1024) / BLOCK) * BLOCK);
  const lim = device.limits;
  const maxBytes = Math.max(
    4096,
    Math.min(opts.maxBufferBytes ?? 32 * MiB, lim.maxStorageBufferBindingSize, lim.maxBufferSize),
  );
  const pipelineOf = (code: string, label: string): GPUComputePipeline =>
    device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code, label }), entryPoint: "main" },
      label,
    });
  const f32Pipeline = pipelineOf(CROSS_TILES_WGSL, "deep-nrc cross tiles");
  const intPipeline =
    precision === "exact" ? pipelineOf(INT_PAIRS_WGSL, "deep-nrc digit pairs") : null;

  // One kernel call at a time: the GPU is a single queue, and error scopes are a per-device stack.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(f: () => Promise<T>): Promise<T> {
    const run = queue.then(f, f);
    queue = run.catch(() => undefined);
    return run;
  }
  function alive(fn: string): void {
    if (disposed) throw new Error(`webgpu backend ${fn}: the backend was disposed`);
    if (lostReason)
      throw new Error(`webgpu backend ${fn}: the GPU device was lost (${lostReason})`);
  }
  const jacobi = jacobiEigen(device, (where) => alive(`eigenStart (${where})`));
  const run = (plan: StreamPlan, pipeline: GPUComputePipeline) =>
    streamChunks(device, pipeline, plan, (where) => alive(`gram/crossProd (${where})`));

  function checkPair(fn: string, a: Mat | MatF32, b: Mat | MatF32 | null): void {
    alive(fn);
    checkMatPair(fn, a, b);
  }

  /**
   * The float32 pass: the float64 sum of float32 tile products of the centered, scaled columns
   * (`finishProduct` turns it into AᵀB), with the column statistics.
   */
  async function f32Acc(
    a: Mat | MatF32,
    b: Mat | MatF32 | null,
  ): Promise<{ acc: Float64Array; pa: ColPrep; pb: ColPrep }> {
    const pa = prepColumns(a);
    const pb = b ? prepColumns(b) : pa;
    const acc = await byPanels(
      a,
      b,
      (w) => n32(a.cols, w),
      async (bp, acc) => {
        const B =
          bp === b || !bp ? (b ? filledSide(b, pb) : null) : filledSide(bp, prepColumns(bp));
        await run(
          f32Plan(filledSide(a, pa), B, rowsFor(a.cols, bp?.cols ?? a.cols), maxBytes, acc),
          f32Pipeline,
        );
      },
    );
    return { acc, pa, pb };
  }

  /** The float32 pass's AᵀB (or AᵀA), to ~1e-7 of the centered data. */
  async function f32Product(a: Mat | MatF32, b: Mat | MatF32 | null): Promise<Mat> {
    const { acc, pa, pb } = await f32Acc(a, b);
    return finishProduct(acc, a.rows, pa, pb, b === null);
  }

  /**
   * The float32 pass's Gram about a shift s, with float64 column sums and squares (the certified
   * spectrum's start, `lowGram`), after one host pass over A. Float64 rows are centered at s and
   * scaled on the host, each entry rounded once to float32; float32 rows are uploaded as they are
   * and centered at c = fl32(s) and scaled as the kernel reads them, (x − c)·2^k, one rounding.
   * Products are summed in float32 over at most `tileRows` rows, the tiles in float64, so
   * ‖E‖₂ ≤ γ_{b+2}·Σ‖aᵢ − c‖²; where Σ‖aᵢ − c‖² exceeds Σ‖aᵢ − s‖² (the squares returned),
   * `blockRows` is raised by that ratio so that the bound read off it still holds.
   */
  async function lowGram(a: Mat | MatF32, shift: Float64Array): Promise<LowGram> {
    const m = a.rows;
    const n = a.cols;
    const st = shiftedStats(a, shift);
    const raw = a.data instanceof Float32Array;
    const center = raw ? Float32Array.from(shift) : new Float32Array(n);
    const off = raw ? Float64Array.from(center, (c, j) => c - shift[j]) : new Float64Array(n);
    // float32 scales for the kernel stay within float32's range
    const scale = st.maxAbs.map((mx, j) => {
      const f = pow2Scale(mx + Math.abs(off[j]));
      return raw ? Math.min(2 ** 126, Math.max(2 ** -126, f)) : f;
    });
    const side = (mat: Mat | MatF32, c0: number): F32Side => {
      const c1 = c0 + mat.cols;
      return raw
        ? {
            mat,
            raw: mat.data as Float32Array,
            center: center.subarray(c0, c1),
            scale: Float32Array.from(scale.subarray(c0, c1)),
          }
        : {
            mat,
            fill: (r0, r1, dst) =>
              fillChunk(
                mat,
                shiftPrep(shift.subarray(c0, c1), scale.subarray(c0, c1)),
                r0,
                r1,
                dst,
              ),
            center: new Float32Array(c1 - c0),
            scale: new Float32Array(c1 - c0).fill(1),
          };
    };
    const acc = await byPanels(
      a,
      null,
      (w) => n32(n, w),
      async (bp, acc, c0) => {
        await run(
          f32Plan(side(a, 0), bp ? side(bp, c0) : null, rowsFor(n, bp?.cols ?? n), maxBytes, acc),
          f32Pipeline,
        );
      },
    );
    let sq = 0;
    let sqc = 0;
    for (let j = 0; j < n; j++) {
      sq += st.squares[j];
      sqc += st.squares[j] - 2 * off[j] * st.sums[j] + m * off[j] * off[j];
    }
    const ratio = sq > 0 ? sqc / sq : 1;
    const blockRows = ratio > 1 ? Math.ceil((tileRows + 2) * ratio) - 2 : tileRows;
    return lowGramResult(acc, m, off, scale, st, blockRows);
  }

  // Rows per float32 tile: at most the option, fewer where one tile of input would exceed the limit.
  const rowsFor = (n: number, w: number) =>
    Math.min(tileRows, Math.floor(maxBytes / (4 * Math.max(n, w)) / BLOCK) * BLOCK);
  const n32 = (n: number, w: number) => n * w * 4 <= maxBytes && rowsFor(n, w) >= BLOCK;

  /**
   * The exact pass: `Σ (a − sa)(b − sb)ᵀ` (b = a for a Gram) from integer digit products, as
   * accurate as float64. Non-finite entries go to the JS kernels, whose float64 arithmetic carries
   * NaN and ±Infinity as IEEE does.
   */
  async function exactProduct(
    a: Mat | MatF32,
    b: Mat | MatF32 | null,
    sa?: Float64Array,
    sb?: Float64Array,
  ): Promise<Mat> {
    const pa = prepSlices(a, I32_FORMAT);
    const pb = b ? prepSlices(b, I32_FORMAT) : pa;
    if (!pa.finite || !pb.finite) return ieeeProduct(a, b, sa, sb);
    const n = a.cols;
    const fits = (w: number) =>
      intOutBytes(n, w, I32_FORMAT, !b && w === n) <= maxBytes &&
      I32_FORMAT.digits * Math.max(n, w) * 4 <= maxBytes;
    const acc = await byPanels(a, b, fits, async (bp, acc) => {
      const pp = bp === b || !bp ? (b ? pb : null) : prepSlices(bp, I32_FORMAT);
      await run(intPlan(a, pa, bp, pp, I32_FORMAT, maxBytes, acc), intPipeline!);
    });
    return finishSliced(acc, pa, pb, b === null, sa, b ? sb : sa);
  }

  /**
   * Runs `pass` on the whole product when `fits(q)`, else on column panels of B (of A for a Gram),
   * each as a plain product; returns the n×q float64 accumulator.
   */
  async function byPanels<M extends Mat | MatF32>(
    a: M,
    b: M | null,
    fits: (w: number) => boolean,
    pass: (b: M | null, acc: Float64Array, c0: number) => Promise<void>,
  ): Promise<Float64Array> {
    const n = a.cols;
    const src = b ?? a;
    const q = src.cols;
    const acc = new Float64Array(n * q);
    if (fits(q)) {
      await pass(b, acc, 0);
      return acc;
    }
    let panel = Math.floor(q / 2);
    while (panel > 1 && !fits(panel)) panel = Math.floor(panel / 2);
    if (!fits(panel))
      throw new Error(
        `webgpu backend: ${n} columns are too many for the buffer limit of ${(maxBytes / MiB).toFixed(1)} MiB`,
      );
    const m = a.rows;
    for (let c0 = 0; c0 < q; c0 += panel) {
      const c1 = Math.min(q, c0 + panel);
      const w = c1 - c0;
      const cols = new (src.data.constructor as Float64ArrayConstructor)(m * w);
      for (let r = 0; r < m; r++) cols.set(src.data.subarray(r * q + c0, r * q + c1), r * w);
      const part = new Float64Array(n * w);
      await pass({ rows: m, cols: w, data: cols } as M, part, c0);
      for (let i = 0; i < n; i++) acc.set(part.subarray(i * w, (i + 1) * w), i * q + c0);
    }
    return acc;
  }

  function product(fn: string, a: Mat, b: Mat | null): Promise<Mat> {
    return serial(async () => {
      checkPair(fn, a, b);
      return precision === "exact" ? exactProduct(a, b) : f32Product(a, b);
    });
  }

  const own: Kernels & { lowGram: WebGPUKernels["lowGram"] } = {
    name: "webgpu",
    float32Inputs: true,
    gram: (a: Mat) => product("gram", a, null),
    crossProd: (a: Mat, b: Mat) => product("crossProd", a, b),
    lowGram: (a: Mat | MatF32, shift: Float64Array) =>
      serial(async () => {
        checkPair("lowGram", a, null);
        checkShift("lowGram", a, shift);
        return lowGram(a, shift);
      }),
  };
  if (precision === "exact") {
    Object.assign(own, {
      shiftedMoments: (a: Mat | MatF32, shift: Float64Array, b: Mat) =>
        serial(async () => {
          checkPair("shiftedMoments", a, b);
          checkShift("shiftedMoments", a, shift);
          const [gram, side] = [await exactProduct(a, null, shift), hostCross(a, shift, b)];
          const cross =
            b.cols > HOST_CROSS_MAX
              ? await exactProduct(a, b, shift, new Float64Array(b.cols))
              : side.cross;
          return { gram, cross, sums: side.sums };
        }),
    });
  }
  return {
    ...cpuKernels(cpu),
    ...own,
    name: "webgpu",
    adapterInfo: acq.info,
    precision,
    tileRows,
    device,
    lowGram: own.lowGram,
    eigenStart: (mats: readonly Mat[], k: number) =>
      serial(async () => {
        alive("eigenStart");
        checkEigenStart(mats, k);
        return jacobi.run(mats, k);
      }),
    gram: own.gram as WebGPUKernels["gram"],
    crossProd: own.crossProd as WebGPUKernels["crossProd"],
    async dispose(): Promise<void> {
      if (disposed) return;
      await queue;
      disposed = true;
      if (acq.owned) device.destroy();
      await cpu?.dispose?.();
      keepAlive = null;
      void keepAlive;
    },
  };
}

/** {@link WebGPUKernels.eigenStart}'s arguments: a non-empty list of square matrices, 1 ≤ k ≤ d. */
function checkEigenStart(mats: unknown, k: unknown): void {
  const fn = "eigenStart";
  if (!Array.isArray(mats) || mats.length === 0)
    throw new NRCInputError(
      fn,
      "mats",
      `mats must be a non-empty array of square matrices; got ${Array.isArray(mats) ? "[]" : typeof mats}`,
    );
  mats.forEach((m: Mat, i) => {
    checkMat(fn, `mats[${i}]`, m);
    if (m.rows !== m.cols)
      throw new NRCInputError(
        fn,
        `mats[${i}]`,
        `mats[${i}] must be square; got ${m.rows}×${m.cols}`,
      );
    if (!(typeof k === "number" && Number.isInteger(k) && k >= 1 && k <= m.rows))
      throw new NRCInputError(
        fn,
        "k",
        `k must be an integer in [1, ${m.rows}] (the order of mats[${i}]); got ${String(k)}`,
      );
  });
}

/**
 * A WebGPU backend: the Gram matrices, shifted moments and cross products on the GPU, exact by
 * default — `AᵀB = Σ_{k+l≤4} 2^-(24+13(k+l))·S_kᵀS_l` over the integer digit planes S_k of the
 * centered, power-of-two-scaled columns (5 digits of ≤ 13 bits; the products in i32, recombined in
 * float64), so every metric is what the float64 backends return, collapsed layers included — and
 * `lowGram`, the float32 pass about a shift (float32 tiles summed in float64) that starts issue 22's
 * certified spectrum. Eigen, SVD, QR and least squares run on the CPU backend (`cpu`, default
 * wasm, else JS). NaN or ±Infinity entries are multiplied on the JS kernels instead, so that they
 * reach the result.
 *
 * @param opts `device` to use an existing GPUDevice, `gpu` for a `GPU` object (default
 *   `navigator.gpu`; in Node the optional peer `webgpu`), `precision` (`"exact"`, default, or
 *   `"float32"`: the float32 pass for every product, ~1e-7 of the centered data), `cpu`,
 *   `tileRows` (float32 pass, default 1024), `allowSoftware` (Node: Mesa llvmpipe fallback,
 *   default true), `maxBufferBytes` (default 32 MiB).
 * @returns A {@link Backend} whose `init()` requests the adapter and device, compiles the kernels
 *   and starts the CPU backend.
 * @throws `init()` rejects with an NRCInputError for a `precision` other than "exact"/"float32",
 *   and with an Error saying why WebGPU is unavailable (no `navigator.gpu`, the `webgpu` package
 *   missing, no adapter).
 * @example
 * ```ts
 * import { measureNRC } from "deep-nrc";
 * import { webgpuBackend } from "deep-nrc/webgpu";
 * const report = await measureNRC({ layers, targets, backend: webgpuBackend() });
 * // or the kernels directly:
 * const k = await webgpuBackend().init();
 * const G = await k.gram({ rows: 3, cols: 2, data: new Float64Array([1, 2, 3, 4, 5, 6]) });
 * await k.dispose();
 * ```
 */
export function webgpuBackend(opts: WebGPUBackendOptions = {}): Backend {
  return {
    name: "webgpu",
    async init(): Promise<WebGPUKernels> {
      checkPrecision("webgpuBackend", opts.precision);
      const acq = await acquire(opts);
      let cpu: Kernels | null = null;
      try {
        cpu = await startCpu(opts.cpu);
        return makeKernels(acq, cpu, opts);
      } catch (e) {
        await cpu?.dispose?.();
        if (acq.owned) acq.device.destroy();
        throw e;
      }
    },
  };
}
