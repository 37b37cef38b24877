/**
 * A deterministic synthetic "trained network" for demos and tests: features of L layers that
 * collapse progressively onto the targets' span, and weights that increasingly read that span.
 * Layer l's features are `H_l = Y·A_l + s_l·Z_l·B_l` (signal plus noise whose scale s_l shrinks
 * geometrically), its weight `W_l = C_l·(A_lᵀ-aligned read-out) + s_l·noise`. Nothing here is
 * trained: it exists so the demo and the docs have something with a known shape to measure.
 * @module
 */
import type { Mat } from "../backends/types.js";

/** A small seeded PRNG (xoshiro128**) with Box–Muller normals. */
export function makeRng(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0 || 1,
    b = 0x9e3779b9,
    c = 0x243f6a88,
    d = 0xb7e15162;
  const next = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
  for (let i = 0; i < 16; i++) next();
  const uniform = () => (next() + 0.5) / 4294967296;
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function randn(rng: ReturnType<typeof makeRng>, rows: number, cols: number, scale = 1): Mat {
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = scale * rng.normal();
  return { rows, cols, data };
}

function mul(a: Mat, b: Mat): Mat {
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let p = 0; p < a.cols; p++) {
      const v = a.data[i * a.cols + p];
      for (let j = 0; j < b.cols; j++) out[i * b.cols + j] += v * b.data[p * b.cols + j];
    }
  return { rows: a.rows, cols: b.cols, data: out };
}

function add(a: Mat, b: Mat): Mat {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return { rows: a.rows, cols: a.cols, data: out };
}

/** Options of {@link makeSyntheticNetwork}. */
export interface SyntheticNetworkOptions {
  /** Samples (default 512). */
  samples?: number;
  /** Layers (default 6). */
  layers?: number;
  /** Width of every layer (default 32). */
  width?: number;
  /** Target dimension (default 3). */
  targets?: number;
  /** Seed (default 1). */
  seed?: number;
}

/**
 * Builds the synthetic network: `{ layers: [{ name, features, weight }], targets }`, ready for
 * `measureNRC`. Noise falls by 10× per layer from a noise-dominated first layer.
 * @example
 * ```ts
 * import { makeSyntheticNetwork, measureNRC } from "deep-nrc";
 * const net = makeSyntheticNetwork({ samples: 256 });
 * const report = await measureNRC(net);
 * ```
 */
export function makeSyntheticNetwork(opts: SyntheticNetworkOptions = {}): {
  layers: { name: string; features: Mat; weight: Mat }[];
  targets: Mat;
} {
  const N = opts.samples ?? 512;
  const L = opts.layers ?? 6;
  const d = opts.width ?? 32;
  const t = opts.targets ?? 3;
  const rng = makeRng(opts.seed ?? 1);
  const x = randn(rng, N, t);
  const targets = x; // targets: t independent standard normals
  const layers = [];
  for (let l = 0; l < L; l++) {
    const noise = 3 * 10 ** -l;
    const A = randn(rng, t, d, 1 / Math.sqrt(t)); // signal directions in feature space
    const H = add(mul(targets, A), mul(randn(rng, N, d), randn(rng, d, d, noise / Math.sqrt(d))));
    // Weight: reads the signal directions A (rows of C·A) plus noise.
    const W = add(mul(randn(rng, d, t, 1), A), randn(rng, d, d, (noise * 0.5) / Math.sqrt(d)));
    layers.push({ name: `fc${l + 1}`, features: H, weight: W });
  }
  return { layers, targets };
}
