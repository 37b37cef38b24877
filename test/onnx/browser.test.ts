/**
 * `deep-nrc/onnx` in a browser: `src/onnx` bundles for the browser platform with no Node built-in
 * (the path-reading branch imports node:fs through a variable), and in headless Chromium
 * `measureONNX` on a PyTorch-exported fixture (ONNX Runtime Web's WASM build, model as bytes)
 * reports what it reports in Node. The Chromium part skips, with the reason, when Chromium cannot
 * be launched (CI: scripts/ci-chromium-setup.sh).
 */
import { build } from "esbuild";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveStatic } from "../../examples/browser/serve.js";
import { measureONNX } from "../../src/onnx/index.js";
import { readNpy } from "../../src/io/npy.js";
import { memorySource } from "../../src/io/source.js";
import type { NRCReport } from "../../src/engine/report.js";
import { launchChromium } from "../viz/chromium.js";

const ROOT = join(import.meta.dirname, "..", "..");
const FIX = join(ROOT, "test", "fixtures", "onnx");
const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

const PAGE = `
import * as ort from "onnxruntime-web";
import { measureONNX } from "./src/onnx/index.ts";
ort.env.wasm.numThreads = 1;
// the default bundle embeds the JSEP (WebGPU-capable) glue; its binary is fetched from here
ort.env.wasm.wasmPaths = { wasm: new URL("ort-wasm-simd-threaded.jsep.wasm", location.href).href };
(async () => {
  try {
    const model = new Uint8Array(await (await fetch("model.onnx")).arrayBuffer());
    const d = await (await fetch("data.json")).json();
    const report = await measureONNX({
      model,
      inputs: { data: Float32Array.from(d.x), shape: d.shape },
      targets: { rows: d.shape[0], cols: d.cols, data: Float64Array.from(d.y) },
      batchRows: 50,
    });
    window.__onnx = { report };
  } catch (e) {
    window.__onnx = { error: String((e && e.stack) || e) };
  }
})();
`;

async function bundle(outfile?: string) {
  return build({
    stdin: { contents: PAGE, resolveDir: ROOT, loader: "ts", sourcefile: "page.ts" },
    bundle: true,
    write: outfile !== undefined,
    outfile,
    format: "esm",
    platform: "browser",
    metafile: true,
    logLevel: "silent",
  });
}

describe("deep-nrc/onnx in a browser", () => {
  let browser: Browser | null = null;
  let reason = "";
  let close: (() => Promise<void>) | null = null;

  beforeAll(async () => {
    const r = await launchChromium();
    browser = r.browser;
    reason = r.reason ?? "";
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await close?.();
  });

  it("bundles for the browser with no Node built-in", async () => {
    const res = await bundle();
    const inputs = Object.keys(res.metafile!.inputs);
    expect(inputs.filter((p) => NODE_BUILTINS.has(p))).toEqual([]);
    expect(inputs.some((p) => /onnxruntime-web/.test(p))).toBe(true);
    // The native runtime is imported by a variable specifier: never bundled.
    expect(inputs.filter((p) => /onnxruntime-node/.test(p))).toEqual([]);
    const imports = Object.values(res.metafile!.outputs).flatMap((o) => o.imports);
    expect(imports.filter((i) => !i.external).map((i) => i.path)).toEqual([]);
  }, 60_000);

  it("measureONNX in headless Chromium equals Node's", async (ctx) => {
    if (!browser) return ctx.skip(reason);
    const dir = mkdtempSync(join(tmpdir(), "deep-nrc-onnx-browser-"));
    await bundle(join(dir, "page.js"));
    copyFileSync(join(FIX, "mlp_bias.onnx"), join(dir, "model.onnx"));
    const wasm = "ort-wasm-simd-threaded.jsep.wasm";
    copyFileSync(join(ROOT, "node_modules", "onnxruntime-web", "dist", wasm), join(dir, wasm));
    const x = await readNpy(
      memorySource(new Uint8Array(readFileSync(join(FIX, "mlp_bias.inputs.npy")))),
    );
    const y = await readNpy(
      memorySource(new Uint8Array(readFileSync(join(FIX, "mlp_bias.targets.npy")))),
    );
    writeFileSync(
      join(dir, "data.json"),
      JSON.stringify({
        x: Array.from(x.data),
        shape: x.shape,
        y: Array.from(y.data),
        cols: y.shape[1],
      }),
    );
    writeFileSync(
      join(dir, "index.html"),
      `<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>`,
    );
    const served = await serveStatic(dir, { isolate: false });
    close = served.close;
    const page = await browser.newPage();
    const log: string[] = [];
    page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
    page.on("console", (m) => log.push(`console ${m.type()}: ${m.text()}`));
    page.on("requestfailed", (r) => log.push(`request failed: ${r.url()}`));
    await page.goto(served.url);
    await page
      .waitForFunction(() => (window as { __onnx?: unknown }).__onnx !== undefined, null, {
        timeout: 60_000,
      })
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${log.join("\n")}`);
      });
    const got = await page.evaluate(
      () => (window as unknown as { __onnx: { report?: NRCReport; error?: string } }).__onnx,
    );
    expect(got.error, log.join("\n")).toBeUndefined();
    const node = await measureONNX({
      model: join(FIX, "mlp_bias.onnx"),
      inputs: { data: x.data, shape: x.shape },
      targets: { rows: y.shape[0], cols: y.shape[1], data: y.data },
      batchRows: 50,
      // The browser runs ONNX Runtime Web's WASM build: the same runtime in Node (whose default
      // is onnxruntime-node, whose float32 kernels round differently, ~1e-9 on NRC1).
      runtime: "onnxruntime-web",
    });
    expect(node.model.runtime).toMatch(/^onnxruntime-web/);
    const r = got.report!;
    expect(r.layers.map((l) => l.name)).toEqual(node.layers.map((l) => l.name));
    r.layers.forEach((l, i) => {
      for (const k of ["nrc1", "nrc2", "nrc3", "nrc4", "stableRankFeatures"] as const) {
        const a = l[k] as number;
        const b = node.layers[i][k] as number;
        expect(Math.abs(a - b) / Math.abs(b), `layer ${i} ${k}: ${a} vs ${b}`).toBeLessThanOrEqual(
          1e-12,
        );
      }
    });
    await page.close();
  }, 120_000);
});
