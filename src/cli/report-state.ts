/**
 * `deep-nrc report state.nrc.safetensors [--json f] [--report f]`: the report of a state file,
 * as `deep-nrc measure` prints it (the weights come from the state file).
 * @module
 */
import { readStateFile } from "../node/state-file.js";
import { backendOption, UsageError, type CliIO } from "./args.js";
import { requirePeers } from "./peers.js";
import { emitReport, parseVerb } from "./output.js";

const HELP = `Usage: deep-nrc report <state.nrc.safetensors> [--json f] [--report f]

Prints the report of a state file written by 'deep-nrc accumulate' or 'deep-nrc merge --state'.

Options:
      --json <file>      write the report as JSON ('-' for stdout, replacing the table)
      --report <file>    write a self-contained HTML report
      --backend <name>   auto (default) | js | wasm | webgpu
  -q, --quiet            no notes on stderr
  -h, --help             this help

Exit status: 0 success, 1 bad state file, 2 usage error.`;

const OPTIONS = {
  json: { type: "string" },
  report: { type: "string" },
  backend: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/** `deep-nrc report`. */
export async function reportCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseVerb(argv, OPTIONS, HELP, io);
  if (!parsed) return 0;
  const { values: o, positionals: paths } = parsed;
  if (paths.length !== 1)
    throw new UsageError(
      paths.length === 0
        ? "report needs a state file (.nrc.safetensors)"
        : `report takes one state file; got ${paths.length} (use 'deep-nrc merge' to combine them)`,
    );
  await requirePeers({ report: o.report !== undefined });
  const acc = await readStateFile(paths[0], { backend: backendOption(o.backend) });
  try {
    const report = await acc.finalize();
    const note = (s: string) => {
      if (!o.quiet) io.stderr.write(`${s}\n`);
    };
    await emitReport(report, o, `deep-nrc: ${paths[0]}`, io, note);
    return 0;
  } finally {
    await acc.dispose();
  }
}
