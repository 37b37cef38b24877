/**
 * Hostile states for NRCAccumulator.fromJSON: fast-check mutations of a valid state (numbers
 * replaced, scaled, negated, made null/NaN/strings; keys deleted; arrays truncated; counts and
 * options changed to invalid values). Every mutation either loads and finalizes to the same
 * report as the untouched state, or throws an NRCInputError — never a wrong number, never
 * another error.
 */
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  createNRCAccumulator,
  makeSyntheticNetwork,
  NRCAccumulator,
  NRCInputError,
  type AccumulatorBatch,
  type AccumulatorState,
  type NRCReport,
} from "../../src/index.js";
import { fcParams } from "../properties/generators.js";
import { batchesOf, rowsOf } from "../helpers/batches.js";

const net = makeSyntheticNetwork({ samples: 90, layers: 3, width: 6, targets: 2, seed: 5 });
const weights = net.layers.map((l) => l.weight);
const batches: AccumulatorBatch[] = batchesOf(net, [0, 40, 90]);

function numbers(r: NRCReport): number[] {
  const out = [r.samples, r.targetStableRank, r.t, r.firstCollapsedLayer ?? -1];
  for (const l of r.layers) {
    out.push(l.samples, l.features);
    for (const v of [l.nrc1, l.nrc2, l.nrc3, l.nrc4, l.stableRankFeatures, l.stableRankWeight])
      out.push(v ?? NaN);
    out.push(...l.topEigenvalues, l.intrinsic?.nrc1 ?? NaN, l.intrinsic?.nrc3 ?? NaN);
  }
  return out;
}

/** Paths to every leaf of a JSON value. */
function leaves(x: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (x === null || typeof x !== "object") return [path];
  const out: (string | number)[][] = [path];
  const entries = Array.isArray(x) ? x.map((v, i) => [i, v] as const) : Object.entries(x);
  for (const [k, v] of entries) out.push(...leaves(v, [...path, k]));
  return out;
}

const getAt = (x: any, p: (string | number)[]) => p.reduce((o, k) => o?.[k], x);

/** One mutation: how to change the value found at a path. */
type Mutation =
  | { kind: "set"; value: unknown }
  | { kind: "scale"; by: number }
  | { kind: "negate" }
  | { kind: "delete" }
  | { kind: "truncate"; keep: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("set" as const),
    value: fc.oneof(
      fc.double(),
      fc.constantFrom(0, -1, 1, 1e300, -0, null, "0.5", NaN, Infinity, [], {}, true),
      fc.integer({ min: -3, max: 200 }),
    ),
  }),
  fc.record({
    kind: fc.constant("scale" as const),
    by: fc.double({ min: 1.001, max: 10, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("scale" as const),
    by: fc.double({ min: 1e-7, max: 1e-3, noNaN: true }).map((e) => 1 + e),
  }),
  fc.record({ kind: fc.constant("negate" as const) }),
  fc.record({ kind: fc.constant("delete" as const) }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat(5) }),
);

function mutate(state: any, path: (string | number)[], m: Mutation): boolean {
  if (path.length === 0) return false;
  const parent = getAt(state, path.slice(0, -1));
  const key = path[path.length - 1];
  const old = parent[key];
  // A state may legitimately hold other names or options: changing a name into another string,
  // or an option into another valid value, is a different measurement, not tampering.
  if (path[0] === "names" && m.kind === "set" && typeof m.value === "string") return false;
  if (path[0] === "options" && m.kind !== "delete") {
    if (m.kind !== "set") return false;
    // As JSON would carry it (NaN and ±Infinity become null).
    const v = m.value === undefined ? undefined : JSON.parse(JSON.stringify(m.value));
    const valid =
      key === "t" || key === "r"
        ? v === null || (Number.isInteger(v) && (v as number) >= 1)
        : key === "modelMSE"
          ? v === null || (typeof v === "number" && Number.isFinite(v) && v > 0)
          : key === "collapseThreshold"
            ? typeof v === "number" && Number.isFinite(v) && v >= 0
            : false;
    if (valid) return false;
  }
  if (path[0] === "options" && m.kind === "delete" && (key === "nrc4" || key === "r")) return false;
  switch (m.kind) {
    case "set":
      parent[key] = m.value;
      break;
    case "scale":
      if (typeof old !== "number") return false;
      parent[key] = old * m.by;
      break;
    case "negate":
      if (typeof old !== "number") return false;
      parent[key] = -old;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case "truncate":
      if (!Array.isArray(old)) return false;
      old.length = Math.min(old.length, m.keep);
      break;
  }
  return JSON.stringify(parent[key]) !== JSON.stringify(old) || !(key in parent);
}

