/**
 * The `deep-nrc` command line: `deep-nrc measure <file.safetensors | folder>` and `deep-nrc demo`.
 * `main(argv, io)` returns the exit code instead of exiting, so tests can run it in-process;
 * `bin.ts` is the executable wrapper. Node only.
 *
 * Exit codes: 0 success; 1 bad input (unreadable or malformed file, missing tensors, shapes that
 * disagree, a failing backend, an output file that cannot be written); 2 usage error (unknown
 * option, bad option value, missing path).
 * @module
 */
import { parseArgs } from "node:util";
import { NRCInputError } from "../errors.js";
import { measureNRC, DEFAULT_COLLAPSE_THRESHOLD, type LayerInput } from "../engine/measure.js";
import type { MatrixInput } from "../linalg/matrix.js";
import type { NRCReport } from "../engine/report.js";
import { ProgressBar } from "./progress.js";
import {
  autoBatchRows,
  featureBytesF64,
  filePrecision,
  loadLayers,
  loadWeights,
  openNetwork,
  fileBatches,
} from "./load.js";
import { createNRCAccumulator } from "../engine/accumulator.js";
import { DEMO, demoNetwork } from "./demo.js";
import { isONNXPath, measureONNXFile } from "./onnx.js";
import { listLayersText } from "./layers.js";
import { stateVerb } from "./state-verbs.js";
import {
  type CliIO,
  UsageError,
  regexOption,
  measureOptions,
  intOption,
  numOption,
  backendOption,
  oneLine,
  defaultIO,
  MEASURE_FLAGS,
} from "./args.js";
export type { CliIO } from "./args.js";
export { UsageError } from "./args.js";
import { requirePeers } from "./peers.js";
import { emitReport } from "./output.js";
import pkg from "../../package.json" with { type: "json" };

/** Above this many bytes of float64 features, `measure` streams (unless --batch says otherwise). */
const STREAM_ABOVE_BYTES = 2 ** 30;

const HELP = `deep-nrc ${pkg.version} — measure Deep Neural Regression Collapse (NRC1–NRC4) per layer

Usage:
  deep-nrc measure <file.safetensors | folder> [options]
  deep-nrc measure <model.onnx> --inputs X.npy --targets Y.npy [--layers REGEX] [options]
  deep-nrc layers <model.onnx> [--layers REGEX] [--json -]
  deep-nrc demo [options]
  deep-nrc accumulate | merge | report …   sharded measurement (deep-nrc accumulate --help)
  deep-nrc --help | --version

measure reads, from a .safetensors file or a folder of .npy files (one per tensor):
  features.0, features.1, …   the features entering each linear map: N×d, or N×C×h×w (conv)
  weight.0, weight.1, …       optional, the map reading features.k: out×in, or Cout×Cin×kh×kw
  targets                     N×t regression targets (or a vector of N)
Any dtype numpy or safetensors writes (f16/bf16/f32/f64, integers) is read, lazily, as float64.

measure model.onnx runs the model (onnxruntime-node when installed: native, multi-threaded;
else onnxruntime-web's WASM build; needs protobufjs) on the samples in --inputs (first
dimension = samples; one .npy, or name=X.npy per model input) in batches sized for throughput
(--batch rows), and measures every linear map (Gemm, MatMul with a constant weight, Conv):
features = the map's input, weight = its initializer (as stored: exporters fold BatchNorm into
Conv weights in eval mode). float32 features: NRC4's cutoff uses float32's ε (README).
layers lists those maps (name, op, in → out, weight shape) without running the model.

demo measures the bundled synthetic network (${DEMO.layers} layers, ${DEMO.samples} samples, width ${DEMO.width}, ${DEMO.targets} targets).

Options:
  -t, --t <n>            signal dimension t (default: the number of target columns)
  -r, --r <n>            intrinsic dimension r: adds NRC1/NRC3 at r and the bottom-subspace alignment
      --preset <name>    paper (default) | reference-code (the authors' published scripts)
      --backend <name>   auto (default: wasm, else js) | js | wasm | webgpu | tfjs
      --model-mse <x>    the model's train MSE: reports NRC4 / MSE per layer
      --threshold <x>    NRC1 at or below which a layer counts as collapsed (default ${DEFAULT_COLLAPSE_THRESHOLD})
      --samples <n>      measure only the first n samples (reads only those rows)
      --batch <rows>     stream the samples through in batches of this many rows (memory
                         independent of N); chosen automatically when the features exceed 1 GiB
      --json <file>      write the full report as JSON ('-' for stdout, replacing the table)
      --report <file>    write a self-contained HTML report with the paper-style figures
      --inputs <X.npy>   .onnx only: the model's input (repeat as name=X.npy for several)
      --targets <Y.npy>  .onnx only: N×t targets (or a vector of N)
      --layers <regex>   .onnx only: measure the linear maps whose node name matches
      --seed <n>         demo only: the synthetic network's seed (default ${DEMO.seed})
  -q, --quiet            no progress bar and no notes on stderr
  -h, --help             this help
  -v, --version          the version

Examples:
  deep-nrc demo
  deep-nrc measure run.safetensors
  deep-nrc measure acts/ -t 3 --model-mse 0.012 --json report.json --report report.html
  deep-nrc measure acts/ --preset reference-code --samples 10240 --backend js
  python train.py && deep-nrc measure out/epoch300.safetensors --json - | jq '.layers[].nrc1'

Exit status: 0 success, 1 bad input file or failure while measuring, 2 usage error.
The progress bar is drawn on stderr only when it is a terminal.`;

