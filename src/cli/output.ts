/**
 * Writing a report the way `measure` does: the table on stdout (or the JSON with `--json -`),
 * `--json <file>` and the HTML `--report <file>`. Shared by the state verbs.
 * @module
 */
import { NRCInputError } from "../errors.js";
import { formatReport } from "../engine/table.js";
import type { NRCReport } from "../engine/report.js";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError, writeOut, type CliIO } from "./args.js";
import { initBackend, type BackendOption } from "../backends/choose.js";
import type { Kernels } from "../backends/types.js";

/** Prints/writes a report; `note` prints a line on stderr unless quiet. */
export async function emitReport(
  report: NRCReport,
  o: { json?: string; report?: string },
  title: string,
  io: CliIO,
  note: (s: string) => void,
): Promise<void> {
  if (o.json === "-") io.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else {
    io.stdout.write(formatReport(report) + "\n");
    if (o.json !== undefined)
      await writeOut(o.json, JSON.stringify(report, null, 2) + "\n", "--json");
  }
  if (o.report !== undefined) {
    let html: string;
    try {
      const viz = await import("../viz/visual-report.js");
      html = await viz.renderReportHTML(report, { title });
    } catch (e) {
      if (e instanceof NRCInputError) throw e;
      const msg = (e as Error).message ?? String(e);
      throw new NRCInputError(
        "deep-nrc",
        "--report",
        /vega/i.test(msg) && /(find|resolve|module)/i.test(msg)
          ? "--report needs the optional packages vega and vega-lite (npm i vega vega-lite)"
          : `--report: the HTML report is not available: ${msg}`,
      );
    }
    await writeOut(o.report, html, "--report");
    note(`wrote ${o.report}`);
  }
  if (o.json !== undefined && o.json !== "-") note(`wrote ${o.json}`);
}

/**
 * A verb's arguments: `parseArgs` (strict, with positionals), its errors as a UsageError; null
 * when `--help` was asked for (the help is printed).
 */
export function parseVerb<T extends NonNullable<ParseArgsConfig["options"]>>(
  argv: readonly string[],
  options: T,
  help: string,
  io: CliIO,
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>> | null {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(parseError(e));
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(help + "\n");
    return null;
  }
  return parsed;
}

/** parseArgs with Node's wording minus its advice about '--', as a UsageError. */
export function parseError(e: unknown): string {
  return (e as Error).message.split(". To specify")[0];
}

/** "1.2 MB" */
export function megabytes(n: number): string {
  return `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 1)} MB`;
}

/**
 * Starts a backend once for several accumulators: `option` is the started kernels without their
 * `dispose` (so no accumulator stops them for the others); call `dispose()` at the end.
 */
export async function sharedBackend(
  backend: BackendOption,
): Promise<{ option: Kernels; dispose(): Promise<void> }> {
  const k = await initBackend(backend);
  return { option: { ...k, dispose: undefined }, dispose: async () => void (await k.dispose?.()) };
}
