/**
 * Exact products on a tfjs backend whose arithmetic is float32 (WebGL, WebGPU, wasm, cpu): the
 * Ozaki scheme of `../slices.ts` with digits small enough for float32 — |d| ≤ 2^7, so a product is
 * ≤ 2^14 and a tile of ≤ 1024 rows sums to ≤ 2^24, where every integer is exact in float32 whatever
 * the order of the additions (or fused multiply-adds). Per tile, one `matMul` per leading digit k
 * against the concatenated digit planes it pairs with; the integer tile products are read back and
 * summed in float64 on the host (exact: integers below 2^53).
 *
 * @module
 */
import type { Mat, MatF32 } from "../types.js";
import {
  F32_FORMAT,
  type SlicePrep,
  addPair,
  fillDigits,
  finishSliced,
  pairWeight,
  prepSlices,
} from "../slices.js";
import { ieeeProduct } from "../offload.js";
import type { TF } from "./tf.js";

/** Most rows per tile: 1024·2^14 = 2^24, float32's last exact integer step. */
export const EXACT_TILE_ROWS = 1024;

/**
 * `Σ (aᵢ − sa)(bᵢ − sb)ᵀ` (a Gram when b is null; shifts 0 when absent) from float32 products of
 * integer digits, as accurate as a float64 product.
 * @param tileRows Rows per tile (at most {@link EXACT_TILE_ROWS}).
 * @param maxChunkBytes Upper bound on one batch of tile products read back at once.
 */
export async function exactTfProduct(
  tf: TF,
  a: Mat | MatF32,
  b: Mat | MatF32 | null,
  tileRows: number,
  maxChunkBytes: number,
  sa?: Float64Array,
  sb?: Float64Array,
): Promise<Mat> {
  const fmt = F32_FORMAT;
  const pa = prepSlices(a, fmt);
  const pb = b ? prepSlices(b, fmt) : pa;
  if (!pa.finite || !pb.finite) return ieeeProduct(a, b, sa, sb);
  const m = a.rows;
  const n = a.cols;
  const q = b ? b.cols : n;
  const sym = b === null;
  const D = fmt.digits;
  const T = Math.max(1, Math.min(EXACT_TILE_ROWS, tileRows, m));
  // Per leading digit k, the digits l it pairs with: k + l ≤ D − 1 (and l ≥ k for a Gram).
  const partners = Array.from({ length: D }, (_, k) => {
    const out: number[] = [];
    for (let l = sym ? k : 0; l <= D - 1 - k; l++) out.push(l);
    return out;
  }).filter((ls) => ls.length > 0);
  const outPerTile = partners.reduce((s, ls) => s + n * q * ls.length, 0);
  const tilesPerChunk = Math.max(1, Math.floor(maxChunkBytes / (4 * outPerTile)));
  const acc = new Float64Array(n * q);
  const da = new Float32Array(D * T * n);
  const db = b ? new Float32Array(D * T * q) : da;
  for (let r0 = 0; r0 < m;) {
    const parts: Float32Array[] = [];
    const tensors = [];
    for (let t = 0; t < tilesPerChunk && r0 < m; t++, r0 += T) {
      const r1 = Math.min(m, r0 + T);
      tensors.push(tileProducts(tf, a, pa, b, pb, r0, r1, da, db, partners));
    }
    for (const x of tensors) {
      try {
        parts.push((await x.data()) as Float32Array);
      } finally {
        x.dispose();
      }
    }
    for (const part of parts) addTile(acc, part, partners, n, q, sym);
  }
  return finishSliced(acc, pa, pb, sym, sa, b ? sb : sa);

  /** Adds one tile's integer products (the `partners` layout) into acc, weighted. */
  function addTile(
    acc: Float64Array,
    part: Float32Array,
    partners: number[][],
    n: number,
    q: number,
    sym: boolean,
  ): void {
    let off = 0;
    partners.forEach((ls, k) => {
      const width = q * ls.length;
      ls.forEach((l, c) => {
        const base = off + c * q;
        addPair(acc, n, q, pairWeight(fmt, k, l), sym, k === l, (x) => {
          const i = (x / q) | 0;
          return part[base + i * width + (x - i * q)];
        });
      });
      off += n * width;
    });
  }
}

/**
 * One tile's digit products on the tfjs backend, flattened: for each leading digit k (in order),
 * the n × (q·|partners[k]|) product `S_kᵀ·[S_l …]`.
 */
function tileProducts(
  tf: TF,
  a: Mat | MatF32,
  pa: SlicePrep,
  b: Mat | MatF32 | null,
  pb: SlicePrep,
  r0: number,
  r1: number,
  da: Float32Array,
  db: Float32Array,
  partners: number[][],
): { data(): Promise<unknown>; dispose(): void } {
  const rows = r1 - r0;
  const n = a.cols;
  const q = b ? b.cols : n;
  fillDigits(a, pa, F32_FORMAT, r0, r1, da, rows * n);
  if (b) fillDigits(b, pb, F32_FORMAT, r0, r1, db, rows * q);
  return tf.tidy(() => {
    const planeA = (k: number) =>
      tf.tensor2d(da.slice(k * rows * n, (k + 1) * rows * n), [rows, n], "float32");
    const planeB = b
      ? (l: number) => tf.tensor2d(db.slice(l * rows * q, (l + 1) * rows * q), [rows, q], "float32")
      : planeA;
    const outs = partners.map((ls, k) => {
      const right = ls.length === 1 ? planeB(ls[0]) : tf.concat(ls.map(planeB), 1);
      // Transposed explicitly: matMul's transposeA is far slower on some tfjs backends.
      return tf.reshape(tf.matMul(tf.transpose(planeA(k)), right), [-1]);
    });
    return outs.length === 1 ? outs[0] : tf.concat(outs, 0);
  });
}

/**
 * Whether the tfjs backend's `matMul` is exact on the integer sums the exact products rely on:
 * a 1024-row product of digits of magnitude ≤ 2^7 whose value, 1023·127² + 127 = 16500094, needs
 * every one of float32's 24 bits. A backend that multiplies in float16 (WebGL where float32
 * textures are unavailable) or rounds partial sums otherwise fails it.
 * @returns null when exact, else what the backend returned.
 */
export async function probeExactMatMul(tf: TF): Promise<number | null> {
  const a = new Float32Array(EXACT_TILE_ROWS).fill(127);
  const b = new Float32Array(EXACT_TILE_ROWS).fill(127);
  b[EXACT_TILE_ROWS - 1] = 1;
  const out = tf.tidy(() =>
    tf.matMul(
      tf.transpose(tf.tensor2d(a, [EXACT_TILE_ROWS, 1], "float32")),
      tf.tensor2d(b, [EXACT_TILE_ROWS, 1], "float32"),
    ),
  );
  try {
    const got = (await out.data())[0] as number;
    return got === 1023 * 127 * 127 + 127 ? null : got;
  } finally {
    out.dispose();
  }
}
