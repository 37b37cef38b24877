/**
 * Weights as users think of them (src/onnx/batchnorm.ts): PyTorch's default eval-mode export
 * folds BatchNorm into the Conv filters — the file's weight is W·γ/√(var+ε), not the module's W,
 * and deep-nrc says so — while training=TrainingMode.PRESERVE keeps BatchNormalization and the
 * module's filters. Fixtures: scripts/make_batchnorm_fixtures.py (PyTorch 1.13's exporter).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { captureONNX, listONNXLayers, measureONNX } from "../../src/onnx/index.js";
import { main } from "../../src/cli/main.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx-bn");
const W = JSON.parse(readFileSync(join(FIX, "weights.json"), "utf8")) as Record<
  "c1" | "c2",
  { shape: number[]; module: number[]; folded: number[] }
>;
const N = 12;
const io = {
  inputs: {
    data: Float32Array.from({ length: N * 50 }, (_, i) => Math.sin(i * 0.37)),
    shape: [N, 2, 5, 5],
  },
  targets: { rows: N, cols: 2, data: Float64Array.from({ length: N * 2 }, (_, i) => Math.cos(i)) },
};
const maxRel = (got: ArrayLike<number>, want: number[]) => {
  let m = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(got[i] - want[i]));
    s = Math.max(s, Math.abs(want[i]));
  }
  return m / s;
};

describe("BatchNorm folded into Conv weights, and said so", () => {
  it("eval export: the file's filters are the folded ones; the report and `layers` say so", async () => {
    const path = join(FIX, "eval.onnx");
    const info = await listONNXLayers(path);
    expect(info.layers.map((l) => [l.op, l.batchNorm])).toEqual([
      ["Conv", "maybe-folded"],
      ["Conv", "maybe-folded"],
      ["Gemm", null],
    ]);
    expect(info.weightsNote).toMatch(/BatchNorm .* folded .*TrainingMode\.PRESERVE/);
    const cap = await captureONNX({ model: path, ...io });
    try {
      const w = cap.weights as { data: ArrayLike<number>; shape: number[] }[];
      expect(w[0].shape).toEqual(W.c1.shape);
      expect(maxRel(w[0].data, W.c1.folded)).toBeLessThan(1e-6); // float32 file
      expect(maxRel(w[1].data, W.c2.folded)).toBeLessThan(1e-6);
      expect(maxRel(w[0].data, W.c1.module)).toBeGreaterThan(0.1); // not the module's
    } finally {
      await cap.close();
    }
    const rep = await measureONNX({ model: path, ...io });
    expect(rep.model.weightsNote).toBe(info.weightsNote);
    let out = "";
    const code = await main(["layers", path], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { isTTY: false, columns: 100, write: () => undefined },
      env: {},
    });
    expect(code).toBe(0);
    expect(out).toMatch(/BN folded\?\n/);
    expect(out).toMatch(/\nBN folded\?: weights are the file's tensors/);
  });

  it("PRESERVE export: BatchNormalization follows, the filters are the module's, no note", async () => {
    const path = join(FIX, "preserve.onnx");
    const info = await listONNXLayers(path);
    expect(info.layers.map((l) => [l.op, l.batchNorm])).toEqual([
      ["Conv", "follows"],
      ["Conv", "follows"],
      ["Gemm", null],
    ]);
    expect(info.weightsNote).toBeNull();
    const cap = await captureONNX({ model: path, ...io });
    try {
      const w = cap.weights as { data: ArrayLike<number> }[];
      expect(maxRel(w[0].data, W.c1.module)).toBeLessThan(1e-7);
      expect(maxRel(w[1].data, W.c2.module)).toBeLessThan(1e-7);
    } finally {
      await cap.close();
    }
  });
});
