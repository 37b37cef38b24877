/**
 * `deep-nrc/tfjs`: the tfjs backend on tfjs-backend-cpu and tfjs-backend-wasm — exact products from
 * integer digits by default (float64 bounds, the golden and property suites), the float32 pass
 * within the bounds of ./f32-suite.ts — and tfjs tensors as inputs.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import * as core from "../../src/index.js";
import { NRCInputError } from "../../src/errors.js";
import {
  convFeaturesToMatrix,
  fromTensor,
  linearCKA,
  measureNRC,
  principalAngles,
  tensorsToInputs,
  tfjsBackend,
  toMatrixInput,
  type TfjsKernels,
  type TF,
} from "../../src/tfjs/index.js";
import { runPropertySuite } from "../properties/suite.js";
import { runGoldenSuite } from "../golden/suite.js";
import {
  collapsedLayer,
  crossRef,
  normalisedError,
  randn,
  runFloat32Suite,
  KERNEL_BOUND,
} from "./f32-suite.js";

/** A seeded float32 tensor and the float64 matrix of the same values. */
function pair(rows: number, cols: number, seed: number, shift = 0) {
  const m = randn(rows, cols, seed);
  const f32 = Float32Array.from(m.data, (v) => v + shift);
  return {
    tensor: tf.tensor2d(f32, [rows, cols]),
    mat: { rows, cols, data: Float64Array.from(f32) },
  };
}

/** The exact kernels' bound, relative to the centered column norms (float64 rounding). */
const EXACT_BOUND = 1e-13;

for (const backendName of ["cpu", "wasm"] as const) {
  describe(`tfjs backend on tfjs-backend-${backendName}`, () => {
    let k: TfjsKernels;
    let k32: TfjsKernels;
    beforeAll(async () => {
      await tf.setBackend(backendName);
      k = (await tfjsBackend(tf).init()) as TfjsKernels;
      k32 = (await tfjsBackend(tf, { precision: "float32" }).init()) as TfjsKernels;
    });
    afterAll(async () => {
      await k?.dispose();
      await k32?.dispose();
    });

    it("reports the active tfjs backend and leaks no tensors", async () => {
      expect(k.name).toBe("tfjs");
      expect(k.tfBackend).toBe(backendName);
      expect(k.tileRows).toBe(1024);
      expect(k.precision).toBe("exact");
      expect(k32.precision).toBe("float32");
      expect(typeof k.symEig).toBe("function");
      const before = tf.memory().numTensors;
      const a = randn(2100, 17, 3);
      const b = randn(2100, 5, 4);
      for (const [kk, bound] of [
        [k, EXACT_BOUND],
        [k32, KERNEL_BOUND],
      ] as const) {
        expect(normalisedError(await kk.gram(a), crossRef(a, a), a, a)).toBeLessThanOrEqual(bound);
        expect(normalisedError(await kk.crossProd(a, b), crossRef(a, b), a, b)).toBeLessThanOrEqual(
          bound,
        );
      }
      await k.lowGram(a, new Float64Array(17));
      await k.shiftedMoments!(a, new Float64Array(17), b);
      expect(tf.memory().numTensors).toBe(before);
    });

    it("chunks many tiles into several batched calls", async () => {
      for (const precision of ["exact", "float32"] as const) {
        const small = (await tfjsBackend(tf, {
          precision,
          tileRows: 100,
          maxChunkBytes: 40_000,
          cpu: core.jsBackend,
        }).init()) as TfjsKernels;
        const bound = precision === "exact" ? EXACT_BOUND : KERNEL_BOUND;
        const a = randn(1234, 30, 9);
        const b = randn(1234, 4, 10);
        expect(normalisedError(await small.gram(a), crossRef(a, a), a, a)).toBeLessThanOrEqual(
          bound,
        );
        expect(
          normalisedError(await small.crossProd(a, b), crossRef(a, b), a, b),
        ).toBeLessThanOrEqual(bound);
      }
    });

    it("a collapsed layer's NRC1 (~1e-9) as float64 has it, by default", async () => {
      const h = collapsedLayer(1500, 12);
      const exact = await core.noiseComponent(h, 2, { backend: core.jsKernels });
      expect(exact).toBeLessThan(1e-8);
      const got = await core.noiseComponent(h, 2, { backend: k });
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(1e-9 * exact);
    });

    // The exact products at a float64 bound (small shapes: tfjs-cpu's matMul is slow), the
    // float32 pass at its float32 bounds, and on tfjs-wasm the golden and property suites at
    // the float64 tolerances.
    runFloat32Suite(`tfjs-${backendName} exact`, () => k, {
      golden: false,
      kernelBound: EXACT_BOUND,
      maxKernelWork: 2e6,
    });
    runFloat32Suite(`tfjs-${backendName} float32`, () => k32, { presets: ["paper"] });
    if (backendName === "wasm") {
      runGoldenSuite("tfjs-wasm", () => k, { pure: false });
      runPropertySuite("tfjs-wasm", () => k);
    }
  });
}

describe("tfjs backend start-up", () => {
  it("init() refuses the exact products where matMul is not exact on integers below 2^24", async () => {
    await tf.setBackend("cpu");
    // a matMul that loses the last bit, as float16 arithmetic would (and worse)
    const lossy = { ...tf, matMul: (x: tf.Tensor, y: tf.Tensor) => tf.add(tf.matMul(x, y), 1) };
    await expect(tfjsBackend(lossy as unknown as TF).init()).rejects.toThrow(
      /not exact on integers below 2\^24.*precision: "float32"/,
    );
    const k32 = await tfjsBackend(lossy as unknown as TF, {
      precision: "float32",
      cpu: core.jsBackend,
    }).init();
    expect(k32.name).toBe("tfjs");
  });

  it("init() rejects, saying why, when tfjs has no backend", async () => {
    const fake = {
      ready: async () => {
        throw new Error("No backend found in registry.");
      },
      getBackend: () => "",
    } as unknown as TF;
    await expect(tfjsBackend(fake).init()).rejects.toThrow(/no tfjs backend is ready.*registry/);
  });
});

