/**
 * The measured process of `npm run bench:models` (bench/onnx-models.ts): `measureONNX` on a model
 * the bench exported (DIR/model.onnx, X.npy, Y.npy). Loading X and Y is outside the timing (as in
 * the Python route). Prints one JSON line: seconds, peak RSS, runtime, batch size, the report.
 *
 *   node --import tsx bench/onnx-models-child.ts DIR [runtime] [batchRows]
 * @module
 */
import { join } from "node:path";
import { readNpy } from "../src/io/npy.js";
import { openFileSource } from "../src/node/file-source.js";
import { measureONNX } from "../src/onnx/index.js";
import type { RuntimeOption } from "../src/onnx/index.js";

const [dir, runtime = "auto", batch] = process.argv.slice(2);
const read = async (name: string, float32: boolean) => {
  const src = await openFileSource(join(dir, name));
  try {
    return float32 ? await readNpy(src, { float32: true }) : await readNpy(src);
  } finally {
    await src.close();
  }
};
const x = await read("X.npy", true);
const y = await read("Y.npy", false);
let batches = 0;
let firstRows = 0;
let steadyRows = 0;
const t0 = performance.now();
const report = await measureONNX({
  model: join(dir, "model.onnx"),
  inputs: { data: x.data, shape: x.shape },
  targets: { rows: y.shape[0], cols: y.shape[1], data: y.data as Float64Array },
  runtime: runtime as RuntimeOption,
  ...(batch ? { batchRows: Number(batch) } : {}),
  onProgress: (done) => {
    batches++;
    if (batches === 1) firstRows = done;
    else if (batches === 2) steadyRows = done - firstRows;
  },
});
const seconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    seconds,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    runtime: report.model.runtime,
    backend: report.backend,
    batches,
    firstRows,
    steadyRows,
    featurePrecision: report.featurePrecision ?? "float64",
    layers: report.layers.map((l) => ({
      name: l.name,
      nrc1: l.nrc1,
      nrc2: l.nrc2,
      stableRankFeatures: l.stableRankFeatures,
    })),
  }),
);
