#!/usr/bin/env node
// Import graph of src/: lists circles (strongly connected components) and arrows between rooms.
// Usage: node scripts/import-graph.mjs [--json]
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, relative, resolve } from "node:path";
const root = resolve(dirname(new URL(import.meta.url).pathname), "..", "src");
const files = [];
(function walk(d) {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) files.push(p);
  }
})(root);
const edges = new Map();
const re =
  /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;
for (const f of files) {
  const src = readFileSync(f, "utf8");
  const out = new Set();
  for (const m of src.matchAll(re)) {
    const spec = m[1] ?? m[2];
    let t = resolve(dirname(f), spec).replace(/\.js$/, ".ts");
    if (!existsSync(t) && existsSync(t.replace(/\.ts$/, "/index.ts")))
      t = t.replace(/\.ts$/, "/index.ts");
    if (existsSync(t) && t.startsWith(root)) out.add(t);
  }
  edges.set(f, out);
}
const rel = (p) => relative(root, p);
// Tarjan SCC
let idx = 0;
const st = [];
const on = new Set();
const ix = new Map();
const low = new Map();
const sccs = [];
function sc(v) {
  ix.set(v, idx);
  low.set(v, idx);
  idx++;
  st.push(v);
  on.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!ix.has(w)) {
      sc(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), ix.get(w)));
  }
  if (low.get(v) === ix.get(v)) {
    const c = [];
    let w;
    do {
      w = st.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) sccs.push(c.map(rel));
  }
}
for (const f of files) if (!ix.has(f)) sc(f);
// rooms, highest first
export const ROOMS = [
  "entry",
  "cli",
  "viz",
  "onnx",
  "tfjs",
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
function room(p) {
  const r = rel(p);
  if (!r.includes("/")) return r === "errors.ts" ? "errors" : "entry";
  return r.split("/")[0];
}
const rank = (r) => {
  const i = ROOMS.indexOf(r);
  return i < 0 ? -1 : i;
};
const up = [];
for (const [f, out] of edges)
  for (const t of out) {
    const a = room(f),
      b = room(t);
    if (b === "entry") up.push(`${rel(f)} -> ${rel(t)} (imports an entry file)`);
    else if (a !== b && rank(b) < rank(a)) up.push(`${rel(f)} -> ${rel(t)} (${a} -> ${b})`);
  }
const big = files
  .map((f) => [rel(f), readFileSync(f, "utf8").split("\n").length])
  .filter(([, n]) => n > 500);
const res = { files: files.length, circles: sccs, upward: up, over500: big };
if (process.argv.includes("--json")) console.log(JSON.stringify(res, null, 2));
else {
  console.log(
    `${files.length} files; ${sccs.length} circles; ${up.length} upward arrows; ${big.length} files over 500 lines`,
  );
  for (const c of sccs) console.log("circle:", c.join(" ↔ "));
  for (const u of up) console.log("up:", u);
  for (const [f, n] of big) console.log("big:", f, n);
}
