/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend (`deep-nrc/webgpu`): WGSL compute kernels for the O(N·d²) work — the Gram
 * matrix `AᵀA` and cross products `AᵀB` — with everything else (eigen-decompositions, SVD, QR,
 * `A·B`) left to the float64 JS kernels.
 *
 * WGSL has no float64, so each product is computed as float32 partial products over row tiles
 * (default 1024 rows; within a tile the sum runs in 32-row blocks) that are read back and summed
 * in float64 on the host. Before upload every column is centered (its float64 mean removed, added
 * back exactly afterwards) and scaled by a power of two (exact) so that its largest entry is about
 * 1: float32 never overflows or underflows and the error is relative to the *centered* data.
 * Measured (test/backends/f32-suite.ts, Mesa llvmpipe): |ΔGᵢⱼ| ≤ 2e-7·‖ãᵢ‖‖ãⱼ‖ (10000×512:
 * 9e-8), NRC1 within 8e-8 absolute, NRC2/NRC3 within 6e-7 of float64. Metrics that must resolve
 * less than ~1e-6 of the variance (NRC1 of a collapsed layer) need a float64 backend.
 *
 * Works in browsers (`navigator.gpu`) and in Node through the optional peer package `webgpu`
 * (Dawn). In Node, without a hardware adapter it falls back to Mesa's llvmpipe software renderer
 * through OpenGL ES (setting `EGL_PLATFORM=surfaceless` when unset), unless `allowSoftware: false`.
 *
 * @module
 */
import { NRCInputError, fmtShape } from "../../errors.js";
import type { Backend, Kernels, Mat } from "../types.js";
import { checkMat, importPeer } from "../peer.js";
import { BLOCK, CROSS_TILES_WGSL } from "./shaders.js";
import { type ColPrep, fillChunk, finishProduct, prepColumns } from "./f32prep.js";

// WebGPU flag values (spec constants), so that no global `GPUBufferUsage` is needed in Node.
const USAGE_MAP_READ = 0x0001;
const USAGE_COPY_SRC = 0x0004;
const USAGE_COPY_DST = 0x0008;
const USAGE_UNIFORM = 0x0040;
const USAGE_STORAGE = 0x0080;
const MAP_READ = 0x0001;

const MiB = 1024 * 1024;

/**
 * WebGPU's `GPUDevice` where the WebGPU type declarations (`@webgpu/types`, a dependency of the
 * `webgpu` package) are loaded, `object` elsewhere, so that these declarations never require them.
 */
export type WebGPUDevice = typeof globalThis extends { GPUDevice: { prototype: infer D } }
  ? D
  : object;
/** WebGPU's `GPU` (`navigator.gpu`) where the WebGPU types are loaded, `object` elsewhere. */
export type WebGPUEntry = typeof globalThis extends { GPU: { prototype: infer G } } ? G : object;

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
}

/** The kernels a started WebGPU backend provides. */
export interface WebGPUKernels extends Kernels {
  readonly name: "webgpu";
  /** The adapter, in words (e.g. `llvmpipe … OpenGL ES 3.2 Mesa …`), or `"user device"`. */
  readonly adapterInfo: string;
  /** Rows per float32 partial product. */
  readonly tileRows: number;
  /** The GPU device in use. */
  readonly device: WebGPUDevice;
  gram(a: Mat): Promise<Mat>;
  crossProd(a: Mat, b: Mat): Promise<Mat>;
  dispose(): Promise<void>;
}

interface Acquired {
  device: GPUDevice;
  owned: boolean;
  info: string;
  /** Keeps the Dawn instance alive while the device is in use; dropped on dispose. */
  keepAlive: unknown;
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  if (!info) return "unknown adapter";
  const parts = [info.vendor, info.architecture, info.device, info.description].filter(
    (s) => typeof s === "string" && s.length > 0,
  );
  return parts.length > 0 ? parts.join(" · ") : "unknown adapter";
}

async function requestAny(gpu: GPU): Promise<GPUAdapter | null> {
  let adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    // WebGPU compatibility mode (OpenGL ES–class adapters). Unknown keys are ignored where unsupported.
    adapter = await gpu.requestAdapter({
      featureLevel: "compatibility",
    } as GPURequestAdapterOptions);
  }
  return adapter;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

async function openDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const lim = adapter.limits;
  return adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
    },
  });
}

