/**
 * Regenerates docs/img/report-example.png (the README's picture of the report) and, next to it in
 * a temp dir, the full HTML page. Run: `npx tsx test/viz/make-report-example.ts`.
 *
 * The input is the library's bundled SYNTHETIC network (`makeSyntheticNetwork`: features built to
 * collapse layer by layer, nothing trained), measured for real with `measureNRC`. Two sizes are
 * overlaid to show runs side by side. The "model MSE" is that of a least-squares linear read-out
 * of each net's last layer (what a trained linear head would reach), computed with
 * `pinvPredictMSE`.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { makeSyntheticNetwork, measureNRC, pinvPredictMSE } from "../../src/index.js";
import { renderReportHTML } from "../../src/viz/index.js";
import { launchChromium } from "./chromium.js";

async function main(): Promise<void> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  const runs = [];
  for (const [label, width, seed] of [
    ["width 64", 64, 7],
    ["width 32", 32, 3],
  ] as const) {
    const net = makeSyntheticNetwork({ samples: 2000, layers: 6, width, targets: 3, seed });
    const last = net.layers[net.layers.length - 1].features;
    const modelMSE = await pinvPredictMSE(last, net.targets);
    runs.push({ label, report: await measureNRC({ ...net, modelMSE }) });
  }
  const html = await renderReportHTML(runs, {
    title: "deep-nrc report: a synthetic 6-layer network, two widths",
  });
  const dir = mkdtempSync(join(tmpdir(), "deep-nrc-example-"));
  const file = join(dir, "report-example.html");
  writeFileSync(file, html);
  const { browser, reason } = await launchChromium();
  if (!browser) throw new Error(reason);
  const page = await browser.newPage({ viewport: { width: 1180, height: 900 } });
  await page.goto(pathToFileURL(file).href);
  const bottom = await page.evaluate(
    () => document.querySelector(".figures")!.getBoundingClientRect().bottom + window.scrollY + 16,
  );
  const out = join(root, "docs/img/report-example.png");
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({
    path: out,
    fullPage: true,
    clip: { x: 0, y: 0, width: 1180, height: bottom },
  });
  await browser.close();
  console.log(`wrote ${out} and ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
