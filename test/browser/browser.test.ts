/**
 * deep-nrc in a browser, end to end: the core bundles for the browser platform with no Node
 * built-in, and the demo page (examples/browser) measured in headless Chromium shows the same
 * numbers as the same computation done here in Node.
 *
 * The page is served from a tiny HTTP server on 127.0.0.1 (random port) with the cross-origin
 * isolation headers, so the WASM backend runs its threads; a second load without them checks the
 * one-thread fallback. WebGPU runs on Chromium's SwiftShader software adapter where it starts.
 * Skips, with the reason, when Chromium cannot be launched (CI: scripts/ci-chromium-setup.sh).
 */
import { build } from "esbuild";
import { mkdtempSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBrowserDemo } from "../../examples/browser/build.js";
import { DEMO_NETWORK } from "../../examples/browser/config.js";
import type { DemoState } from "../../examples/browser/demo.js";
import { serveStatic } from "../../examples/browser/serve.js";
import {
  jsBackend,
  makeSyntheticNetwork,
  measureNRC,
  pinvPredictMSE,
  type NRCReport,
} from "../../src/index.js";
import { launchChromium } from "../viz/chromium.js";

const METRICS = ["nrc1", "nrc2", "nrc3", "nrc4", "stableRankFeatures", "stableRankWeight"] as const;

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Largest |a − b| / (|b| + floor/rel) over all metrics, and whether all are within tolerance. */
function compare(a: NRCReport, b: NRCReport, rel: number, abs: number) {
  let worst = 0;
  const bad: string[] = [];
  expect(a.layers.length).toBe(b.layers.length);
  b.layers.forEach((lb, i) => {
    for (const k of METRICS) {
      const x = a.layers[i][k];
      const y = lb[k];
      if (x === null || y === null) {
        if (x !== y) bad.push(`layer ${i} ${k}: ${x} vs ${y}`);
        continue;
      }
      const err = Math.abs(x - y);
      worst = Math.max(worst, err / Math.max(Math.abs(y), abs / rel));
      if (err > rel * Math.abs(y) + abs) bad.push(`layer ${i} ${k}: ${x} vs ${y}`);
    }
  });
  return { worst, bad };
}

