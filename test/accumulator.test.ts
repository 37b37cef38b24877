/**
 * The streaming accumulator agrees with measureNRC on all rows at once (and so with the numpy
 * reference) for any batching, merge order and JSON round trip.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import {
  createNRCAccumulator,
  measureNRC,
  NRCAccumulator,
  makeSyntheticNetwork,
  type NRCReport,
} from "../src/index.js";
import { fcParams } from "./properties/generators.js";
import { initBackend } from "../src/backends/choose.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
import { jsKernels } from "../src/backends/js/index.js";
import { MomentsAccumulation, batchStats } from "../src/stats/moments.js";

type M = { rows: number; cols: number; data: Float64Array };
const rowsOf = (m: M, a: number, b: number): M => ({
  rows: b - a,
  cols: m.cols,
  data: m.data.slice(a * m.cols, b * m.cols),
});

function expectSameReport(got: NRCReport, exp: NRCReport, rel = 1e-9): void {
  expect(got.samples).toBe(exp.samples);
  expect(got.firstCollapsedLayer).toBe(exp.firstCollapsedLayer);
  const cmp = (
    g: number | null | undefined,
    e: number | null | undefined,
    what: string,
    abs = 1e-14,
  ) => {
    if (e === null || e === undefined) return expect(g ?? null, what).toBeNull();
    expect(Math.abs((g as number) - e), `${what}: ${g} vs ${e}`).toBeLessThanOrEqual(
      rel * Math.abs(e) + abs,
    );
  };
  cmp(got.targetStableRank, exp.targetStableRank, "targetStableRank");
  exp.layers.forEach((e, i) => {
    const g = got.layers[i];
    expect(g.degenerate).toBe(e.degenerate);
    for (const key of [
      "nrc1",
      "nrc2",
      "nrc3",
      "nrc4",
      "stableRankFeatures",
      "stableRankWeight",
    ] as const)
      cmp(g[key], e[key], `${e.name}.${key}`);
    cmp(g.intrinsic?.nrc1, e.intrinsic?.nrc1, `${e.name}.intrinsic.nrc1`);
    cmp(g.intrinsic?.bottomAlignment, e.intrinsic?.bottomAlignment, `${e.name}.intrinsic.bottom`);
  });
}

/** Batch boundaries [0, …, n]: up to `most` distinct inner cuts. */
const cutsOf = (n: number, most: number) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: n - 1 }), { maxLength: most })
    .map((a) => [0, ...a.sort((x, y) => x - y), n]);

