/**
 * Issue 21 through the API: JSON states carry a checksum (a consistent edit is refused too),
 * older states still load, every state has an id and the ids of the states whose samples it holds
 * (a duplicate merge is refused unless allowed), empty and one-row states merge exactly, and
 * options are compared as in effect.
 */
import { describe, expect, it } from "vitest";
import {
  createNRCAccumulator,
  makeSyntheticNetwork,
  NRCAccumulator,
  NRCInputError,
  type AccumulatorOptions,
  type AccumulatorState,
} from "../../src/index.js";
import { batchOf, rowsOf } from "../helpers/batches.js";

const net = makeSyntheticNetwork({ samples: 60, layers: 3, width: 5, targets: 2, seed: 9 });
const weights = net.layers.map((l) => l.weight);
const batch = (a: number, b: number) => batchOf(net, a, b);

async function filled(a: number, b: number, opts: AccumulatorOptions = {}) {
  const acc = createNRCAccumulator({ weights, ...opts });
  await acc.add(batch(a, b));
  return acc;
}

async function rejects(p: Promise<unknown> | (() => unknown), arg: string, msg?: RegExp) {
  const e = await (typeof p === "function" ? Promise.resolve().then(p) : p).then(
    () => null,
    (x) => x,
  );
  expect(e, `expected an NRCInputError naming ${arg}`).toBeInstanceOf(NRCInputError);
  expect((e as NRCInputError).arg).toBe(arg);
  if (msg) expect((e as Error).message).toMatch(msg);
}

const clone = (s: AccumulatorState): AccumulatorState => JSON.parse(JSON.stringify(s));

describe("JSON states: checksum and format", () => {
  it("a consistent edit (names, modelMSE, a statistic within rounding) is refused", async () => {
    const s = (await filled(0, 60)).toJSON();
    expect(s.format).toBe("deep-nrc/accumulator@2");
    expect(s.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(NRCAccumulator.fromJSON(JSON.stringify(s), { weights }).samples).toBe(60);
    const edits: ((x: AccumulatorState) => void)[] = [
      (x) => (x.names![0] = "renamed"),
      (x) => (x.options.modelMSE = 0.5),
      (x) => (x.layers![1].m2H[0] *= 1 + 1e-14),
      (x) => (x.sources = ["0".repeat(32)]),
    ];
    for (const edit of edits) {
      const x = clone(s);
      edit(x);
      await rejects(() => NRCAccumulator.fromJSON(x, { weights }), "state.checksum");
    }
    const gone = clone(s);
    delete gone.checksum;
    await rejects(() => NRCAccumulator.fromJSON(gone), "state.checksum", /must be/);
    // Re-indented and with its keys in another order, it still loads.
    const reordered = Object.fromEntries(Object.entries(clone(s)).reverse());
    expect(NRCAccumulator.fromJSON(JSON.stringify(reordered, null, 2)).samples).toBe(60);
  });

  it("a format-@1 state (no id, no checksum) loads; loaded twice it is one state", async () => {
    const s = clone((await filled(0, 60)).toJSON()) as Partial<AccumulatorState>;
    delete s.id;
    delete s.sources;
    delete s.checksum;
    s.format = "deep-nrc/accumulator@1";
    const a = NRCAccumulator.fromJSON(s as AccumulatorState, { weights });
    const b = NRCAccumulator.fromJSON(s as AccumulatorState, { weights });
    expect(a.id).toBe(b.id);
    await rejects(a.merge(b), "other", /count them twice/);
  });
});

describe("ids and duplicate merges", () => {
  it("a state merged with itself, or twice, is refused; allowDuplicates counts it twice", async () => {
    const a = await filled(0, 30);
    const b = await filled(30, 60);
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    expect(a.sources).toEqual([a.id]);
    await rejects(a.merge(a), "other", /both hold the samples of state [0-9a-f]{32}/);
    const copy = await NRCAccumulator.fromSafetensors(a.toSafetensors());
    expect(copy.id).toBe(a.id);
    await rejects(a.merge(copy), "other", /count them twice/);
    const ab = await (await NRCAccumulator.fromSafetensors(a.toSafetensors())).merge(b);
    expect(ab.sources).toEqual([a.id, b.id].sort());
    await rejects(ab.merge(await NRCAccumulator.fromSafetensors(b.toSafetensors())), "other");
    // Through JSON too.
    await rejects(ab.merge(NRCAccumulator.fromJSON(b.toJSON(), { weights })), "other");
    await a.merge(copy, { allowDuplicates: true });
    expect(a.samples).toBe(60);
    await rejects(a.merge(b, { allowDuplicates: 1 as unknown as boolean }), "allowDuplicates");
  });
});

describe("shards of any size", () => {
  it("0- and 1-row batches and states: the empty state is the identity, the sum exact", async () => {
    const whole = await (await filled(0, 60)).finalize();
    const acc = createNRCAccumulator({ weights });
    await acc.add(batch(5, 5)); // empty: adds nothing
    expect(acc.samples).toBe(0);
    expect(acc.sources).toEqual([]);
    await rejects(
      acc.add({ features: [rowsOf(net.layers[0].features, 0, 1), [], []], targets: [] }),
      "features[0]",
      /0 rows/,
    );
    const parts = [
      [0, 1],
      [1, 1],
      [1, 2],
      [2, 59],
      [59, 60],
    ];
    for (const [a, b] of parts) {
      const shard = createNRCAccumulator({ weights });
      await shard.add(batch(a, b));
      const back = await NRCAccumulator.fromSafetensors(shard.toSafetensors());
      expect(back.samples).toBe(b - a);
      await acc.merge(back);
    }
    const one = await NRCAccumulator.fromSafetensors((await filled(0, 1)).toSafetensors());
    await rejects(one.finalize(), "batches", /at least 2 samples; got 1/);
    const got = await acc.finalize();
    expect(got.samples).toBe(60);
    got.layers.forEach((l, i) => {
      for (const k of ["nrc1", "nrc2", "nrc3", "nrc4"] as const)
        expect(Math.abs(l[k]! - whole.layers[i][k]!)).toBeLessThanOrEqual(
          1e-11 * Math.abs(whole.layers[i][k]!),
        );
    });
  });
});

describe("options as in effect", () => {
  it("t = the targets' width merges with the default t; another t does not", async () => {
    const a = await filled(0, 30, { t: 2 });
    const b = await filled(30, 60);
    await a.merge(b);
    expect(a.samples).toBe(60);
    const empty = createNRCAccumulator({ weights });
    await empty.merge(await filled(0, 30, { t: 1 }));
    expect((await (await empty.merge(await filled(30, 60, { t: 1 }))).finalize()).t).toBe(1);
    await rejects(
      (await filled(0, 30, { t: 1 })).merge(await filled(30, 60)),
      "t",
      /other was made with t = 2 \(the default: its targets' width\), this state with t = 1/,
    );
    // An empty state's explicit t must fit the other's targets.
    await rejects(createNRCAccumulator({ weights, t: 1 }).merge(await filled(0, 30)), "t");
  });
});
