/**
 * Sharded measurement end to end: 8 `deep-nrc accumulate` processes run in parallel by
 * `xargs -P 8` over one data set, merged by `deep-nrc merge`, give measureNRC's report on all of
 * it; and merging is associative and commutative (fast-check over random shard splits, merge
 * trees and orders, each state passing through its binary file form).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createNRCAccumulator,
  makeSyntheticNetwork,
  measureNRC,
  NRCAccumulator,
  type NRCReport,
} from "../../src/index.js";
import { encodeSafetensors } from "../../src/io/safetensors-write.js";
import { main } from "../../src/cli/main.js";
import { jsBackend } from "../../src/backends/js/index.js";
import { fcParams } from "../properties/generators.js";

const ROOT = join(import.meta.dirname, "..", "..");
type M = { rows: number; cols: number; data: Float64Array };
const rows = (m: M, a: number, b: number): M => ({
  rows: b - a,
  cols: m.cols,
  data: m.data.slice(a * m.cols, b * m.cols),
});

/** Every metric within `rel` relative (plus a tiny absolute floor for values near 0). */
function expectClose(got: NRCReport, exp: NRCReport, rel = 1e-9): void {
  expect(got.samples).toBe(exp.samples);
  expect(got.firstCollapsedLayer).toBe(exp.firstCollapsedLayer);
  const cmp = (g: number | null | undefined, e: number | null | undefined, what: string) => {
    if (e === null || e === undefined) return expect(g ?? null, what).toBeNull();
    const tol = rel * Math.abs(e) + 1e-14;
    if (!(Math.abs((g as number) - e) <= tol)) expect.fail(`${what}: ${g} vs ${e}`);
  };
  cmp(got.targetStableRank, exp.targetStableRank, "targetStableRank");
  exp.layers.forEach((e, i) => {
    for (const k of [
      "nrc1",
      "nrc2",
      "nrc3",
      "nrc4",
      "stableRankFeatures",
      "stableRankWeight",
    ] as const)
      cmp(got.layers[i][k], e[k], `layer ${i} ${k}`);
    e.topEigenvalues.forEach((v, j) => cmp(got.layers[i].topEigenvalues[j], v, `layer ${i} λ${j}`));
  });
}

const net = makeSyntheticNetwork({ samples: 960, layers: 4, width: 24, targets: 3, seed: 11 });
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deep-nrc-shards-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("8 shards in parallel processes (xargs -P 8)", () => {
  it("merge to measureNRC on all samples", async () => {
    const file = join(tmp, "acts.safetensors");
    writeFileSync(
      file,
      encodeSafetensors([
        ...net.layers.flatMap((l, k) => [
          {
            name: `features.${k}`,
            dtype: "F64" as const,
            shape: [l.features.rows, l.features.cols],
            data: l.features.data,
          },
          {
            name: `weight.${k}`,
            dtype: "F64" as const,
            shape: [l.weight.rows, l.weight.cols],
            data: l.weight.data,
          },
        ]),
        {
          name: "targets",
          dtype: "F64",
          shape: [net.targets.rows, net.targets.cols],
          data: net.targets.data,
        },
      ]),
    );
    const bin = join(ROOT, "src", "cli", "bin.ts");
    const p = spawnSync(
      "bash",
      [
        "-c",
        `seq 0 7 | xargs -P 8 -I{} "${process.execPath}" --import tsx "${bin}" accumulate "${file}" --shard {}/8 --state "${tmp}/shard-{}.nrc.safetensors" --backend js --batch 50 -q`,
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(p.stderr).toBe("");
    expect(p.status).toBe(0);
    const shards = Array.from({ length: 8 }, (_, k) => join(tmp, `shard-${k}.nrc.safetensors`));
    shards.forEach((s) => expect(existsSync(s), s).toBe(true));
    let out = "";
    const code = await main(["merge", ...shards, "--json", "-", "--backend", "js"], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { isTTY: false, write: () => {} },
      env: {},
    });
    expect(code).toBe(0);
    const exp = await measureNRC({
      layers: net.layers,
      targets: net.targets,
      backend: jsBackend,
    });
    expectClose(JSON.parse(out) as NRCReport, exp);
  }, 120_000);
});

describe("merging is associative and commutative", () => {
  const small = makeSyntheticNetwork({ samples: 120, layers: 3, width: 8, targets: 2, seed: 4 });
  const weights = small.layers.map((l) => l.weight);
  let oneShot: NRCReport;
  beforeAll(async () => {
    oneShot = await measureNRC({ layers: small.layers, targets: small.targets });
  });

  /** A random binary tree over the shards, as nested pairs of shard indices. */
  type Tree = number | [Tree, Tree];
  const treeOf = (order: number[], splits: number[]): Tree => {
    if (order.length === 1) return order[0];
    const cut = 1 + (splits[order.length % splits.length] % (order.length - 1));
    return [treeOf(order.slice(0, cut), splits), treeOf(order.slice(cut), splits)];
  };

  it("any shard split, merge order and tree gives the one-pass report (≤ 1e-9)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 2, max: 117 }), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.nat(50), { minLength: 1, maxLength: 8 }),
        async (innerCuts, seed, splits) => {
          const cuts = [0, ...innerCuts.sort((a, b) => a - b), 120].filter(
            (c, i, a) => i === 0 || c - a[i - 1] >= 2,
          );
          if (cuts[cuts.length - 1] !== 120) cuts[cuts.length - 1] = 120;
          // Each shard: an accumulator, through its binary state file.
          const states: Uint8Array[] = [];
          for (let i = 0; i + 1 < cuts.length; i++) {
            const acc = createNRCAccumulator({ weights });
            await acc.add({
              features: small.layers.map((l) => rows(l.features, cuts[i], cuts[i + 1])),
              targets: rows(small.targets, cuts[i], cuts[i + 1]),
            });
            states.push(acc.toSafetensors());
          }
          // A random order (Fisher–Yates from the seed) and tree.
          const order = states.map((_, i) => i);
          let s = seed;
          for (let i = order.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) % 2 ** 31;
            const j = s % (i + 1);
            [order[i], order[j]] = [order[j], order[i]];
          }
          const reduce = async (t: Tree): Promise<NRCAccumulator> => {
            if (typeof t === "number") return NRCAccumulator.fromSafetensors(states[t]);
            const [a, b] = [await reduce(t[0]), await reduce(t[1])];
            await a.merge(b);
            // Through the file form again, as a multi-level merge on disk would.
            return NRCAccumulator.fromSafetensors(a.toSafetensors());
          };
          const merged = await reduce(treeOf(order, splits));
          expect(merged.samples).toBe(120);
          expectClose(await merged.finalize(), oneShot);
        },
      ),
      fcParams(25),
    );
  }, 60_000);
});
