/// <reference types="@webgpu/types" />
/**
 * Starting subspaces on the GPU: the eigen-decomposition of a batch of symmetric positive
 * semidefinite matrices (the layers' approximate Grams) by parallel one-sided Jacobi in float32
 * (`./jacobi-shader.ts`), all layers in each dispatch. The result is accurate to float32 (residuals
 * ~1e-6 of ‖G‖): a start for the float64 refinement on the data, never a metric by itself.
 *
 * @module
 */
import type { Mat } from "../types.js";
import { JACOBI_WGSL } from "./jacobi-shader.js";

import {
  MAP_READ,
  USAGE_COPY_DST,
  USAGE_COPY_SRC,
  USAGE_MAP_READ,
  USAGE_STORAGE,
  USAGE_UNIFORM,
  withBuffers,
} from "./stream.js";

/** One matrix's leading eigenpairs from {@link JacobiEigen.run}. */
export interface EigenStart {
  /** Every eigenvalue (the column norms of G·V), descending, in float64. */
  values: Float64Array;
  /** d×k: the eigenvectors of the k largest. */
  vectors: Mat;
  /** Sweeps made, and the last sweep's max |γ|/√(αβ) (the columns' remaining coupling), over the whole batch. */
  sweeps: number;
  off: number;
}

/** The Jacobi pipelines of a device. */
export interface JacobiEigen {
  /**
   * Eigenpairs of each symmetric PSD matrix in `mats` (only symmetric input is meaningful), the k
   * leading vectors each, in one batch: the matrices are padded to a common even order n.
   * Sweeps run until the coupling is below `tol` (default 1e-6) or `maxSweeps` (default 30).
   */
  run(
    mats: readonly Mat[],
    k: number,
    opts?: { tol?: number; maxSweeps?: number },
  ): Promise<EigenStart[]>;
}

