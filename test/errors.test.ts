/**
 * Bad input gets a clear Error naming the function, the argument, what was expected and what came;
 * never a number. Inputs are never mutated.
 */
import { describe, it, expect } from "vitest";
import { Matrix } from "ml-matrix";
import {
  NRCInputError,
  noiseComponent,
  linearCKA,
  signalTargetAlignment,
  principalAngles,
  featureWeightAlignment,
  pinvPredictMSE,
  stableRank,
  proposition1Bound,
  convFeaturesToMatrix,
  convWeightsToMatrix,
  measureNRC,
  jsBackend,
  wasmBackend,
} from "../src/index.js";
import { H, Y, W } from "./helpers/spec-example.js";

async function rejects(p: Promise<unknown> | (() => unknown), re: RegExp): Promise<void> {
  const run = typeof p === "function" ? Promise.resolve().then(p) : p;
  await expect(run).rejects.toThrow(NRCInputError);
  await expect(typeof p === "function" ? Promise.resolve().then(p) : run).rejects.toThrow(re);
}

describe("bad input", () => {
  it("names the function, argument, expectation and what came", async () => {
    const X128 = {
      rows: 128,
      cols: 64,
      data: new Float64Array(128 * 64).map((_, i) => Math.sin(i)),
    };
    const Y100 = {
      rows: 100,
      cols: 64,
      data: new Float64Array(100 * 64).map((_, i) => Math.cos(i)),
    };
    await rejects(
      linearCKA(X128, Y100),
      /^linearCKA: x and y must have the same number of rows \(samples\); got 128×64 and 100×64$/,
    );
  });

  it("NaN and ±Infinity anywhere", async () => {
    const bad = H.map((r) => [...r]);
    bad[3][1] = NaN;
    await rejects(
      noiseComponent(bad, 1),
      /noiseComponent: H must hold finite numbers; got NaN at \(3, 1\)/,
    );
    const inf = { rows: 2, cols: 2, data: new Float32Array([1, Infinity, 2, 3]) };
    await rejects(
      linearCKA(inf, [[1], [2]]),
      /linearCKA: x must hold finite numbers; got Infinity at \(0, 1\)/,
    );
    await rejects(
      stableRank([[1, -Infinity]]),
      /stableRank: A must hold finite numbers; got -Infinity/,
    );
  });

  it("NaN and ±Infinity in measureNRC's features (found from the moments), on every backend", async () => {
    const N = 300;
    const d = 70;
    const make = (seed: number) =>
      Float64Array.from({ length: N * d }, (_, i) => Math.sin(i * 0.7 + seed) + 0.1 * (i % d));
    const targets = {
      rows: N,
      cols: 2,
      data: Float64Array.from({ length: N * 2 }, (_, i) => Math.cos(i * 1.3)),
    };
    for (const backend of [jsBackend, wasmBackend({ threads: 2 })])
      for (const [v, at, shown] of [
        [NaN, [17, 5], "NaN"],
        [Infinity, [0, 69], "Infinity"],
        [-Infinity, [299, 0], "-Infinity"],
      ] as const) {
        const bad = make(2);
        bad[at[0] * d + at[1]] = v;
        await rejects(
          measureNRC({
            layers: [
              { features: { rows: N, cols: d, data: make(1) } },
              { features: { rows: N, cols: d, data: bad } },
            ],
            targets,
            backend,
          }),
          new RegExp(
            `^measureNRC: layers\\[1\\]\\.features must hold finite numbers; got ${shown} at \\(${at[0]}, ${at[1]}\\)$`,
          ),
        );
      }
  });

  it("row-count mismatches", async () => {
    await rejects(
      signalTargetAlignment(H, Y.slice(0, 5), 2),
      /signalTargetAlignment: H and Y must have the same number of rows \(samples\); got 6×3 and 5×2/,
    );
    await rejects(
      pinvPredictMSE(H, Y.slice(1), {}),
      /pinvPredictMSE: H and Y must have the same number of rows/,
    );
    await rejects(
      proposition1Bound(H, Y.slice(1), 2),
      /proposition1Bound: H and Y must have the same number of rows/,
    );
    await rejects(
      principalAngles(H, W),
      /principalAngles: A and B must have the same number of rows \(the ambient dimension\); got 6×3 and 4×3/,
    );
  });

  it("t out of range", async () => {
    await rejects(
      noiseComponent(H, 0),
      /noiseComponent: t must be between 1 and the feature count d \(3\); got 0/,
    );
    await rejects(noiseComponent(H, 4), /got 4/);
    await rejects(noiseComponent(H, 1.5), /noiseComponent: t must be an integer; got 1.5/);
    await rejects(
      featureWeightAlignment(H, W, 4),
      /featureWeightAlignment: t must be between 1 and min\(d, W's output count\) \(3\); got 4/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y, t: 0 }),
      /measureNRC: t must be an integer ≥ 1 \(and at most a layer.s feature count/,
    );
  });

  it("fewer than 2 samples", async () => {
    await rejects(
      noiseComponent([[1, 2, 3]], 1),
      /noiseComponent: H must have at least 2 rows \(samples\); got 1×3/,
    );
    await rejects(linearCKA([[1]], [[2]]), /linearCKA: x must have at least 2 rows/);
  });

  it("ragged, empty and non-matrix arrays", async () => {
    await rejects(
      noiseComponent([[1, 2], [3]], 1),
      /noiseComponent: H must not be ragged: every row needs 2 entries \(row 0\); row 1 has 1/,
    );
    await rejects(
      noiseComponent([], 1),
      /noiseComponent: H must be a non-empty matrix; got an empty array/,
    );
    await rejects(noiseComponent([[], []], 1), /H must have at least one column; got 2×0/);
    await rejects(
      stableRank("abc" as never),
      /stableRank: A must be a matrix \(number\[\]\[\], \{ rows, cols, data \} or an ml-matrix Matrix\); got string/,
    );
    await rejects(
      stableRank({ rows: 2, cols: 2, data: new Float64Array(3) }),
      /stableRank: A.data must hold rows·cols = 2·2 = 4 values; got 3/,
    );
  });

  it("a weight whose column count differs from the features'", async () => {
    await rejects(
      featureWeightAlignment(H, [[1, 2]], 1),
      /featureWeightAlignment: W must be out×in with in = the features' column count 3 \(W reads H as y = W·h\); got 1×2/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H, weight: [[1, 2]] }], targets: Y }),
      /measureNRC: layers\[0\].weight must be out×in with in = 3 \(the features' column count\); got 1×2/,
    );
  });

  it("zero variance: say so, never NaN", async () => {
    const flat = [
      [1, 1],
      [1, 1],
      [1, 1],
    ];
    await rejects(
      noiseComponent(flat, 1),
      /noiseComponent: H has zero variance \(every column is constant across the 3 samples of the 3×2 matrix\)/,
    );
    await rejects(linearCKA(flat, [[1], [2], [3]]), /linearCKA: x has zero variance/);
    await rejects(
      signalTargetAlignment(
        H,
        Y.map(() => [2, 2]),
        1,
      ),
      /signalTargetAlignment: Y has zero variance/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y.map(() => [0.1, 0.1]) }),
      /measureNRC: targets have zero variance/,
    );
    await rejects(stableRank([[0, 0]]), /stableRank: A must not be the zero matrix/);
    await rejects(
      principalAngles([[0], [0]], [[1], [0]]),
      /principalAngles: A must not be the zero matrix/,
    );
  });

  it("dead layers are reported degenerate by measureNRC, the others still measured", async () => {
    const dead = H.map(() => [0, 0, 0]);
    const rep = await measureNRC({
      layers: [
        { name: "dead", features: dead, weight: W },
        { features: H, weight: W },
      ],
      targets: Y,
    });
    expect(rep.layers[0].degenerate).toMatch(/zero-variance features/);
    expect(rep.layers[0].nrc1).toBeNull();
    expect(rep.layers[1].degenerate).toBeNull();
    expect(rep.layers[1].nrc1).toBeGreaterThan(0);
    expect(JSON.stringify(rep)).not.toMatch(/NaN/);
  });

  it("wrong conv shapes or data length", () => {
    expect(() => convFeaturesToMatrix({ data: new Float32Array(10), shape: [2, 3, 4] })).toThrow(
      /convFeaturesToMatrix: x.shape must be 4 positive integers \[N, C, h, w\]; got \[2, 3, 4\]/,
    );
    expect(() => convFeaturesToMatrix({ data: new Float32Array(10), shape: [1, 2, 2, 2] })).toThrow(
      /convFeaturesToMatrix: x.data must hold 1·2·2·2 = 8 values for shape \[1, 2, 2, 2\]; got 10/,
    );
    expect(() => convWeightsToMatrix({ data: [1, NaN], shape: [1, 2, 1, 1] })).toThrow(
      /convWeightsToMatrix: x.data must hold finite numbers; got NaN at flat index 1/,
    );
    expect(() =>
      convFeaturesToMatrix({ data: [1], shape: [1, 1, 1, 1] }, { layout: "CHWN" as never }),
    ).toThrow(/layout must be "NCHW" or "NHWC"; got "CHWN"/);
  });

  it("bad options", async () => {
    await rejects(
      pinvPredictMSE(H, Y, { rtol: -1 }),
      /pinvPredictMSE: rtol must be a finite number ≥ 0; got -1/,
    );
    await rejects(
      measureNRC({ layers: [], targets: Y }),
      /measureNRC: layers must be a non-empty array/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y, preset: "papr" as never }),
      /measureNRC: preset must be "paper" or "reference-code"; got "papr"/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y, modelMSE: 0 }),
      /modelMSE must be a finite number > 0; got 0/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H.slice(1) }], targets: Y }),
      /measureNRC: layers\[0\].features must have one row per sample of targets \(6\); got 5×3/,
    );
  });
});