for (const mode of ["tsqr", "rescan"] as const) {
  describe(`fromJSON of tampered states (nrc4: "${mode}")`, () => {
    let good: AccumulatorState;
    let want: number[];
    let paths: (string | number)[][];
    const finalize = (acc: NRCAccumulator) =>
      acc.finalize(mode === "rescan" ? { rescan: () => batches } : {});
    beforeAll(async () => {
      const acc = createNRCAccumulator({ weights, nrc4: mode, r: 2 });
      await acc.addAll(batches);
      good = JSON.parse(JSON.stringify(acc.toJSON()));
      want = numbers(await finalize(NRCAccumulator.fromJSON(good, { weights })));
      paths = leaves(good);
    });

    it("every mutation loads to the same report or throws NRCInputError", async () => {
      let rejected = 0;
      let same = 0;
      await fc.assert(
        fc.asyncProperty(fc.nat(), mutationArb, fc.boolean(), async (pick, m, asString) => {
          const state = JSON.parse(JSON.stringify(good));
          const path = paths[pick % paths.length];
          fc.pre(mutate(state, path, m));
          let got: number[];
          try {
            const input = asString ? JSON.stringify(state) : state;
            got = numbers(await finalize(NRCAccumulator.fromJSON(input, { weights })));
          } catch (e) {
            if (!(e instanceof NRCInputError))
              throw new Error(`${path.join(".")} ${JSON.stringify(m)}: ${(e as Error).stack}`);
            rejected++;
            return;
          }
          same++;
          expect(got.length, path.join(".")).toBe(want.length);
          got.forEach((v, i) => {
            if (Number.isNaN(want[i]))
              expect(v, `${path.join(".")} ${JSON.stringify(m)}`).toBeNaN();
            else
              expect(
                Math.abs(v - want[i]),
                `${path.join(".")} ${JSON.stringify(m)}: entry ${i} ${v} vs ${want[i]}`,
              ).toBeLessThanOrEqual(1e-9 * Math.abs(want[i]) + 1e-13);
          });
        }),
        { ...fcParams(400), interruptAfterTimeLimit: 20_000 },
      );
      expect(rejected).toBeGreaterThan(0);
      console.log(`${rejected} rejected, ${same} loaded to the same report`);
    }, 60_000);
  });
}

describe("genuine states far from the origin still load and rescan", () => {
  it("features with mean 1e6 × their spread, many uneven batches, merged, through JSON", async () => {
    const big = makeSyntheticNetwork({ samples: 500, layers: 2, width: 5, targets: 2, seed: 8 });
    const shifted = big.layers.map((l) => ({
      ...l.features,
      data: l.features.data.map((v, i) => v + 1e6 * (1 + (i % l.features.cols))),
    }));
    const y = { ...big.targets, data: big.targets.data.map((v) => v - 3e5) };
    const cuts = [0, 7, 100, 101, 333, 500];
    const bs: AccumulatorBatch[] = cuts.slice(1).map((b, i) => ({
      features: shifted.map((f) => rowsOf(f, cuts[i], b)),
      targets: rowsOf(y, cuts[i], b),
    }));
    for (const mode of ["tsqr", "rescan"] as const) {
      const a = createNRCAccumulator({ nrc4: mode });
      const b = createNRCAccumulator({ nrc4: mode });
      await a.addAll(bs.slice(0, 3));
      await b.addAll(bs.slice(3));
      await a.merge(b);
      const back = NRCAccumulator.fromJSON(JSON.stringify(a.toJSON()));
      const r = await back.finalize(
        mode === "rescan" ? { rescan: () => bs.slice().reverse() } : {},
      );
      expect(r.samples).toBe(500);
      expect(r.layers.every((l) => l.degenerate === null)).toBe(true);
    }
  });
});
