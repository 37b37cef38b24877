/**
 * Checks the HTML report as a person would see it: rendered by headless Chromium, screenshotted,
 * and the pixels counted. Skips (with the reason) when Chromium cannot start; CI installs it with
 * scripts/ci-chromium-setup.sh. The screenshot is left in a temp dir (path printed) for a look.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderReportHTML } from "../../src/viz/index.js";
import { launchChromium } from "./chromium.js";
import { countColor, decodePNG, inkFraction } from "./png.js";
import { syntheticReport } from "./synthetic.js";

let browser: Browser | null = null;
let reason = "";

beforeAll(async () => {
  const r = await launchChromium();
  browser = r.browser;
  reason = r.reason ?? "";
});

afterAll(async () => {
  await browser?.close();
});

describe("the HTML report in headless Chromium", () => {
  it("says why when no browser can start (the reason the tests below skip with)", async () => {
    const r = await launchChromium([], "/nonexistent/chromium");
    expect(r.browser).toBeNull();
    expect(r.reason).toMatch(
      /^no Chromium at \/nonexistent\/chromium \(run scripts\/ci-chromium-setup\.sh/,
    );
  });

  it("renders without console errors or requests, with every figure drawn", async (ctx) => {
    if (!browser) return ctx.skip(reason);
    const dir = mkdtempSync(join(tmpdir(), "deep-nrc-report-"));
    const runs = [
      { label: "epoch 30", report: syntheticReport({ progress: 0.4, noWeight: [0] }) },
      {
        label: "epoch 300",
        report: syntheticReport({
          progress: 1,
          noWeight: [0],
          zeroNRC1: [7],
          degenerate: [2],
          names: ["in", "fc1", 'fc<&"2', "fc3", "fc4", "fc5", "fc6", "head"],
        }),
      },
    ];
    const html = await renderReportHTML(runs, { title: "Synthetic report (hand-built test data)" });
    const file = join(dir, "report.html");
    writeFileSync(file, html);

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("request", (r) => {
      if (!r.url().startsWith("file:")) requests.push(r.url());
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });

    const info = await page.evaluate(() => {
      const figs = Array.from(document.querySelectorAll("figure")).map((f) => {
        const svg = f.querySelector("svg")!;
        const box = svg.getBoundingClientRect();
        return {
          id: f.id,
          w: box.width,
          h: box.height,
          points: f.querySelectorAll(".points_marks path").length,
          caption: f.querySelector("figcaption")?.textContent ?? "",
        };
      });
      const parseErrors = Array.from(document.querySelectorAll("svg")).filter(
        (s) =>
          new DOMParser()
            .parseFromString(s.outerHTML, "image/svg+xml")
            .querySelector("parsererror") !== null,
      ).length;
      return {
        figs,
        parseErrors,
        scrollWidth: document.documentElement.scrollWidth,
        scripts: document.scripts.length,
        cellText: Array.from(document.querySelectorAll("table.layers td.name")).map(
          (td) => td.textContent,
        ),
      };
    });
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    expect(info.scripts).toBe(0);
    expect(info.parseErrors).toBe(0);
    expect(info.scrollWidth).toBeLessThanOrEqual(1400);
    expect(info.figs.map((f) => f.id)).toEqual([
      "fig-nrc1",
      "fig-nrc2",
      "fig-nrc3",
      "fig-nrc4",
      "fig-stableRank",
    ]);
    for (const f of info.figs) {
      expect(f.w).toBeGreaterThan(300);
      expect(f.h).toBeGreaterThan(200);
      expect(f.caption.length).toBeGreaterThan(50);
    }
    // 8 layers × 2 runs, minus the degenerate layer (and NRC3/weights of the weightless layer 0)
    expect(info.figs.find((f) => f.id === "fig-nrc1")!.points).toBe(15);
    expect(info.figs.find((f) => f.id === "fig-nrc3")!.points).toBe(13);
    expect(info.figs.find((f) => f.id === "fig-stableRank")!.points).toBe(15 + 13);
    // the escaped name reads back as the original text in the browser
    expect(info.cellText).toContain('fc<&"2');

    const png = join(dir, "report.png");
    await page.screenshot({ path: png, fullPage: true });
    await page.close();
    const img = decodePNG(readFileSync(png));
    expect(img.width).toBe(1400);
    expect(img.height).toBeGreaterThan(1500);
    const { ink, colours } = inkFraction(img);
    expect(ink).toBeGreaterThan(0.05);
    expect(colours).toBeGreaterThan(100);
    // the two runs' colours (Tableau blue and orange) are on screen in quantity
    expect(countColor(img, "#4e79a7")).toBeGreaterThan(500);
    expect(countColor(img, "#f28e2b")).toBeGreaterThan(500);
    console.log(`report screenshot: ${png}`);
  });

  it("stays readable on a narrow screen (figures wrap, no horizontal page scroll)", async (ctx) => {
    if (!browser) return ctx.skip(reason);
    const html = await renderReportHTML(syntheticReport({ layers: 100 }));
    const page = await browser.newPage({ viewport: { width: 600, height: 900 } });
    await page.setContent(html, { waitUntil: "load" });
    const m = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      widest: Math.max(
        ...Array.from(document.querySelectorAll("figure")).map(
          (f) => f.getBoundingClientRect().right,
        ),
      ),
    }));
    await page.close();
    expect(m.widest).toBeLessThanOrEqual(600);
    // wide per-layer tables scroll inside their own box, not the page
    expect(m.scroll).toBeLessThanOrEqual(600);
  });
});
