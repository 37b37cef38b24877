/**
 * `deep-nrc merge a.nrc.safetensors b.nrc.safetensors … [--state out] [--json f] [--report f]`:
 * combines shard states (pairwise, as a balanced tree) into one, written with `--state` and/or
 * read out as the report. The merge is exact: a tree of merges gives the one-pass statistics to
 * rounding (Chan et al.'s update for the moments, a TSQR step for the factor).
 * @module
 */
import type { NRCAccumulator } from "../engine/accumulator.js";
import { NRCInputError } from "../errors.js";
import { readStateFile, writeStateFile } from "../node/state-file.js";
import { sharedSources } from "../state/snapshot.js";
import { ProgressBar } from "./progress.js";
import { backendOption, UsageError, type CliIO } from "./args.js";
import { requirePeers } from "./peers.js";
import { emitReport, megabytes, parseVerb, sharedBackend } from "./output.js";

const HELP = `Usage: deep-nrc merge <a.nrc.safetensors> <b.nrc.safetensors> … [--state out] [--json f] [--report f]

Merges state files written by 'deep-nrc accumulate' (or NRCAccumulator.toSafetensors) into one.
With --state, writes the merged state (merge again later, or read with 'deep-nrc report');
without it, or with --json / --report, prints the report as 'deep-nrc measure' does.
States merge only when made with the same t, r, preset, layer widths and weights, and
only when no two hold the same samples (a state merged twice, or with a merge it is part of).

Options:
      --state <file>     write the merged state here
      --json <file>      write the report as JSON ('-' for stdout, replacing the table)
      --report <file>    write a self-contained HTML report
      --backend <name>   auto (default) | js | wasm | webgpu
      --allow-duplicates merge states holding the same samples anyway (counted twice)
  -q, --quiet            no progress bar and no notes on stderr
  -h, --help             this help

Exit status: 0 success, 1 bad or mismatched state file, 2 usage error.`;

const OPTIONS = {
  state: { type: "string" },
  json: { type: "string" },
  report: { type: "string" },
  backend: { type: "string" },
  "allow-duplicates": { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Refuses two files that hold the samples of one state (each state records the ids of the states
 * whose samples it holds), naming both files.
 */
function refuseDuplicates(accs: readonly { acc: NRCAccumulator; path: string }[]): void {
  for (let i = 0; i < accs.length; i++)
    for (let j = i + 1; j < accs.length; j++) {
      const both = sharedSources(accs[i].acc.sources, accs[j].acc.sources);
      if (both.length > 0)
        throw new NRCInputError(
          "deep-nrc merge",
          accs[j].path,
          `${accs[i].path} and ${accs[j].path} both hold the samples of state ${both[0]}${accs[i].acc.id === accs[j].acc.id ? " (the same state twice)" : ""}: merging would count them twice; pass --allow-duplicates to merge them anyway`,
        );
    }
}

/** `deep-nrc merge`. */
export async function mergeCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseVerb(argv, OPTIONS, HELP, io);
  if (!parsed) return 0;
  const { values: o, positionals: paths } = parsed;
  if (paths.length === 0) throw new UsageError("merge needs state files (.nrc.safetensors)");
  await requirePeers({ report: o.report !== undefined });
  const backend = await sharedBackend(backendOption(o.backend));
  const quiet = o.quiet === true;
  const bar = new ProgressBar(io.stderr, { quiet });
  const note = (s: string) => bar.note(s);
  const accs: { acc: NRCAccumulator; path: string }[] = [];
  try {
    for (let i = 0; i < paths.length; i++) {
      bar.update(`reading ${paths[i]}`, i, paths.length);
      accs.push({
        acc: await readStateFile(paths[i], { backend: backend.option }),
        path: paths[i],
      });
    }
    const allowDuplicates = o["allow-duplicates"] === true;
    if (!allowDuplicates) refuseDuplicates(accs);
    // A balanced tree: each level merges neighbours (the rounding grows with the depth, log n).
    let level = accs.slice();
    let merged = 0;
    while (level.length > 1) {
      const next: typeof level = [];
      for (let i = 0; i < level.length; i += 2) {
        if (i + 1 === level.length) {
          next.push(level[i]);
          continue;
        }
        const [a, b] = [level[i], level[i + 1]];
        try {
          await a.acc.merge(b.acc, { allowDuplicates });
        } catch (e) {
          if (e instanceof NRCInputError)
            throw new NRCInputError(
              "deep-nrc merge",
              e.arg,
              `${b.path} cannot be merged with ${a.path}: ${e.message.replace(/^[^:]*: /, "").replace(/^other /, "it ")}`,
            );
          throw e;
        }
        bar.update("merging", ++merged, paths.length - 1);
        next.push(a);
      }
      level = next;
    }
    const total = level[0].acc;
    bar.clear();
    if (o.state !== undefined) {
      const bytes = await writeStateFile(o.state, total).catch((e) => {
        if (e instanceof NRCInputError)
          throw new NRCInputError(
            "deep-nrc",
            "--state",
            `--state: ${e.message.replace(/^[^:]*: /, "")}`,
          );
        throw e;
      });
      note(
        `wrote ${o.state}: ${paths.length} states, ${total.samples} samples, ${megabytes(bytes)}`,
      );
    }
    if (o.state === undefined || o.json !== undefined || o.report !== undefined) {
      bar.update("finalizing", 0, 1);
      const report = await total.finalize();
      bar.clear();
      await emitReport(report, o, `deep-nrc: ${paths.length} merged states`, io, note);
    }
    return 0;
  } finally {
    bar.clear();
    for (const a of accs) await a.acc.dispose();
    await backend.dispose();
  }
}
