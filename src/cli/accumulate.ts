/**
 * `deep-nrc accumulate <file.safetensors | folder …> --state shard.nrc.safetensors`: one shard of a
 * sharded measurement. Reads the shard's samples in batches (memory independent of N), keeps the
 * accumulator's statistics with a TSQR factor (so states from many machines merge exactly) and
 * writes them as a binary state file. `--shard k/n` or `--rows a:b` take a part of one data set.
 * @module
 */
import { createNRCAccumulator, type NRCAccumulator } from "../engine/accumulator.js";
import type { AccumulatorBatch } from "../engine/accumulator.js";
import type { MatrixInput } from "../linalg/matrix.js";
import type { TensorInput } from "../io/conv.js";
import { writeStateFile } from "../node/state-file.js";
import { NRCInputError } from "../errors.js";
import { ProgressBar } from "./progress.js";
import {
  autoBatchRows,
  filePrecision,
  loadWeights,
  openNetwork,
  toInput,
  type NetworkFiles,
} from "./load.js";
import {
  backendOption,
  intOption,
  measureOptions,
  numOption,
  regexOption,
  UsageError,
  type CliIO,
  MEASURE_FLAGS,
} from "./args.js";
import { megabytes, parseVerb, sharedBackend } from "./output.js";
import { accumulateONNXFile, isONNXPath, npySamples } from "./onnx.js";
import { requirePeers } from "./peers.js";

const HELP = `Usage: deep-nrc accumulate <file.safetensors | folder> [more …] --state <out.nrc.safetensors> [options]
       deep-nrc accumulate <model.onnx> --inputs X.npy --targets Y.npy --state <out> [--shard k/n | --rows a:b]

Measures one shard: reads features.k / weight.k / targets as 'deep-nrc measure' does, from each
path in turn — or runs an ONNX model on its samples of --inputs, as 'deep-nrc measure
model.onnx' does — and writes the statistics (exact, float64) to a binary state file. Combine shards
with 'deep-nrc merge a.nrc.safetensors b.nrc.safetensors … [--state out] [--json …]', read one
with 'deep-nrc report state.nrc.safetensors'. States merge only when they were made with the same
t, r, preset, layer widths and weights.

Options:
      --state <file>     the state file to write (required)
      --shard <k/n>      only the k-th of n equal parts of the samples (k = 0 … n−1; one path;
                         a part may hold one sample or none: its state merges like any other)
      --rows <a:b>       only samples a … b−1 (one path; a:a gives an empty state)
      --samples <n>      only the first n samples (one path)
  -t, --t <n>            signal dimension t (default: the number of target columns)
  -r, --r <n>            intrinsic dimension r
      --preset <name>    paper (default) | reference-code
      --backend <name>   auto (default) | js | wasm | webgpu
      --model-mse <x>    the model's train MSE (kept in the state for the report)
      --threshold <x>    NRC1 threshold for "collapsed" (kept in the state)
      --batch <rows>     rows per batch (default: ~64 MB of features; .onnx: sized for throughput)
      --inputs <X.npy>   .onnx only: the model's input (repeat as name=X.npy for several)
      --targets <Y.npy>  .onnx only: N×t targets (or a vector of N)
      --layers <regex>   .onnx only: the linear maps whose node name matches
      --debiased         NRC2 as debiased CKA (unbiased HSIC); needs --preset reference-code
  -q, --quiet            no progress bar and no notes on stderr
  -h, --help             this help

Exit status: 0 success, 1 bad input file or failure, 2 usage error.`;

const OPTIONS = {
  state: { type: "string" },
  ...MEASURE_FLAGS,
  shard: { type: "string" },
  rows: { type: "string" },
  debiased: { type: "boolean" },
} as const;

/** The row range [a, b) asked for by --shard / --rows / --samples over n samples. */
function rowRange(
  o: { shard?: string; rows?: string; samples?: string },
  n: number,
  path: string,
): [number, number] {
  if (o.shard !== undefined) {
    const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(o.shard);
    const k = m ? Number(m[1]) : NaN;
    const parts = m ? Number(m[2]) : NaN;
    if (!m || !(parts >= 1) || !(k < parts))
      throw new UsageError(`--shard must be k/n with 0 ≤ k < n; got '${o.shard}'`);
    // More shards than samples: some shards are empty (their states are the identity of merge).
    return [Math.floor((k * n) / parts), Math.floor(((k + 1) * n) / parts)];
  }
  if (o.rows !== undefined) {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(o.rows);
    const a = m ? Number(m[1]) : NaN;
    const b = m ? Number(m[2]) : NaN;
    if (!m || !(b >= a)) throw new UsageError(`--rows must be a:b with a ≤ b; got '${o.rows}'`);
    if (b > n) throw new UsageError(`--rows ${o.rows} runs past the ${n} samples in ${path}`);
    return [a, b];
  }
  const s = intOption("samples", o.samples, 1);
  if (s !== undefined && s > n)
    throw new UsageError(`--samples ${s} is more than the ${n} samples in ${path}`);
  return [0, s ?? n];
}

