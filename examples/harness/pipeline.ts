/**
 * One training run with measurements: train an MLP, and at chosen epochs capture every linear
 * layer's input features (training set, rows = samples) and weight (out×in), measure them with
 * deep-nrc's `measureNRC` (plus NRC1 at t + 1 and, when asked, Proposition 1's bound per layer),
 * and record train/test MSE beside the metrics.
 * @module
 */
import { measureNRC, noiseComponent, proposition1Bound } from "../../src/index.js";
import type { NRCReport } from "../../src/engine/report.js";
import type { SplitDataset } from "./data.js";
import {
  MLP,
  train,
  useTfBackend,
  type MLPConfig,
  type TfBackendName,
  type TrainConfig,
} from "./mlp.js";

/** What to train and when to measure. */
export interface RunSpec {
  /** Unique id (file names, legends). */
  id: string;
  /** Human-readable label. */
  label: string;
  model: Omit<MLPConfig, "inputDim" | "outputDim">;
  train: TrainConfig;
  /** Epochs (0 = at initialisation) at which to capture and measure. */
  measureEpochs: number[];
  /** Intrinsic dimension r passed to measureNRC (rank-deficient targets). */
  r?: number;
  /** Subspace dimension t (default: number of target columns). */
  t?: number;
  /** Evaluate Proposition 1 per layer at these epochs (default: the last measured epoch). */
  prop1Epochs?: number[];
  /** Extra t values at which to evaluate Proposition 1 (e.g. the targets' rank). */
  prop1ExtraT?: number[];
  /** NRC1 threshold for "collapsed" (measureNRC's option). */
  collapseThreshold?: number;
}

/** Proposition 1 on one layer. */
export interface Prop1Row {
  layer: number;
  t: number;
  lhs: number;
  bound: number;
  eps1: number;
  eps2: number;
  holds: boolean;
}

/** Measurements at one epoch. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  /** Mean minibatch loss over the epoch (null at epoch 0). */
  trainLoss: number | null;
  /** MSE on the whole (standardised) training set after the epoch. */
  trainMSE: number;
  testMSE: number;
  /**
   * NRC1 at t + 1 per layer (null where undefined or degenerate). Computed directly with
   * `noiseComponent(H, t + 1)` at the last measured epoch; at the other epochs derived from the
   * report as NRC1 − λ_{t+1}/Σλ (Σλ = stable rank · λ₁), which agrees to ~1e-12 absolute.
   */
  nrc1AtTPlus1: (number | null)[];
  /** Whether nrc1AtTPlus1 was computed directly (true) or derived from the report (false). */
  nrc1AtTPlus1Direct: boolean;
  report: NRCReport;
  prop1?: Prop1Row[];
  /** Seconds spent capturing and measuring this epoch. */
  measureSeconds: number;
}

/** A finished run. */
export interface RunResult {
  id: string;
  label: string;
  dataset: {
    name: string;
    description: string;
    nTrain: number;
    nTest: number;
    inputDim: number;
    t: number;
    targetRank: number | null;
  };
  spec: RunSpec;
  tfBackend: string;
  epochs: EpochRecord[];
  /** Train/test MSE after every epoch (cheap; the measurements are at `spec.measureEpochs`). */
  curve: { epoch: number; trainMSE: number; testMSE: number }[];
  /** Final train/test MSE. */
  final: { trainMSE: number; testMSE: number };
  timing: { trainSeconds: number; measureSeconds: number; totalSeconds: number };
  /** Set when training diverged or failed. */
  error: string | null;
}

/**
 * Train and measure one configuration.
 * @param spec - the run.
 * @param ds - a split, standardised dataset.
 * @param opts - tfjs backend and a progress logger.
 * @returns the per-epoch measurements.
 */
