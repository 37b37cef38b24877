/**
 * The bench's second standard workload: layers shaped like those of a trained regression net
 * rather than a well-conditioned benchmark. 8 layers × N samples, t = 3 targets:
 *
 * | layer | width | what it is |
 * | --- | --- | --- |
 * | 0 | 20 | the standardised input (a narrow first layer) |
 * | 1–3 | d | ReLU features with 20 %, 30 %, 45 % dead units (exact zero columns), one constant unit |
 * | 4 | d | a linear bottleneck: rank 16 plus 1e-9 noise (κ(HᵀH) ~ 1e18) |
 * | 5–7 | d | collapsed ReLU layers: the targets' span plus noise 1e-3, 1e-5, 3e-8 of the signal (NRC1 ~ 1e-7 … 1e-15), 25 % dead units, duplicated columns |
 *
 * Weights are out×in, random plus a read-out of the signal span that grows with depth (as in
 * {@link SyntheticNet}). Deterministic in `seed`; written as the same files as the standard
 * workload (`Y.npy`, `H{l}.npy`, `W{l}.npy`, `workload.json`).
 * @module
 */
import { makeRng } from "../src/io/synthetic.js";
import { writeWorkload, type M, type Workload } from "./common.js";

type Rng = ReturnType<typeof makeRng>;

function gauss(rng: Rng, n: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * rng.normal();
  return out;
}

/** C = A·B for row-major A (m×k), B (k×n). */
function mm(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const v = a[i * k + p];
      if (v === 0) continue;
      const bo = p * n;
      const co = i * n;
      for (let j = 0; j < n; j++) c[co + j] += v * b[bo + j];
    }
  return c;
}

/** Layer recipes (see the module doc). */
interface Recipe {
  kind: "input" | "relu" | "bottleneck" | "collapsed";
  dead: number;
  noise: number;
}

const RECIPES: Recipe[] = [
  { kind: "input", dead: 0, noise: 0 },
  { kind: "relu", dead: 0.2, noise: 0 },
  { kind: "relu", dead: 0.3, noise: 0 },
  { kind: "relu", dead: 0.45, noise: 0 },
  { kind: "bottleneck", dead: 0, noise: 1e-9 },
  { kind: "collapsed", dead: 0.25, noise: 1e-3 },
  { kind: "collapsed", dead: 0.25, noise: 1e-5 },
  { kind: "collapsed", dead: 0.25, noise: 3e-8 },
];

/** The trained-like network (see the module doc). */
export class TrainedLikeNet {
  readonly y: M;
  readonly x: M;
  readonly L = RECIPES.length;
  readonly t = 3;
  constructor(
    readonly N: number,
    readonly d: number,
    readonly seed = 20261206,
  ) {
    const rng = makeRng(seed);
    const x = gauss(rng, N * 20);
    this.x = { rows: N, cols: 20, data: x };
    // Targets: a smooth nonlinear function of the input (three columns of different scales).
    const y = new Float64Array(N * 3);
    const a = gauss(rng, 20 * 3, 1 / Math.sqrt(20));
    const lin = mm(x, a, N, 20, 3);
    for (let i = 0; i < N; i++) {
      y[i * 3] = Math.tanh(lin[i * 3]) + 0.3 * lin[i * 3 + 1];
      y[i * 3 + 1] = 0.6 * Math.sin(lin[i * 3 + 1]);
      y[i * 3 + 2] = 0.3 * lin[i * 3 + 2] * lin[i * 3 + 2] - 0.3;
    }
    this.y = { rows: N, cols: 3, data: y };
  }

  /** Width of layer l's features. */
  width(l: number): number {
    return l === 0 ? 20 : this.d;
  }