describe("tfjs tensors as inputs", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("fromTensor reads a Tensor2D into float64 rows × cols, leaving the tensor alive", async () => {
    const t = tf.tensor2d([
      [1.5, -2, 3],
      [4, 5.25, -6],
    ]);
    const m = await fromTensor(t);
    expect(m.rows).toBe(2);
    expect(m.cols).toBe(3);
    expect(m.data).toBeInstanceOf(Float64Array);
    expect(Array.from(m.data)).toEqual([1.5, -2, 3, 4, 5.25, -6]);
    expect(t.isDisposed).toBe(false);
    // int32 and bool tensors are numbers too
    expect(Array.from((await fromTensor(tf.tensor2d([[1, 2]], [1, 2], "int32"))).data)).toEqual([
      1, 2,
    ]);
    t.dispose();
  });

  it("fromTensor rejects non-matrices with an NRCInputError naming the function and argument", async () => {
    const bad: unknown[] = [
      tf.zeros([2, 2, 2]),
      tf.tensor2d([["a"]] as never, [1, 1], "string"),
      [[1]],
    ];
    for (const x of bad) {
      const err = await fromTensor(x as tf.Tensor2D).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NRCInputError);
      expect((err as Error).message).toMatch(/^fromTensor: t /);
    }
    const gone = tf.tensor2d([[1, 2]]);
    gone.dispose();
    await expect(fromTensor(gone)).rejects.toThrow(/disposed/);
  });

  it("toMatrixInput converts rank-2 and rank-4 tensors and passes everything else through", async () => {
    const plain = [[1, 2]];
    expect(await toMatrixInput(plain)).toBe(plain);
    const conv = tf.tensor4d(
      Array.from({ length: 24 }, (_, i) => i),
      [2, 3, 2, 2],
    );
    const c = await toMatrixInput(conv);
    expect(c).toEqual({
      data: Float64Array.from({ length: 24 }, (_, i) => i),
      shape: [2, 3, 2, 2],
    });
    await expect(toMatrixInput(tf.zeros([3]), "H")).rejects.toThrow(
      /toMatrixInput: H must be a rank-2/,
    );
  });

  it("the wrapped metrics give exactly the core's numbers on the same values", async () => {
    const X = pair(80, 6, 1, 3);
    const Y = pair(80, 2, 2);
    expect(await linearCKA(X.tensor, Y.tensor)).toBe(await core.linearCKA(X.mat, Y.mat));
    // tensors and plain matrices mixed
    expect(await principalAngles(X.tensor, Y.mat)).toEqual(
      await core.principalAngles(X.mat, Y.mat),
    );
    const W = pair(5, 6, 3);
    const viaTensors = await measureNRC({
      layers: [{ name: "fc", features: X.tensor, weight: W.tensor }],
      targets: Y.tensor,
    });
    const viaPlain = await core.measureNRC({
      layers: [{ name: "fc", features: X.mat, weight: W.mat }],
      targets: Y.mat,
    });
    expect(viaTensors).toEqual(viaPlain);
    const conv = tf.randomNormal([3, 4, 2, 2], 0, 1, "float32", 7) as tf.Tensor4D;
    const viaT = await convFeaturesToMatrix(conv);
    const viaP = core.convFeaturesToMatrix({
      data: Float64Array.from(await conv.data()),
      shape: [3, 4, 2, 2],
    });
    expect(viaT).toEqual(viaP);
    for (const t of [X.tensor, Y.tensor, W.tensor, conv]) expect(t.isDisposed).toBe(false);
  });

  it("tensors run on the tfjs backend end to end (float32 bounds)", async () => {
    const X = pair(500, 12, 4);
    const Y = pair(500, 3, 5);
    const k = await tfjsBackend(tf).init();
    const got = await measureNRC({
      layers: [{ features: X.tensor }],
      targets: Y.tensor,
      backend: k,
    });
    const exact = await core.measureNRC({ layers: [{ features: X.mat }], targets: Y.mat });
    expect(got.backend).toBe("tfjs");
    expect(
      Math.abs((got.layers[0].nrc1 as number) - (exact.layers[0].nrc1 as number)),
    ).toBeLessThan(5e-7);
  });

  it("tensorsToInputs copies, never mutates, and leaves backends and kernels alone", async () => {
    const X = pair(10, 2, 6);
    const backend = core.jsBackend;
    const opts = { layers: [{ features: X.tensor, name: "a" }], targets: [[1], [2]], backend };
    const snapshot = { ...opts, layers: [...opts.layers] };
    const out = await tensorsToInputs(opts);
    expect(opts).toEqual(snapshot);
    expect(opts.layers[0].features).toBe(X.tensor);
    expect(out.backend).toBe(backend);
    expect(out.targets).toBe(opts.targets);
    expect(out.layers[0]).toEqual({ features: X.mat, name: "a" });
  });

  it("a bad tensor deep inside measureNRC's options names its path", async () => {
    await expect(
      measureNRC({
        layers: [{ features: tf.zeros([4, 2, 2]) as never }],
        targets: [[1], [2], [3], [4]],
      }),
    ).rejects.toThrow(/options\.layers\[0\]\.features must be a rank-2/);
  });
});
