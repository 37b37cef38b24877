/**
 * `measureLayersModel` (deep-nrc/tfjs) on tfjs-layers models, against an independent float64
 * forward pass written here from the kernels (Dense: x·K + b; Conv2D 'valid', NHWC), whose
 * features and out×in / OIHW weights go to `measureNRC`. tfjs computes in float32, so the reports
 * agree to float32 rounding. tf.memory() is the same before and after (no tensor leaked).
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { measureLayersModel } from "../../src/tfjs/index.js";
import { measureNRC } from "../../src/engine/measure.js";
import { convWeightsToMatrix } from "../../src/io/conv.js";
import type { NRCReport } from "../../src/engine/report.js";
import { NRCInputError } from "../../src/errors.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Deterministic pseudo-random values (LCG), independent of tfjs's RNG. */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

const relu = (v: number) => (v > 0 ? v : 0);

function compare(got: NRCReport, want: NRCReport, tol: number) {
  expect(got.layers.length).toBe(want.layers.length);
  got.layers.forEach((l, i) => {
    const w = want.layers[i];
    expect(l.features).toBe(w.features);
    expect(l.samples).toBe(w.samples);
    for (const k of [
      "nrc1",
      "nrc2",
      "nrc3",
      "nrc4",
      "stableRankFeatures",
      "stableRankWeight",
    ] as const) {
      const a = l[k] as number;
      const b = w[k] as number;
      expect(
        Math.abs(a - b) / Math.max(Math.abs(b), 1e-12),
        `layer ${i} ${k}: ${a} vs ${b}`,
      ).toBeLessThanOrEqual(tol);
    }
  });
}

