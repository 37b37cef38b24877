/**
 * The four reproduction experiments (paper: Rangamani & Unal 2026, "Deep Neural Regression
 * Collapse"), each as a list of runs at a reduced scale that fits ≤ 15 minutes on 2 CPU cores, or
 * at the paper's scale with `full`.
 * @module
 */
import {
  seattleHourlyNormals,
  splitAndStandardize,
  syntheticLowRank,
  syntheticTeacher,
  type SplitDataset,
} from "./data.js";
import { sparseSchedule, type RunSpec } from "./pipeline.js";

/** The experiments. */
export type ExperimentName = "deep" | "rank" | "wd" | "prop1" | "tiny";

/** A run plus how to make its data. */
export interface PlannedRun {
  spec: RunSpec;
  data: () => SplitDataset;
}

/** Scale knobs. */
export interface Scale {
  full: boolean;
  /** Samples of the synthetic sets (paper 10,000). */
  n: number;
  width: number;
  /** Width of the low-rank experiment (paper 1024). */
  rankWidth: number;
  epochs: number;
}

/** Reduced (default) and full (paper) scales. */
export function scaleFor(full: boolean): Scale {
  return full
    ? { full, n: 10_000, width: 512, rankWidth: 1024, epochs: 1000 }
    : { full, n: 10_000, width: 128, rankWidth: 128, epochs: 300 };
}

const SGD = { batchSize: 128, momentum: 0.9 };

function memo<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

/**
 * The runs of an experiment.
 * @param name - which experiment.
 * @param s - the scale.
 */
export function plan(name: ExperimentName, s: Scale): PlannedRun[] {
  const teacher = memo(() =>
    splitAndStandardize(syntheticTeacher({ n: s.n, t: 3, r: 10, seed: 1 })),
  );
  const seattle = memo(() => splitAndStandardize(seattleHourlyNormals(), { shuffleSeed: 7 }));
  const rank10x2 = memo(() =>
    splitAndStandardize(syntheticLowRank({ n: s.n, t: 10, r: 2, seed: 2 })),
  );
  const rank4x1 = memo(() =>
    splitAndStandardize(syntheticLowRank({ n: s.n, t: 4, r: 1, seed: 3 })),
  );
  const E = s.epochs;
  const base = (
    id: string,
    label: string,
    bias: boolean,
    extra: Partial<RunSpec> = {},
  ): RunSpec => ({
    id,
    label,
    model: { depth: 8, width: s.width, bias, init: "default", seed: 1 },
    train: { epochs: E, lr: 0.05, weightDecay: 1e-3, ...SGD },
    measureEpochs: sparseSchedule(E),
    ...extra,
  });
  switch (name) {
    case "deep":
      return [
        {
          spec: base("teacher-nobias", "teacher t=3 (r=10), no bias (paper setup)", false),
          data: teacher,
        },
        { spec: base("teacher-bias", "teacher t=3 (r=10), with bias", true), data: teacher },
        {
          spec: base("seattle-nobias", "Seattle hourly normals t=3, no bias", false),
          data: seattle,
        },
      ];
    case "rank": {
      const rankE = s.full ? E : 200;
      const rk = (id: string, label: string, bias: boolean, r: number, depth: number): RunSpec => ({
        ...base(id, label, bias, { r }),
        // A 10-layer net with PyTorch's default init does not train (signal variance shrinks ~6×
        // per layer); Kaiming init at lr 0.01 does (0.05 diverges).
        model: { depth, width: s.rankWidth, bias, init: "kaiming", seed: 1 },
        train: { epochs: rankE, lr: 0.01, weightDecay: 1e-3, ...SGD },
        measureEpochs: sparseSchedule(rankE),
      });
      return [
        { spec: rk("rank10x2-nobias", "t=10, rank 2, no bias", false, 2, 10), data: rank10x2 },
        { spec: rk("rank10x2-bias", "t=10, rank 2, with bias", true, 2, 10), data: rank10x2 },
        { spec: rk("rank4x1-nobias", "t=4, rank 1, no bias", false, 1, 8), data: rank4x1 },
        { spec: rk("rank4x1-bias", "t=4, rank 1, with bias", true, 1, 8), data: rank4x1 },
      ];
    }
    case "wd": {
      const lambdas = [0, 1e-5, 1e-4, 1e-3, 5e-3, 1e-2];
      const ep = s.full ? E : 200;
      return lambdas.map((wd) => ({
        spec: {
          ...base(`wd-${wd}`, `λ = ${wd}`, false),
          train: { epochs: ep, lr: 0.05, weightDecay: wd, ...SGD },
          measureEpochs: [0, Math.round(ep / 3), ep],
        },
        data: teacher,
      }));
    }
    case "prop1": {
      const ep = s.full ? E : 200;
      const p = (spec: RunSpec): RunSpec => ({
        ...spec,
        train: { ...spec.train, epochs: ep },
        measureEpochs: [0, ep],
        prop1Epochs: [0, ep],
      });
      return [
        { spec: p(base("p1-teacher-nobias", "teacher t=3, no bias", false)), data: teacher },
        { spec: p(base("p1-teacher-bias", "teacher t=3, with bias", true)), data: teacher },
        { spec: p(base("p1-seattle-nobias", "Seattle t=3, no bias", false)), data: seattle },
        {
          spec: p({
            ...base("p1-rank10x2-bias", "t=10 rank 2, with bias (t=10 and t=2)", true, {
              r: 2,
              prop1ExtraT: [2],
            }),
            model: { depth: 10, width: s.rankWidth, bias: true, init: "kaiming", seed: 1 },
            train: { epochs: ep, lr: 0.01, weightDecay: 1e-3, ...SGD },
          }),
          data: rank10x2,
        },
      ];
    }
    case "tiny": {
      const tiny = memo(() =>
        splitAndStandardize(syntheticTeacher({ n: 400, t: 3, r: 10, seed: 1 })),
      );
      return [
        {
          spec: {
            id: "tiny",
            label: "tiny wiring run",
            model: { depth: 4, width: 16, bias: false, init: "default", seed: 1 },
            train: { epochs: 3, lr: 0.05, weightDecay: 1e-3, ...SGD },
            measureEpochs: [0, 3],
            r: 2,
            prop1Epochs: [3],
          },
          data: tiny,
        },
      ];
    }
  }
}
