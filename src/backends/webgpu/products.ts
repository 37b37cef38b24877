/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend's two ways to compute a product `ÃᵀB̃` of centered, scaled columns, each
 * returning the float64 n×q sum (for a Gram, A = B, only the upper triangle is filled):
 *
 * - {@link f32Plan}: float32 row-tile partial products (`./shaders.ts`), each tile read back and
 *   summed in float64: fast, accurate to ~1e-7 of the centered data (the float32 pass).
 * - {@link intPlan}: exact integer products of digit planes (`./int-shader.ts`, `../slices.ts`),
 *   recombined in float64: as accurate as a float64 product, 9 integer products for a Gram.
 *
 * @module
 */
import { BLOCK } from "./shaders.js";
import { MAX_INT_ROWS, MAX_PAIRS } from "./int-shader.js";
import { type StreamPlan, slotCount } from "./stream.js";
import { type ColPrep, fillChunk } from "./f32prep.js";
import {
  type SliceFormat,
  type SlicePrep,
  addPair,
  fillDigits,
  pairWeight,
  slicePairs,
} from "../slices.js";
import type { Mat, MatF32 } from "../types.js";

const MiB = 1024 * 1024;

/**
 * One operand of the float32 pass: how its rows reach the GPU. Either the host fills float32
 * rows (`fill`, e.g. centered and scaled in float64 and rounded once), or a float32 source is
 * uploaded as it is (`raw`, its data) and centered and scaled as the kernel reads it; `center` and
 * `scale` are applied there in both cases (0 and 1 where the host did it).
 */
export interface F32Side {
  mat: Mat | MatF32;
  fill?: (r0: number, r1: number, dst: Float32Array) => void;
  raw?: Float32Array;
  center: Float32Array;
  scale: Float32Array;
}

/** A side whose rows the host fills centered and scaled (`fillChunk` with `p`). */
export function filledSide(mat: Mat | MatF32, p: ColPrep): F32Side {
  const n = mat.cols;
  return {
    mat,
    fill: (r0, r1, dst) => fillChunk(mat, p, r0, r1, dst),
    center: new Float32Array(n),
    scale: new Float32Array(n).fill(1),
  };
}

/**
 * The float32 pass: tiles of `tileRows` rows, each tile's n×q float32 partial product read back
 * and summed into `acc` in float64 (for a Gram, B = null, the upper triangle).
 */
export function f32Plan(
  A: F32Side,
  B: F32Side | null,
  tileRows: number,
  maxBytes: number,
  acc: Float64Array,
): StreamPlan {
  const a = A.mat;
  const m = a.rows;
  const n = a.cols;
  const q = B ? B.mat.cols : n;
  const sym = B === null;
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
  const slots = slotCount({ rows: m, rowsPerChunk });
  const host = (side: F32Side, w: number) =>
    side.raw ? null : Array.from({ length: slots }, () => new Float32Array(chunkRows * w));
  const fa = host(A, n);
  const fb = B ? host(B, q) : null;
  const rows = (
    side: F32Side,
    arrays: Float32Array[] | null,
    s: number,
    r0: number,
    r1: number,
  ) => {
    const w = side.mat.cols;
    if (side.raw) return side.raw.subarray(r0 * w, r1 * w);
    side.fill!(r0, r1, arrays![s]);
    return arrays![s].subarray(0, (r1 - r0) * w);
  };
  const stats = new Float32Array(2 * n + 2 * q);
  stats.set(A.center, 0);
  stats.set(A.scale, n);
  stats.set((B ?? A).center, 2 * n);
  stats.set((B ?? A).scale, 2 * n + q);
  const nq = n * q;
  return {
    rows: m,
    rowsPerChunk,
    aBytes: chunkRows * n * 4,
    bBytes: B ? chunkRows * q * 4 : 0,
    outBytes: tilesPerChunk * tileBytes,
    uniformBytes: 32,
    stats,
    prepare(s, r0, r1) {
      const tiles = Math.ceil((r1 - r0) / tileRows);
      return {
        a: rows(A, fa, s, r0, r1),
        b: B ? rows(B, fb, s, r0, r1) : undefined,
        params: new Uint32Array([r1 - r0, n, q, tileRows, sym ? 1 : 0, 0, 0, 0]),
        groups: [Math.ceil(q / BLOCK), Math.ceil(n / BLOCK), tiles],
        readBytes: tiles * tileBytes,
      };
    },
    consume(out, r0, r1) {
      const part = new Float32Array(out);
      const tiles = Math.ceil((r1 - r0) / tileRows);
      for (let t = 0; t < tiles; t++) {
        const o = t * nq;
        if (sym)
          for (let i = 0; i < n; i++) {
            const ro = i * n;
            for (let j = i; j < n; j++) acc[ro + j] += part[o + ro + j];
          }
        else for (let k = 0; k < nq; k++) acc[k] += part[o + k];
      }
    },
  };
}