describe("inputs are never mutated", () => {
  it("holds for every input form and every function", async () => {
    const frozen = Object.freeze(H.map((r) => Object.freeze([...r]))) as unknown as number[][];
    const dense = { rows: 6, cols: 2, data: new Float64Array(Y.flat()) };
    const f32 = { rows: 4, cols: 3, data: new Float32Array(W.flat()) };
    const ml = new Matrix(H);
    const denseH = { rows: 6, cols: 3, data: new Float64Array(H.flat()) };
    const denseW = { rows: 4, cols: 3, data: new Float64Array(W.flat()) };
    const before = [
      Array.from(dense.data),
      Array.from(f32.data),
      ml.to1DArray(),
      Array.from(denseH.data),
      Array.from(denseW.data),
    ];
    for (const backend of [jsBackend, wasmBackend({ threads: 2 })]) {
      await noiseComponent(denseH, 2, { backend });
      await linearCKA(denseH, dense, { backend });
      await signalTargetAlignment(denseH, dense, 2, { backend });
      await featureWeightAlignment(denseH, denseW, 2, { backend });
      await pinvPredictMSE(denseH, dense, { backend });
      await stableRank(denseH, { backend });
      await stableRank(denseW, { backend });
      await principalAngles(denseH, dense, { backend });
      await proposition1Bound(denseH, dense, 2, { backend });
      await measureNRC({
        layers: [{ features: denseH, weight: denseW }],
        targets: dense,
        r: 1,
        backend,
      });
    }
    await noiseComponent(frozen, 2);
    await noiseComponent(ml, 2);
    await linearCKA(frozen, dense);
    await signalTargetAlignment(ml, dense, 2);
    await signalTargetAlignment(frozen, dense, 2, { preset: "reference-code" });
    await featureWeightAlignment(frozen, f32, 2);
    await pinvPredictMSE(ml, dense);
    await stableRank(f32);
    await principalAngles(frozen, ml);
    await proposition1Bound(frozen, dense, 2);
    await measureNRC({
      layers: [
        { features: frozen, weight: f32 },
        { features: ml, weight: f32 },
      ],
      targets: dense,
      r: 1,
    });
    expect([
      Array.from(dense.data),
      Array.from(f32.data),
      ml.to1DArray(),
      Array.from(denseH.data),
      Array.from(denseW.data),
    ]).toEqual(before);
  });
});
