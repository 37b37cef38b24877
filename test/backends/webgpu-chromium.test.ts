/**
 * The WebGPU backend in a browser: Debian's headless Chromium (`--enable-unsafe-webgpu`; on a
 * machine without a GPU Chromium offers its SwiftShader Vulkan fallback adapter), the backend
 * bundled with esbuild and loaded as an ES module from a secure (https) origin served by
 * playwright's request routing. Skipped, with the reason, when Chromium or an adapter is missing.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../viz/chromium.js";
import { KERNEL_BOUND } from "./f32-suite.js";

const ORIGIN = "https://deep-nrc.test";

/** Runs in the page (a string, so that no test-runner transform leaks into it). */
const PAGE_CHECK = `(async () => {
  const mod = await import("${ORIGIN}/webgpu.js");
  let k;
  try {
    k = await mod.webgpuBackend().init();
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
  let s = 12345;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  const randn = (m, n, shift) => ({ rows: m, cols: n, data: new Float64Array(m * n).map((_, i) =>
    shift * ((i % n) + 1) + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())) });
  const cross = (a, b) => {
    const n = a.cols, q = b.cols, out = new Float64Array(n * q);
    for (let r = 0; r < a.rows; r++) for (let i = 0; i < n; i++) {
      const v = a.data[r * n + i];
      for (let j = 0; j < q; j++) out[i * q + j] += v * b.data[r * q + j];
    }
    return out;
  };
  const cnorms = (a) => Array.from({ length: a.cols }, (_, j) => {
    let mu = 0; for (let r = 0; r < a.rows; r++) mu += a.data[r * a.cols + j]; mu /= a.rows;
    let s2 = 0; for (let r = 0; r < a.rows; r++) s2 += (a.data[r * a.cols + j] - mu) ** 2;
    return Math.sqrt(s2);
  });
  const err = (got, ref, a, b) => {
    const na = cnorms(a), nb = cnorms(b); let w = 0;
    for (let i = 0; i < a.cols; i++) for (let j = 0; j < b.cols; j++) {
      const e = Math.abs(got.data[i * b.cols + j] - ref[i * b.cols + j]) - 1e-14 * Math.abs(ref[i * b.cols + j]);
      if (e > 0) w = Math.max(w, e / (na[i] * nb[j]));
    }
    return w;
  };
  const a = randn(3000, 64, 0), b = randn(3000, 5, 0), c = randn(1500, 40, 10);
  const t0 = performance.now();
  const g = await k.gram(a);
  const tGram = performance.now() - t0;
  const x = await k.crossProd(a, b);
  const gc = await k.gram(c);
  const out = {
    adapter: k.adapterInfo,
    tGram,
    gram: err(g, cross(a, a), a, a),
    crossProd: err(x, cross(a, b), a, b),
    gramShifted: err(gc, cross(c, c), c, c),
  };
  await k.dispose();
  return out;
})()`;

let browser: Browser | null = null;
let page: Page | null = null;
let reason = "";
const launched = await launchChromium(["--enable-unsafe-webgpu"]);
if (launched.browser) browser = launched.browser;
else reason = launched.reason;

afterAll(async () => {
  await browser?.close();
});

if (!browser) {
  it.skip(`webgpu in Chromium: skipped (${reason})`, () => {});
} else {
  describe("webgpu backend in headless Chromium", () => {
    beforeAll(async () => {
      const bundle = await build({
        entryPoints: [new URL("../../src/backends/webgpu/index.ts", import.meta.url).pathname],
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        external: ["webgpu"],
        write: false,
      });
      const js = bundle.outputFiles[0].text;
      page = await browser!.newPage();
      await page.route(`${ORIGIN}/**`, (route) =>
        route.request().url().endsWith("/webgpu.js")
          ? route.fulfill({ body: js, contentType: "text/javascript" })
          : route.fulfill({
              body: "<!doctype html><title>deep-nrc webgpu</title>",
              contentType: "text/html",
            }),
      );
      await page.goto(`${ORIGIN}/`);
    });

    it("navigator.gpu is there (secure origin) and the kernels match float64 in the page", async (ctx) => {
      const r = (await page!.evaluate(PAGE_CHECK)) as
        | { error: string }
        | { adapter: string; tGram: number; gram: number; crossProd: number; gramShifted: number };
      if ("error" in r) {
        ctx.skip(`no WebGPU adapter in this Chromium: ${r.error}`);
        return;
      }
      if (process.env.NRC_PRINT_ACCURACY) console.log("webgpu in Chromium:", r);
      expect(r.adapter.length).toBeGreaterThan(0);
      expect(r.gram).toBeLessThanOrEqual(KERNEL_BOUND);
      expect(r.crossProd).toBeLessThanOrEqual(KERNEL_BOUND);
      expect(r.gramShifted).toBeLessThanOrEqual(KERNEL_BOUND);
    });
  });
}
