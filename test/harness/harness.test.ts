/**
 * Wiring test of the reproduction harness (examples/harness): a tiny net trains for a few epochs,
 * is captured and measured with deep-nrc. Checks the pipeline, not the science: shapes, finite
 * metrics, the gradient of the hand-written backpropagation, and the optimiser update rule.
 */
import { describe, expect, it } from "vitest";
import { MLP, lrAt, tf, useTfBackend } from "../../examples/harness/mlp.js";
import {
  Rng,
  columnStats,
  splitAndStandardize,
  syntheticLowRank,
  syntheticTeacher,
} from "../../examples/harness/data.js";
import { plan, scaleFor } from "../../examples/harness/experiments.js";
import { runOne } from "../../examples/harness/pipeline.js";
import { summarize } from "../../examples/harness/summarize.js";

describe("harness data", () => {
  it("standardises the training split and keeps the paper's order", () => {
    const ds = splitAndStandardize(syntheticTeacher({ n: 500, t: 3, r: 10, seed: 4 }));
    expect(ds.xTrain.rows).toBe(400);
    expect(ds.xTest.rows).toBe(100);
    const s = columnStats(ds.yTrain);
    for (let j = 0; j < 3; j++) {
      expect(Math.abs(s.mean[j])).toBeLessThan(1e-12);
      expect(Math.abs(s.std[j] - 1)).toBeLessThan(1e-12);
    }
  });

  it("low-rank targets have exactly rank r", () => {
    const ds = syntheticLowRank({ n: 200, t: 10, r: 2, seed: 1 });
    // Every 3×3 minor of y vanishes when rank(y) = 2: check one random one relative to scale.
    const y = (i: number, j: number) => ds.y.data[i * 10 + j];
    const det3 = (r: number[], c: number[]) =>
      y(r[0], c[0]) * (y(r[1], c[1]) * y(r[2], c[2]) - y(r[1], c[2]) * y(r[2], c[1])) -
      y(r[0], c[1]) * (y(r[1], c[0]) * y(r[2], c[2]) - y(r[1], c[2]) * y(r[2], c[0])) +
      y(r[0], c[2]) * (y(r[1], c[0]) * y(r[2], c[1]) - y(r[1], c[1]) * y(r[2], c[0]));
    const scale = Math.max(...Array.from(ds.y.data, Math.abs)) ** 3;
    expect(Math.abs(det3([3, 50, 120], [0, 4, 9])) / scale).toBeLessThan(1e-12);
    const det2 = y(3, 0) * y(50, 4) - y(3, 4) * y(50, 0);
    expect(Math.abs(det2)).toBeGreaterThan(1e-6);
  });

  it("the RNG is reproducible and roughly standard normal", () => {
    const a = new Rng(9);
    const b = new Rng(9);
    const xs = Array.from({ length: 20000 }, () => a.normal());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.normal()));
    const m = xs.reduce((p, q) => p + q, 0) / xs.length;
    const v = xs.reduce((p, q) => p + (q - m) ** 2, 0) / xs.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
  });
});

