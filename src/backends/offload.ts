/**
 * What the backends whose hardware has no float64 (webgpu, tfjs) share on the host: the CPU
 * backend that runs their float64 kernels, the shift argument's check, and the O(N·d) and
 * O(N·d·q) float64 sums beside their O(N·d²) products.
 *
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Backend, Kernels, Mat, MatF32 } from "./types.js";
import { wasmBackend } from "./wasm/index.js";
import { jsKernels } from "./js/index.js";

/**
 * What the webgpu and tfjs backends' `lowGram` returns (issue 22's `LowGramResult`): `gram` ≈ Σ(aᵢ − s)(aᵢ − s)ᵀ (float32 products, summed
 * in float32 over at most `blockRows` rows, then in float64), `sums` = Σ(aᵢ − s) and `squares` =
 * Σ(aᵢ − s)² per column in float64, `unitRoundoff` = 2⁻²⁴.
 */
export interface LowGram {
  gram: Mat;
  sums: Float64Array;
  squares: Float64Array;
  blockRows: number;
  unitRoundoff: number;
}

/** The CPU kernels: the given backend, else wasm, else none (completeKernels fills in JS). */
export async function startCpu(backend: Backend | undefined): Promise<Kernels | null> {
  if (backend) return backend.init();
  try {
    return await wasmBackend().init();
  } catch {
    return null;
  }
}

/** A shift argument: a Float64Array with one finite entry per column of a. */
export function checkShift(fn: string, a: Mat | MatF32, shift: unknown): void {
  if (
    !(shift instanceof Float64Array) ||
    shift.length !== a.cols ||
    !shift.every((v) => Number.isFinite(v))
  )
    throw new NRCInputError(
      fn,
      "shift",
      `shift must be a Float64Array of ${a.cols} finite entries (one per column of a); got ${
        shift instanceof Float64Array
          ? `length ${shift.length}${shift.every((v) => Number.isFinite(v)) ? "" : " with a non-finite entry"}`
          : typeof shift
      }`,
    );
}

/** Widest B whose cross products `shiftedMoments` sums on the host in float64 (O(N·d·q)). */
export const HOST_CROSS_MAX = 64;

/**
 * `Σ (aᵢ − s)` and, for a narrow B (≤ {@link HOST_CROSS_MAX} columns), `Σ (aᵢ − s)·bᵢᵀ`, in float64
 * on the host: O(N·d·q), a small share of the Gram's O(N·d²).
 */
export function hostCross(
  a: Mat | MatF32,
  s: Float64Array,
  b: Mat,
): { sums: Float64Array; cross: Mat } {
  const { rows: m, cols: d, data } = a;
  const q = b.cols;
  const sums = new Float64Array(d);
  const narrow = q <= HOST_CROSS_MAX;
  const cross = new Float64Array(narrow ? d * q : 0);
  const v = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    const o = r * d;
    for (let j = 0; j < d; j++) {
      v[j] = data[o + j] - s[j];
      sums[j] += v[j];
    }
    if (!narrow) continue;
    const bo = r * q;
    for (let c = 0; c < q; c++) {
      const y = b.data[bo + c];
      if (y === 0) continue;
      for (let j = 0; j < d; j++) cross[j * q + c] += v[j] * y;
    }
  }
  return { sums, cross: { rows: d, cols: narrow ? q : 0, data: cross } };
}

/** The float64 kernels the GPU does not run, from the CPU backend (wasm, else JS). */
export function cpuKernels(cpu: Kernels | null): Partial<Kernels> {
  if (!cpu) return {};
  const out: Record<string, unknown> = {};
  for (const key of CPU_KEYS) {
    const f = (cpu as unknown as Record<string, unknown>)[key];
    if (typeof f === "function") out[key] = f.bind(cpu);
  }
  return out as Partial<Kernels>;
}

const CPU_KEYS: readonly string[] = [
  "matmul",
  "symEig",
  "topEig",
  "svd",
  "svdParts",
  "normalStep",
  "cholesky",
  "projectedTail",
  "qr",
  // issue 22's float64 pass of the certified spectrum, where the CPU backend has it
  "subspacePass",
];

/**
 * `Σ (aᵢ − sa)(bᵢ − sb)ᵀ` (b = a when null; shifts 0 when absent) on the JS float64 kernels: for
 * inputs holding NaN or ±Infinity, which integer digits cannot carry, so that they reach the
 * result as IEEE arithmetic has them.
 */
export async function ieeeProduct(
  a: Mat | MatF32,
  b: Mat | MatF32 | null,
  sa?: Float64Array,
  sb?: Float64Array,
): Promise<Mat> {
  const shifted = (x: Mat | MatF32, s?: Float64Array): Mat => ({
    rows: x.rows,
    cols: x.cols,
    data: Float64Array.from(x.data, (v, i) => v - (s ? s[i % x.cols] : 0)),
  });
  const as = shifted(a, sa);
  return b ? jsKernels.crossProd(as, shifted(b, sb)) : jsKernels.gram(as);
}
