/**
 * The runtime that runs the model (src/onnx/runtime.ts): onnxruntime-node by default in Node
 * (a devDependency here), onnxruntime-web on request; both named in the report and agreeing to
 * float32 rounding on a PyTorch-exported model; a bad `runtime` is refused, naming the option.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { captureONNX, measureONNX } from "../../src/onnx/index.js";
import { readNpy } from "../../src/io/npy.js";
import { memorySource } from "../../src/io/source.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx");
const npy = (name: string) => readNpy(memorySource(new Uint8Array(readFileSync(join(FIX, name)))));

describe("onnxruntime-node, onnxruntime-web", () => {
  it("auto picks onnxruntime-node in Node; web gives the same report to float32 rounding", async () => {
    const x = await npy("mlp_bias.inputs.npy");
    const y = await npy("mlp_bias.targets.npy");
    const base = {
      model: join(FIX, "mlp_bias.onnx"),
      inputs: { data: x.data, shape: x.shape },
      targets: { rows: y.shape[0], cols: y.shape[1], data: y.data },
    };
    const a = await measureONNX(base);
    const b = await measureONNX({ ...base, runtime: "onnxruntime-web" });
    expect(a.model.runtime).toMatch(/^onnxruntime-node \d+\.\d+/);
    expect(b.model.runtime).toMatch(/^onnxruntime-web \d+\.\d+/);
    expect(a.featurePrecision).toBe("float32");
    a.layers.forEach((l, i) => {
      for (const k of ["nrc1", "nrc2", "nrc3", "nrc4", "stableRankFeatures"] as const)
        expect(Math.abs(l[k]! - b.layers[i][k]!), `${l.name} ${k}`).toBeLessThanOrEqual(
          1e-5 * Math.abs(b.layers[i][k]!),
        );
    });
  });

  it("a bad runtime is refused", async () => {
    await expect(
      measureONNX({
        model: join(FIX, "mlp_bias.onnx"),
        inputs: { data: new Float32Array(16), shape: [2, 8] },
        targets: [[1], [2]],
        runtime: "cuda" as never,
      }),
    ).rejects.toThrow(
      /measureONNX: runtime must be "auto", "onnxruntime-node" or "onnxruntime-web"; got "cuda"/,
    );
  });
});

describe("stopping a capture early", () => {
  it("a break while the next run is in flight, then close(): no error, the session released", async () => {
    const x = await npy("mlp_bias.inputs.npy");
    const y = await npy("mlp_bias.targets.npy");
    const cap = await captureONNX({
      model: join(FIX, "mlp_bias.onnx"),
      inputs: { data: x.data, shape: x.shape },
      targets: { rows: y.shape[0], cols: y.shape[1], data: y.data },
      batchRows: 16,
    });
    let seen = 0;
    for await (const b of cap.batches()) {
      seen += (b.targets as { rows: number }).rows;
      break; // the second run was started before this batch was handed over
    }
    expect(seen).toBe(16);
    await cap.close();
    await expect(cap.batches().next()).rejects.toThrow(/the capture was closed/);
  });
});
