/**
 * The README as the npm page shows it (issue 21): the tarball ships only dist/, so every link
 * into the repository must be absolute, built from package.json's `repository` field, and must
 * name a file or folder that exists here; the ONNX install line names every optional package the
 * command beside it uses.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  repository: { url: string };
};
const repo = pkg.repository.url.replace(/^git\+/, "").replace(/\.git$/, "");
const raw = repo.replace("https://github.com/", "https://raw.githubusercontent.com/");

describe("README links work from the npm page", () => {
  const links = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);

  it("no relative link", () => {
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((l) => !/^(https?:|#|mailto:)/.test(l))).toEqual([]);
  });

  it("every repository link is built from the repository field and names an existing path", () => {
    const ours = links.filter((l) => l.startsWith(repo) || l.startsWith(raw));
    expect(ours.length).toBeGreaterThan(5);
    for (const l of ours) {
      const m = /^(?:\/(blob|tree)\/main\/|\/main\/)(.+)$/.exec(
        l.slice((l.startsWith(raw) ? raw : repo).length),
      );
      expect(m, l).not.toBeNull();
      const path = join(ROOT, m![2].split("#")[0]);
      expect(existsSync(path), l).toBe(true);
      if (m![1]) expect(statSync(path).isDirectory(), l).toBe(m![1] === "tree");
    }
  });

  it("the ONNX install line names the packages --report needs too", () => {
    const line = readme.split("\n").find((l) => /^npm i deep-nrc onnxruntime-web/.test(l));
    expect(line).toMatch(/vega vega-lite/);
  });
});