describe("harness trainer", () => {
  it("backpropagation matches central finite differences", async () => {
    await useTfBackend("cpu");
    const m = new MLP({
      inputDim: 3,
      outputDim: 2,
      depth: 3,
      width: 5,
      bias: true,
      init: "default",
      seed: 3,
    });
    const rng = new Rng(5);
    const x = tf.tensor2d(
      Array.from({ length: 12 }, () => rng.normal()),
      [4, 3],
    );
    const y = tf.tensor2d(
      Array.from({ length: 8 }, () => rng.normal()),
      [4, 2],
    );
    const { grads } = m.lossAndGrads(x, y);
    const g = grads.map((t) => Array.from(t.dataSync()));
    const loss = () => m.lossAndGrads(x, y).value.dataSync()[0];
    let checked = 0;
    for (const [pi, p] of m.params().entries()) {
      const d = Array.from(p.dataSync());
      for (let i = 0; i < Math.min(d.length, 4); i++) {
        const eps = 1e-2;
        const orig = d[i];
        d[i] = orig + eps;
        p.assign(tf.tensor(d, p.shape));
        const fp = loss();
        d[i] = orig - eps;
        p.assign(tf.tensor(d, p.shape));
        const fm = loss();
        d[i] = orig;
        p.assign(tf.tensor(d, p.shape));
        const num = (fp - fm) / (2 * eps);
        expect(Math.abs(num - g[pi][i])).toBeLessThan(2e-3 + 2e-2 * Math.abs(num));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(15);
    m.dispose();
  });

  it("SGD step is PyTorch's: buf = μ·buf + (g + λp); p -= lr·buf", async () => {
    await useTfBackend("cpu");
    const m = new MLP({
      inputDim: 2,
      outputDim: 1,
      depth: 1,
      width: 1,
      bias: false,
      init: "default",
      seed: 1,
    });
    const x = [
      [1, 2],
      [-1, 0.5],
    ];
    const y = [[0.3], [-0.2]];
    const w0 = Array.from(m.kernels[0].dataSync()); // in×out = 2×1
    const cfg = { epochs: 1, batchSize: 2, lr: 0.1, momentum: 0.9, weightDecay: 0.01 };
    const xt = tf.tensor2d(x);
    const yt = tf.tensor2d(y);
    // Two full-batch steps (batch order is irrelevant for a full batch).
    m.trainEpoch(xt, yt, cfg.lr, cfg);
    m.trainEpoch(xt, yt, cfg.lr, cfg);
    // Reference in float64.
    const grad = (w: number[]) => {
      const g = [0, 0];
      for (let i = 0; i < 2; i++) {
        const r = x[i][0] * w[0] + x[i][1] * w[1] - y[i][0];
        g[0] += (2 * r * x[i][0]) / 2;
        g[1] += (2 * r * x[i][1]) / 2;
      }
      return g;
    };
    let w = [...w0];
    let buf = [0, 0];
    for (let s = 0; s < 2; s++) {
      const g = grad(w).map((gi, i) => gi + 0.01 * w[i]);
      buf = buf.map((b, i) => 0.9 * b + g[i]);
      w = w.map((wi, i) => wi - 0.1 * buf[i]);
    }
    const got = Array.from(m.kernels[0].dataSync());
    expect(got[0]).toBeCloseTo(w[0], 5);
    expect(got[1]).toBeCloseTo(w[1], 5);
    m.dispose();
  });

  it("multi-step schedule divides by 10 at 1/3 and 2/3", () => {
    const cfg = { epochs: 30, batchSize: 1, lr: 0.5, momentum: 0.9, weightDecay: 0 };
    expect(lrAt(cfg, 9)).toBe(0.5);
    expect(lrAt(cfg, 10)).toBeCloseTo(0.05, 12);
    expect(lrAt(cfg, 20)).toBeCloseTo(0.005, 12);
  });
});

describe("harness pipeline", () => {
  it("trains a tiny net, captures every layer and measures it", async () => {
    const [p] = plan("tiny", scaleFor(false));
    const ds = p.data();
    const r = await runOne(p.spec, ds, { tfBackend: "cpu" });
    expect(r.error).toBeNull();
    expect(r.epochs.map((e) => e.epoch)).toEqual([0, 3]);
    expect(r.curve).toHaveLength(4);
    const last = r.epochs[1];
    const depth = p.spec.model.depth;
    expect(last.report.layers).toHaveLength(depth);
    expect(last.report.layers.map((l) => l.features)).toEqual([20, 16, 16, 16]);
    expect(last.report.samples).toBe(ds.xTrain.rows);
    for (const l of last.report.layers) {
      expect(l.degenerate).toBeNull();
      for (const v of [l.nrc1, l.nrc2, l.nrc3, l.nrc4, l.stableRankFeatures, l.stableRankWeight]) {
        expect(Number.isFinite(v)).toBe(true);
      }
      expect(l.intrinsic?.r).toBe(2);
    }
    expect(Number.isFinite(last.trainMSE) && Number.isFinite(last.testMSE)).toBe(true);
    expect(last.prop1).toHaveLength(depth);
    for (const q of last.prop1!) expect(Number.isFinite(q.lhs / q.bound)).toBe(true);
    // NRC1 at t+1 never exceeds NRC1 at t.
    last.nrc1AtTPlus1.forEach((v, i) =>
      expect(v!).toBeLessThanOrEqual(last.report.layers[i].nrc1! + 1e-12),
    );
    const { markdown, figures } = await summarize("tiny", [r], "tiny");
    expect(markdown).toContain("| layer |");
    expect(figures.length).toBeGreaterThan(0);
    for (const f of figures) expect(f.svg.startsWith("<svg")).toBe(true);
  });
});
