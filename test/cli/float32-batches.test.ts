/**
 * The CLI's batch reader hands float32 features through as float32 (no conversion in JS) and
 * float64 ones as float64; the targets are always float64. An accumulator fed those batches
 * gives the state and report, bit for bit, of one fed the same values from float64 files.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileBatches, openNetwork } from "../../src/cli/load.js";
import { createNRCAccumulator } from "../../src/engine/accumulator.js";
import { npyBytes } from "../io/helpers.js";

const N = 203;
const D = [9, 14];
const Q = 2;
let dir = "";

function npy(descr: string, shape: number[], bytes: Uint8Array): Uint8Array {
  return npyBytes(
    `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`,
    bytes,
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "deep-nrc-f32-batches-"));
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
  const feats = D.map((d) => Float32Array.from({ length: N * d }, rnd));
  const y = Float64Array.from(
    { length: N * Q },
    (_, i) => feats[0][(i >> 1) * D[0] + (i & 1)] + 0.1 * rnd(),
  );
  for (const kind of ["f4", "f8"]) {
    mkdirSync(join(dir, kind));
    D.forEach((d, l) => {
      const data =
        kind === "f4"
          ? new Uint8Array(feats[l].buffer)
          : new Uint8Array(Float64Array.from(feats[l]).buffer);
      writeFileSync(join(dir, kind, `features.${l}.npy`), npy(`<${kind}`, [N, d], data));
    });
    writeFileSync(join(dir, kind, "targets.npy"), npy("<f8", [N, Q], new Uint8Array(y.buffer)));
  }
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("fileBatches with float32 files", () => {
  it("yields float32 features and float64 targets; the accumulator's result is the float64 files'", async () => {
    const results = [];
    for (const kind of ["f4", "f8"]) {
      const net = await openNetwork(join(dir, kind));
      try {
        const acc = createNRCAccumulator({ nrc4: "rescan", t: Q, backend: "wasm" });
        const types = new Set<string>();
        for await (const b of fileBatches(net, { batchRows: 50 })) {
          for (const f of b.features) types.add((f as { data: object }).data.constructor.name);
          types.add(`targets ${(b.targets as { data: object }).data.constructor.name}`);
          await acc.add(b);
        }
        expect([...types].sort()).toEqual(
          [kind === "f4" ? "Float32Array" : "Float64Array", "targets Float64Array"].sort(),
        );
        // The statistics, without the state's random id (and the checksum over it).
        const { id: _id, sources: _s, checksum: _c, ...state } = acc.toJSON();
        const report = await acc.finalize({
          rescan: () => fileBatches(net, { batchRows: 64, reverse: true }),
        });
        await acc.dispose();
        results.push({ state, layers: report.layers });
      } finally {
        await net.close();
      }
    }
    expect(results[0].state).toEqual(results[1].state);
    expect(results[0].layers).toEqual(results[1].layers);
    expect(results[0].layers[1].nrc4).toBeGreaterThan(0);
  });
});