async function acquire(opts: WebGPUBackendOptions): Promise<Acquired> {
  if (opts.device)
    return { device: opts.device, owned: false, info: "user device", keepAlive: null };
  let gpu: GPU | undefined =
    opts.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? undefined;
  if (gpu) {
    const adapter = await requestAny(gpu);
    if (!adapter)
      throw new Error("webgpu backend: navigator.gpu.requestAdapter() returned no adapter");
    return {
      device: await openDevice(adapter),
      owned: true,
      info: describeAdapter(adapter),
      keepAlive: gpu,
    };
  }
  if (!isNode())
    throw new Error(
      "webgpu backend: WebGPU is unavailable here (no navigator.gpu); pass { device } or { gpu }",
    );
  // Through a variable specifier: bundlers leave the Node-only peer alone (the core names this backend).
  const mod = await importPeer<{ create(options: string[]): GPU }>(
    "webgpu",
    "webgpu backend: no navigator.gpu, and the optional peer package 'webgpu' could not be loaded (npm i webgpu)",
  );
  gpu = mod.create([]);
  let adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter && opts.allowSoftware !== false) {
    // Mesa llvmpipe through OpenGL ES; EGL needs a platform without a display server.
    const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process!
      .env;
    if (env.EGL_PLATFORM === undefined) env.EGL_PLATFORM = "surfaceless";
    gpu = mod.create(["backend=opengles"]);
    adapter = await gpu.requestAdapter({
      featureLevel: "compatibility",
    } as GPURequestAdapterOptions);
  }
  if (!adapter)
    throw new Error(
      "webgpu backend: the 'webgpu' package found no adapter (no Vulkan/Metal/D3D GPU" +
        (opts.allowSoftware === false
          ? ", and allowSoftware is false)"
          : ", and no OpenGL ES software adapter: install Mesa's libegl1 libegl-mesa0 libgles2)"),
    );
  return {
    device: await openDevice(adapter),
    owned: true,
    info: describeAdapter(adapter),
    keepAlive: gpu,
  };
}

