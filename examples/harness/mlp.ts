/**
 * A small, honest MLP trainer on tfjs-core (cpu or wasm backend), mirroring the paper's PyTorch
 * setup: ReLU MLP with optional biases, MSE loss, SGD with momentum 0.9 and *coupled* weight decay
 * (PyTorch `torch.optim.SGD(weight_decay=λ)`: g ← g + λ·p; buf ← μ·buf + g; p ← p − lr·buf),
 * multi-step learning rate (×0.1 at 1/3 and 2/3 of training), Kaiming or PyTorch-default init.
 *
 * Weights are kept in tfjs as in×out kernels (y = x·K) for speed; {@link MLP.capture} exports them
 * as out×in (PyTorch's `weight`, y = W x), which is the convention deep-nrc reads.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { Dense } from "./data.js";
import { Rng } from "./data.js";

/** Which tfjs backend trains the net. */
export type TfBackendName = "cpu" | "wasm";

let wasmLoaded = false;

/**
 * Select the tfjs backend (loads `@tensorflow/tfjs-backend-wasm` on first use).
 * @param name `cpu` or `wasm`.
 */
export async function useTfBackend(name: TfBackendName): Promise<void> {
  if (name === "wasm" && !wasmLoaded) {
    await import("@tensorflow/tfjs-backend-wasm");
    wasmLoaded = true;
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs backend ${name} failed to start`);
  await tf.ready();
}

/** Architecture and optimiser settings. */
export interface MLPConfig {
  /** Input dimension. */
  inputDim: number;
  /** Output dimension t. */
  outputDim: number;
  /** Number of linear layers (hidden layers = depth − 1). */
  depth: number;
  /** Hidden width. */
  width: number;
  /** Biases on every linear layer. */
  bias: boolean;
  /** `kaiming`: N(0, 2/fan_in) weights, zero biases; `default`: PyTorch nn.Linear (U(±1/√fan_in)). */
  init: "kaiming" | "default";
  /** Seed for the initialisation and the batch order. */
  seed: number;
}

/** Training schedule. */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Epochs at which the learning rate is multiplied by `gamma` (default: ⌊E/3⌋, ⌊2E/3⌋). */
  milestones?: number[];
  gamma?: number;
}

/** One layer captured for measurement: the features entering the map and the map's weight. */
export interface CapturedLayer {
  name: string;
  /** N×d_in features (rows = samples), float32 as trained. */
  features: { rows: number; cols: number; data: Float32Array };
  /** d_out×d_in weight (PyTorch layout, y = W x). */
  weight: { rows: number; cols: number; data: Float64Array };
}

function toTensor(a: Dense): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(a.data), [a.rows, a.cols], "float32");
}

/** A ReLU MLP with its optimiser state. */
export class MLP {
  readonly config: MLPConfig;
  readonly kernels: tf.Variable[] = [];
  readonly biases: tf.Variable[] = [];
  private readonly buffers = new Map<tf.Variable, tf.Variable>();
  private readonly rng: Rng;
  private static counter = 0;

  constructor(config: MLPConfig) {
    this.config = config;
    this.rng = new Rng(config.seed * 2654435761 + 1);
    const dims = [config.inputDim, ...Array(config.depth - 1).fill(config.width), config.outputDim];
    for (let l = 0; l < config.depth; l++) {
      const fanIn = dims[l];
      const fanOut = dims[l + 1];
      const k = new Float32Array(fanIn * fanOut);
      const b = new Float32Array(fanOut);
      if (config.init === "kaiming") {
        const s = Math.sqrt(2 / fanIn);
        for (let i = 0; i < k.length; i++) k[i] = this.rng.normal() * s;
      } else {
        const bound = 1 / Math.sqrt(fanIn);
        for (let i = 0; i < k.length; i++) k[i] = (2 * this.rng.uniform() - 1) * bound;
        for (let i = 0; i < b.length; i++) b[i] = (2 * this.rng.uniform() - 1) * bound;
      }
      const kt = tf.tensor2d(k, [fanIn, fanOut]);
      this.kernels.push(tf.variable(kt, true, `k${l}_${MLP.counter}`));
      kt.dispose();
      if (config.bias) {
        const bt = tf.tensor1d(b);
        this.biases.push(tf.variable(bt, true, `b${l}_${MLP.counter}`));
        bt.dispose();
      }
    }
    for (const v of this.params()) {
      const z = tf.zerosLike(v);
      this.buffers.set(v, tf.variable(z, false, `${v.name}_buf`));
      z.dispose();
    }
    MLP.counter++;
  }

  /** All trainable variables. */
  params(): tf.Variable[] {
    return [...this.kernels, ...this.biases];
  }

  /** Forward pass; with `collect`, also the input of every linear layer. */
  forward(x: tf.Tensor2D, collect?: tf.Tensor2D[]): tf.Tensor2D {
    let h = x;
    for (let l = 0; l < this.config.depth; l++) {
      if (collect) collect.push(h);
      let z = tf.matMul(h, this.kernels[l]) as tf.Tensor2D;
      if (this.config.bias) z = tf.add(z, this.biases[l]) as tf.Tensor2D;
      h = l < this.config.depth - 1 ? (tf.relu(z) as tf.Tensor2D) : z;
    }
    return h;
  }

  /**
   * MSE loss (mean over the batch's B×t entries) and its gradients by explicit backpropagation
   * (tfjs-core alone registers no gradient kernels): δ_L = 2(ŷ − y)/(B·t);
   * ∂K_l = h_lᵀ δ_l; ∂b_l = Σ_rows δ_l; δ_{l−1} = (δ_l K_lᵀ) ⊙ 1[h_l > 0].
   * Gradients come in the order of {@link MLP.params}.
   */
  lossAndGrads(xb: tf.Tensor2D, yb: tf.Tensor2D): { value: tf.Scalar; grads: tf.Tensor[] } {
    const acts: tf.Tensor2D[] = [];
    const out = this.forward(xb, acts);
    const diff = tf.sub(out, yb) as tf.Tensor2D;
    const count = diff.shape[0] * diff.shape[1];
    const value = tf.div(tf.sum(tf.square(diff)), count) as tf.Scalar;
    let delta = tf.mul(diff, 2 / count) as tf.Tensor2D;
    const gK: tf.Tensor[] = new Array(this.config.depth);
    const gB: tf.Tensor[] = new Array(this.config.depth);
    for (let l = this.config.depth - 1; l >= 0; l--) {
      const h = acts[l];
      gK[l] = tf.matMul(tf.transpose(h), delta);
      if (this.config.bias) gB[l] = tf.sum(delta, 0);
      if (l > 0) {
        const back = tf.matMul(delta, tf.transpose(this.kernels[l]));
        delta = tf.mul(back, tf.step(h)) as tf.Tensor2D;
      }
    }
    return { value, grads: this.config.bias ? [...gK, ...gB] : gK };
  }

  /** Mean squared error over all N×t entries (PyTorch `nn.MSELoss()`), batched to bound memory. */
  mse(x: Dense, y: Dense, batch = 4096): number {
    let sum = 0;
    for (let s = 0; s < x.rows; s += batch) {
      const e = Math.min(x.rows, s + batch);
      const part = tf.tidy(() => {
        const xb = toTensor(sliceRows(x, s, e));
        const yb = toTensor(sliceRows(y, s, e));
        return tf.sum(tf.square(tf.sub(this.forward(xb), yb)));
      });
      sum += part.dataSync()[0];
      part.dispose();
    }
    return sum / (x.rows * y.cols);
  }

  /**
   * One epoch of minibatch SGD (shuffled with the model's seeded RNG).
   * @returns mean training loss over the epoch's batches.
   */
  trainEpoch(xTrain: tf.Tensor2D, yTrain: tf.Tensor2D, lr: number, cfg: TrainConfig): number {
    const n = xTrain.shape[0];
    const perm = this.rng.permutation(n);
    const permT = tf.tensor1d(perm, "int32");
    const xs = tf.gather(xTrain, permT) as tf.Tensor2D;
    const ys = tf.gather(yTrain, permT) as tf.Tensor2D;
    permT.dispose();
    const params = this.params();
    let lossSum = 0;
    let batches = 0;
    const losses: tf.Scalar[] = [];
    for (let s = 0; s < n; s += cfg.batchSize) {
      const size = Math.min(cfg.batchSize, n - s);
      tf.tidy(() => {
        const xb = tf.slice(xs, [s, 0], [size, -1]) as tf.Tensor2D;
        const yb = tf.slice(ys, [s, 0], [size, -1]) as tf.Tensor2D;
        const { value, grads } = this.lossAndGrads(xb, yb);
        for (const [i, p] of params.entries()) {
          let g = grads[i];
          if (cfg.weightDecay !== 0) g = tf.add(g, tf.mul(p, cfg.weightDecay));
          const buf = this.buffers.get(p)!;
          const nb = tf.add(tf.mul(buf, cfg.momentum), g);
          buf.assign(nb);
          p.assign(tf.sub(p, tf.mul(nb, lr)));
        }
        losses.push(tf.keep(value));
      });
      batches++;
    }
    xs.dispose();
    ys.dispose();
    for (const l of losses) {
      lossSum += l.dataSync()[0];
      l.dispose();
    }
    return lossSum / batches;
  }

  /**
   * Capture every linear layer's input features on `x` (rows = samples) and its weight (out×in).
   * Layer 0's features are the inputs themselves.
   */
  capture(x: Dense): CapturedLayer[] {
    const xt = toTensor(x);
    const collected: tf.Tensor2D[] = [];
    const out = tf.tidy(() => {
      const o = this.forward(xt, collected);
      collected.forEach((c) => tf.keep(c));
      return o;
    });
    out.dispose();
    const layers: CapturedLayer[] = collected.map((c, l) => {
      const feat = c.dataSync() as Float32Array;
      const k = this.kernels[l];
      const [fanIn, fanOut] = k.shape as [number, number];
      const kd = k.dataSync();
      const w = new Float64Array(fanOut * fanIn);
      for (let i = 0; i < fanIn; i++)
        for (let j = 0; j < fanOut; j++) w[j * fanIn + i] = kd[i * fanOut + j];
      return {
        name: `layer ${l}`,
        features: { rows: c.shape[0], cols: c.shape[1], data: Float32Array.from(feat) },
        weight: { rows: fanOut, cols: fanIn, data: w },
      };
    });
    collected.forEach((c) => {
      if (c !== xt) c.dispose();
    });
    xt.dispose();
    return layers;
  }

  /** Free all tensors. */
  dispose(): void {
    for (const v of this.params()) v.dispose();
    for (const b of this.buffers.values()) b.dispose();
  }
}

function sliceRows(a: Dense, s: number, e: number): Dense {
  return { rows: e - s, cols: a.cols, data: a.data.subarray(s * a.cols, e * a.cols) };
}

/** Learning rate at `epoch` (0-based) for a multi-step schedule. */
export function lrAt(cfg: TrainConfig, epoch: number): number {
  const ms = cfg.milestones ?? [Math.floor(cfg.epochs / 3), Math.floor((2 * cfg.epochs) / 3)];
  const gamma = cfg.gamma ?? 0.1;
  let lr = cfg.lr;
  for (const m of ms) if (epoch >= m) lr *= gamma;
  return lr;
}

/** Per-epoch callback: return nothing; capture/measure inside when wanted. */
export type EpochHook = (info: {
  epoch: number;
  lr: number;
  trainLoss: number;
  model: MLP;
}) => void | Promise<void>;

/**
 * Train `model` on (x, y) for `cfg.epochs` epochs, calling `hook` after each epoch
 * (epoch numbers 1..E; the hook is also called with epoch 0 before training).
 */
export async function train(
  model: MLP,
  x: Dense,
  y: Dense,
  cfg: TrainConfig,
  hook?: EpochHook,
): Promise<void> {
  const xt = toTensor(x);
  const yt = toTensor(y);
  if (hook) await hook({ epoch: 0, lr: cfg.lr, trainLoss: NaN, model });
  for (let e = 0; e < cfg.epochs; e++) {
    const lr = lrAt(cfg, e);
    const loss = model.trainEpoch(xt, yt, lr, cfg);
    if (!Number.isFinite(loss)) {
      xt.dispose();
      yt.dispose();
      throw new Error(`training diverged at epoch ${e + 1} (loss ${loss})`);
    }
    if (hook) await hook({ epoch: e + 1, lr, trainLoss: loss, model });
  }
  xt.dispose();
  yt.dispose();
}

export { tf };
