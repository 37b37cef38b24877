/**
 * Issue 16's table, one row at a time: each hostile input gets an NRCInputError naming the
 * argument (or the right value), never a silent number. Expected values come from the SPEC's
 * float64 reference (numpy) or from the same call on untampered input, never from the tampered one.
 */
import { describe, expect, it } from "vitest";
import {
  createNRCAccumulator,
  formatReport,
  linearCKA,
  makeSyntheticNetwork,
  measureNRC,
  NRCAccumulator,
  NRCInputError,
  noiseComponent,
  pinvPredictMSE,
  wasmBackend,
  type AccumulatorBatch,
} from "../../src/index.js";
import { H, Y, W } from "../helpers/spec-example.js";

// SPEC's small example (numpy reference values in SPEC.md).
const NRC1 = 0.004758239938369435;

const rejects = async (p: Promise<unknown> | (() => unknown), re: RegExp) => {
  const run = typeof p === "function" ? async () => p() : () => p;
  await expect(run()).rejects.toThrow(NRCInputError);
  await expect(run()).rejects.toThrow(re);
};

describe("number arrays holding null or strings", () => {
  const withNull = H.map((r) => [...r]) as unknown as (number | null)[][];
  withNull[3][1] = null; // what JSON.stringify makes of NaN
  const withString = H.map((r) => [...r]) as unknown as (number | string)[][];
  withString[2][0] = "0.5";
  it("number[][] rows", async () => {
    await rejects(
      noiseComponent(withNull as unknown as number[][], 2),
      /noiseComponent: H must hold finite numbers; got null at \(3, 1\)/,
    );
    await rejects(
      linearCKA(withString as unknown as number[][], Y),
      /linearCKA: x must hold finite numbers; got the string "0.5" at \(2, 0\)/,
    );
  });
  it("{ rows, cols, data: number[] } and ml-matrix-like objects", async () => {
    const data = H.flat() as unknown[];
    data[7] = null;
    await rejects(
      noiseComponent({ rows: 6, cols: 3, data: data as number[] }, 2),
      /H\.data must hold finite numbers; got null at \(2, 1\)/,
    );
    data[0] = null; // the first entry too (was "must be a Float64Array…")
    await rejects(
      noiseComponent({ rows: 6, cols: 3, data: data as number[] }, 2),
      /got null at \(0, 0\)/,
    );
    const like = { rows: 6, columns: 3, get: (i: number, j: number) => (i === 5 ? "1" : H[i][j]) };
    await rejects(
      noiseComponent(like as never, 2),
      /H must hold finite numbers; got the string "1" at \(5, 0\)/,
    );
  });
  it("in measureNRC layers and targets", async () => {
    await rejects(
      measureNRC({ layers: [{ features: withNull as never }], targets: Y }),
      /layers\[0\]\.features must hold finite numbers; got null/,
    );
    const y = Y.map((r) => [...r]) as unknown[][];
    y[1][1] = "1";
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: y as never }),
      /targets must hold finite numbers/,
    );
  });
});

