/**
 * The house's layout (README "Layout"): faces on top, one engine, kernels at the bottom. These are
 * facts about the import graph of src/, read from the files by scripts/import-graph.mjs.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
// @ts-expect-error -- a plain .mjs script without declarations
import { importGraph } from "../scripts/import-graph.mjs";

interface Graph {
  files: number;
  circles: string[][];
  upward: string[];
  over500: [string, number][];
  sameName: string[][];
  unknownRooms: string[];
}
const graph = (root?: string) => importGraph(root) as Graph;

describe("the import graph of src/", () => {
  const g = graph();
  it("has no circles", () => {
    expect(g.files).toBeGreaterThan(50);
    expect(g.circles).toEqual([]);
  });
  it("has no arrow from a lower room to a higher one, and nothing imports an entry file", () => {
    expect(g.upward).toEqual([]);
    expect(g.unknownRooms).toEqual([]);
  });
  it("has no two files of one name (index.ts aside)", () => {
    expect(g.sameName).toEqual([]);
  });
  it("has no TypeScript file far over 500 lines", () => {
    expect(g.over500.filter(([, n]) => n > 560)).toEqual([]);
  });
});

describe("the checks can fail", () => {
  const root = mkdtempSync(join(tmpdir(), "nrc-graph-"));
  const put = (rel: string, text: string) => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  put("errors.ts", 'import { x } from "./backends/a.js";\nexport const e = x;\n');
  put("backends/a.ts", 'import { e } from "../errors.js";\nexport const x = e;\n');
  put("metrics/m.ts", 'import { y } from "../engine/e.js";\nexport const m = y;\n');
  put("engine/e.ts", 'import "../index.js";\nexport const y = 1;\n');
  put("index.ts", 'export { m } from "./metrics/m.js";\n');
  put("linalg/m.ts", "export const z = 1;\n");
  put("io/m.ts", `${"// line\n".repeat(600)}`);
  const bad = graph(root);
  rmSync(root, { recursive: true });
  it("finds a circle, upward arrows, an imported entry, a repeated name and a long file", () => {
    expect(bad.circles.map((c) => [...c].sort().join(" ")).sort()).toEqual([
      "backends/a.ts errors.ts",
      "engine/e.ts index.ts metrics/m.ts",
    ]);
    expect(bad.upward.some((u) => u.includes("errors.ts -> backends/a.ts"))).toBe(true);
    expect(bad.upward.some((u) => u.includes("metrics/m.ts -> engine/e.ts"))).toBe(true);
    expect(bad.upward.some((u) => u.includes("imports an entry file"))).toBe(true);
    expect(bad.sameName.length).toBe(1);
    expect(bad.over500.map(([f]) => f)).toEqual(["io/m.ts"]);
  });
});
