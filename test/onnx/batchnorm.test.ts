/**
 * A residual CNN with BatchNorm exported by PyTorch's own exporter (scripts/onnx_cnn_fixtures.py)
 * in eval mode (BatchNorm folded into the convs) and with training=PRESERVE (BatchNormalization
 * kept): the features, so NRC1, NRC2, NRC4 and the features' stable rank, equal the float64 metrics
 * of PyTorch's own activations in both; NRC3 and the weight's stable rank are those of the weight the
 * file stores: the module's with PRESERVE, the folded W·γ/√(σ²+ε) in the eval export.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { measureONNX } from "../../src/onnx/index.js";
import { readNpy } from "../../src/io/npy.js";
import { memorySource } from "../../src/io/source.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx");
interface RefLayer {
  module: string;
  samples: number;
  features: number;
  nrc1: number;
  nrc2: number;
  nrc3: number;
  nrc4: number;
  stableRankFeatures: number;
  stableRankWeight: number;
  nrc3Folded?: number;
  stableRankWeightFolded?: number;
}
const ref = JSON.parse(readFileSync(join(FIX, "cnn_bn.reference.json"), "utf8")) as {
  layers: RefLayer[];
  targetStableRank: number;
  nodes: Record<string, { name: string }[]>;
};

async function npy(name: string) {
  return readNpy(memorySource(new Uint8Array(readFileSync(join(FIX, name)))));
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));

describe.each([
  ["cnn_bn", true],
  ["cnn_bn_preserve", false],
])("%s", (name, folded) => {
  it(`measures every map against PyTorch's hooks; NRC3 of the ${folded ? "folded" : "module's"} weight`, async () => {
    const x = await npy("cnn_bn.inputs.npy");
    const y = await npy("cnn_bn.targets.npy");
    const report = await measureONNX({
      model: join(FIX, `${name}.onnx`),
      inputs: { data: x.data, shape: x.shape },
      targets: { rows: y.shape[0], cols: y.shape[1], data: y.data },
      batchRows: 24,
    });
    expect(report.model.notes).toEqual([]);
    expect(report.layers.map((l) => l.name)).toEqual(ref.nodes[name].map((n) => n.name));
    expect(rel(report.targetStableRank, ref.targetStableRank)).toBeLessThan(1e-12);
    report.layers.forEach((l, i) => {
      const w = ref.layers[i];
      const what = `${l.name} (${w.module})`;
      expect(l.samples, what).toBe(w.samples);
      expect(l.features, what).toBe(w.features);
      for (const k of ["nrc1", "nrc2", "nrc4", "stableRankFeatures"] as const)
        expect(rel(l[k]!, w[k]), `${what} ${k}: ${l[k]} vs ${w[k]}`).toBeLessThanOrEqual(1e-4);
      const nrc3 = folded ? (w.nrc3Folded ?? w.nrc3) : w.nrc3;
      const srw = folded ? (w.stableRankWeightFolded ?? w.stableRankWeight) : w.stableRankWeight;
      expect(rel(l.nrc3!, nrc3), `${what} nrc3: ${l.nrc3} vs ${nrc3}`).toBeLessThanOrEqual(1e-4);
      expect(rel(l.stableRankWeight!, srw), `${what} stableRankWeight`).toBeLessThanOrEqual(1e-4);
      // the folded and the module's NRC3 differ (0.01–0.05 here): the file's weight is measured
      if (folded && w.nrc3Folded !== undefined)
        expect(rel(w.nrc3Folded, w.nrc3)).toBeGreaterThan(1e-2);
    });
  });
});
