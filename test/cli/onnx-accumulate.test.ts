/**
 * `deep-nrc accumulate model.onnx --inputs X.npy --targets Y.npy --shard k/n | --rows a:b` and
 * `deep-nrc merge`: the shards of a model measurement merge to the one-pass `deep-nrc measure
 * model.onnx` report (to 1e-9), on PyTorch-exported fixtures (scripts/make_onnx_fixtures.py).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { expectMetrics } from "../helpers/onnx-reference.js";
import type { NRCReport } from "../../src/engine/report.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx");
const f = (name: string) => join(FIX, name);

const run = runCli;

const KEYS = ["nrc1", "nrc2", "nrc3", "nrc4", "stableRankFeatures", "stableRankWeight"] as const;

function same(got: NRCReport, want: NRCReport, tol: number) {
  expect(got.samples).toBe(want.samples);
  expect(got.featurePrecision).toBe(want.featurePrecision);
  expect(got.layers.map((l) => l.name)).toEqual(want.layers.map((l) => l.name));
  got.layers.forEach((l, i) =>
    expectMetrics(l, want.layers[i] as Record<(typeof KEYS)[number], number>, KEYS, tol, l.name),
  );
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deep-nrc-onnx-acc-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("deep-nrc accumulate model.onnx → merge = measure model.onnx", () => {
  for (const model of ["cnn_gap", "ln_residual"])
    it(`${model}: --shard k/3 and --rows`, async () => {
      const data = ["--inputs", f(`${model}.inputs.npy`), "--targets", f(`${model}.targets.npy`)];
      const one = await run(["measure", f(`${model}.onnx`), ...data, "--json", "-", "-q"]);
      expect(one.code, one.err).toBe(0);
      const want = JSON.parse(one.out) as NRCReport;
      const states: string[] = [];
      for (let k = 0; k < 3; k++) {
        const s = join(tmp, `${model}-${k}.nrc.safetensors`);
        const r = await run([
          "accumulate",
          f(`${model}.onnx`),
          ...data,
          "--shard",
          `${k}/3`,
          "--state",
          s,
          "-q",
        ]);
        expect(r.code, r.err).toBe(0);
        states.push(s);
      }
      const m = await run(["merge", ...states, "--json", "-", "-q"]);
      expect(m.code, m.err).toBe(0);
      same(JSON.parse(m.out) as NRCReport, want, 1e-9);
      // --rows: two uneven parts, the second one with --batch.
      const a = join(tmp, `${model}-a.nrc.safetensors`);
      const b = join(tmp, `${model}-b.nrc.safetensors`);
      const n = want.samples;
      expect(
        (
          await run([
            "accumulate",
            f(`${model}.onnx`),
            ...data,
            "--rows",
            `0:${n - 37}`,
            "--state",
            a,
            "-q",
          ])
        ).code,
      ).toBe(0);
      const rb = await run([
        "accumulate",
        f(`${model}.onnx`),
        ...data,
        "--rows",
        `${n - 37}:${n}`,
        "--batch",
        "5",
        "--state",
        b,
      ]);
      expect(rb.code, rb.err).toBe(0);
      expect(rb.err).toMatch(/note: features computed by onnxruntime-node/);
      const m2 = await run(["merge", a, b, "--json", "-", "-q"]);
      same(JSON.parse(m2.out) as NRCReport, want, 1e-9);
    });

  it("usage errors name the flag", async () => {
    const s = join(tmp, "x.nrc.safetensors");
    const noInputs = await run([
      "accumulate",
      f("cnn_gap.onnx"),
      "--targets",
      f("cnn_gap.targets.npy"),
      "--state",
      s,
    ]);
    expect(noInputs.code).toBe(2);
    expect(noInputs.err).toMatch(
      /accumulate model\.onnx needs --inputs X\.npy and --targets Y\.npy/,
    );
    const notOnnx = await run([
      "accumulate",
      f("cnn_gap.hooks.safetensors"),
      "--inputs",
      f("cnn_gap.inputs.npy"),
      "--state",
      s,
    ]);
    expect(notOnnx.code).toBe(2);
    expect(notOnnx.err).toMatch(/--inputs applies to accumulate with an ONNX model/);
    const past = await run([
      "accumulate",
      f("cnn_gap.onnx"),
      "--inputs",
      f("cnn_gap.inputs.npy"),
      "--targets",
      f("cnn_gap.targets.npy"),
      "--rows",
      "0:100000",
      "--state",
      s,
    ]);
    expect(past.code).toBe(2);
    expect(past.err).toMatch(/--rows 0:100000 runs past the \d+ samples/);
  });
});
