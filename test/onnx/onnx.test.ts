/**
 * `deep-nrc/onnx` against models exported by PyTorch's own exporter (scripts/make_onnx_fixtures.py,
 * apt's torch 1.13): the features ONNX Runtime computes equal what PyTorch's forward hooks saw
 * (written by examples/pytorch/capture.py, read here with the CLI's loader), and measureONNX's
 * report equals measureNRC on those hook tensors.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { captureONNX, listONNXLayers, measureONNX } from "../../src/onnx/index.js";
import { measureNRC, type LayerInput } from "../../src/engine/measure.js";
import { loadLayers, openNetwork } from "../../src/cli/load.js";
import { readNpy } from "../../src/io/npy.js";
import { memorySource } from "../../src/io/source.js";
import { readSafetensorsHeader } from "../../src/io/safetensors.js";
import { convFeaturesToMatrix, type TensorInput } from "../../src/io/conv.js";
import type { Mat } from "../../src/backends/types.js";
import type { NRCReport } from "../../src/engine/report.js";
import { NRCInputError } from "../../src/errors.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx");
const manifest = JSON.parse(readFileSync(join(FIX, "manifest.json"), "utf8")) as {
  models: Record<
    string,
    { modules: string[]; nodes: { name: string; op: string }[]; reference?: string }
  >;
};

async function npy(name: string) {
  return readNpy(memorySource(new Uint8Array(readFileSync(join(FIX, name)))));
}

async function fixture(model: string) {
  const ref = manifest.models[model].reference ?? model;
  const x = await npy(`${ref}.inputs.npy`);
  const y = await npy(`${ref}.targets.npy`);
  const net = await openNetwork(join(FIX, `${ref}.hooks.safetensors`));
  try {
    const { layers, targets } = await loadLayers(net, {});
    return {
      path: join(FIX, `${model}.onnx`),
      inputs: { data: x.data, shape: x.shape },
      targets: { rows: y.shape[0], cols: y.shape[1], data: y.data },
      hookLayers: layers,
      hookTargets: targets,
    };
  } finally {
    await net.close();
  }
}

/** Features as a plain matrix (conv tensors flattened the paper's way) for comparison. */
function asMat(f: Mat | TensorInput | LayerInput["features"]): Mat {
  const o = f as TensorInput & Mat;
  if (Array.isArray(o.shape) && o.shape.length === 4) return convFeaturesToMatrix(o);
  return { rows: o.rows, cols: o.cols, data: Float64Array.from(o.data as ArrayLike<number>) };
}

function relClose(a: number | null, b: number | null, tol: number, what: string) {
  if (a === null || b === null) {
    expect(a, what).toBe(b);
    return;
  }
  const scale = Math.max(Math.abs(a), Math.abs(b), 1e-300);
  if (process.env.ONNX_DIFFS) console.log(what, Math.abs(a - b) / scale);
  expect(Math.abs(a - b) / scale, `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(tol);
}

function compareReports(got: NRCReport, want: NRCReport, tol: number) {
  expect(got.layers.length).toBe(want.layers.length);
  expect(got.samples).toBe(want.samples);
  relClose(got.targetStableRank, want.targetStableRank, 1e-12, "targetStableRank");
  got.layers.forEach((l, i) => {
    const w = want.layers[i];
    // measureNRC sees the tokens as a conv tensor (N×d×T×1); measureONNX knows they are tokens.
    expect(l.kind === "token" ? "conv" : l.kind).toBe(w.kind);
    expect(l.features).toBe(w.features);
    for (const k of [
      "nrc1",
      "nrc2",
      "nrc3",
      "nrc4",
      "stableRankFeatures",
      "stableRankWeight",
    ] as const)
      relClose(l[k], w[k], tol, `layer ${i} ${k}`);
  });
}

const MODELS = [
  "mlp_bias",
  "mlp_nobias",
  "cnn_gap",
  "ln_residual",
  "matmul",
  "tokens",
  "mlp_ext",
  "mlp_f64",
];

describe("listONNXLayers", () => {
  for (const model of [...MODELS, "mlp_f16"])
    it(`${model}: finds the exporter's linear maps in graph order`, async () => {
      const { layers } = await listONNXLayers(join(FIX, `${model}.onnx`));
      const want = manifest.models[model].nodes;
      expect(layers.map((l) => [l.name, l.op])).toEqual(want.map((n) => [n.name, n.op]));
      expect(layers.every((l) => l.note === null)).toBe(true);
    });

  it("reports in → out and the stored weight shape (MatMul stores in×out)", async () => {
    const { layers } = await listONNXLayers(join(FIX, "mlp_nobias.onnx"));
    expect(layers.map((l) => [l.inDim, l.outDim, l.weightShape])).toEqual([
      [8, 32, [8, 32]],
      [32, 16, [32, 16]],
      [16, 3, [16, 3]],
    ]);
    const cnn = await listONNXLayers(join(FIX, "cnn_gap.onnx"));
    expect(cnn.layers.map((l) => [l.inDim, l.outDim, l.weightShape])).toEqual([
      [1, 4, [4, 1, 3, 3]],
      [4, 8, [8, 4, 3, 3]],
      [8, 2, [2, 8]],
    ]);
  });
});

