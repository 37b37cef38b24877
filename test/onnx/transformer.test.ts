/**
 * Transformers exported by PyTorch's own exporter (scripts/onnx_transformer_fixtures.py): a
 * 2-layer nn.TransformerEncoder batch-first (tf_bf) and the same weights sequence-first (tf_sf, whose
 * attention and feed-forward maps read L×N×E and whose out-projections read (L·N)×E rows). Every
 * linear map, attention included, is measured with tokens as samples and equals the float64 numpy
 * metrics of PyTorch's own activations (forward hooks, attention projections recomputed), also
 * when the batch size equals the sequence length.
 */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { captureONNX, measureONNX } from "../../src/onnx/index.js";
import {
  ONNX_FIXTURES as FIX,
  expectMetrics,
  npy,
  readJSON,
  rel,
  type RefLayer,
} from "../helpers/onnx-reference.js";

const ref = readJSON<{
  models: Record<
    string,
    { layers: RefLayer[]; targetStableRank: number; nodes: { name: string }[] }
  >;
}>("transformer.reference.json");

/** The batch-first inputs N×L×6, or their L×N×6 transpose for the sequence-first model. */
async function inputs(seqFirst: boolean) {
  const x = await npy("tf.inputs.npy");
  const [n, l, d] = x.shape;
  if (!seqFirst) return { data: x.data, shape: x.shape };
  const out = new Float64Array(x.data.length);
  for (let s = 0; s < n; s++)
    for (let p = 0; p < l; p++)
      for (let c = 0; c < d; c++) out[(p * n + s) * d + c] = x.data[(s * l + p) * d + c];
  return { data: out, shape: [l, n, d] };
}

async function targets() {
  const y = await npy("tf.targets.npy");
  return { rows: y.shape[0], cols: y.shape[1], data: y.data };
}

describe.each([
  ["tf_bf", false],
  ["tf_sf", true],
  ["mha_cross", false],
])("%s: every linear map against PyTorch's hooks", (name, seqFirst) => {
  it.each([undefined, 8])("batchRows %s (the sequence length is 8)", async (batchRows) => {
    const want = ref.models[name];
    const report = await measureONNX({
      model: join(FIX, `${name}.onnx`),
      inputs: await inputs(seqFirst),
      targets: await targets(),
      batchRows,
    });
    // cross-attention: PyTorch's export slices in_proj_weight by the input's width (Shape → Slice →
    // Transpose → MatMul), so those two maps' weights are read from the run, and said so
    const computed = name === "mha_cross" ? ["/attn/MatMul", "/attn/MatMul_1"] : [];
    expect(report.model.notes).toHaveLength(computed.length);
    computed.forEach((c, i) =>
      expect(report.model.notes[i]).toMatch(
        new RegExp(`'${c}' \\(MatMul\\) is computed in the graph from constants only`),
      ),
    );
    expect(report.layers.map((l) => l.name)).toEqual(
      name === "mha_cross"
        ? ["/inp/MatMul", "/attn/MatMul", "/attn/MatMul_1", "/attn/Gemm", "/head/Gemm"]
        : want.nodes.map((n) => n.name),
    );
    expect(rel(report.targetStableRank, want.targetStableRank)).toBeLessThan(1e-12);
    report.layers.forEach((l, i) => {
      const w = want.layers[i];
      const what = `${l.name} (${w.module})`;
      expect(l.samples, what).toBe(w.samples);
      expect(l.features, what).toBe(w.features);
      const keys = ["nrc1", "nrc2", "nrc3", "stableRankFeatures", "stableRankWeight"] as const;
      expectMetrics(l, w, keys, 1e-4, what);
      // NRC4 keeps directions down to max(M, d)·ε₆₄·σ₁: where the reference has singular values
      // between that and float32's cutoff (rounding noise of a rank-deficient layer, e.g. the
      // attention output of layer 0), ONNX Runtime's and PyTorch's float32 noise differ (1e-3).
      const f32Defined = rel(w.nrc4, w.nrc4Float32Rtol) > 1e-9;
      expect(rel(l.nrc4!, w.nrc4), `${what} nrc4`).toBeLessThanOrEqual(f32Defined ? 1e-2 : 1e-5);
    });
  });
});

describe("pairing of a transformer's maps", () => {
  it.each([
    // inp, in_proj, out_proj, linear1, linear2 (×2 layers), head
    ["tf_bf", false, [8, 1, 1, 8, 8, 1, 1, 8, 8, 1]],
    ["tf_sf", true, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
  ])(
    "%s: proven with 8 samples of 8 tokens (probe batch = sequence length)",
    async (name, seqFirst, strides) => {
      const x = await inputs(seqFirst as boolean);
      const y = await targets();
      const n = 8;
      const axis = seqFirst ? 1 : 0;
      const keep = (i: number) => (axis === 0 ? i < n * 8 * 6 : i % (256 * 6) < n * 6);
      const shape = [...x.shape];
      shape[axis] = n;
      const cap = await captureONNX({
        model: join(FIX, `${name}.onnx`),
        inputs: { data: x.data.filter((_, i) => keep(i)), shape },
        targets: { rows: n, cols: y.cols, data: y.data.subarray(0, n * y.cols) },
      });
      try {
        expect(cap.notes).toEqual([]);
        expect(cap.layers.map((l) => l.pairing.stride)).toEqual(strides);
        expect(cap.layers.map((l) => l.pairing.rowsPerSample)).toEqual([
          8, 8, 8, 8, 8, 8, 8, 8, 8, 1,
        ]);
      } finally {
        await cap.close();
      }
    },
  );
});
