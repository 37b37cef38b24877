/**
 * The packed artifact, as a new user gets it: build (tsup) into a staging copy, `npm pack`, install
 * the tarball into a fresh project (offline; the dependency ml-matrix from the npm cache, or the
 * repository's copy when the cache lacks it), then: ESM import and CJS require of every subpath
 * with no optional peer installed, a strict `tsc` without `skipLibCheck` on a file importing every
 * subpath, the tarball ≤ 1.5 MB, the wasm base64 once per format, no source maps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "node_modules", ".bin");
const SUBPATHS = [
  "deep-nrc",
  "deep-nrc/node",
  "deep-nrc/report",
  "deep-nrc/tfjs",
  "deep-nrc/webgpu",
];
// "\0asm" in base64: the start of every embedded WebAssembly module.
const WASM_MAGIC = "AGFzbQ";

let tmp: string;
let tgz: string;
let proj: string;
let installedBy = "";

const sh = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deep-nrc-pack-"));
  const stage = join(tmp, "stage");
  mkdirSync(stage);
  for (const f of ["package.json", "README.md", "LICENSE"]) cpSync(join(ROOT, f), join(stage, f));
  // The real build, into the staging copy (the checkout's dist/ is left alone).
  sh(join(BIN, "tsup"), ["--out-dir", join(stage, "dist")], ROOT);
  const packed = JSON.parse(
    sh("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", tmp], stage),
  ) as { filename: string }[];
  tgz = join(tmp, packed[0].filename);
  proj = join(tmp, "proj");
  mkdirSync(proj);
  writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  const npmInstall = spawnSync(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tgz],
    { cwd: proj, encoding: "utf8" },
  );
  if (npmInstall.status === 0) installedBy = "npm install --offline";
  else {
    // No network and ml-matrix not in the cache: unpack the tarball and link the dependency.
    const nm = join(proj, "node_modules");
    mkdirSync(join(nm, "deep-nrc"), { recursive: true });
    sh("tar", ["-xzf", tgz, "-C", join(nm, "deep-nrc"), "--strip-components=1"], proj);
    for (const dep of [
      "ml-matrix",
      "ml-array-rescale",
      "ml-array-max",
      "ml-array-min",
      "is-any-array",
    ])
      if (existsSync(join(ROOT, "node_modules", dep)))
        symlinkSync(join(ROOT, "node_modules", dep), join(nm, dep));
    installedBy = `unpacked (npm install failed: ${npmInstall.stderr.split("\n")[0]})`;
  }
  // A typical TypeScript consumer on Node: typescript and @types/node, no optional peer.
  mkdirSync(join(proj, "node_modules", "@types"), { recursive: true });
  symlinkSync(
    join(ROOT, "node_modules", "@types", "node"),
    join(proj, "node_modules", "@types", "node"),
  );
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const node = (args: string[]) =>
  spawnSync(process.execPath, args, {
    cwd: proj,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "" },
  });

describe("the npm tarball", () => {
  it("is at most 1.5 MB, holds no source maps, and the wasm base64 once per format", () => {
    console.log(`tarball ${statSync(tgz).size} bytes; installed by ${installedBy}`);
    expect(statSync(tgz).size).toBeLessThanOrEqual(1.5 * 2 ** 20);
    const dist = join(proj, "node_modules", "deep-nrc", "dist");
    const files = readdirSync(dist);
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    const withWasm = files.filter(
      (f) => /\.(c?js)$/.test(f) && readFileSync(join(dist, f), "utf8").includes(WASM_MAGIC),
    );
    expect(withWasm.filter((f) => f.endsWith(".cjs"))).toHaveLength(1);
    expect(withWasm.filter((f) => f.endsWith(".js"))).toHaveLength(1);
    for (const peer of ["@tensorflow/tfjs-core", "vega", "vega-lite", "webgpu"])
      expect(existsSync(join(proj, "node_modules", peer)), peer).toBe(false);
    const pkg = JSON.parse(readFileSync(join(dist, "..", "package.json"), "utf8"));
    expect(pkg.repository.url).toMatch(/^git\+https:\/\/github\.com\//);
    expect(pkg.homepage).toMatch(/^https:\/\//);
  });

  it("ESM: every subpath imports without its optional peer, and measureNRC runs", () => {
    const code = `
      for (const p of ${JSON.stringify(SUBPATHS)}) { const m = await import(p); if (!Object.keys(m).length) throw new Error(p); }
      const { measureNRC, makeSyntheticNetwork, formatReport } = await import("deep-nrc");
      const r = await measureNRC(makeSyntheticNetwork({ samples: 64, layers: 2, width: 8 }));
      console.log("esm ok " + r.layers.length + " " + formatReport(r).split("\\n").length);
    `;
    const r = node(["--input-type=module", "-e", code]);
    expect(r.stderr + r.stdout).toMatch(/esm ok 2 \d+/);
    expect(r.status).toBe(0);
  });

  it("CJS: every subpath requires without its optional peer, and the wasm backend starts", () => {
    const code = `
      for (const p of ${JSON.stringify(SUBPATHS)}) { const m = require(p); if (!Object.keys(m).length) throw new Error(p); }
      const { wasmBackend, linearCKA } = require("deep-nrc");
      (async () => {
        const k = await wasmBackend({ threads: 2 }).init();
        const v = await linearCKA([[1, 0], [0, 1], [2, 1]], [[1], [0], [2]], { backend: k });
        await k.dispose();
        console.log("cjs ok " + k.threads + " " + v.toFixed(6));
      })();
    `;
    const r = node(["-e", code]);
    expect(r.stderr + r.stdout).toMatch(/cjs ok 2 0\.\d{6}/);
    expect(r.status).toBe(0);
  });

  it("types: tsc --strict without skipLibCheck, every subpath, no tfjs-core installed", () => {
    writeFileSync(
      join(proj, "use.ts"),
      `import { measureNRC, type NRCReport } from "deep-nrc";
import { openFileSource } from "deep-nrc/node";
import { renderReportHTML } from "deep-nrc/report";
import { tfjsBackend, measureNRC as measureTf } from "deep-nrc/tfjs";
import { webgpuBackend } from "deep-nrc/webgpu";
export const uses = [measureNRC, openFileSource, renderReportHTML, tfjsBackend, measureTf, webgpuBackend];
export type R = NRCReport;
`,
    );
    writeFileSync(
      join(proj, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          lib: ["es2022"],
          types: ["node"],
        },
        files: ["use.ts"],
      }),
    );
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "."],
      {
        cwd: proj,
        encoding: "utf8",
      },
    );
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