describe("examples/pytorch/capture.py's files (the hooks' tensors)", () => {
  it("hold features.k/weight.k/targets with dtypes kept and the module names as metadata", async () => {
    const h = await readSafetensorsHeader(
      memorySource(new Uint8Array(readFileSync(join(FIX, "tokens.hooks.safetensors")))),
    );
    expect(JSON.parse(h.metadata!.layers)).toEqual(["emb", "head"]);
    expect(h.metadata!.format).toBe("deep-nrc/capture@1");
    const byName = Object.fromEntries(h.tensors.map((t) => [t.name, t]));
    // a Linear on N×T×d tokens: written N×d×T×1 (every token a sample)
    expect(byName["features.0"].shape).toEqual([128, 6, 5, 1]);
    expect(byName["features.0"].dtype).toBe("F32");
    expect(byName["weight.0"].shape).toEqual([12, 6]);
    expect(byName["features.1"].shape).toEqual([128, 12]);
    expect(byName["targets"].shape).toEqual([128, 2]);
  });
});

describe("captureONNX: ONNX Runtime's features equal PyTorch's hooks", () => {
  for (const model of [...MODELS, "mlp_f16"])
    it(model, async () => {
      const fx = await fixture(model);
      const cap = await captureONNX({
        model: fx.path,
        inputs: fx.inputs,
        targets: fx.targets,
        batchRows: 100,
      });
      try {
        expect(cap.samples).toBe(fx.targets.rows);
        // weights: the initializers in deep-nrc's layout equal the modules' weights exactly.
        cap.weights.forEach((w, k) => {
          const hw = fx.hookLayers[k].weight as Mat | TensorInput;
          expect(w, `weight ${k}`).not.toBeNull();
          const a = "shape" in w! ? w.shape : [w!.rows, w!.cols];
          const b = "shape" in hw ? hw.shape : [hw.rows, hw.cols];
          expect(a).toEqual(b);
          expect(Array.from(w!.data as ArrayLike<number>)).toEqual(
            Array.from(hw.data as ArrayLike<number>),
          );
        });
        const parts: Mat[][] = cap.layers.map(() => []);
        for await (const b of cap.batches())
          b.features.forEach((f, k) => parts[k].push(asMat(f as Mat)));
        const f16 = model === "mlp_f16";
        cap.layers.forEach((_, k) => {
          const want = asMat(fx.hookLayers[k].features);
          const got = parts[k];
          expect(got.reduce((s, m) => s + m.rows, 0)).toBe(want.rows);
          expect(got[0].cols).toBe(want.cols);
          let maxErr = 0;
          let maxAbs = 0;
          let row = 0;
          // conv batches flatten per batch: rows (n·h + y)·w + x stay in order across batches.
          for (const m of got) {
            for (let i = 0; i < m.data.length; i++) {
              const w = want.data[row * want.cols + i];
              maxErr = Math.max(maxErr, Math.abs(m.data[i] - w));
            }
            row += m.rows;
          }
          for (const v of want.data) maxAbs = Math.max(maxAbs, Math.abs(v));
          // float32: a few ulps of the largest feature (summation order differs); float16: ulps of f16.
          const tol = (f16 ? 2 * 2 ** -10 : 8 * 2 ** -23) * Math.max(1, maxAbs);
          expect(
            maxErr,
            `${model} layer ${k}: max |Δ| ${maxErr} (max |h| ${maxAbs})`,
          ).toBeLessThanOrEqual(tol);
          if (process.env.ONNX_DIFFS)
            console.log(model, k, "feature max |Δ|", maxErr, "max |h|", maxAbs);
          if (k === 0) expect(maxErr).toBe(0); // the graph input itself
        });
      } finally {
        await cap.close();
      }
    });
});

