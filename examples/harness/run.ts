/**
 * The reproduction harness's command line.
 *
 *   npx tsx examples/harness/run.ts <deep|rank|wd|prop1|tiny> [--full] [--backend wasm|cpu]
 *       [--out docs/reproduction] [--only <run id>] [--from-json]
 *
 * Trains the experiment's runs, measures them with deep-nrc, and writes
 * `<out>/<exp>[-full].json` (raw per-epoch measurements), `<out>/<exp>[-full].md` (tables) and
 * `<out>/<exp>[-full]-*.svg` (figures). `--from-json` redraws tables and figures from the saved
 * JSON without training.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { plan, scaleFor, type ExperimentName } from "./experiments.js";
import { runOne, type RunResult } from "./pipeline.js";
import { summarize } from "./summarize.js";
import type { TfBackendName } from "./mlp.js";

const EXPERIMENTS: ExperimentName[] = ["deep", "rank", "wd", "prop1", "tiny"];

function parseArgs(argv: string[]) {
  const out = {
    exp: "" as ExperimentName,
    full: false,
    backend: "wasm" as TfBackendName,
    dir: "docs/reproduction",
    only: null as string | null,
    fromJson: false,
  };
  const rest = [...argv];
  while (rest.length) {
    const a = rest.shift()!;
    if (a === "--full") out.full = true;
    else if (a === "--backend") out.backend = rest.shift() as TfBackendName;
    else if (a === "--out") out.dir = rest.shift()!;
    else if (a === "--only") out.only = rest.shift()!;
    else if (a === "--from-json") out.fromJson = true;
    else if (a === "--help" || a === "-h") {
      console.log(
        "usage: run.ts <deep|rank|wd|prop1|tiny> [--full] [--backend wasm|cpu] [--out dir] [--only id] [--from-json]",
      );
      process.exit(0);
    } else if (!out.exp && (EXPERIMENTS as string[]).includes(a)) out.exp = a as ExperimentName;
    else {
      console.error(`run.ts: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!out.exp) {
    console.error(`run.ts: name an experiment: ${EXPERIMENTS.join(", ")}`);
    process.exit(2);
  }
  if (out.backend !== "wasm" && out.backend !== "cpu") {
    console.error(`run.ts: --backend must be wasm or cpu`);
    process.exit(2);
  }
  return out;
}

/** Run (or redraw) an experiment and write its files; returns the runs. */
export async function main(argv: string[]): Promise<RunResult[]> {
  const a = parseArgs(argv);
  const name = `${a.exp}${a.full ? "-full" : ""}`;
  mkdirSync(a.dir, { recursive: true });
  const jsonPath = join(a.dir, `${name}.json`);
  let runs: RunResult[];
  const t0 = performance.now();
  if (a.fromJson) {
    runs = (JSON.parse(readFileSync(jsonPath, "utf8")) as { runs: RunResult[] }).runs;
  } else {
    runs = [];
    // With --only, keep the other runs already saved in the JSON (replace the one re-run).
    let kept: RunResult[] = [];
    if (a.only && existsSync(jsonPath)) {
      kept = (JSON.parse(readFileSync(jsonPath, "utf8")) as { runs: RunResult[] }).runs;
    }
    const planned = plan(a.exp, scaleFor(a.full)).filter((p) => !a.only || p.spec.id === a.only);
    for (const p of planned) {
      const ds = p.data();
      console.log(`== ${p.spec.id}: ${ds.description}`);
      const r = await runOne(p.spec, ds, { tfBackend: a.backend, log: (s) => console.log(s) });
      runs.push(r);
      const order = plan(a.exp, scaleFor(a.full)).map((q) => q.spec.id);
      const merged = [...kept.filter((k) => !runs.some((x) => x.id === k.id)), ...runs].sort(
        (x, y) => order.indexOf(x.id) - order.indexOf(y.id),
      );
      writeFileSync(
        jsonPath,
        JSON.stringify({
          experiment: a.exp,
          full: a.full,
          command: `npx tsx examples/harness/run.ts ${argv.join(" ")}`,
          node: process.version,
          date: new Date().toISOString(),
          runs: merged,
        }),
      );
      if (p === planned[planned.length - 1]) runs = merged;
    }
  }
  const { markdown, figures } = await summarize(a.exp, runs, name);
  for (const fig of figures) writeFileSync(join(a.dir, fig.file), fig.svg);
  writeFileSync(join(a.dir, `${name}.md`), markdown + "\n");
  const secs = (performance.now() - t0) / 1000;
  console.log(markdown);
  console.log(
    `\n${name}: ${runs.length} runs, ${figures.length} figures, ${secs.toFixed(0)} s → ${a.dir}`,
  );
  return runs;
}

const isMain = process.argv[1] && /run\.ts$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