export async function runOne(
  spec: RunSpec,
  ds: SplitDataset,
  opts: { tfBackend?: TfBackendName; log?: (s: string) => void } = {},
): Promise<RunResult> {
  const log = opts.log ?? (() => {});
  await useTfBackend(opts.tfBackend ?? "wasm");
  const model = new MLP({ ...spec.model, inputDim: ds.xTrain.cols, outputDim: ds.yTrain.cols });
  const want = new Set(spec.measureEpochs);
  const lastEpoch = Math.max(...spec.measureEpochs);
  const curve: RunResult["curve"] = [];
  const prop1At = new Set(spec.prop1Epochs ?? [Math.max(...spec.measureEpochs)]);
  const epochs: EpochRecord[] = [];
  const t = spec.t ?? ds.yTrain.cols;
  let measureSeconds = 0;
  let deadFor = 0;
  let error: string | null = null;
  const t0 = performance.now();
  try {
    await train(model, ds.xTrain, ds.yTrain, spec.train, async ({ epoch, lr, trainLoss }) => {
      const trainMSE = model.mse(ds.xTrain, ds.yTrain);
      const testMSE = model.mse(ds.xTest, ds.yTest);
      curve.push({ epoch, trainMSE, testMSE });
      // A net whose output has collapsed to the mean for 10 epochs (train MSE ≥ 0.99 of the
      // standardised targets' variance, after epoch 20) is dead: measure it once more and stop.
      // Its decaying weights reach float32 subnormals, which make every later epoch ~10× slower.
      deadFor = epoch > 20 && trainMSE >= 0.99 ? deadFor + 1 : 0;
      const dead = deadFor >= 10;
      if (!want.has(epoch) && !dead) return;
      const m0 = performance.now();
      const layers = model.capture(ds.xTrain);
      const report = await measureNRC({
        layers: layers.map((l) => ({ name: l.name, features: l.features, weight: l.weight })),
        targets: ds.yTrain,
        t,
        ...(spec.r !== undefined ? { r: spec.r } : {}),
        modelMSE: trainMSE,
        ...(spec.collapseThreshold !== undefined
          ? { collapseThreshold: spec.collapseThreshold }
          : {}),
      });
      const direct = epoch === lastEpoch || dead;
      const nrc1AtTPlus1: (number | null)[] = [];
      for (const [i, l] of layers.entries()) {
        const lr_ = report.layers[i];
        if (lr_.degenerate || l.features.cols <= t + 1 || lr_.nrc1 === null) {
          nrc1AtTPlus1.push(null);
        } else if (direct) {
          nrc1AtTPlus1.push(await noiseComponent(l.features, t + 1));
        } else {
          const ev = lr_.topEigenvalues;
          const total = (lr_.stableRankFeatures ?? NaN) * ev[0];
          const v = lr_.nrc1 - (ev[t] ?? 0) / total;
          nrc1AtTPlus1.push(Number.isFinite(v) ? Math.max(v, 0) : null);
        }
      }
      let prop1: Prop1Row[] | undefined;
      if (prop1At.has(epoch)) {
        prop1 = [];
        for (const tt of [t, ...(spec.prop1ExtraT ?? [])]) {
          for (const [i, l] of layers.entries()) {
            if (report.layers[i].degenerate || l.features.cols < tt) continue;
            const p = await proposition1Bound(l.features, ds.yTrain, tt);
            prop1.push({ layer: i, t: tt, ...p });
          }
        }
      }
      const dt = (performance.now() - m0) / 1000;
      measureSeconds += dt;
      epochs.push({
        epoch,
        lr,
        trainLoss: Number.isFinite(trainLoss) ? trainLoss : null,
        trainMSE,
        testMSE,
        nrc1AtTPlus1,
        nrc1AtTPlus1Direct: direct,
        report,
        ...(prop1 ? { prop1 } : {}),
        measureSeconds: dt,
      });
      if (dead)
        throw new Error(`dead net (train MSE ≥ 0.99 for 10 epochs): stopped at epoch ${epoch}`);
      const nrc1 = report.layers
        .map((l) => (l.nrc1 === null ? "  -  " : l.nrc1.toExponential(1)))
        .join(" ");
      log(
        `[${spec.id}] epoch ${epoch} train ${trainMSE.toFixed(4)} test ${testMSE.toFixed(4)} first collapsed ${report.firstCollapsedLayer} NRC1 ${nrc1} (${dt.toFixed(1)} s)`,
      );
    });
  } catch (e) {
    error = (e as Error).message;
    log(`[${spec.id}] ${error}`);
  }
  const final = {
    trainMSE: model.mse(ds.xTrain, ds.yTrain),
    testMSE: model.mse(ds.xTest, ds.yTest),
  };
  model.dispose();
  const total = (performance.now() - t0) / 1000;
  return {
    id: spec.id,
    label: spec.label,
    dataset: {
      name: ds.name,
      description: ds.description,
      nTrain: ds.xTrain.rows,
      nTest: ds.xTest.rows,
      inputDim: ds.xTrain.cols,
      t: ds.yTrain.cols,
      targetRank: ds.targetRank,
    },
    spec,
    tfBackend: opts.tfBackend ?? "wasm",
    epochs,
    curve,
    final: {
      trainMSE: Number.isFinite(final.trainMSE) ? final.trainMSE : Number.MAX_VALUE,
      testMSE: Number.isFinite(final.testMSE) ? final.testMSE : Number.MAX_VALUE,
    },
    timing: { trainSeconds: total - measureSeconds, measureSeconds, totalSeconds: total },
    error,
  };
}

/**
 * A sparse schedule: 0, E/60, E/15, E/6, E/3 (first LR drop), 2E/3 (second), E.
 * @param epochs - total epochs E.
 */
export function sparseSchedule(epochs: number): number[] {
  const s = new Set([0, 1 / 60, 1 / 15, 1 / 6, 1 / 3, 2 / 3, 1].map((q) => Math.round(q * epochs)));
  return [...s].sort((a, b) => a - b);
}

/**
 * Epochs at which to measure: 0, a roughly log-spaced early set, then evenly spaced to the end.
 * @param epochs - total epochs E.
 * @param late - how many evenly spaced points after the early ones.
 */
export function measureSchedule(epochs: number, late = 8): number[] {
  const s = new Set<number>([0, 1, 2, 5, 10, 20].filter((e) => e <= epochs));
  for (let i = 1; i <= late; i++) s.add(Math.round((i * epochs) / late));
  return [...s].sort((a, b) => a - b);
}
