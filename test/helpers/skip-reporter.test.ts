/**
 * The skip reporter (vitest.config.ts) lists each skipped suite or test with its reason.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

describe("skip reasons in the test output", () => {
  it("one line per skipped suite, the ctx.skip note included", () => {
    // A config of its own: the fixture only, this project's reporters.
    const tmp = mkdtempSync(join(tmpdir(), "deep-nrc-skips-"));
    const config = join(tmp, "vitest.config.mjs");
    writeFileSync(
      config,
      `import SkipReasons from ${JSON.stringify(join(ROOT, "test", "helpers", "skip-reporter.ts"))};
export default { test: { root: ${JSON.stringify(ROOT)}, include: ["test/fixtures/skips/*.check.ts"], reporters: ["default", new SkipReasons()] } };`,
    );
    const r = spawnSync(join(ROOT, "node_modules", ".bin", "vitest"), ["run", "--config", config], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, CI: "1", NO_COLOR: "1" },
    });
    rmSync(tmp, { recursive: true, force: true });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/Skipped, with the reasons:/);
    expect(out).toMatch(
      /↓ test\/fixtures\/skips\/demo\.check\.ts › a suite skipped: no such tool on PATH \(2 tests\)\n/,
    );
    expect(out).toMatch(
      /↓ test\/fixtures\/skips\/demo\.check\.ts › a test that skips itself: no browser here\n/,
    );
    expect(out).not.toMatch(/› a test that runs/);
  });
});