describe("the core in a browser bundle", () => {
  it("bundles src/index.ts for the browser with no Node built-in and no Vega", async () => {
    const res = await build({
      entryPoints: ["src/index.ts"],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(res.metafile.inputs);
    expect(inputs.filter((p) => NODE_BUILTINS.has(p))).toEqual([]);
    expect(inputs.filter((p) => /node_modules\/vega/.test(p))).toEqual([]);
    const imports = Object.values(res.metafile.outputs).flatMap((o) => o.imports);
    expect(imports.map((i) => i.path)).toEqual([]);
    const text = res.outputFiles[0].text;
    expect(text).not.toMatch(/\brequire\(/);
    expect(text).not.toMatch(/from\s*["']node:/);
  });
});

describe("the browser demo in headless Chromium", () => {
  let browser: Browser | null = null;
  let reason = "";
  let root = "";
  let node: NRCReport;
  /** The isolated page's results, shared by the tests that read them. */
  let isolated: DemoState | null = null;
  const servers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "deep-nrc-browser-"));
    const [{ metafile }] = await Promise.all([buildBrowserDemo(root)]);
    // the demo bundle may name Node modules only as strings behind runtime checks, never import them
    const imported = Object.values(metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imported.filter((p) => NODE_BUILTINS.has(p))).toEqual([]);
    const r = await launchChromium([
      "--enable-unsafe-webgpu",
      "--use-webgpu-adapter=swiftshader",
      "--enable-features=Vulkan",
    ]);
    browser = r.browser;
    reason = r.reason ?? "";
    // the same computation in Node, with the float64 JS kernels
    const net = makeSyntheticNetwork({ ...DEMO_NETWORK });
    const modelMSE = await pinvPredictMSE(net.layers[net.layers.length - 1].features, net.targets);
    node = await measureNRC({ ...net, modelMSE, backend: jsBackend });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const close of servers) await close();
  });

  async function open(isolate: boolean): Promise<{ page: Page; state: DemoState; log: string[] }> {
    const { url, close } = await serveStatic(root, { isolate });
    servers.push(close);
    const page = await browser!.newPage({ viewport: { width: 1300, height: 1000 } });
    const log: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") log.push(`console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
    page.on("request", (r) => {
      if (!r.url().startsWith(url) && !r.url().startsWith("blob:") && !r.url().startsWith("data:"))
        log.push(`request outside the server: ${r.url()}`);
    });
    await page.goto(url);
    await page.waitForFunction(
      () =>
        (window as { __deepNRC?: DemoState }).__deepNRC?.status !== "running" &&
        (window as { __deepNRC?: DemoState }).__deepNRC !== undefined,
      null,
      { timeout: 90_000 },
    );
    const state = await page.evaluate(() => (window as { __deepNRC?: DemoState }).__deepNRC!);
    return { page, state, log };
  }

  it("measures the network in the page (JS, WASM threads, WebGPU) and shows Node's numbers", async (ctx) => {
    if (!browser) return ctx.skip(reason);
    const { page, state, log } = await open(true);
    isolated = state;
    expect(state.error).toBeUndefined();
    expect(state.status).toBe("done");
    expect(log).toEqual([]);
    expect(state.network).toEqual(DEMO_NETWORK);
    expect(Math.abs(state.modelMSE! - node.modelMSE!)).toBeLessThanOrEqual(1e-12 * node.modelMSE!);

    const by = Object.fromEntries(state.results.map((r) => [r.backend, r]));
    // The JS backend in Chromium's V8 runs the same float64 code as here.
    expect(by.js.ok).toBe(true);
    const js = compare(by.js.report!, node, 1e-12, 1e-15);
    expect(js.bad).toEqual([]);

    // WASM: float64 SIMD kernels, summed in another order; NRC1 of collapsed layers (≈1e-9)
    // is held to the absolute bound the core promises (1e-14).
    expect(by.wasm.ok, by.wasm.error).toBe(true);
    const wasm = compare(by.wasm.report!, node, 1e-9, 1e-14);
    expect(wasm.bad).toEqual([]);
    expect(state.crossOriginIsolated).toBe(true);
    // Chromium has relaxed SIMD (since 114), so the page gets the fused multiply-add build.
    if (state.cores >= 2) expect(by.wasm.info).toMatch(/^[2-8] threads, FMA$/);

    // The page's table shows WebGPU's numbers where an adapter exists, else WASM's: check each
    // cell against Node.
    const gpuRan = state.results.some((r) => r.backend === "webgpu" && r.ok);
    expect(state.shown).toBe(gpuRan ? "webgpu" : "wasm");
    expect(await page.textContent("#shown")).toBe(state.shown);
    const cells = await page.$$eval("#layer-table td[data-metric]", (tds) =>
      tds.map((td) => ({
        layer: Number(td.getAttribute("data-layer")),
        metric: td.getAttribute("data-metric")!,
        value: td.getAttribute("data-value")!,
        text: td.textContent!,
      })),
    );
    expect(cells.length).toBe(DEMO_NETWORK.layers * METRICS.length);
    for (const c of cells) {
      const v = node.layers[c.layer][c.metric as (typeof METRICS)[number]];
      if (v === null) {
        expect(c.value).toBe("null");
        continue;
      }
      const full = Number(c.value);
      expect(Math.abs(full - v)).toBeLessThanOrEqual(1e-9 * Math.abs(v) + 1e-14);
      // the visible text: 4 significant digits of the same number
      const shown = Number(c.text.replace(/e(-?\d+)$/, "e$1"));
      expect(Math.abs(shown - v)).toBeLessThanOrEqual(5.01e-4 * Math.abs(v) + 1e-14);
    }

    // The figures, drawn in the page: one point per layer.
    const figs = await page.$$eval("#figures figure", (fs) =>
      fs.map((f) => ({
        name: f.getAttribute("data-figure"),
        points: f.querySelectorAll(".points_marks path").length,
        w: f.getBoundingClientRect().width,
      })),
    );
    expect(figs.map((f) => f.name)).toEqual(["nrc1", "nrc2", "nrc3", "nrc4", "stableRank"]);
    for (const f of figs) {
      expect(f.points).toBe(
        f.name === "stableRank" ? 2 * DEMO_NETWORK.layers : DEMO_NETWORK.layers,
      );
      expect(f.w).toBeGreaterThan(300);
    }
    const png = join(root, "demo.png");
    await page.screenshot({ path: png, fullPage: true });
    console.log(
      `browser demo: js ${by.js.ms!.toFixed(0)} ms, wasm ${by.wasm.ms!.toFixed(0)} ms (${by.wasm.info}), ` +
        `max rel. diff vs Node: js ${js.worst.toExponential(1)}, wasm ${wasm.worst.toExponential(1)}; ` +
        `screenshot ${png}`,
    );
    await page.close();
  });

  it("runs WebGPU in the page where an adapter exists (exact: Node's numbers to float64 accuracy)", async (ctx) => {
    if (!browser) return ctx.skip(reason);
    const state = isolated;
    if (!state) return ctx.skip("the page did not load in the previous test");
    const gpu = state.results.find((r) => r.backend === "webgpu")!;
    if (!gpu.ok) return ctx.skip(`no WebGPU adapter in this Chromium: ${gpu.error}`);
    // Exact integer-slice Grams, float64 kernels in WASM: held to the WASM bound, collapsed
    // layers included.
    const { worst, bad } = compare(gpu.report!, node, 1e-9, 1e-14);
    expect(bad).toEqual([]);
    console.log(
      `browser demo: webgpu ${gpu.ms!.toFixed(0)} ms, max rel. diff vs Node ${worst.toExponential(1)}`,
    );
  });

  it("falls back to one WASM thread without cross-origin isolation, same numbers", async (ctx) => {
    if (!browser) return ctx.skip(reason);
    const { page, state, log } = await open(false);
    await page.close();
    expect(log).toEqual([]);
    expect(state.crossOriginIsolated).toBe(false);
    const wasm = state.results.find((r) => r.backend === "wasm")!;
    expect(wasm.ok, wasm.error).toBe(true);
    expect(wasm.info).toMatch(/^1 thread\b/);
    expect(compare(wasm.report!, node, 1e-9, 1e-14).bad).toEqual([]);
  });
});