/** Bytes of output one exact pass writes: (hi, lo) i32 words per entry per digit pair. */
export function intOutBytes(n: number, q: number, fmt: SliceFormat, sym: boolean): number {
  return slicePairs(fmt, sym).length * n * q * 8;
}

/**
 * The exact pass: chunks of rows cut into digit planes on the host, the integer products of the
 * digit pairs on the GPU, recombined into `acc` in float64.
 */
export function intPlan(
  a: Mat | MatF32,
  pa: SlicePrep,
  b: Mat | MatF32 | null,
  pb: SlicePrep | null,
  fmt: SliceFormat,
  maxBytes: number,
  acc: Float64Array,
): StreamPlan {
  const m = a.rows;
  const n = a.cols;
  const q = b ? b.cols : n;
  const sym = b === null;
  const pairs = slicePairs(fmt, sym);
  if (pairs.length > MAX_PAIRS)
    throw new Error(`webgpu backend: ${pairs.length} digit pairs exceed ${MAX_PAIRS}`);
  const D = fmt.digits;
  const outBytes = pairs.length * n * q * 8;
  const widest = D * Math.max(n, q) * 4;
  if (outBytes > maxBytes || widest > maxBytes)
    throw new Error(
      `webgpu backend: an exact ${n}×${q} product (${(outBytes / MiB).toFixed(1)} MiB of output) exceeds the buffer limit of ${(maxBytes / MiB).toFixed(1)} MiB`,
    );
  const rowsPerChunk = Math.max(1, Math.min(m, MAX_INT_ROWS, Math.floor(maxBytes / widest)));
  const slots = slotCount({ rows: m, rowsPerChunk });
  const da = Array.from({ length: slots }, () => new Int32Array(D * rowsPerChunk * n));
  const db = b ? Array.from({ length: slots }, () => new Int32Array(D * rowsPerChunk * q)) : null;
  const params = new Uint32Array(8 + 4 * MAX_PAIRS);
  pairs.forEach(([k, l], p) => {
    params[8 + 4 * p] = k;
    params[9 + 4 * p] = l;
  });
  const weights = pairs.map(([k, l]) => pairWeight(fmt, k, l));
  const nq = n * q;
  return {
    rows: m,
    rowsPerChunk,
    aBytes: D * rowsPerChunk * n * 4,
    bBytes: b ? D * rowsPerChunk * q * 4 : 0,
    outBytes,
    uniformBytes: params.byteLength,
    prepare(s, r0, r1) {
      const rows = r1 - r0;
      fillDigits(a, pa, fmt, r0, r1, da[s], rows * n);
      if (b && pb && db) fillDigits(b, pb, fmt, r0, r1, db[s], rows * q);
      const p = params.slice();
      p.set([rows, n, q, sym ? 1 : 0, rows * n, rows * q]);
      return {
        a: da[s].subarray(0, D * rows * n),
        b: db ? db[s].subarray(0, D * rows * q) : undefined,
        params: p,
        groups: [Math.ceil(q / 32), Math.ceil(n / 32), pairs.length],
        readBytes: outBytes,
      };
    },
    consume(out) {
      const v = new Int32Array(out);
      pairs.forEach(([k, l], p) => {
        const base = 2 * p * nq;
        addPair(acc, n, q, weights[p], sym, k === l, (x) => {
          const o = base + 2 * x;
          return v[o] * 65536 + v[o + 1];
        });
      });
    },
  };
}