const OPTIONS = {
  ...MEASURE_FLAGS,
  json: { type: "string" },
  report: { type: "string" },
  seed: { type: "string" },
  version: { type: "boolean", short: "v" },
} as const;

/**
 * Runs the CLI.
 * @param argv - The arguments after the program name (e.g. `["measure", "run.safetensors"]`).
 * @param io - Output streams (default: the process's).
 * @returns The exit code.
 */
export async function main(argv: readonly string[], io: CliIO = defaultIO()): Promise<number> {
  const progress = new ProgressBar(io.stderr, { quiet: true });
  let bar = progress;
  try {
    const verb = await stateVerb(argv[0]);
    if (verb) return await verb(argv.slice(1), io);
    let parsed;
    try {
      parsed = parseArgs({
        args: [...argv],
        options: OPTIONS,
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      // Node's wording, minus its advice about '--' (rarely what a user meant).
      throw new UsageError((e as Error).message.split(". To specify")[0]);
    }
    const { values: o, positionals } = parsed;
    if (o.version) {
      io.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    const cmd = positionals[0];
    if (o.help || cmd === "help" || cmd === undefined) {
      io.stdout.write(HELP + "\n");
      return cmd === undefined && !o.help ? 2 : 0;
    }
    if (cmd !== "measure" && cmd !== "demo" && cmd !== "layers")
      throw new UsageError(`unknown command '${cmd}' (expected measure, layers or demo)`);
    const layersRe = regexOption(o.layers);
    if (cmd === "layers") {
      if (positionals.length !== 2)
        throw new UsageError("layers needs one path: an ONNX model (.onnx)");
      await requirePeers({ onnx: true });
      const text = await listLayersText(positionals[1], layersRe, o.json === "-");
      io.stdout.write(text + "\n");
      return 0;
    }
    const onnxModel = cmd === "measure" && positionals.length === 2 && isONNXPath(positionals[1]);
    for (const k of ["inputs", "targets", "layers"] as const)
      if (o[k] !== undefined && !onnxModel)
        throw new UsageError(`--${k} applies to measure with an ONNX model (.onnx) only`);
    if (onnxModel && (o.inputs === undefined || o.targets === undefined))
      throw new UsageError(
        "measure model.onnx needs --inputs X.npy and --targets Y.npy (first dimension = samples)",
      );
    if (cmd === "measure" && positionals.length !== 2)
      throw new UsageError(
        positionals.length < 2
          ? "measure needs a path: a .safetensors file or a folder of .npy files"
          : `measure takes one path; got ${positionals.length - 1}: ${positionals.slice(1).join(" ")}`,
      );
    if (cmd === "demo" && positionals.length !== 1)
      throw new UsageError(`demo takes no path; got ${positionals.slice(1).join(" ")}`);
    if (cmd === "measure" && o.seed !== undefined)
      throw new UsageError("--seed applies to demo only");
    if (o.samples !== undefined && cmd === "demo")
      throw new UsageError("--samples applies to measure only");
    if (o.batch !== undefined && cmd === "demo")
      throw new UsageError("--batch applies to measure only");

    const { t, r, batch, threshold, preset } = measureOptions(o);
    const samples = intOption("samples", o.samples, 2);
    const seed = intOption("seed", o.seed, 0);
    const modelMSE = numOption("model-mse", o["model-mse"], (x) => x >= 0, "a number ≥ 0");
    const backend = backendOption(o.backend);
    await requirePeers({ report: o.report !== undefined, onnx: onnxModel });
    const quiet = o.quiet === true;
    bar = new ProgressBar(io.stderr, { quiet });
    const note = (s: string) => bar.note(s);

    const measureOpts = { t, r, preset, modelMSE, collapseThreshold: threshold, backend };
    const inMemory = (
      layers: LayerInput[],
      targets: MatrixInput,
      featurePrecision?: ReturnType<typeof filePrecision>,
    ) =>
      measureNRC({
        layers,
        targets,
        ...measureOpts,
        ...(featurePrecision ? { featurePrecision } : {}),
        onProgress: (done, total) =>
          bar.update(`measuring layer ${Math.min(done + 1, total)}/${total}`, done, total),
      });
    let report: NRCReport;
    let title: string;
    if (onnxModel) {
      const path = positionals[1];
      const onnxReport = await measureONNXFile({
        path,
        inputs: o.inputs!,
        targets: o.targets!,
        layers: layersRe,
        batchRows: batch,
        samples,
        ...measureOpts,
        onProgress: (label, done, total) => bar.update(label, done, total),
        note,
      });
      report = onnxReport;
      title = `deep-nrc: ${path} (features by ${onnxReport.model.runtime})`;
    } else if (cmd === "measure") {
      const path = positionals[1];
      const net = await openNetwork(path);
      try {
        if (net.ignored.length)
          note(
            `note: ignoring ${net.ignored.length} tensor(s) not named features.k/weight.k/targets: ${net.ignored.slice(0, 6).join(", ")}${net.ignored.length > 6 ? ", …" : ""}`,
          );
        if (samples !== undefined && samples > net.samples)
          throw new UsageError(
            `--samples ${samples} is more than the ${net.samples} samples in ${path}`,
          );
        const n = samples ?? net.samples;
        const stream = batch !== undefined || featureBytesF64(net, n) > STREAM_ABOVE_BYTES;
        if (stream) {
          const batchRows = batch ?? autoBatchRows(net);
          if (batch === undefined)
            note(
              `note: the features take ${(featureBytesF64(net, n) / 2 ** 30).toFixed(1)} GiB as float64; streaming in batches of ${batchRows} rows (--batch to choose)`,
            );
          // Files can be read twice: one pass of moments, then NRC4 from a second read
          // (nrc4: "rescan", ~2.5× faster than keeping a TSQR factor per batch).
          const acc = createNRCAccumulator({
            ...measureOpts,
            featurePrecision: filePrecision(net),
            weights: await loadWeights(net),
            names: net.features.map((_, k) => `layer ${k}`),
            nrc4: "rescan",
          });
          const onProgress = (label: string, done: number, total: number) =>
            bar.update(label, done, total);
          try {
            await acc.addAll(fileBatches(net, { samples, batchRows, onProgress }));
            bar.update("finalizing", 1, 1);
            // Each re-read runs opposite to the previous pass (see fileBatches' `reverse`).
            let passes = 0;
            report = await acc.finalize({
              rescan: () =>
                fileBatches(net, {
                  samples,
                  batchRows,
                  onProgress,
                  label: "NRC4: re-reading",
                  reverse: ++passes % 2 === 1,
                }),
            });
          } finally {
            await acc.dispose();
          }
        } else {
          const { layers, targets } = await loadLayers(net, {
            samples,
            onProgress: (label, done, total) => bar.update(label, done, total),
          });
          report = await inMemory(layers, targets, filePrecision(net));
        }
      } finally {
        await net.close();
      }
      title = `deep-nrc: ${path}`;
    } else {
      note(
        `deep-nrc demo: a synthetic ${DEMO.layers}-layer network (${DEMO.samples} samples, width ${DEMO.width}, ${DEMO.targets} targets)`,
      );
      const { layers, targets } = demoNetwork(seed);
      report = await inMemory(layers, targets);
      title = `deep-nrc demo (synthetic network, seed ${seed ?? DEMO.seed})`;
    }
    bar.clear();
    await emitReport(report, o, title, io, note);
    return 0;
  } catch (e) {
    bar.clear();
    if (e instanceof UsageError) {
      io.stderr.write(`deep-nrc: ${oneLine(e.message)}\nTry 'deep-nrc --help'.\n`);
      return 2;
    }
    if (e instanceof NRCInputError) {
      const msg = oneLine(e.message);
      io.stderr.write(`${msg.startsWith("deep-nrc") ? "" : "deep-nrc: "}${msg}\n`);
      return 1;
    }
    const err = e as Error;
    const debug = (io.env ?? process.env).DEEP_NRC_DEBUG;
    io.stderr.write(
      `deep-nrc: ${oneLine(err?.message ?? String(e))}${debug ? `\n${err?.stack ?? ""}` : " (set DEEP_NRC_DEBUG=1 for details)"}\n`,
    );
    return 1;
  }
}