describe("measureONNX equals measureNRC on the hooks' tensors", () => {
  for (const model of [...MODELS, "mlp_f16"])
    for (const preset of ["paper", "reference-code"] as const)
      it(`${model} (${preset})`, async () => {
        const fx = await fixture(model);
        const got = await measureONNX({
          model: fx.path,
          inputs: fx.inputs,
          targets: fx.targets,
          preset,
          batchRows: 96,
        });
        const want = await measureNRC({
          layers: fx.hookLayers.map((l, k) => ({ ...l, name: got.model.layers[k].name })),
          targets: fx.hookTargets,
          preset,
        });
        // float32 features computed in another order: ≤ 1e-6 relative (float16: the f16 reference).
        compareReports(got, want, model === "mlp_f16" ? 2e-3 : 1e-6);
        expect(got.layers.map((l) => l.name)).toEqual(
          manifest.models[model].nodes.map((n) => n.name),
        );
        expect(got.model.notes).toEqual([]);
        // Layers are labelled by what their features were (issue 21): a MatMul on tokens is
        // "token", not "conv".
        got.layers.forEach((l, k) => {
          const op = got.model.layers[k].op;
          const tokens = model === "tokens" && op === "MatMul";
          expect(l.kind, `${model} layer ${k}`).toBe(
            tokens ? "token" : op === "Conv" ? want.layers[k].kind : "dense",
          );
        });
        if (model === "tokens") expect(got.layers.some((l) => l.kind === "token")).toBe(true);
      });

  it("filters layers by RegExp, name and list", async () => {
    const fx = await fixture("mlp_bias");
    const base = { model: fx.path, inputs: fx.inputs, targets: fx.targets };
    const a = await measureONNX({ ...base, layers: /fc[23]/ });
    expect(a.layers.map((l) => l.name)).toEqual(["/fc2/Gemm", "/fc3/Gemm"]);
    const b = await measureONNX({ ...base, layers: "/fc1/Gemm" });
    expect(b.layers.map((l) => l.name)).toEqual(["/fc1/Gemm"]);
    const c = await measureONNX({ ...base, layers: ["/fc3/Gemm"] });
    expect(c.layers[0].nrc1).toBe(a.layers[1].nrc1);
  });

  it("takes the model as bytes, and inputs as an N×d matrix", async () => {
    const fx = await fixture("mlp_bias");
    const bytes = new Uint8Array(readFileSync(fx.path));
    const a = await measureONNX({
      model: bytes,
      inputs: { rows: fx.inputs.shape[0], cols: fx.inputs.shape[1], data: fx.inputs.data },
      targets: fx.targets,
    });
    const b = await measureONNX({
      model: fx.path,
      inputs: fx.inputs,
      targets: fx.targets,
      batchRows: 7,
    });
    compareReports(a, b, 1e-12);
  });
});