describe("createNRCAccumulator", () => {
  const net = makeSyntheticNetwork({ samples: 300, layers: 4, width: 12, targets: 3, seed: 3 });
  const weights = net.layers.map((l) => l.weight);

  it("matches measureNRC for any batching, merge tree and JSON round trip (both presets)", async () => {
    for (const preset of ["paper", "reference-code"] as const) {
      const exp = await measureNRC({ ...net, r: 2, preset });
      await fc.assert(
        fc.asyncProperty(cutsOf(300, 6), fc.integer({ min: 1, max: 4 }), async (cuts, shards) => {
          const accs = Array.from({ length: shards }, () =>
            createNRCAccumulator({ weights, r: 2, preset }),
          );
          for (let b = 0; b + 1 < cuts.length; b++) {
            const [lo, hi] = [cuts[b], cuts[b + 1]];
            await accs[b % shards].add({
              features: net.layers.map((l) => rowsOf(l.features, lo, hi)),
              targets: rowsOf(net.targets, lo, hi),
            });
          }
          // Shard states travel as JSON, then merge.
          const [head, ...rest] = accs.map((a) =>
            NRCAccumulator.fromJSON(JSON.stringify(a.toJSON()), { weights }),
          );
          for (const a of rest) await head.merge(a);
          expectSameReport(await head.finalize(), exp);
        }),
        fcParams(15),
      );
    }
  });

  it("streams conv feature maps and marks dead layers, like measureNRC", async () => {
    const N = 40;
    const Y = {
      rows: N,
      cols: 2,
      data: Float64Array.from({ length: N * 2 }, (_, i) => Math.sin(i * 1.3) + (i % 3)),
    };
    const conv = {
      shape: [N, 3, 2, 2],
      data: Float64Array.from({ length: N * 12 }, (_, i) => Math.cos(i * 0.7) * (1 + (i % 5))),
    };
    const dead = { rows: N, cols: 4, data: new Float64Array(N * 4) };
    const convW = {
      shape: [5, 3, 2, 2],
      data: Float64Array.from({ length: 60 }, (_, i) => Math.sin(i)),
    };
    for (const preset of ["paper", "reference-code"] as const) {
      const exp = await measureNRC({
        layers: [{ features: conv, weight: convW }, { features: dead }],
        targets: Y,
        preset,
      });
      const batches = (cuts: number[]) =>
        cuts.slice(0, -1).map((lo, b) => {
          const hi = cuts[b + 1];
          const slice = { shape: [hi - lo, 3, 2, 2], data: conv.data.slice(lo * 12, hi * 12) };
          return { features: [slice, rowsOf(dead, lo, hi)], targets: rowsOf(Y, lo, hi) };
        });
      for (const nrc4 of ["tsqr", "rescan"] as const) {
        const acc = createNRCAccumulator({ weights: [convW, null], preset, nrc4 });
        await acc.addAll(batches([0, 7, 30, 40]));
        const got = await acc.finalize({ rescan: () => batches([0, 19, 40]) });
        expect(got.layers[1].degenerate).toMatch(/zero-variance/);
        expectSameReport(got, exp);
      }
    }
  });

  it("agrees with the numpy reference on a golden case, streamed in uneven batches", async () => {
    const fx = JSON.parse(
      readFileSync(new URL("./fixtures/metrics.json", import.meta.url), "utf8"),
    );
    const c = fx.cases.find(
      (x: { name: string; preset: string }) =>
        x.name.startsWith("collapsed") && x.preset === "paper",
    );
    const dec = (e: { rows: number; cols: number; f64: string }): M => {
      const b = Buffer.from(e.f64, "base64");
      return {
        rows: e.rows,
        cols: e.cols,
        data: new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
      };
    };
    const H = dec(c.H);
    const Y = dec(c.Y);
    const batches = (step: number) =>
      Array.from({ length: Math.ceil(H.rows / step) }, (_, b) => {
        const [lo, hi] = [b * step, Math.min(H.rows, (b + 1) * step)];
        return { features: [rowsOf(H, lo, hi)], targets: rowsOf(Y, lo, hi) };
      });
    for (const nrc4 of ["tsqr", "rescan"] as const) {
      const acc = createNRCAccumulator({ weights: [dec(c.W)], t: c.t, nrc4 });
      for (const b of batches(97)) await acc.add(b);
      const l = (await acc.finalize({ rescan: () => batches(61) })).layers[0];
      expect(Math.abs((l.nrc1 as number) - c.expected.nrc1)).toBeLessThanOrEqual(
        1e-9 * c.expected.nrc1 + 1e-14,
      );
      expect(Math.abs((l.nrc3 as number) - c.expected.nrc3)).toBeLessThanOrEqual(1e-12);
      expect(Math.abs((l.nrc4 as number) - c.expected.nrc4)).toBeLessThanOrEqual(
        1e-9 * c.expected.nrc4 + 1e-15,
      );
    }
  });

  it("rejects mismatched batches and malformed states", async () => {
    const acc = createNRCAccumulator({ weights });
    await expect(acc.finalize()).rejects.toThrow(/NRCAccumulator.finalize: no batch was added/);
    await expect(
      acc.add({ features: [net.layers[0].features], targets: net.targets }),
    ).rejects.toThrow(/NRCAccumulator.add: features must hold one entry per layer \(4\); got 1/);
    await acc.add({
      features: net.layers.map((l) => rowsOf(l.features, 0, 10)),
      targets: rowsOf(net.targets, 0, 10),
    });
    await expect(
      acc.add({
        features: net.layers.map((l) => rowsOf(l.features, 0, 10)),
        targets: rowsOf(net.targets, 0, 9),
      }),
    ).rejects.toThrow(
      /features\[0\].features must have one row per sample of targets \(9\); got 10×12/,
    );
    expect(() => NRCAccumulator.fromJSON("{")).toThrow(
      /NRCAccumulator.fromJSON: state must be valid JSON/,
    );
    const st = acc.toJSON();
    st.layers![0].m2H = [1, 2];
    expect(() => NRCAccumulator.fromJSON(st)).toThrow(/state.layers is malformed/);
    expect(() => createNRCAccumulator({ weights: [[[1, NaN]]] })).toThrow(
      /createNRCAccumulator: weights\[0\] must hold finite numbers/,
    );
  });

  describe('nrc4: "rescan" (moments in one pass, NRC4 from a second)', () => {
    const batchesOf = (layers: M[], targets: M, cuts: number[]) =>
      cuts.slice(0, -1).map((lo, b) => ({
        features: layers.map((h) => rowsOf(h, lo, cuts[b + 1])),
        targets: rowsOf(targets, lo, cuts[b + 1]),
      }));

    it("matches measureNRC for any batching of either pass, merge tree and JSON round trip", async () => {
      const feats = net.layers.map((l) => l.features as M);
      for (const preset of ["paper", "reference-code"] as const) {
        const exp = await measureNRC({ ...net, r: 2, preset });
        await fc.assert(
          fc.asyncProperty(
            cutsOf(300, 6),
            cutsOf(300, 4),
            fc.integer({ min: 1, max: 3 }),
            async (cuts, recuts, shards) => {
              const accs = Array.from({ length: shards }, () =>
                createNRCAccumulator({ weights, r: 2, preset, nrc4: "rescan" }),
              );
              const batches = batchesOf(feats, net.targets as M, cuts);
              for (let b = 0; b < batches.length; b++) await accs[b % shards].add(batches[b]);
              const [head, ...rest] = accs.map((a) =>
                NRCAccumulator.fromJSON(JSON.stringify(a.toJSON()), { weights }),
              );
              for (const a of rest) await head.merge(a);
              let scans = 0;
              const got = await head.finalize({
                rescan: () => {
                  scans++;
                  return batchesOf(feats, net.targets as M, recuts);
                },
              });
              expectSameReport(got, exp);
              expect(scans).toBeGreaterThanOrEqual(1);
            },
          ),
          fcParams(10),
        );
      }
    });

    it("falls back to a TSQR pass where the Gram cannot prove the refinement safe", async () => {
      // Layer 1 has a repeated column: HᵀH is singular, so its NRC4 needs the factorisation.
      const N = 200;
      const base = net.layers.map((l) => rowsOf(l.features as M, 0, N));
      const dup = { ...base[1], data: Float64Array.from(base[1].data) };
      for (let i = 0; i < N; i++) dup.data[i * dup.cols + 5] = dup.data[i * dup.cols + 2];
      const layers = [base[0], dup];
      const targets = rowsOf(net.targets as M, 0, N);
      const exp = await measureNRC({ layers: layers.map((features) => ({ features })), targets });
      const acc = createNRCAccumulator({ nrc4: "rescan" });
      for (const b of batchesOf(layers, targets, [0, 64, 150, N])) await acc.add(b);
      let scans = 0;
      const got = await acc.finalize({
        rescan: async function* () {
          scans++;
          yield* batchesOf(layers, targets, [0, 100, N]);
        },
      });
      expectSameReport(got, exp);
      expect(scans).toBe(2); // one refinement pass (layer 0), one TSQR pass (layer 1)
    });

    it("on the wasm backend (moments kept in wasm memory between batches) matches measureNRC, also when the batches' means drift", async () => {
      const feats = net.layers.map((l) => l.features as M);
      // Drifting copy: samples come in blocks of 60 whose features sit 3·block·(1, 2 or 3) apart
      // (the spread within a block is ~1), so a run's shift (the state's mean when it started)
      // falls behind and runs must restart.
      const drift = feats.map((h) => ({
        ...h,
        data: h.data.map((v, i) => v + 3 * Math.floor(i / h.cols / 60) * (1 + (i % 3))),
      }));
      const k = await initBackend(wasmBackend({ threads: 2 }));
      let runs = 0;
      const counted = {
        ...k,
        momentsRun: (...a: Parameters<typeof k.momentsRun>) => (runs++, k.momentsRun(...a)),
      };
      try {
        for (const layers of [feats, drift]) {
          const exp = await measureNRC({
            layers: layers.map((features, i) => ({ features, weight: weights[i] })),
            targets: net.targets,
            r: 2,
          });
          runs = 0;
          const acc = createNRCAccumulator({ weights, r: 2, nrc4: "rescan", backend: counted });
          // Alike batches after a first batch of 60 rows: one run per layer. Drifting batches
          // (after a first batch of 7): restarts.
          const cuts =
            layers === feats ? [0, 60, 61, 130, 200, 255, 300] : [0, 7, 60, 61, 130, 200, 255, 300];
          for (const b of batchesOf(layers, net.targets as M, cuts)) await acc.add(b);
          if (layers === feats) expect(runs).toBe(weights.length);
          else expect(runs).toBeGreaterThan(weights.length);
          // A JSON round trip mid-stream reads the running moments (and keeps them).
          const mid = NRCAccumulator.fromJSON(JSON.stringify(acc.toJSON()), { weights });
          expect(mid.samples).toBe(300);
          const got = await acc.finalize({
            rescan: () => batchesOf(layers, net.targets as M, [0, 100, 300]),
          });
          expectSameReport(got, exp);
          const again = await mid.finalize({
            rescan: () => batchesOf(layers, net.targets as M, [0, 300]),
          });
          expectSameReport(again, exp);
        }
      } finally {
        await k.dispose?.();
      }
    });

    it("restarts a layer's running moments only when its mean drifts", async () => {
      const rows = (n: number, at: number, seed: number): M => ({
        rows: n,
        cols: 3,
        data: Float64Array.from({ length: n * 3 }, (_, i) => at + Math.sin(i * 1.7 + seed)),
      });
      const first = await batchStats(jsKernels, rows(50, 0, 1), rows(50, 0, 2), false);
      const alike = new MomentsAccumulation(jsKernels, first);
      const moved = new MomentsAccumulation(jsKernels, first);
      for (let b = 0; b < 5; b++) {
        await alike.add(rows(50, 0, 10 + b), rows(50, 0, 20 + b));
        expect(alike.drifted()).toBe(false);
      }
      await moved.add(rows(50, 5, 3), rows(50, 0, 4)); // features' mean moved 5 (spread ~0.7)
      expect(moved.drifted()).toBe(true);
      const t = new MomentsAccumulation(jsKernels, first);
      await t.add(rows(50, 0, 5), rows(50, -5, 6)); // targets' mean moved
      expect(t.drifted()).toBe(true);
      // Whatever the shift, the settled statistics are the batch's own (exactly centered).
      const ref = await batchStats(jsKernels, rows(50, 5, 3), rows(50, 0, 4), false);
      const got = moved.settle()!;
      for (const key of ["meanH", "meanY", "m2H", "cross", "m2Y"] as const)
        got[key].forEach((v, i) =>
          expect(Math.abs(v - ref[key][i])).toBeLessThanOrEqual(
            1e-12 * (1 + Math.abs(ref[key][i])),
          ),
        );
    });

    it("explains what it needs", async () => {
      expect(() => createNRCAccumulator({ nrc4: "qr" as "tsqr" })).toThrow(
        /createNRCAccumulator: nrc4 must be "tsqr" or "rescan"; got "qr"/,
      );
      const acc = createNRCAccumulator({ weights, nrc4: "rescan" });
      const feats = net.layers.map((l) => l.features as M);
      for (const b of batchesOf(feats, net.targets as M, [0, 150, 300])) await acc.add(b);
      await expect(acc.finalize()).rejects.toThrow(
        /NRCAccumulator.finalize: this accumulator keeps no TSQR factor \(nrc4: "rescan"\): pass finalize\(\{ rescan: \(\) => batches \}\)/,
      );
      await expect(
        acc.finalize({ rescan: () => batchesOf(feats, net.targets as M, [0, 150]) }),
      ).rejects.toThrow(/rescan must yield the same 300 samples as were added; got 150/);
      await expect(acc.merge(createNRCAccumulator({ weights }))).rejects.toThrow(
        /NRCAccumulator.merge: other was made with nrc4 = "tsqr", this state with nrc4 = "rescan"/,
      );
    });
  });
});
