/**
 * What every CLI verb shares: where it writes ({@link CliIO}), its usage error, the flag parsers
 * (integers, numbers, regular expressions, the backend name, the options `measure` and
 * `accumulate` share) and writing an output file with a one-line error.
 * @module
 */
import { writeFile } from "node:fs/promises";
import { NRCInputError } from "../errors.js";
import { BACKEND_NAMES, type BackendName } from "../backends/choose.js";
import type { Preset } from "../engine/report.js";
import type { ProgressStream } from "./progress.js";

/** Where the CLI writes: stdout for results, stderr for progress, notes and errors. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: ProgressStream;
  /** Environment (for DEEP_NRC_DEBUG). */
  env?: Record<string, string | undefined>;
}

/** A usage error: exit code 2 and a pointer to --help. */
export class UsageError extends Error {}

export function regexOption(v: string | undefined): RegExp | undefined {
  if (v === undefined) return undefined;
  try {
    return new RegExp(v);
  } catch (e) {
    throw new UsageError(
      `--layers must be a regular expression; got '${v}': ${(e as Error).message}`,
    );
  }
}

/** The options `measure` and `accumulate` share: -t, -r, --batch, --threshold, --preset. */
export function measureOptions(o: {
  t?: string;
  r?: string;
  batch?: string;
  threshold?: string;
  preset?: string;
}): { t?: number; r?: number; batch?: number; threshold?: number; preset: Preset } {
  const preset = (o.preset ?? "paper") as Preset;
  if (preset !== "paper" && preset !== "reference-code")
    throw new UsageError(`--preset must be paper or reference-code; got '${o.preset}'`);
  return {
    t: intOption("t", o.t, 1),
    r: intOption("r", o.r, 1),
    batch: intOption("batch", o.batch, 2),
    threshold: numOption("threshold", o.threshold, (x) => x >= 0 && x <= 1, "a number in [0, 1]"),
    preset,
  };
}

export function intOption(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}; got '${v}'`);
  return n;
}

export function numOption(
  name: string,
  v: string | undefined,
  ok: (x: number) => boolean,
  what: string,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || !ok(n))
    throw new UsageError(`--${name} must be ${what}; got '${v}'`);
  return n;
}

/**
 * `--backend <name>`: one of the backend names ({@link BACKEND_NAMES}), passed on as the
 * name, so the CLI uses the library's one default-backend policy ("auto": the process-wide shared
 * wasm backend, else js) rather than a policy of its own.
 */
export function backendOption(name: string | undefined): BackendName {
  const n = name ?? "auto";
  if (!(BACKEND_NAMES as readonly string[]).includes(n))
    throw new UsageError(`--backend must be ${BACKEND_NAMES.join(", ")}; got '${n}'`);
  return n as BackendName;
}

export /** One line, no stack: what a shell user sees. */
function oneLine(msg: string): string {
  return msg
    .replace(/([.?!:;])\s*\n\s*/g, "$1 ")
    .replace(/\s*\n\s*/g, "; ")
    .trim();
}

export async function writeOut(path: string, text: string, flag: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "its folder does not exist"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a directory"
            : (e as Error).message;
    throw new NRCInputError("deep-nrc", flag, `${flag}: cannot write ${path}: ${why}`);
  }
}

export function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/**
 * The flags `measure` and `accumulate` share (parsed by `node:util`'s parseArgs): the measurement
 * options, the ONNX model's inputs, targets and layers, and the common switches.
 */
export const MEASURE_FLAGS = {
  t: { type: "string", short: "t" },
  r: { type: "string", short: "r" },
  preset: { type: "string" },
  backend: { type: "string" },
  "model-mse": { type: "string" },
  threshold: { type: "string" },
  samples: { type: "string" },
  batch: { type: "string" },
  inputs: { type: "string", multiple: true },
  targets: { type: "string" },
  layers: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;