/** Samples a … b−1 in batches of `batchRows` (a last batch of one row joins the one before). */
async function* rangeBatches(
  net: NetworkFiles,
  [a, b]: [number, number],
  batchRows: number,
  onProgress: (label: string, done: number, total: number) => void,
): AsyncGenerator<AccumulatorBatch> {
  const total = b - a;
  for (let start = a; start < b;) {
    let end = Math.min(b, start + batchRows);
    if (b - end === 1) end = b;
    onProgress(`reading samples ${start}–${end}`, start - a, total);
    const rows: [number, number] = [start, end];
    const [t, ...fs] = await Promise.all([net.targets, ...net.features].map((e) => e.read(rows)));
    yield {
      features: fs.map((f) => toInput(f)) as (MatrixInput | TensorInput)[],
      targets: toInput(t) as MatrixInput,
    };
    start = end;
    onProgress(`samples ${start - a} of ${total}`, start - a, total);
  }
}

/** `deep-nrc accumulate`. */
export async function accumulateCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseVerb(argv, OPTIONS, HELP, io);
  if (!parsed) return 0;
  const { values: o, positionals: paths } = parsed;
  if (paths.length === 0)
    throw new UsageError("accumulate needs a path: a .safetensors file or a folder of .npy files");
  if (o.state === undefined || o.state === "")
    throw new UsageError("accumulate needs --state <file>: where to write the shard's state");
  const parts = [o.shard, o.rows, o.samples].filter((x) => x !== undefined).length;
  if (parts > 1) throw new UsageError("--shard, --rows and --samples exclude each other");
  if (parts === 1 && paths.length > 1)
    throw new UsageError("--shard, --rows and --samples apply to a single path");
  const { t, r, batch, threshold, preset } = measureOptions(o);
  const modelMSE = numOption("model-mse", o["model-mse"], (x) => x > 0, "a number > 0");
  if (o.debiased && preset !== "reference-code")
    throw new UsageError(
      "--debiased streams only with --preset reference-code (the paper's NRC2 needs fourth moments along the top-t eigenvectors, known only at the end)",
    );
  const backend = await sharedBackend(backendOption(o.backend));
  const quiet = o.quiet === true;
  const bar = new ProgressBar(io.stderr, { quiet });
  const note = (s: string) => bar.note(s);
  const onnxModel = paths.length === 1 && isONNXPath(paths[0]);
  for (const k of ["inputs", "targets", "layers"] as const)
    if (o[k] !== undefined && !onnxModel)
      throw new UsageError(`--${k} applies to accumulate with an ONNX model (.onnx) only`);
  if (onnxModel && (o.inputs === undefined || o.targets === undefined))
    throw new UsageError(
      "accumulate model.onnx needs --inputs X.npy and --targets Y.npy (first dimension = samples)",
    );
  let total: NRCAccumulator | null = null;
  try {
    if (onnxModel) {
      await requirePeers({ onnx: true });
      const n = await npySamples(o.targets!, "--targets");
      const range = rowRange(o, n, o.targets!);
      if (range[1] - range[0] < 2)
        throw new UsageError(`a shard needs at least 2 samples; got ${range[1] - range[0]}`);
      total = await accumulateONNXFile({
        path: paths[0],
        inputs: o.inputs!,
        targets: o.targets!,
        rows: range,
        layers: regexOption(o.layers),
        batchRows: batch,
        t,
        r,
        preset,
        modelMSE,
        collapseThreshold: threshold,
        backend: backend.option,
        onProgress: (label, done, all) => bar.update(label, done, all),
        note,
        ...(o.debiased ? { debiased: true } : {}),
      });
    }
    for (const path of onnxModel ? [] : paths) {
      const net = await openNetwork(path);
      let acc: NRCAccumulator | null = null;
      try {
        if (net.ignored.length)
          note(
            `note: ${path}: ignoring ${net.ignored.length} tensor(s): ${net.ignored.slice(0, 6).join(", ")}`,
          );
        // A shard of 0 or 1 samples is written like any other (an empty state is the identity
        // of merge); the report of the merged states needs 2 samples in all.
        const range = rowRange(o, net.samples, path);
        acc = createNRCAccumulator({
          t,
          r,
          preset,
          modelMSE,
          collapseThreshold: threshold,
          backend: backend.option,
          featurePrecision: filePrecision(net),
          weights: await loadWeights(net),
          names: net.features.map((_, k) => `layer ${k}`),
          nrc4: "tsqr",
          ...(o.debiased ? { debiased: true } : {}),
        });
        const rows = batch ?? autoBatchRows(net);
        await acc.addAll(
          rangeBatches(net, range, rows, (label, done, all) =>
            bar.update(paths.length > 1 ? `${path}: ${label}` : label, done, all),
          ),
        );
      } finally {
        await net.close();
      }
      if (!total) total = acc;
      else {
        try {
          await total.merge(acc);
        } catch (e) {
          if (e instanceof NRCInputError)
            throw new NRCInputError(
              "deep-nrc accumulate",
              e.arg,
              `${path} does not match ${paths[0]}: ${e.message.replace(/^[^:]*: /, "")}`,
            );
          throw e;
        } finally {
          await acc.dispose();
        }
      }
    }
    const bytes = await writeStateFile(o.state, total!).catch((e) => {
      if (e instanceof NRCInputError)
        throw new NRCInputError(
          "deep-nrc",
          "--state",
          `--state: ${e.message.replace(/^[^:]*: /, "")}`,
        );
      throw e;
    });
    bar.clear();
    note(`wrote ${o.state}: ${total!.samples} samples, ${megabytes(bytes)}`);
    return 0;
  } finally {
    bar.clear();
    await total?.dispose();
    await backend.dispose();
  }
}