describe("measureLayersModel", () => {
  it("an MLP: Dense inputs and transposed kernels, equal to measureNRC on a float64 forward", async () => {
    const N = 200;
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [6], units: 12, activation: "relu", name: "d1" }),
        tfl.layers.dense({ units: 8, activation: "relu", name: "d2" }),
        tfl.layers.dense({ units: 2, name: "out" }),
      ],
    });
    const xs = rand(N * 6, 1);
    const ys = rand(N * 2, 2);
    const x = tf.tensor2d(xs, [N, 6]);
    const y = tf.tensor2d(ys, [N, 2]);
    const before = tf.memory().numTensors;
    const got = await measureLayersModel(model as never, x, y, {
      batchRows: 64,
      tf: { model: tfl.model, slice: tf.slice } as never,
    });
    expect(tf.memory().numTensors).toBe(before);

    // float64 forward from the kernels (in×out, y = x·K + b)
    const ws = model.layers.map((l) => l.getWeights().map((t) => Float64Array.from(t.dataSync())));
    const dims = [6, 12, 8, 2];
    let h = Float64Array.from(xs);
    const layers = [];
    for (let k = 0; k < 3; k++) {
      const [K, b] = ws[k];
      const din = dims[k];
      const dout = dims[k + 1];
      const W = new Float64Array(dout * din);
      for (let i = 0; i < din; i++) for (let o = 0; o < dout; o++) W[o * din + i] = K[i * dout + o];
      layers.push({
        features: { rows: N, cols: din, data: h },
        weight: { rows: dout, cols: din, data: W },
      });
      const next = new Float64Array(N * dout);
      for (let s = 0; s < N; s++)
        for (let o = 0; o < dout; o++) {
          let acc = b[o];
          for (let i = 0; i < din; i++) acc += h[s * din + i] * K[i * dout + o];
          next[s * dout + o] = k < 2 ? relu(acc) : acc;
        }
      h = next;
    }
    const want = await measureNRC({
      layers,
      targets: { rows: N, cols: 2, data: Float64Array.from(ys) },
    });
    expect(got.layers.map((l) => l.name)).toEqual(["d1", "d2", "out"]);
    compare(got, want, 1e-5);
    tf.dispose([x, y]);
    model.dispose();
  });

  it("a CNN: Conv2D (HWIO kernel, NHWC activations) and a Dense after GAP; layers filter", async () => {
    const N = 40;
    const inp = tfl.input({ shape: [6, 6, 2] });
    const c1 = tfl.layers
      .conv2d({ filters: 3, kernelSize: 3, activation: "relu", name: "c1" })
      .apply(inp);
    const c2 = tfl.layers
      .conv2d({ filters: 4, kernelSize: 2, activation: "relu", name: "c2" })
      .apply(c1);
    const g = tfl.layers.globalAveragePooling2d({}).apply(c2);
    const o = tfl.layers.dense({ units: 2, name: "head" }).apply(g);
    const model = tfl.model({ inputs: inp, outputs: o as tfl.SymbolicTensor });
    const xs = rand(N * 72, 3);
    const ys = rand(N * 2, 4);
    const x = tf.tensor4d(xs, [N, 6, 6, 2]);
    const before = tf.memory().numTensors;
    const got = await measureLayersModel(
      model as never,
      x,
      { rows: N, cols: 2, data: ys },
      {
        batchRows: 16,
      },
    );
    expect(tf.memory().numTensors).toBe(before);

    // float64 forward: 'valid' conv in NHWC with HWIO kernels; filters reshaped by the core's own
    // convWeightsToMatrix(HWIO), independent of measureLayersModel's permutation
    const conv = (
      hIn: Float64Array,
      H: number,
      C: number,
      K: Float64Array,
      k: number,
      O: number,
      b: Float64Array,
    ) => {
      const Ho = H - k + 1;
      const out = new Float64Array(N * Ho * Ho * O);
      for (let s = 0; s < N; s++)
        for (let yy = 0; yy < Ho; yy++)
          for (let xx = 0; xx < Ho; xx++)
            for (let oc = 0; oc < O; oc++) {
              let acc = b[oc];
              for (let a = 0; a < k; a++)
                for (let bb = 0; bb < k; bb++)
                  for (let c = 0; c < C; c++)
                    acc +=
                      hIn[((s * H + yy + a) * H + xx + bb) * C + c] *
                      K[((a * k + bb) * C + c) * O + oc];
              out[((s * Ho + yy) * Ho + xx) * O + oc] = relu(acc);
            }
      return out;
    };
    const toNCHW = (v: Float64Array, H: number, C: number) => {
      const out = new Float64Array(v.length);
      for (let s = 0; s < N; s++)
        for (let yy = 0; yy < H; yy++)
          for (let xx = 0; xx < H; xx++)
            for (let c = 0; c < C; c++)
              out[((s * C + c) * H + yy) * H + xx] = v[((s * H + yy) * H + xx) * C + c];
      return { data: out, shape: [N, C, H, H] };
    };
    const w = (name: string) =>
      model
        .getLayer(name)
        .getWeights()
        .map((t) => ({ d: Float64Array.from(t.dataSync()), s: t.shape }));
    const [k1, b1] = w("c1");
    const [k2, b2] = w("c2");
    const [kh] = w("head");
    const x0 = Float64Array.from(xs);
    const h1 = conv(x0, 6, 2, k1.d, 3, 3, b1.d);
    const h2 = conv(h1, 4, 3, k2.d, 2, 4, b2.d);
    const gap = new Float64Array(N * 4);
    for (let s = 0; s < N; s++)
      for (let c = 0; c < 4; c++) {
        let sum = 0;
        for (let p = 0; p < 9; p++) sum += h2[(s * 9 + p) * 4 + c];
        gap[s * 4 + c] = sum / 9;
      }
    const headW = new Float64Array(8);
    for (let i = 0; i < 4; i++) for (let oc = 0; oc < 2; oc++) headW[oc * 4 + i] = kh.d[i * 2 + oc];
    const want = await measureNRC({
      layers: [
        {
          features: toNCHW(x0, 6, 2),
          weight: convWeightsToMatrix({ data: k1.d, shape: k1.s }, { layout: "HWIO" }),
        },
        {
          features: toNCHW(h1, 4, 3),
          weight: convWeightsToMatrix({ data: k2.d, shape: k2.s }, { layout: "HWIO" }),
        },
        { features: { rows: N, cols: 4, data: gap }, weight: { rows: 2, cols: 4, data: headW } },
      ],
      targets: { rows: N, cols: 2, data: Float64Array.from(ys) },
    });
    expect(got.layers.map((l) => [l.name, l.kind])).toEqual([
      ["c1", "conv"],
      ["c2", "conv"],
      ["head", "dense"],
    ]);
    compare(got, want, 1e-5);
    const only = await measureLayersModel(
      model as never,
      x,
      { rows: N, cols: 2, data: ys },
      { layers: /^c/ },
    );
    expect(only.layers.map((l) => l.name)).toEqual(["c1", "c2"]);
    expect(only.layers[1].nrc1).toBeCloseTo(got.layers[1].nrc1 as number, 12);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it("errors: no Dense/Conv2D, row mismatch, not a tensor", async () => {
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [3], units: 2, name: "d" })],
    });
    const x = tf.zeros([10, 3]);
    const e = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (err: unknown) => err,
      );
    const a = await e(
      measureLayersModel(model as never, x, { rows: 9, cols: 1, data: new Float64Array(9) }),
    );
    expect(a).toBeInstanceOf(NRCInputError);
    expect((a as Error).message).toMatch(/y must have one row per sample of x \(10\); got 9×1/);
    const b = await e(measureLayersModel(model as never, [[1, 2, 3]], [[1]]));
    expect((b as Error).message).toMatch(/x must be a tfjs tensor/);
    const c = await e(
      measureLayersModel(
        model as never,
        x,
        { rows: 10, cols: 1, data: new Float64Array(10) },
        { layers: /nope/ },
      ),
    );
    expect((c as Error).message).toMatch(
      /no Dense or Conv2D layer matching layers \(layers: d \(Dense\)\)/,
    );
    x.dispose();
    model.dispose();
  });
});