describe("NRCAccumulator.fromJSON", () => {
  const net = makeSyntheticNetwork({ samples: 60, layers: 3, width: 6, targets: 2, seed: 3 });
  const weights = net.layers.map((l) => l.weight);
  const feats = net.layers.map((l) => l.features);
  async function state(widths?: number[]) {
    const layers = widths
      ? widths.map((w, i) => ({
          features: { rows: 60, cols: w, data: feats[i].data.slice(0, 60 * w) },
        }))
      : feats.map((f) => ({ features: f }));
    const acc = createNRCAccumulator({});
    await acc.add({ features: layers.map((l) => l.features), targets: net.targets });
    return acc.toJSON();
  }
  it("weights in the wrong order or width: an error naming weights[i] and the widths", async () => {
    const s = await state([6, 4, 6]);
    const w4 = { rows: 5, cols: 4, data: new Float64Array(20).fill(1) };
    expect(() => NRCAccumulator.fromJSON(s, { weights: [weights[0], weights[1], w4] })).toThrow(
      /fromJSON: weights\[1\] must be out×in with in = 4 \(layer 1's features in the state\); got 6×6 \(weights in another order\?\)/,
    );
    expect(() => NRCAccumulator.fromJSON(s, { weights: [weights[0], w4] })).toThrow(
      /weights must hold one entry per layer of the state \(3/,
    );
    expect(() => NRCAccumulator.fromJSON(s, { weights: [w4, w4, weights[2]] })).toThrow(
      /weights\[0\] must be out×in with in = 6/,
    );
  });
  it("tampered states are rejected naming the field", async () => {
    const good = await state();
    const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
      ["asymmetric m2H", (s) => (s.layers[1].m2H[1] += 0.5), /layers\[1\]\.m2H must be symmetric/],
      ["negative diagonal", (s) => (s.layers[0].m2H[0] = -1), /layers\[0\]\.m2H\[0\].*≥ 0/],
      ["garbage R", (s) => (s.layers[2].r.data[5] = 1e5), /layers\[2\]\.r .*does not match/],
      [
        "samples 999",
        (s) => (s.samples = 999),
        /layers\[0\]\.count must be equal to state\.samples \(999\)/,
      ],
      [
        "short names",
        (s) => (s.names = ["a"]),
        /state\.names must be null or an array of 3 strings/,
      ],
      [
        "layers: null",
        (s) => (s.layers = null),
        /state\.samples must be 0 in a state without layers/,
      ],
      ["layers: []", (s) => (s.layers = []), /state\.layers must be null/],
      [
        "unknown option",
        (s) => (s.options.collapseTreshold = 1),
        /options\.collapseTreshold must be absent/,
      ],
      ["bad kind", (s) => (s.kinds[0] = "CONV"), /state\.kinds\[0\]/],
      [
        "other targets",
        (s) => (s.layers[1].meanY[0] += 1),
        /layers\[1\]\.meanY\[0\] must equal layer 0's/,
      ],
      [
        "cross beyond Cauchy–Schwarz",
        (s) => (s.layers[0].cross[0] = 1e6),
        /layers\[0\]\.cross\[0\] exceeds/,
      ],
    ];
    for (const [what, mutate, re] of cases) {
      const s = JSON.parse(JSON.stringify(good));
      mutate(s);
      let err: unknown;
      try {
        NRCAccumulator.fromJSON(s, { weights });
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(NRCInputError);
      expect((err as Error).message, what).toMatch(re);
    }
    // The untampered state still loads, to the same report.
    const a = await NRCAccumulator.fromJSON(good, { weights }).finalize();
    const b = await measureNRC({ ...net, backend: "js" } as never).catch(() => measureNRC(net));
    expect(a.layers[2].nrc4).toBeCloseTo(b.layers[2].nrc4!, 12);
  });
  it("t: 0 and bad names name fromJSON, with the real bound", async () => {
    const s = JSON.parse(JSON.stringify(await state()));
    s.options.t = 0;
    expect(() => NRCAccumulator.fromJSON(s)).toThrow(/NRCAccumulator\.fromJSON: state\.options\.t/);
    expect(() => createNRCAccumulator({ t: 0 })).toThrow(
      /createNRCAccumulator: t must be an integer ≥ 1 \(and at most a layer's feature count; layers with fewer are reported degenerate\); got 0/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y, t: 0 }),
      /t must be an integer ≥ 1 \(/,
    );
    await expect(measureNRC({ layers: [{ features: H }], targets: Y, t: 0 })).rejects.not.toThrow(
      /9007199254740991/,
    );
  });
});

describe("finalize({ rescan }) whose second read differs", () => {
  const net = makeSyntheticNetwork({ samples: 80, layers: 2, width: 5, targets: 2, seed: 9 });
  const feats = net.layers.map((l) => l.features);
  const batches = (f: typeof feats, y = net.targets): AccumulatorBatch[] => [
    { features: f, targets: y },
  ];
  it("throws for other rows of the same count (features or targets), accepts the same rows rebatched", async () => {
    const acc = createNRCAccumulator({ nrc4: "rescan" });
    await acc.addAll(batches(feats));
    const other = feats.map((f) => ({
      ...f,
      data: f.data.map((v, i) => (i === 7 ? v + 0.25 : v)),
    }));
    await rejects(
      acc.finalize({ rescan: () => batches(other) }),
      /finalize: rescan must yield the same samples as were added: layer 0's second read differs from the first \(feature column 2's mean/,
    );
    // Same means and squares (two rows swapped in one column only): the cross sums differ.
    const swapped = feats.map((f) => {
      const d = Float64Array.from(f.data);
      [d[0], d[5 * 3]] = [d[5 * 3], d[0]];
      return { ...f, data: d };
    });
    await rejects(
      acc.finalize({ rescan: () => batches(swapped) }),
      /cross products with the targets differ/,
    );
    const y2 = { ...net.targets, data: net.targets.data.map((v, i) => (i === 3 ? v * 2 : v)) };
    await rejects(acc.finalize({ rescan: () => batches(feats, y2) }), /target column 1/);
    const good = await acc.finalize({ rescan: () => batches(feats) });
    const want = await measureNRC(net);
    expect(good.layers[1].nrc4).toBeCloseTo(want.layers[1].nrc4!, 12);
  });
});

describe("degenerate reasons per metric", () => {
  it("zero weight, a weight with fewer outputs than t, r > d: reasons in the report and the table", async () => {
    const report = await measureNRC({
      layers: [
        { name: "zero", features: H, weight: [[0, 0, 0]] },
        { name: "narrow", features: H, weight: [[1, 0, 2]] },
        { name: "ok", features: H, weight: W },
      ],
      targets: Y,
      r: 4,
    });
    const [z, n, ok] = report.layers;
    expect(z.nrc3).toBeNull();
    expect(z.reasons?.nrc3).toMatch(/all zero/);
    expect(n.nrc3).toBeNull();
    expect(n.reasons?.nrc3).toBe("the weight has 1 outputs, fewer than t = 2");
    expect(ok.nrc3).toBeCloseTo(0.7672156585617669, 12);
    expect(ok.reasons?.nrc3).toBeUndefined();
    for (const l of report.layers) {
      expect(l.intrinsic).toBeNull();
      expect(l.reasons?.intrinsic).toBe("r = 4 exceeds the layer's 3 features");
    }
    const table = formatReport(report);
    expect(table).toMatch(
      /zero .*\(NRC3: the weight is all zero \(no input subspace\); @r: r = 4 exceeds/,
    );
    expect(table).toMatch(/narrow .*NRC3: the weight has 1 outputs, fewer than t = 2/);
    const r2 = await measureNRC({
      layers: [{ features: H, weight: [[1, 0, 2]] }],
      targets: Y,
      r: 2,
    });
    expect(r2.layers[0].reasons?.intrinsic).toBe("the weight has 1 outputs, fewer than r = 2");
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe("unknown option keys", () => {
  it("measureNRC options and layer objects", async () => {
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y, collapseTreshold: 0.1 } as never),
      /measureNRC: options has an unknown key "collapseTreshold" \(did you mean "collapseThreshold"\?\); accepted keys: layers, targets, t, r, preset, modelMSE, collapseThreshold, backend, featurePrecision, nrc4Rtol, onProgress/,
    );
    await rejects(
      measureNRC({ layers: [{ features: H }, { features: H, weights: W }], targets: Y } as never),
      /layers\[1\] has an unknown key "weights" \(did you mean "weight"\?\); accepted keys: name, features, weight/,
    );
  });
  it("wasmBackend, accumulator options, fromJSON extra, finalize options", async () => {
    expect(() => wasmBackend({ thread: 2 } as never)).toThrow(
      /wasmBackend: opts has an unknown key "thread" \(did you mean "threads"\?\)/,
    );
    expect(() => wasmBackend({ thread: 2 } as never)).toThrow(NRCInputError);
    expect(() => createNRCAccumulator({ weight: [] } as never)).toThrow(
      /createNRCAccumulator: options has an unknown key "weight" \(did you mean "weights"\?\)/,
    );
    const acc = createNRCAccumulator();
    await acc.add({ features: [H], targets: Y });
    expect(() => NRCAccumulator.fromJSON(acc.toJSON(), { weight: [W] } as never)).toThrow(
      /fromJSON: extra has an unknown key "weight"/,
    );
    await rejects(
      acc.finalize({ rescann: () => [] } as never),
      /finalize: options has an unknown key "rescann"/,
    );
  });
});

describe("arguments that were raw TypeErrors", () => {
  it("onProgress: 5, formatReport(null)", async () => {
    await rejects(
      measureNRC({ layers: [{ features: H }], targets: Y, onProgress: 5 } as never),
      /measureNRC: onProgress must be a function; got number/,
    );
    expect(() => formatReport(null as never)).toThrow(NRCInputError);
    expect(() => formatReport(null as never)).toThrow(
      /formatReport: report must be a measureNRC report .*got null/,
    );
    expect(() => formatReport({} as never)).toThrow(/got an object without layers/);
  });
});

describe("pinvPredictMSE with one sample", () => {
  it("throws (N < 2) instead of returning 0", async () => {
    await rejects(pinvPredictMSE([[1, 2]], [[3]]), /pinvPredictMSE: H must have at least 2 rows/);
  });
});

describe("modelMSE in the printed table", () => {
  it("shows NRC4/MSE", async () => {
    const report = await measureNRC({
      layers: [{ name: "l0", features: H }],
      targets: Y,
      modelMSE: 0.5,
    });
    const table = formatReport(report);
    expect(table.split("\n")[1]).toMatch(/NRC4\s+NRC4\/MSE/);
    const ratio = report.layers[0].nrc4! / 0.5;
    expect(table).toContain(ratio.toFixed(3));
    expect(formatReport(await measureNRC({ layers: [{ features: H }], targets: Y }))).not.toContain(
      "NRC4/MSE",
    );
    expect(report.layers[0].nrc1).toBeCloseTo(NRC1, 14);
  });
});

describe("CLI --model-mse", () => {
  it("prints the NRC4/MSE column", async () => {
    const { main } = await import("../../src/cli/main.js");
    const { join } = await import("node:path");
    const net = join(import.meta.dirname, "..", "fixtures", "io", "cli", "net.safetensors");
    let out = "";
    const code = await main(["measure", net, "--backend", "js", "--model-mse", "0.25", "-q"], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { isTTY: false, columns: 100, write: () => undefined },
      env: {},
    });
    expect(code).toBe(0);
    expect(out).toMatch(/NRC4\s+NRC4\/MSE/);
  });
});