/** Compiles the Jacobi kernels on a device. `alive` throws when the device is gone. */
export function jacobiEigen(device: GPUDevice, alive: (where: string) => void): JacobiEigen {
  const module = device.createShaderModule({ code: JACOBI_WGSL, label: "deep-nrc jacobi" });
  const mk = (entryPoint: string) =>
    device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint },
      label: `deep-nrc jacobi ${entryPoint}`,
    });
  const rotate = mk("rotate");
  const advance = mk("advance");

  async function run(
    mats: readonly Mat[],
    k: number,
    opts: { tol?: number; maxSweeps?: number } = {},
  ): Promise<EigenStart[]> {
    const tol = opts.tol ?? 1e-6;
    const maxSweeps = opts.maxSweeps ?? 30;
    const L = mats.length;
    let n = 2;
    for (const g of mats) n = Math.max(n, g.rows);
    n += n % 2;
    const nn = n * n;
    // W = G scaled by a power of two (largest entry about 1), column-major (G is symmetric);
    // V = I.
    const w = new Float32Array(L * nn);
    const v = new Float32Array(L * nn);
    const exps = mats.map((g, l) => {
      let mx = 0;
      for (const x of g.data) mx = Math.max(mx, Math.abs(x));
      const e = mx > 0 ? Math.ceil(Math.log2(mx)) : 0;
      const f = 2 ** -e;
      const d = g.rows;
      for (let j = 0; j < d; j++)
        for (let i = 0; i < d; i++) w[l * nn + j * n + i] = g.data[i * d + j] * f;
      for (let j = 0; j < n; j++) v[l * nn + j * n + j] = 1;
      return e;
    });
    return withBuffers(device, async (buf) => {
      const bw = buf(w.byteLength, USAGE_STORAGE | USAGE_COPY_DST | USAGE_COPY_SRC, "W");
      const bv = buf(v.byteLength, USAGE_STORAGE | USAGE_COPY_DST | USAGE_COPY_SRC, "V");
      const ctrl = buf(16, USAGE_STORAGE | USAGE_COPY_DST | USAGE_COPY_SRC, "ctrl");
      const uni = buf(16, USAGE_UNIFORM | USAGE_COPY_DST, "params");
      const stage = buf(16, USAGE_MAP_READ | USAGE_COPY_DST, "ctrl staging");
      device.queue.writeBuffer(bw, 0, w);
      device.queue.writeBuffer(bv, 0, v);
      device.queue.writeBuffer(uni, 0, new Uint32Array([n, L, 0, 0]));
      const groupOf = (p: GPUComputePipeline, entries: [number, GPUBuffer][]) =>
        device.createBindGroup({
          layout: p.getBindGroupLayout(0),
          entries: entries.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
        });
      const rotGroup = groupOf(rotate, [
        [0, bw],
        [1, bv],
        [2, ctrl],
        [3, uni],
      ]);
      const advGroup = groupOf(advance, [
        [2, ctrl],
        [3, uni],
      ]);
      let sweeps = 0;
      let off = Infinity;
      while (sweeps < maxSweeps && !(off <= tol)) {
        alive("jacobi");
        device.queue.writeBuffer(ctrl, 0, new Uint32Array([0, 0, 0, 0]));
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (let s = 0; s < n - 1; s++) {
          pass.setPipeline(rotate);
          pass.setBindGroup(0, rotGroup);
          pass.dispatchWorkgroups(n / 2, L, 1);
          pass.setPipeline(advance);
          pass.setBindGroup(0, advGroup);
          pass.dispatchWorkgroups(1, 1, 1);
        }
        pass.end();
        enc.copyBufferToBuffer(ctrl, 0, stage, 0, 16);
        device.queue.submit([enc.finish()]);
        await stage.mapAsync(MAP_READ);
        off = new Float32Array(stage.getMappedRange().slice(0))[1];
        stage.unmap();
        sweeps++;
      }
      const rw = buf(w.byteLength, USAGE_MAP_READ | USAGE_COPY_DST, "W staging");
      const rv = buf(v.byteLength, USAGE_MAP_READ | USAGE_COPY_DST, "V staging");
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(bw, 0, rw, 0, w.byteLength);
      enc.copyBufferToBuffer(bv, 0, rv, 0, v.byteLength);
      device.queue.submit([enc.finish()]);
      await Promise.all([rw.mapAsync(MAP_READ), rv.mapAsync(MAP_READ)]);
      const W = new Float32Array(rw.getMappedRange().slice(0));
      const Vs = new Float32Array(rv.getMappedRange().slice(0));
      rw.unmap();
      rv.unmap();
      return mats.map((g, l) =>
        extract(W, Vs, l, n, g.rows, Math.min(k, g.rows), exps[l], sweeps, off),
      );
    });
  }
  return { run };
}

/**
 * Layer l's eigenvalues (column norms of W, scaled back by 2^e, descending) and the eigenvectors
 * of the k largest (V's columns, first d rows: padding rows are zero for real eigenvectors).
 */
function extract(
  W: Float32Array,
  V: Float32Array,
  l: number,
  n: number,
  d: number,
  k: number,
  e: number,
  sweeps: number,
  off: number,
): EigenStart {
  const base = l * n * n;
  const norms = Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += W[base + j * n + i] ** 2;
    return Math.sqrt(s) * 2 ** e;
  });
  // Padding columns carry zero (their unit vectors live in the padding rows): keep the d
  // columns whose vectors have the most weight in the first d rows.
  const weight = (j: number) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += V[base + j * n + i] ** 2;
    return s;
  };
  const order = Array.from({ length: n }, (_, j) => j)
    .sort((a, b) => weight(b) - weight(a))
    .slice(0, d)
    .sort((a, b) => norms[b] - norms[a]);
  const values = Float64Array.from(order, (j) => norms[j]);
  const vectors = new Float64Array(d * k);
  for (let c = 0; c < k; c++)
    for (let i = 0; i < d; i++) vectors[i * k + c] = V[base + order[c] * n + i];
  return { values, vectors: { rows: d, cols: k, data: vectors }, sweeps, off };
}
