/**
 * `npm run bench:models`: deep-nrc straight from an ONNX file (`measureONNX`, onnxruntime-node)
 * against the route a Python user takes — PyTorch forward hooks + numpy float64 sums and eigh
 * (bench/onnx_models.py) — on a CIFAR-style ResNet-18 and a small residual CNN exported by
 * PyTorch's own exporter at bench time (into a temp dir; nothing is committed). Each repetition
 * runs the two routes one after the other in fresh processes (interleaved), timed from loaded
 * inputs to the metrics; prints the time ratio (deep-nrc ÷ Python) and both peak RSS.
 *
 *   npm run bench:models -- [--models smallcnn:4096,resnet18:4096] [--reps 1] [--runtime auto]
 *
 * Needs Debian's python3-torch (/usr/bin/python3). Sanity check printed beside the times: the
 * sums over layers of NRC1 and of the features' stable rank from both routes (the same layers in
 * another order; float32 forwards of two runtimes: ~1e-5 relative), and NRC2 likewise.
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: o } = parseArgs({
  options: {
    models: { type: "string", default: "smallcnn:4096,resnet18:4096" },
    reps: { type: "string", default: "1" },
    runtime: { type: "string", default: "auto" },
  },
});
const PY = "/usr/bin/python3";
const HERE = import.meta.dirname;
const ROOT = join(HERE, "..");

interface Side {
  seconds: number;
  maxRssMB: number;
  layers: { nrc1: number | null; nrc2: number | null; stableRankFeatures: number | null }[];
}
const sum = (s: Side, k: "nrc1" | "nrc2" | "stableRankFeatures") =>
  s.layers.reduce((a, l) => a + (l[k] ?? 0), 0);
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

function runJSON(cmd: string, args: string[]): Side & Record<string, unknown> {
  const out = execFileSync(cmd, args, {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = out.trim().split("\n").pop()!;
  return JSON.parse(line);
}

console.log(
  `bench:models — ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}; interleaved, fresh process per run`,
);
const tmp = mkdtempSync(join(tmpdir(), "deep-nrc-bench-models-"));
try {
  for (const spec of o.models!.split(",")) {
    const [model, nStr] = spec.split(":");
    const n = Number(nStr ?? 4096);
    const dir = join(tmp, model);
    const t0 = performance.now();
    execFileSync(PY, [join(HERE, "onnx_models.py"), "export", dir, model, String(n)], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    console.log(
      `\n${model}, N = ${n} (exported in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    for (let r = 0; r < Number(o.reps); r++) {
      const py = runJSON(PY, [join(HERE, "onnx_models.py"), "hooks", dir, model, String(n)]);
      const ts = runJSON(process.execPath, [
        "--import",
        "tsx",
        join(HERE, "onnx-models-child.ts"),
        dir,
        o.runtime!,
      ]);
      console.log(
        `  rep ${r}: deep-nrc ${ts.seconds.toFixed(1)} s (${ts.runtime}, metrics backend ${ts.backend}, ` +
          `${ts.batches} runs: ${ts.firstRows} then ${ts.steadyRows} samples, peak RSS ${ts.maxRssMB.toFixed(0)} MB) | ` +
          `PyTorch hooks + numpy ${py.seconds.toFixed(1)} s (forward+hooks ${(py.hooksForwardSeconds as number).toFixed(1)} s, ` +
          `torch ${py.torch}, ${py.threads} threads, peak RSS ${py.maxRssMB.toFixed(0)} MB) | ratio ${(ts.seconds / py.seconds).toFixed(2)}×`,
      );
      console.log(
        `         Σ NRC1 rel diff ${rel(sum(ts, "nrc1"), sum(py, "nrc1")).toExponential(1)}, ` +
          `Σ NRC2 ${rel(sum(ts, "nrc2"), sum(py, "nrc2")).toExponential(1)}, ` +
          `Σ srank(H) ${rel(sum(ts, "stableRankFeatures"), sum(py, "stableRankFeatures")).toExponential(1)} ` +
          `(${ts.layers.length} vs ${py.layers.length} layers)`,
      );
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
