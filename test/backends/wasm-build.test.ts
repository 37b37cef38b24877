/**
 * The committed WebAssembly module must be the build of the committed C sources: rebuilds with
 * `scripts/build-wasm.sh --check` (needs clang and wasm-ld; CI installs them).
 */
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const onPath = (cmd: string) =>
  spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
const missing = ["clang", "wasm-ld"].filter((c) => !onPath(c));

describe("wasm build", () => {
  if (missing.length > 0) {
    it.skip(`module.generated.ts matches the C sources (skipped: ${missing.join(" and ")} not on PATH)`, () => {});
    return;
  }
  it("module.generated.ts matches the C sources (scripts/build-wasm.sh --check)", () => {
    const r = spawnSync("bash", ["scripts/build-wasm.sh", "--check"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(r.status, `build-wasm --check failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/matches the sources/);
  }, 120_000);
});
