/**
 * Datasets for the reproduction harness: the paper's synthetic regression tasks (§4.1, §4.3) and
 * one real multi-target dataset shipped in an npm package (`vega-datasets`), with a seeded RNG,
 * standardisation and the train/test split.
 *
 * Everything is plain `Float64Array`s, rows = samples (N×d inputs, N×t targets).
 * @module
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** A dense row-major matrix (rows = samples). */
export interface Dense {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** A regression dataset before the split. */
export interface Dataset {
  name: string;
  x: Dense;
  y: Dense;
  /** Rank of the targets' generator (synthetic low-rank data), when known. */
  targetRank: number | null;
  /** Free-text description of how it was made. */
  description: string;
}

/** A split, standardised dataset (statistics from the training part only). */
export interface SplitDataset {
  name: string;
  xTrain: Dense;
  yTrain: Dense;
  xTest: Dense;
  yTest: Dense;
  targetRank: number | null;
  description: string;
}

/**
 * A small seeded PRNG (mulberry32) with a Box–Muller normal sampler. Deterministic for a seed.
 */
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u <= 1e-300) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
    }
    return p;
  }
}

function gaussian(rng: Rng, rows: number, cols: number, scale = 1): Dense {
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * scale;
  return { rows, cols, data };
}

/** `A·B` for small dense matrices. */
export function matmul(a: Dense, b: Dense): Dense {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const aik = a.data[i * a.cols + k];
      if (aik === 0) continue;
      const ob = i * b.cols;
      const bb = k * b.cols;
      for (let j = 0; j < b.cols; j++) out[ob + j] += aik * b.data[bb + j];
    }
  }
  return { rows: a.rows, cols: b.cols, data: out };
}

function relu(a: Dense): Dense {
  const data = a.data.map((v) => (v > 0 ? v : 0));
  return { rows: a.rows, cols: a.cols, data };
}

/** Options of the synthetic datasets. */
export interface SyntheticOptions {
  /** Samples (paper: 10,000). */
  n?: number;
  /** Input dimension (paper: 20). */
  inputDim?: number;
  /** Target dimension t. */
  t: number;
  /** Teacher width (nonlinear) or rank (linear) r. */
  r: number;
  /** Seed. */
  seed?: number;
}

/**
 * The paper's nonlinear synthetic task: x ~ N(0, I_d), y = W3·relu(W2·relu(W1·x)) with random
 * Gaussian weights (hidden width r, scaled 1/√fan_in), i.e. a random 2-hidden-layer teacher.
 */
export function syntheticTeacher(opts: SyntheticOptions): Dataset {
  const { n = 10_000, inputDim = 20, t, r, seed = 0 } = opts;
  const rng = new Rng(seed * 7919 + 17);
  const x = gaussian(rng, n, inputDim);
  const w1 = gaussian(rng, inputDim, r, 1 / Math.sqrt(inputDim));
  const w2 = gaussian(rng, r, r, 1 / Math.sqrt(r));
  const w3 = gaussian(rng, r, t, 1 / Math.sqrt(r));
  const y = matmul(relu(matmul(relu(matmul(x, w1)), w2)), w3);
  return {
    name: `teacher(t=${t},r=${r})`,
    x,
    y,
    targetRank: Math.min(t, r),
    description: `x ~ N(0, I_${inputDim}), n = ${n}; y = random 2-hidden-layer ReLU net of width ${r} (Gaussian weights, 1/sqrt(fan_in)), t = ${t}`,
  };
}

/**
 * The paper's low-rank linear task: x ~ N(0, I_d), y = x·A with A = B·C, B d×r and C r×t Gaussian,
 * so the targets have rank r < t exactly.
 */
export function syntheticLowRank(opts: SyntheticOptions): Dataset {
  const { n = 10_000, inputDim = 20, t, r, seed = 0 } = opts;
  const rng = new Rng(seed * 104729 + 29);
  const x = gaussian(rng, n, inputDim);
  const b = gaussian(rng, inputDim, r, 1 / Math.sqrt(inputDim));
  const c = gaussian(rng, r, t, 1 / Math.sqrt(r));
  const y = matmul(x, matmul(b, c));
  return {
    name: `lowrank(t=${t},r=${r})`,
    x,
    y,
    targetRank: r,
    description: `x ~ N(0, I_${inputDim}), n = ${n}; y = x·B·C with B ${inputDim}×${r}, C ${r}×${t} Gaussian (rank ${r}), t = ${t}`,
  };
}

function vegaDataPath(file: string): string {
  // The package's exports map exposes only its entry (build/index.js); the data files sit in
  // data/ beside build/.
  const require = createRequire(import.meta.url);
  const entry = require.resolve("vega-datasets");
  return join(dirname(dirname(entry)), "data", file);
}

/**
 * Seattle hourly climate normals (`vega-datasets/data/seattle-weather-hourly-normals.csv`, NOAA
 * 1981–2010 hourly normals, 8,760 rows): inputs are the time of year and the time of day as
 * (cos, sin) pairs, targets the three measured normals (pressure, temperature, wind), t = 3.
 * A real, smooth, nonlinear multi-target regression with Hopper-like size (5,000 → 3 in the paper).
 */
