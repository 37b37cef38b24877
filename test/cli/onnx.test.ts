/**
 * `deep-nrc measure model.onnx --inputs X.npy --targets Y.npy` and `deep-nrc layers model.onnx`,
 * in-process through `main()`, on the PyTorch-exported fixtures (scripts/make_onnx_fixtures.py).
 * The numbers are checked against `measureNRC` on the tensors PyTorch's hooks saw, loaded from
 * the safetensors file examples/pytorch/capture.py wrote, through the CLI's own
 * `measure file.safetensors` route (the hook-based route the ONNX one must agree with).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import type { NRCReport } from "../../src/engine/report.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx");
const f = (name: string) => join(FIX, name);

const run = runCli;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deep-nrc-onnx-cli-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("deep-nrc measure model.onnx", () => {
  it("equals `deep-nrc measure hooks.safetensors` (the PyTorch capture route) to 1e-6", async () => {
    const a = await run([
      "measure",
      f("cnn_gap.onnx"),
      "--inputs",
      f("cnn_gap.inputs.npy"),
      "--targets",
      f("cnn_gap.targets.npy"),
      "--batch",
      "10",
      "--json",
      "-",
      "--backend",
      "js",
    ]);
    expect(a.err).toBe("");
    expect(a.code).toBe(0);
    const b = await run([
      "measure",
      f("cnn_gap.hooks.safetensors"),
      "--json",
      "-",
      "--backend",
      "js",
    ]);
    expect(b.code).toBe(0);
    const ra = JSON.parse(a.out) as NRCReport & { model: { layers: { name: string }[] } };
    const rb = JSON.parse(b.out) as NRCReport;
    expect(ra.layers.map((l) => l.name)).toEqual(["/c1/Conv", "/c2/Conv", "/fc/Gemm"]);
    expect(ra.model.layers).toHaveLength(3);
    expect(ra.layers.map((l) => l.kind)).toEqual(rb.layers.map((l) => l.kind));
    ra.layers.forEach((l, i) => {
      for (const k of ["nrc1", "nrc2", "nrc3", "nrc4", "stableRankFeatures"] as const) {
        const x = l[k] as number | null;
        const y = rb.layers[i][k] as number | null;
        if (x === null || y === null) {
          expect(x, `layer ${i} ${k}`).toBe(y);
          continue;
        }
        expect(Math.abs(x - y) / Math.abs(y), `layer ${i} ${k}`).toBeLessThanOrEqual(1e-6);
      }
    });
  });

  it("--layers filters by regex; the table names the nodes; --report writes HTML", async () => {
    const html = join(tmp, "r.html");
    const r = await run([
      "measure",
      f("ln_residual.onnx"),
      "--inputs",
      f("ln_residual.inputs.npy"),
      "--targets",
      f("ln_residual.targets.npy"),
      "--layers",
      "^/b[12]/",
      "--report",
      html,
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\/b1\/Gemm/);
    expect(r.out).toMatch(/\/b2\/Gemm/);
    expect(r.out).not.toMatch(/\/inp\/Gemm|\/head\/Gemm/);
    expect(r.err).toMatch(/wrote .*r\.html/);
    expect(readFileSync(html, "utf8")).toMatch(/<html/i);
  });

  it("--samples reads only the first rows", async () => {
    const r = await run([
      "measure",
      f("mlp_bias.onnx"),
      "--inputs",
      f("mlp_bias.inputs.npy"),
      "--targets",
      f("mlp_bias.targets.npy"),
      "--samples",
      "100",
      "--json",
      "-",
    ]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as NRCReport).samples).toBe(100);
  });

  it("a layer whose weight is computed: a note on stderr, NRC3 '—'", async () => {
    const r = await run([
      "measure",
      f("err_computed_weight.onnx"),
      "--inputs",
      f("mlp_bias.inputs.npy"),
      "--targets",
      f("mlp_bias.targets.npy"),
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/note: the weight 'w2' of node 'fc2' \(Gemm\) .* measured without NRC3/);
    expect(r.out).toMatch(/fc2 .*—/);
  });

  it("exit codes: 2 for usage, 1 for bad input, with one-line messages", async () => {
    const noTargets = await run([
      "measure",
      f("mlp_bias.onnx"),
      "--inputs",
      f("mlp_bias.inputs.npy"),
    ]);
    expect(noTargets.code).toBe(2);
    expect(noTargets.err).toMatch(/needs --inputs X.npy and --targets Y.npy/);
    const notOnnx = await run(["measure", f("mlp_bias.hooks.safetensors"), "--layers", "x"]);
    expect(notOnnx.code).toBe(2);
    expect(notOnnx.err).toMatch(/--layers applies to measure with an ONNX model/);
    const badRe = await run(["layers", f("mlp_bias.onnx"), "--layers", "("]);
    expect(badRe.code).toBe(2);
    const shape = await run([
      "measure",
      f("mlp_bias.onnx"),
      "--inputs",
      f("cnn_gap.inputs.npy"),
      "--targets",
      f("cnn_gap.targets.npy"),
    ]);
    expect(shape.code).toBe(1);
    expect(shape.err).toMatch(/^deep-nrc: measureONNX: .*input 'x' has shape \[N, 8\]/);
    expect(shape.err.trim().split("\n")).toHaveLength(1);
    const rows = await run([
      "measure",
      f("mlp_bias.onnx"),
      "--inputs",
      f("mlp_bias.inputs.npy"),
      "--targets",
      f("cnn_gap.targets.npy"),
    ]);
    expect(rows.code).toBe(1);
    expect(rows.err).toMatch(/has 256 samples .* but --targets .* has 64/);
    const bad = await run([
      "measure",
      f("mlp_bias.inputs.npy").replace(".npy", ".onnx").replace("inputs", "nope"),
      "--inputs",
      f("mlp_bias.inputs.npy"),
      "--targets",
      f("mlp_bias.targets.npy"),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/cannot read model file .*no such file/);
  });
});

describe("deep-nrc layers model.onnx", () => {
  it("lists name, op, in → out and the stored weight shape", async () => {
    const r = await run(["layers", f("mlp_nobias.onnx")]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toMatch(/opset 17, pytorch 1\.13.*input x \[N, 8\]/);
    expect(lines[2]).toMatch(
      /^0\s+\/fc1\/MatMul\s+MatMul\s+8 → 32\s+onnx::MatMul_12 8×32 \(in×out\)$/,
    );
    expect(lines[4]).toMatch(/^2\s+\/fc3\/MatMul\s+MatMul\s+16 → 3\s+/);
    expect(lines[5]).toBe(
      "3 linear map(s); features = each map's input; weights = the file's tensors",
    );
  });

  it("--json - prints the list as JSON; a non-ONNX path is bad input", async () => {
    const r = await run(["layers", f("cnn_gap.onnx"), "--json", "-", "--layers", "Conv"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { layers: { name: string; weightShape: number[] }[] };
    expect(j.layers.map((l) => [l.name, l.weightShape])).toEqual([
      ["/c1/Conv", [4, 1, 3, 3]],
      ["/c2/Conv", [8, 4, 3, 3]],
    ]);
    const bad = await run(["layers", f("mlp_bias.inputs.npy")]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/layers reads an ONNX model/);
  });
});
