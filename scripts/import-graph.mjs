#!/usr/bin/env node
/**
 * The import graph of src/: circles (strongly connected components), arrows that run from a lower
 * room to a higher one or into an entry file, files over 500 lines, and file names used twice.
 * Rooms, highest first: the entries (src/index.ts and the subpath folders), then
 * engine > state > metrics > stats > linalg > io > backends > errors.
 * Usage: node scripts/import-graph.mjs [--json]   (exit code 1 when any rule is broken)
 * test/architecture.test.ts runs the same analysis.
 */
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, relative, resolve, basename } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOMS = [
  "entry",
  "cli",
  "viz",
  "onnx",
  "tfjs",
  "webgpu",
  "node",
  "engine",
  "state",
  "metrics",
  "stats",
  "linalg",
  "io",
  "backends",
  "errors",
];

/** The package's entry files (tsup's entries): faces that nothing imports. */
export const ENTRIES = [
  "index.ts",
  "node/index.ts",
  "tfjs/index.ts",
  "onnx/index.ts",
  "viz/index.ts",
  "webgpu/index.ts",
  "cli/bin.ts",
];

/** Files allowed over 500 lines: the C solvers, each one job. */
const LONG_OK = /\.c$/;

export function importGraph(root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "src")) {
  const files = [];
  const all = [];
  (function walk(d) {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else {
        all.push(p);
        if (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) files.push(p);
      }
    }
  })(root);
  const rel = (p) => relative(root, p);
  const edges = new Map();
  const re =
    /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;
  for (const f of files) {
    const out = new Set();
    for (const m of readFileSync(f, "utf8").matchAll(re)) {
      let t = resolve(dirname(f), m[1] ?? m[2]).replace(/\.js$/, ".ts");
      if (!existsSync(t) && existsSync(t.replace(/\.ts$/, "/index.ts")))
        t = t.replace(/\.ts$/, "/index.ts");
      if (existsSync(t) && t.startsWith(root)) out.add(t);
    }
    edges.set(f, out);
  }
  // Tarjan's strongly connected components.
  let idx = 0;
  const st = [];
  const on = new Set();
  const ix = new Map();
  const low = new Map();
  const circles = [];
  const visit = (v) => {
    ix.set(v, idx);
    low.set(v, idx);
    idx++;
    st.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!ix.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), ix.get(w)));
    }
    if (low.get(v) === ix.get(v)) {
      const c = [];
      let w;
      do {
        w = st.pop();
        on.delete(w);
        c.push(rel(w));
      } while (w !== v);
      if (c.length > 1) circles.push(c);
    }
  };
  for (const f of files) if (!ix.has(f)) visit(f);
  const room = (p) => {
    const r = rel(p);
    if (!r.includes("/")) return r === "errors.ts" ? "errors" : "entry";
    return r.split("/")[0];
  };
  const rank = (r) => ROOMS.indexOf(r);
  const upward = [];
  for (const [f, out] of edges)
    for (const t of out) {
      const a = room(f);
      const b = room(t);
      if (ENTRIES.includes(rel(t))) upward.push(`${rel(f)} -> ${rel(t)} (imports an entry file)`);
      else if (a !== b && rank(b) < rank(a)) upward.push(`${rel(f)} -> ${rel(t)} (${a} -> ${b})`);
    }
  const over500 = all
    .filter((f) => /\.(ts|c)$/.test(f) && !LONG_OK.test(f) && !f.endsWith(".generated.ts"))
    .map((f) => [rel(f), readFileSync(f, "utf8").split("\n").length])
    .filter(([, n]) => n > 500);
  const byName = new Map();
  for (const f of all) {
    const b = basename(f);
    if (b === "index.ts") continue;
    byName.set(b, [...(byName.get(b) ?? []), rel(f)]);
  }
  const sameName = [...byName.values()].filter((v) => v.length > 1);
  const unknownRooms = [...new Set(files.map(room))].filter((r) => rank(r) < 0);
  return { files: files.length, circles, upward, over500, sameName, unknownRooms };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = importGraph();
  if (process.argv.includes("--json")) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(
      `${r.files} files; ${r.circles.length} circles; ${r.upward.length} upward arrows; ${r.over500.length} files over 500 lines; ${r.sameName.length} names used twice`,
    );
    for (const c of r.circles) console.log("circle:", c.join(" ↔ "));
    for (const u of r.upward) console.log("up:", u);
    for (const [f, n] of r.over500) console.log("long:", f, n);
    for (const s of r.sameName) console.log("same name:", s.join(", "));
    for (const u of r.unknownRooms) console.log("room not in ROOMS:", u);
  }
  const bad = r.circles.length + r.upward.length + r.sameName.length + r.unknownRooms.length;
  process.exitCode = bad > 0 ? 1 : 0;
}