export function seattleHourlyNormals(): Dataset {
  const text = readFileSync(vegaDataPath("seattle-weather-hourly-normals.csv"), "utf8");
  const lines = text.trim().split(/\r?\n/);
  const header = lines[0].split(",");
  const iDate = header.indexOf("date");
  const cols = ["pressure", "temperature", "wind"].map((c) => header.indexOf(c));
  if (iDate < 0 || cols.some((c) => c < 0)) throw new Error("unexpected header " + lines[0]);
  const rowsX: number[][] = [];
  const rowsY: number[][] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(",");
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(f[iDate]);
    if (!m) continue;
    const y = cols.map((c) => Number(f[c]));
    if (y.some((v) => !Number.isFinite(v))) continue;
    const date = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    const doy = (date - Date.UTC(Number(m[1]), 0, 1)) / 86_400_000;
    const hour = Number(m[4]) + Number(m[5]) / 60;
    const a = (2 * Math.PI * doy) / 365;
    const h = (2 * Math.PI * hour) / 24;
    rowsX.push([Math.cos(a), Math.sin(a), Math.cos(h), Math.sin(h)]);
    rowsY.push(y);
  }
  return {
    name: "seattle-hourly-normals",
    x: fromRows(rowsX),
    y: fromRows(rowsY),
    targetRank: null,
    description: `vega-datasets seattle-weather-hourly-normals.csv: ${rowsX.length} hours; x = (cos, sin) of day-of-year and hour (4 inputs); y = (pressure, temperature, wind), t = 3`,
  };
}

/**
 * Auto MPG (`vega-datasets/data/cars.json`, the UCI Auto MPG data): inputs cylinders, displacement,
 * weight, acceleration, model year and one-hot origin (8 inputs); targets miles-per-gallon and
 * horsepower (t = 2). Rows with a missing value are dropped (392 remain). Reacher-like size.
 */
export function autoMpg(): Dataset {
  const raw = JSON.parse(readFileSync(vegaDataPath("cars.json"), "utf8")) as Record<
    string,
    unknown
  >[];
  const rowsX: number[][] = [];
  const rowsY: number[][] = [];
  for (const c of raw) {
    const num = (k: string) => (typeof c[k] === "number" ? (c[k] as number) : NaN);
    const year = Number(String(c.Year).slice(0, 4));
    const x = [
      num("Cylinders"),
      num("Displacement"),
      num("Weight_in_lbs"),
      num("Acceleration"),
      year,
      c.Origin === "USA" ? 1 : 0,
      c.Origin === "Europe" ? 1 : 0,
      c.Origin === "Japan" ? 1 : 0,
    ];
    const y = [num("Miles_per_Gallon"), num("Horsepower")];
    if ([...x, ...y].some((v) => !Number.isFinite(v))) continue;
    rowsX.push(x);
    rowsY.push(y);
  }
  return {
    name: "auto-mpg",
    x: fromRows(rowsX),
    y: fromRows(rowsY),
    targetRank: null,
    description: `vega-datasets cars.json (UCI Auto MPG): ${rowsX.length} complete rows; 8 inputs; y = (MPG, horsepower), t = 2`,
  };
}

/** Rows → Dense. */
export function fromRows(rows: number[][]): Dense {
  const r = rows.length;
  const c = r ? rows[0].length : 0;
  const data = new Float64Array(r * c);
  rows.forEach((row, i) => data.set(row, i * c));
  return { rows: r, cols: c, data };
}

function takeRows(a: Dense, idx: ArrayLike<number>): Dense {
  const out = new Float64Array(idx.length * a.cols);
  for (let i = 0; i < idx.length; i++) {
    out.set(a.data.subarray(idx[i] * a.cols, (idx[i] + 1) * a.cols), i * a.cols);
  }
  return { rows: idx.length, cols: a.cols, data: out };
}

/** Column means and standard deviations (population) of a matrix. */
export function columnStats(a: Dense): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(a.cols);
  const std = new Float64Array(a.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) mean[j] += a.data[i * a.cols + j];
  for (let j = 0; j < a.cols; j++) mean[j] /= a.rows;
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) std[j] += (a.data[i * a.cols + j] - mean[j]) ** 2;
  for (let j = 0; j < a.cols; j++) std[j] = Math.sqrt(std[j] / a.rows);
  return { mean, std };
}

function standardize(a: Dense, mean: Float64Array, std: Float64Array): Dense {
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++)
      data[i * a.cols + j] = (a.data[i * a.cols + j] - mean[j]) / (std[j] > 0 ? std[j] : 1);
  return { rows: a.rows, cols: a.cols, data };
}

/**
 * Split 80/20 and standardise inputs and targets with the training part's mean and std.
 * `shuffleSeed` null keeps the paper's order (first 80% train, last 20% test).
 */
export function splitAndStandardize(
  ds: Dataset,
  opts: { trainFraction?: number; shuffleSeed?: number | null } = {},
): SplitDataset {
  const { trainFraction = 0.8, shuffleSeed = null } = opts;
  const n = ds.x.rows;
  const order =
    shuffleSeed === null
      ? Int32Array.from({ length: n }, (_, i) => i)
      : new Rng(shuffleSeed).permutation(n);
  const nTrain = Math.round(n * trainFraction);
  const tr = order.subarray(0, nTrain);
  const te = order.subarray(nTrain);
  const xTr = takeRows(ds.x, tr);
  const yTr = takeRows(ds.y, tr);
  const sx = columnStats(xTr);
  const sy = columnStats(yTr);
  return {
    name: ds.name,
    xTrain: standardize(xTr, sx.mean, sx.std),
    yTrain: standardize(yTr, sy.mean, sy.std),
    xTest: standardize(takeRows(ds.x, te), sx.mean, sx.std),
    yTest: standardize(takeRows(ds.y, te), sy.mean, sy.std),
    targetRank: ds.targetRank,
    description: ds.description,
  };
}
