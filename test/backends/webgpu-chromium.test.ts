/**
 * The WebGPU backend in a browser (exact by default; the float32 pass too), and `measureNRC` on it
 * against Node's wasm backend: Debian's headless Chromium (`--enable-unsafe-webgpu`; on a
 * machine without a GPU Chromium offers its SwiftShader Vulkan fallback adapter), the backend
 * bundled with esbuild and loaded as an ES module from a secure (https) origin served by
 * playwright's request routing. Skipped, with the reason, when Chromium or an adapter is missing.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../viz/chromium.js";
import { KERNEL_BOUND } from "./f32-suite.js";
import { measureNRC, type NRCReport } from "../../src/index.js";
import { loadFixture, type FixtureMatrix } from "../helpers/fixtures.js";

const ORIGIN = "https://deep-nrc.test";

/** Runs in the page (a string, so that no test-runner transform leaks into it). */
const PAGE_CHECK = `(async () => {
  const mod = await import("${ORIGIN}/webgpu.js");
  let k, k32;
  try {
    k = await mod.webgpuBackend().init();
    k32 = await mod.webgpuBackend({ device: k.device, precision: "float32" }).init();
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
  const g32 = await k32.gram(a);
  const out = {
    adapter: k.adapterInfo,
    precision: k.precision,
    tGram,
    gram: err(g, cross(a, a), a, a),
    crossProd: err(x, cross(a, b), a, b),
    gramShifted: err(gc, cross(c, c), c, c),
    gram32: err(g32, cross(a, a), a, a),
  };
  await k32.dispose();
  await k.dispose();
  return out;
})()`;

/** Runs measureNRC with the webgpu backend in the page on layers passed in as plain arrays. */
const PAGE_MEASURE = `async ({ layers, targets, r }) => {
  const mod = await import("${ORIGIN}/webgpu.js");
  const mat = (m) => ({ rows: m.rows, cols: m.cols, data: Float64Array.from(m.data) });
  const rep = await mod.measureNRC({
    layers: layers.map((l) => ({ name: l.name, features: mat(l.features), weight: mat(l.weight) })),
    targets: mat(targets),
    r,
    backend: mod.webgpuBackend(),
  });
  return JSON.parse(JSON.stringify(rep));
}`;

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
      const src = (p: string) => new URL(p, import.meta.url).pathname;
      const bundle = await build({
        stdin: {
          contents: `export { webgpuBackend } from ${JSON.stringify(src("../../src/backends/webgpu/index.ts"))};
export { measureNRC } from ${JSON.stringify(src("../../src/index.ts"))};`,
          resolveDir: src("."),
          loader: "ts",
        },
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
        | {
            adapter: string;
            precision: string;
            tGram: number;
            gram: number;
            crossProd: number;
            gramShifted: number;
            gram32: number;
          };
      if ("error" in r) {
        ctx.skip(`no WebGPU adapter in this Chromium: ${r.error}`);
        return;
      }
      if (process.env.NRC_PRINT_ACCURACY) console.log("webgpu in Chromium:", r);
      expect(r.adapter.length).toBeGreaterThan(0);
      expect(r.precision).toBe("exact");
      expect(r.gram).toBeLessThanOrEqual(1e-13);
      expect(r.crossProd).toBeLessThanOrEqual(1e-13);
      expect(r.gramShifted).toBeLessThanOrEqual(1e-13);
      expect(r.gram32).toBeLessThanOrEqual(KERNEL_BOUND);
    });

    it("measureNRC on the trained-like layers (collapsed included) equals Node's wasm to the contract", async (ctx) => {
      const fx = loadFixture("trained") as unknown as {
        r: number;
        targets: FixtureMatrix;
        cases: { name: string; features: FixtureMatrix; weight: FixtureMatrix }[];
      };
      const plain = (m: FixtureMatrix) => ({
        rows: m.rows,
        cols: m.cols,
        data: Array.from(m.data),
      });
      const arg = {
        layers: fx.cases.map((c) => ({
          name: c.name,
          features: plain(c.features),
          weight: plain(c.weight),
        })),
        targets: plain(fx.targets),
        r: fx.r,
      };
      let got: NRCReport;
      try {
        got = (await page!.evaluate(`(${PAGE_MEASURE})(${JSON.stringify(arg)})`)) as NRCReport;
      } catch (e) {
        if (/adapter/.test(String(e))) return ctx.skip(`no WebGPU adapter: ${String(e)}`);
        throw e;
      }
      const want = await measureNRC({
        layers: fx.cases.map((c) => ({ name: c.name, features: c.features, weight: c.weight })),
        targets: fx.targets,
        r: fx.r,
        backend: "wasm",
      });
      expect(got.backend).toBe("webgpu");
      const worst: Record<string, number> = {};
      // The trained-like layers' contract (test/golden/trained-suite.ts): NRC1 and NRC4 to 1e-6
      // relative plus 1e-16 / 1e-20, the rest to 1e-8.
      const near = (
        g: number | null | undefined,
        w: number | null | undefined,
        rel: number,
        abs: number,
        what: string,
      ) => {
        expect(g, what).not.toBeNull();
        const key = what.split(" ").slice(1).join(" ");
        worst[key] = Math.max(
          worst[key] ?? 0,
          Math.abs((g as number) - (w as number)) / Math.abs(w as number),
        );
        expect(Math.abs((g as number) - (w as number)), what).toBeLessThanOrEqual(
          rel * Math.abs(w as number) + abs,
        );
      };
      want.layers.forEach((w, i) => {
        const g = got.layers[i];
        near(g.nrc1, w.nrc1, 1e-6, 1e-16, `${w.name} nrc1`);
        near(g.nrc4, w.nrc4, 1e-6, 1e-20, `${w.name} nrc4`);
        near(g.nrc2, w.nrc2, 1e-8, 0, `${w.name} nrc2`);
        near(g.nrc3, w.nrc3, 1e-8, 0, `${w.name} nrc3`);
        near(g.stableRankFeatures, w.stableRankFeatures, 1e-8, 0, `${w.name} stable rank`);
        near(g.intrinsic?.nrc1, w.intrinsic?.nrc1, 1e-6, 1e-16, `${w.name} nrc1 at r`);
        near(g.intrinsic?.nrc3, w.intrinsic?.nrc3, 1e-8, 0, `${w.name} nrc3 at r`);
      });
      if (process.env.NRC_PRINT_ACCURACY)
        console.log("Chromium webgpu vs Node wasm (worst |Δ|/|v|):", worst);
    });
  });
}
