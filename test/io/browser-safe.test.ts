/**
 * The readers' barrel (src/io/index.ts) must stay browser-safe: follow its relative imports and
 * check that nothing reachable imports a Node built-in.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const SRC = join(import.meta.dirname, "..", "..", "src");

function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, "utf8");
    const specs = [
      ...text.matchAll(/(?:import|export)[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g),
    ].map((m) => m[1] ?? m[2]);
    seen.set(file, specs);
    for (const s of specs)
      if (s.startsWith(".")) stack.push(resolve(dirname(file), s.replace(/\.js$/, ".ts")));
  }
  return seen;
}

describe("src/io/index.ts is browser-safe", () => {
  it("reaches no Node built-in", () => {
    const graph = reachable(join(SRC, "io", "index.ts"));
    expect(graph.size).toBeGreaterThanOrEqual(5);
    for (const [file, specs] of graph) {
      const bad = specs.filter(
        (s) =>
          s.startsWith("node:") ||
          /^(fs|path|os|url|util|child_process|worker_threads)(\/|$)/.test(s),
      );
      expect(bad, file).toEqual([]);
    }
    expect([...graph.keys()].some((f) => f.includes(`${SRC}/node/`))).toBe(false);
  });

  it("the file source does use node:fs (so the check above can fail)", () => {
    const graph = reachable(join(SRC, "node", "file-source.ts"));
    expect(graph.get(join(SRC, "node", "file-source.ts"))).toContain("node:fs/promises");
  });
});