/** Creates the kernels on a device. */
function makeKernels(
  acq: Acquired,
  tileRowsOpt: number | undefined,
  maxBytesOpt: number | undefined,
): WebGPUKernels {
  const device = acq.device;
  let keepAlive: unknown = acq.keepAlive;
  let lostReason: string | null = null;
  let disposed = false;
  void device.lost.then((info) => {
    if (!disposed) lostReason = `${info.reason}: ${info.message}`;
  });
  const tileRows = Math.max(BLOCK, Math.ceil((tileRowsOpt ?? 1024) / BLOCK) * BLOCK);
  const lim = device.limits;
  const maxBytes = Math.max(
    4096,
    Math.min(maxBytesOpt ?? 32 * MiB, lim.maxStorageBufferBindingSize, lim.maxBufferSize),
  );
  const module = device.createShaderModule({
    code: CROSS_TILES_WGSL,
    label: "deep-nrc cross tiles",
  });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
    label: "deep-nrc cross tiles",
  });

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

  /**
   * Float64 sum over row tiles of the float32 partials `Fᵀ G` of the centered, scaled matrices
   * (columns [c0, c1) of b, or of a when b is null and the product is symmetric).
   */
  async function tiledProduct(
    a: Mat,
    pa: ColPrep,
    b: Mat | null,
    pb: ColPrep | null,
    tileRows: number,
  ): Promise<Float64Array> {
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : n;
    const sym = b === null;
    const tileBytes = n * q * 4;
    const widest = Math.max(n, q) * 4;
    if (tileBytes > maxBytes || tileRows * widest > maxBytes)
      throw new Error(
        `webgpu backend: a ${n}×${q} partial product (${(tileBytes / MiB).toFixed(1)} MiB per tile) exceeds the buffer limit of ${(maxBytes / MiB).toFixed(1)} MiB`,
      );
    const tilesTotal = Math.ceil(m / tileRows);
    const tilesPerChunk = Math.max(
      1,
      Math.min(
        tilesTotal,
        Math.floor(maxBytes / tileBytes),
        Math.floor(maxBytes / (tileRows * widest)),
        65535,
      ),
    );
    const rowsPerChunk = tilesPerChunk * tileRows;
    const chunkRows = Math.min(m, rowsPerChunk);
    const acc = new Float64Array(n * q);
    const outBytes = tilesPerChunk * tileBytes;
    type Slot = {
      inA: GPUBuffer;
      inB: GPUBuffer | null;
      out: GPUBuffer;
      staging: GPUBuffer;
      uni: GPUBuffer;
      bind: GPUBindGroup;
      fa: Float32Array<ArrayBuffer>;
      fb: Float32Array<ArrayBuffer> | null;
      pending: Promise<void> | null;
    };
    const nSlots = tilesTotal > tilesPerChunk ? 2 : 1;
    const slots: Slot[] = [];
    const buffers: GPUBuffer[] = [];
    const mk = (size: number, usage: number, label: string): GPUBuffer => {
      const buf = device.createBuffer({ size: Math.ceil(size / 4) * 4, usage, label });
      buffers.push(buf);
      return buf;
    };
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    try {
      for (let s = 0; s < nSlots; s++) {
        const inA = mk(chunkRows * n * 4, USAGE_STORAGE | USAGE_COPY_DST, "A");
        const inB = b ? mk(chunkRows * q * 4, USAGE_STORAGE | USAGE_COPY_DST, "B") : null;
        const out = mk(outBytes, USAGE_STORAGE | USAGE_COPY_SRC, "C");
        const staging = mk(outBytes, USAGE_MAP_READ | USAGE_COPY_DST, "C staging");
        const uni = mk(32, USAGE_UNIFORM | USAGE_COPY_DST, "params");
        const bind = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: inA } },
            { binding: 1, resource: { buffer: inB ?? inA } },
            { binding: 2, resource: { buffer: out } },
            { binding: 3, resource: { buffer: uni } },
          ],
        });
        slots.push({
          inA,
          inB,
          out,
          staging,
          uni,
          bind,
          fa: new Float32Array(chunkRows * n),
          fb: b ? new Float32Array(chunkRows * q) : null,
          pending: null,
        });
      }
      const gy = Math.ceil(n / BLOCK);
      const gx = Math.ceil(q / BLOCK);
      let c = 0;
      for (let r0 = 0; r0 < m; r0 += rowsPerChunk, c++) {
        const slot = slots[c % nSlots];
        if (slot.pending) await slot.pending;
        alive("gram/crossProd");
        const r1 = Math.min(m, r0 + rowsPerChunk);
        const rows = r1 - r0;
        const tiles = Math.ceil(rows / tileRows);
        fillChunk(a, pa, r0, r1, slot.fa);
        device.queue.writeBuffer(slot.inA, 0, slot.fa, 0, rows * n);
        if (b && pb && slot.inB && slot.fb) {
          fillChunk(b, pb, r0, r1, slot.fb);
          device.queue.writeBuffer(slot.inB, 0, slot.fb, 0, rows * q);
        }
        device.queue.writeBuffer(
          slot.uni,
          0,
          new Uint32Array([rows, n, q, tileRows, sym ? 1 : 0, 0, 0, 0]),
        );
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, slot.bind);
        pass.dispatchWorkgroups(gx, gy, tiles);
        pass.end();
        const bytes = tiles * tileBytes;
        enc.copyBufferToBuffer(slot.out, 0, slot.staging, 0, bytes);
        device.queue.submit([enc.finish()]);
        slot.pending = slot.staging.mapAsync(MAP_READ, 0, bytes).then(() => {
          const part = new Float32Array(slot.staging.getMappedRange(0, bytes));
          const nq = n * q;
          if (sym) {
            for (let t = 0; t < tiles; t++) {
              const o = t * nq;
              for (let i = 0; i < n; i++) {
                const ro = i * n;
                for (let j = i; j < n; j++) acc[ro + j] += part[o + ro + j];
              }
            }
          } else {
            for (let t = 0; t < tiles; t++) {
              const o = t * nq;
              for (let k = 0; k < nq; k++) acc[k] += part[o + k];
            }
          }
          slot.staging.unmap();
        });
      }
      for (const s of slots) if (s.pending) await s.pending;
    } finally {
      await Promise.allSettled(slots.map((s) => s.pending));
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      for (const buf of buffers) buf.destroy();
      if (validation)
        throw new Error(`webgpu backend: GPU validation error: ${validation.message}`);
      if (oom) throw new Error(`webgpu backend: GPU out of memory: ${oom.message}`);
    }
    alive("gram/crossProd");
    return acc;
  }

  async function product(fn: string, a: Mat, b: Mat | null): Promise<Mat> {
    alive(fn);
    checkMat(fn, "a", a);
    if (b) {
      checkMat(fn, "b", b);
      if (b.rows !== a.rows)
        throw new NRCInputError(
          fn,
          "b",
          `a and b must have the same number of rows; got ${fmtShape(a.rows, a.cols)} and ${fmtShape(b.rows, b.cols)}`,
        );
    }
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : n;
    const pa = prepColumns(a);
    const pb = b ? prepColumns(b) : pa;
    // Rows per tile: at most the option, fewer where one tile of input would exceed the limit.
    const rowsFor = (w: number) =>
      Math.min(tileRows, Math.floor(maxBytes / (4 * Math.max(n, w)) / BLOCK) * BLOCK);
    if (n * q * 4 <= maxBytes && rowsFor(q) >= BLOCK) {
      const acc = await tiledProduct(a, pa, b, b ? pb : null, rowsFor(q));
      return finishProduct(acc, m, pa, pb, b === null);
    }
    // Too wide for one partial product per tile: column panels of the output, one pass each.
    const panel = Math.min(q, Math.floor(maxBytes / (4 * n) / BLOCK) * BLOCK);
    if (panel < BLOCK || rowsFor(panel) < BLOCK)
      throw new Error(
        `webgpu backend ${fn}: ${n} columns are too many for the buffer limit of ${(maxBytes / MiB).toFixed(1)} MiB (need at least ${n * BLOCK * 4} bytes)`,
      );
    const src = b ?? a;
    const acc = new Float64Array(n * q);
    for (let c0 = 0; c0 < q; c0 += panel) {
      const c1 = Math.min(q, c0 + panel);
      const w = c1 - c0;
      const cols = new Float64Array(m * w);
      for (let r = 0; r < m; r++) cols.set(src.data.subarray(r * q + c0, r * q + c1), r * w);
      const pp: ColPrep = {
        mean: pb.mean.subarray(c0, c1),
        csum: pb.csum.subarray(c0, c1),
        scale: pb.scale.subarray(c0, c1),
      };
      const part = await tiledProduct(a, pa, { rows: m, cols: w, data: cols }, pp, rowsFor(w));
      for (let i = 0; i < n; i++) acc.set(part.subarray(i * w, (i + 1) * w), i * q + c0);
    }
    return finishProduct(acc, m, pa, pb, b === null);
  }

  return {
    name: "webgpu",
    adapterInfo: acq.info,
    tileRows,
    device,
    gram(a: Mat): Promise<Mat> {
      return serial(() => product("gram", a, null));
    },
    crossProd(a: Mat, b: Mat): Promise<Mat> {
      return serial(() => product("crossProd", a, b));
    },
    async dispose(): Promise<void> {
      if (disposed) return;
      await queue;
      disposed = true;
      if (acq.owned) device.destroy();
      keepAlive = null;
      void keepAlive;
    },
  };
}