  /** Layer l's features (N × width). */
  features(l: number): M {
    const { N, d } = this;
    const r = RECIPES[l];
    if (r.kind === "input") return { rows: N, cols: 20, data: Float64Array.from(this.x.data) };
    const rng = makeRng(this.seed + 7919 * (l + 1));
    let h: Float64Array;
    if (r.kind === "relu") {
      // ReLU of a random map of the input and the targets, plus a little independent noise.
      const src = new Float64Array(N * 23);
      for (let i = 0; i < N; i++) {
        src.set(this.x.data.subarray(i * 20, i * 20 + 20), i * 23);
        src.set(this.y.data.subarray(i * 3, i * 3 + 3), i * 23 + 20);
      }
      h = mm(src, gauss(rng, 23 * d, 1 / Math.sqrt(23)), N, 23, d);
      const bias = gauss(rng, d, 0.5);
      for (let i = 0; i < N; i++)
        for (let j = 0; j < d; j++) {
          const v = h[i * d + j] + bias[j] + 0.05 * rng.normal();
          h[i * d + j] = v > 0 ? v : 0;
        }
    } else if (r.kind === "bottleneck") {
      const z = mm(this.x.data, gauss(rng, 20 * 16), N, 20, 16);
      for (let i = 0; i < z.length; i++) z[i] = Math.tanh(z[i]);
      h = mm(z, gauss(rng, 16 * d, 0.25), N, 16, d);
      const mu = gauss(rng, d, 0.5);
      for (let i = 0; i < N; i++)
        for (let j = 0; j < d; j++) h[i * d + j] += mu[j] + r.noise * rng.normal();
    } else {
      // Collapsed: the targets' span (positive part kept by a large offset) plus tiny noise.
      h = mm(this.y.data, gauss(rng, 3 * d), N, 3, d);
      const mu = new Float64Array(d);
      for (let j = 0; j < d; j++) mu[j] = 6 + rng.uniform();
      for (let i = 0; i < N; i++)
        for (let j = 0; j < d; j++) h[i * d + j] += mu[j] + r.noise * rng.normal();
    }
    // Dead units: exact zero columns, at random positions.
    const nDead = Math.round(r.dead * d);
    const order = Array.from({ length: d }, (_, j) => j);
    for (let j = d - 1; j > 0; j--) {
      const k = Math.floor(rng.uniform() * (j + 1));
      [order[j], order[k]] = [order[k], order[j]];
    }
    for (let c = 0; c < nDead; c++) {
      const j = order[c];
      if (r.kind === "collapsed" && (j < 16 || j >= d - 8)) continue;
      for (let i = 0; i < N; i++) h[i * d + j] = 0;
    }
    if (r.kind === "collapsed")
      // A few exact duplicate columns (units that learned the same thing).
      for (let j = 0; j < 8; j++)
        for (let i = 0; i < N; i++) h[i * d + d - 1 - j] = h[i * d + 2 * j];
    // One constant, nonzero unit in the ReLU layers (a saturated unit).
    if (r.kind === "relu") {
      const j = order[nDead];
      for (let i = 0; i < N; i++) h[i * d + j] = 0.75;
    }
    return { rows: N, cols: d, data: h };
  }

  /** Layer l's weight (out×in); its top input subspace turns towards the signal with depth. */
  weight(l: number): M {
    const din = this.width(l);
    const out = this.d;
    const rng = makeRng(this.seed + 31 * (l + 1) + 5);
    const w = gauss(rng, out * din, 1 / Math.sqrt(din));
    const c = 0.02 * 50 ** (l / (this.L - 1));
    const m = gauss(rng, out * 3);
    const dir = gauss(rng, 3 * din);
    for (let i = 0; i < out; i++)
      for (let k = 0; k < 3; k++)
        for (let j = 0; j < din; j++) w[i * din + j] += c * m[i * 3 + k] * dir[k * din + j];
    return { rows: out, cols: din, data: w };
  }

  /** Writes `Y.npy`, `H{l}.npy`, `W{l}.npy` (float64) and `workload.json` to `dir`. */
  writeTo(dir: string): Workload {
    return writeWorkload(dir, this);
  }
}