describe("measureONNX: errors name the problem", () => {
  const err = async (p: Promise<unknown>, re: RegExp) => {
    const e = await p.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(NRCInputError);
    expect((e as Error).message).toMatch(re);
  };

  it("not an ONNX file", async () => {
    const fx = await fixture("mlp_bias");
    await err(
      measureONNX({
        model: join(FIX, "mlp_bias.inputs.npy"),
        inputs: fx.inputs,
        targets: fx.targets,
      }),
      /^measureONNX: model is not an ONNX file/,
    );
    await err(
      measureONNX({
        model: new TextEncoder().encode("hello world"),
        inputs: fx.inputs,
        targets: fx.targets,
      }),
      /not an ONNX file/,
    );
    await err(listONNXLayers(join(FIX, "no-such.onnx")), /cannot read model file .*no such file/);
  });

  it("inputs of the wrong shape, and targets with another row count", async () => {
    const fx = await fixture("mlp_bias");
    await err(
      measureONNX({
        model: fx.path,
        inputs: { data: new Float32Array(256 * 7), shape: [256, 7] },
        targets: fx.targets,
      }),
      /input 'x' has shape \[N, 8\] \(float32\); got a tensor of shape \[256, 7\]/,
    );
    await err(
      measureONNX({
        model: fx.path,
        inputs: fx.inputs,
        targets: { rows: 255, cols: 3, data: fx.targets.data.subarray(0, 765) },
      }),
      /targets must have one row per sample \(256, the inputs' first dimension\); got 255×3/,
    );
    await err(
      measureONNX({ model: fx.path, inputs: { x: fx.inputs, z: fx.inputs }, targets: fx.targets }),
      /inputs names z, which the model has not/,
    );
  });

  it("a filter that matches nothing lists the layers", async () => {
    const fx = await fixture("mlp_bias");
    await err(
      measureONNX({ model: fx.path, inputs: fx.inputs, targets: fx.targets, layers: /conv/ }),
      /layers \/conv\/ matches none of the model's linear maps: \/fc1\/Gemm, \/fc2\/Gemm, \/fc3\/Gemm/,
    );
  });

  it("external data given as bytes without the data file", async () => {
    const fx = await fixture("mlp_ext");
    await err(
      measureONNX({
        model: new Uint8Array(readFileSync(fx.path)),
        inputs: fx.inputs,
        targets: fx.targets,
      }),
      /external data file 'mlp_ext.onnx.data'/,
    );
    const ok = await measureONNX({
      model: new Uint8Array(readFileSync(fx.path)),
      externalData: { "mlp_ext.onnx.data": new Uint8Array(readFileSync(fx.path + ".data")) },
      inputs: fx.inputs,
      targets: fx.targets,
    });
    expect(ok.layers).toHaveLength(3);
  });

  const x8 = { data: new Float32Array(64 * 8).map((_, i) => Math.sin(i * 0.7)), shape: [64, 8] };
  const y3 = { rows: 64, cols: 3, data: new Float64Array(64 * 3).map((_, i) => Math.cos(i * 1.3)) };

  it("an unsupported linear op names the node; excluding it with layers works", async () => {
    const x = { data: new Float32Array(4 * 2 * 16), shape: [4, 2, 4, 4] };
    const y = { rows: 4, cols: 1, data: new Float64Array(4) };
    await err(
      measureONNX({ model: join(FIX, "err_convtranspose.onnx"), inputs: x, targets: y }),
      /node 'up1' \(ConvTranspose\) is a linear map deep-nrc cannot read/,
    );
    await err(
      measureONNX({
        model: join(FIX, "err_convtranspose.onnx"),
        inputs: x,
        targets: y,
        layers: /fc/,
      }),
      /matches none of the model's linear maps: \(none\)/,
    );
  });

  it("an opset older than 7", async () => {
    await err(
      listONNXLayers(join(FIX, "err_opset6.onnx")),
      /imports ONNX opset 6; deep-nrc reads opset 7 and later/,
    );
  });

  it("a weight computed in the graph: measured without NRC3, and said so", async () => {
    const r = await measureONNX({
      model: join(FIX, "err_computed_weight.onnx"),
      inputs: x8,
      targets: y3,
    });
    expect(r.layers.map((l) => l.name)).toEqual(["fc1", "fc2"]);
    expect(r.layers[0].nrc3).not.toBeNull();
    expect(r.layers[1].nrc3).toBeNull();
    expect(r.layers[1].nrc1).not.toBeNull();
    expect(r.model.notes).toHaveLength(1);
    expect(r.model.notes[0]).toMatch(
      /the weight 'w2' of node 'fc2' \(Gemm\) is not an initializer .* measured without NRC3/,
    );
  });

  it("an integer input gets integers only", async () => {
    await err(
      measureONNX({ model: join(FIX, "err_int_input.onnx"), inputs: x8, targets: y3 }),
      /input 'x' is int64; got the non-integer .* at flat index 0|non-integer/,
    );
    const xi = { data: new Float64Array(64 * 8).map((_, i) => (i * 7) % 11), shape: [64, 8] };
    const r = await measureONNX({
      model: join(FIX, "err_int_input.onnx"),
      inputs: xi,
      targets: y3,
    });
    expect(r.layers).toHaveLength(1);
    expect(r.layers[0].features).toBe(8);
  });

  it("bad options", async () => {
    const fx = await fixture("mlp_bias");
    const base = { model: fx.path, inputs: fx.inputs, targets: fx.targets };
    await err(measureONNX({ ...base, batchRows: 0 }), /batchRows must be an integer ≥ 1; got 0/);
    await err(
      measureONNX({ ...base, layers: 3 as unknown as string }),
      /layers must be a node name/,
    );
    await err(
      measureONNX({ ...base, model: 42 as unknown as string }),
      /model must be a file path, a Uint8Array or an ArrayBuffer; got number/,
    );
    await err(
      measureONNX({ ...base, inputs: { data: [1, NaN], shape: [1, 2] } }),
      /must hold finite numbers; got NaN at flat index 1/,
    );
  });
});