/**
 * A WebGPU backend: Gram matrices `AᵀA` and cross products `AᵀB` on the GPU as float32 row-tile
 * partial products summed in float64 on the host (columns centered and power-of-two scaled before
 * the upload, means added back exactly); `symEig`, `svd`, `qr` and `matmul` fall back to the JS
 * float64 kernels. Accuracy: relative error of a Gram about 1e-7 of its norm (float32 inputs and
 * products); use the `js`/`wasm` backends where a metric needs more (NRC1 of collapsed layers).
 *
 * @param opts `device` to use an existing GPUDevice, `gpu` for a `GPU` object (default
 *   `navigator.gpu`; in Node the optional peer `webgpu`), `tileRows` (default 1024),
 *   `allowSoftware` (Node: Mesa llvmpipe fallback, default true), `maxBufferBytes`.
 * @returns A {@link Backend} whose `init()` requests the adapter and device and compiles the kernel.
 * @throws `init()` rejects with an Error saying why WebGPU is unavailable (no `navigator.gpu`, the
 *   `webgpu` package missing, no adapter).
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
      const acq = await acquire(opts);
      try {
        return makeKernels(acq, opts.tileRows, opts.maxBufferBytes);
      } catch (e) {
        if (acq.owned) acq.device.destroy();
        throw e;
      }
    },
  };
}
