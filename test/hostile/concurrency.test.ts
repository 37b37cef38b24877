/**
 * Concurrent use of one started wasm backend equals sequential use: random interleavings
 * (fast-check) of metric calls, measureNRC and accumulator add/merge/finalize, all sharing one
 * threaded wasm backend, each checked against its result when run alone. measureNRC takes each
 * layer's moments in the background (startShiftedMoments); another caller's start used to
 * complete that job and make the first caller's join throw.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  createNRCAccumulator,
  featureWeightAlignment,
  linearCKA,
  makeSyntheticNetwork,
  measureNRC,
  noiseComponent,
  pinvPredictMSE,
  signalTargetAlignment,
  stableRank,
  wasmBackend,
  type NRCReport,
  type WasmKernels,
} from "../../src/index.js";
import { fcParams } from "../properties/generators.js";

type M = { rows: number; cols: number; data: Float64Array };
const rowsOf = (m: M, a: number, b: number): M => ({
  rows: b - a,
  cols: m.cols,
  data: m.data.slice(a * m.cols, b * m.cols),
});
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Numbers of a result, in a fixed order (a report's every metric, or a number). */
function flat(x: unknown): number[] {
  if (typeof x === "number") return [x];
  const r = x as NRCReport;
  const out: number[] = [r.samples, r.targetStableRank];
  for (const l of r.layers)
    for (const v of [l.nrc1, l.nrc2, l.nrc3, l.nrc4, l.stableRankFeatures, l.stableRankWeight])
      out.push(v ?? NaN);
  return out;
}

function expectClose(got: unknown, want: unknown, what: string): void {
  const g = flat(got);
  const w = flat(want);
  expect(g.length, what).toBe(w.length);
  g.forEach((v, i) => {
    if (Number.isNaN(w[i])) expect(v, what).toBeNaN();
    // Row chunking of a pass may differ between a background job and a direct pass: rounding only.
    else
      expect(Math.abs(v - w[i]), `${what}[${i}]: ${v} vs ${w[i]}`).toBeLessThanOrEqual(
        1e-12 * Math.abs(w[i]) + 1e-15,
      );
  });
}

describe("one started wasm backend shared by concurrent callers", () => {
  let k: WasmKernels;
  const nets = [1, 2, 3].map((seed) =>
    makeSyntheticNetwork({ samples: 400, layers: 4, width: 24, targets: 3, seed }),
  );
  beforeAll(async () => {
    k = (await wasmBackend({ threads: 2 }).init()) as WasmKernels;
    expect(k.threads).toBe(2);
  });
  afterAll(async () => {
    await k?.dispose?.();
  });

  /** A task: (delays between its steps) → its result. */
  type Task = (delay: () => Promise<void>) => Promise<unknown>;
  const tasks: [string, Task][] = [];
  for (const [i, net] of nets.entries()) {
    tasks.push([`measureNRC net ${i}`, async () => measureNRC({ ...net, backend: k })]);
    tasks.push([
      `measureNRC reference-code r=2 net ${i}`,
      async () => measureNRC({ ...net, r: 2, preset: "reference-code", backend: k }),
    ]);
  }
  const [h, w] = [nets[0].layers[2].features, nets[0].layers[2].weight];
  const y = nets[0].targets;
  tasks.push(["noiseComponent", async () => noiseComponent(h, 3, { backend: k })]);
  tasks.push(["linearCKA", async () => linearCKA(h, y, { backend: k })]);
  tasks.push(["signalTargetAlignment", async () => signalTargetAlignment(h, y, 3, { backend: k })]);
  tasks.push([
    "featureWeightAlignment",
    async () => featureWeightAlignment(h, w, 3, { backend: k }),
  ]);
  tasks.push(["pinvPredictMSE", async () => pinvPredictMSE(h, y, { backend: k })]);
  tasks.push(["stableRank", async () => stableRank(w, { backend: k })]);
  for (const mode of ["tsqr", "rescan"] as const)
    tasks.push([
      `accumulator ${mode}: add, merge, finalize`,
      async (delay) => {
        const net = nets[1];
        const weights = net.layers.map((l) => l.weight);
        const feats = net.layers.map((l) => l.features);
        const batch = (a: number, b: number) => ({
          features: feats.map((f) => rowsOf(f, a, b)),
          targets: rowsOf(net.targets, a, b),
        });
        const a1 = createNRCAccumulator({ weights, backend: k, nrc4: mode });
        const a2 = createNRCAccumulator({ weights, backend: k, nrc4: mode });
        await a1.add(batch(0, 150));
        await delay();
        await a2.add(batch(150, 290));
        await delay();
        await a1.add(batch(290, 400));
        await delay();
        await a1.merge(a2);
        await delay();
        const all = [batch(0, 200), batch(200, 400)];
        return a1.finalize(mode === "rescan" ? { rescan: () => all } : {});
      },
    ]);

  const sequential: unknown[] = [];
  it("every task alone (the reference)", async () => {
    for (const [, t] of tasks) sequential.push(await t(async () => undefined));
  });

  it("Promise.all of 3 measureNRC calls: all succeed, equal to the sequential results", async () => {
    const got = await Promise.all(nets.map((net) => measureNRC({ ...net, backend: k })));
    got.forEach((g, i) => expectClose(g, sequential[2 * i], `net ${i}`));
  });

  it("random interleavings equal the sequential results", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            task: fc.nat(tasks.length - 1),
            start: fc.nat(3),
            gaps: fc.nat(2),
          }),
          { minLength: 2, maxLength: 6 },
        ),
        async (plan) => {
          const got = await Promise.all(
            plan.map(async ({ task, start, gaps }) => {
              for (let i = 0; i < start; i++) await tick();
              const delay = async () => {
                for (let i = 0; i < gaps; i++) await tick();
              };
              return tasks[task][1](delay);
            }),
          );
          plan.forEach(({ task }, i) => expectClose(got[i], sequential[task], tasks[task][0]));
        },
      ),
      fcParams(12),
    );
  });
});
