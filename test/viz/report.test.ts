/**
 * Structural tests of the report (`deep-nrc/report`): the SVGs and the HTML page, read with the
 * independent SVG readers in ./svg-utils.ts. Inputs are hand-built SYNTHETIC reports (see
 * ./synthetic.ts), plus one real `measureNRC` report.
 */
import { describe, expect, it } from "vitest";
import { measureNRC } from "../../src/index.js";
import { NRCInputError } from "../../src/errors.js";
import { renderReportHTML, renderReportSVGs, reportSpecs } from "../../src/viz/index.js";
import { fmtNumber } from "../../src/viz/numbers.js";
import { syntheticReport } from "./synthetic.js";
import {
  axis,
  axisTicks,
  countTags,
  markGroups,
  pixelOf,
  texts,
  translates,
  xmlProblem,
} from "./svg-utils.js";

const CORE = ["nrc1", "nrc2", "nrc3", "nrc4", "stableRank"];

function points(svg: string): number {
  return markGroups(svg, "points").reduce((n, g) => n + countTags(g, "path"), 0);
}

describe("renderReportSVGs: figures and marks", () => {
  it("draws the five core figures, one point per layer and run, with axis titles", async () => {
    const L = 8;
    const runs = [
      { label: "epoch 30", report: syntheticReport({ layers: L, progress: 0.4 }) },
      { label: "epoch 300", report: syntheticReport({ layers: L, progress: 1 }) },
    ];
    const svgs = await renderReportSVGs(runs);
    expect(Object.keys(svgs).sort()).toEqual([...CORE].sort());
    for (const name of CORE) {
      const svg = svgs[name as keyof typeof svgs]!;
      expect(svg.startsWith("<svg")).toBe(true);
      expect(xmlProblem(svg)).toBeNull();
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
      // stable rank: two series (features, weights)
      const perRun = name === "stableRank" ? 2 * L : L;
      expect(points(svg)).toBe(perRun * runs.length);
      expect(axis(svg, "X").label).toMatch(/^X-axis titled 'layer'/);
      // the layer axis names the layers (issue 21)
      expect(texts(axis(svg, "X").block)).toContain("3 fc3");
      // the run legend names both runs
      const t = texts(svg);
      expect(t).toContain("epoch 30");
      expect(t).toContain("epoch 300");
    }
    expect(axis(svgs.nrc1, "Y").label).toMatch(
      /^Y-axis titled 'NRC1 \(log scale\)' for a log scale/,
    );
    expect(axis(svgs.nrc2, "Y").label).toMatch(/^Y-axis titled 'NRC2 \(linear CKA\)' for a linear/);
    expect(axis(svgs.nrc3, "Y").label).toMatch(/^Y-axis titled 'NRC3/);
    expect(axis(svgs.nrc4, "Y").label).toMatch(
      /^Y-axis titled 'NRC4 \(MSE, log scale\)' for a log/,
    );
    expect(axis(svgs.stableRank, "Y").label).toMatch(/^Y-axis titled 'stable rank \(log scale\)'/);
  });

  it("puts each point at its value on the axes (read back from the tick labels)", async () => {
    const rep = syntheticReport({ layers: 6, modelMSE: 0.05 });
    const svgs = await renderReportSVGs(rep);
    const cases: [string, (i: number) => number, boolean][] = [
      ["nrc1", (i) => rep.layers[i].nrc1!, true],
      ["nrc2", (i) => rep.layers[i].nrc2!, false],
      ["nrc4", (i) => rep.layers[i].nrc4!, true],
    ];
    for (const [name, value, log] of cases) {
      const svg = svgs[name as "nrc1"];
      const xt = axisTicks(svg, "X");
      const yt = axisTicks(svg, "Y");
      expect(yt.length).toBeGreaterThanOrEqual(2);
      const pos = translates(markGroups(svg, "points")[0]);
      expect(pos.length).toBe(6);
      // Axis groups sit half a pixel off the marks (crisp lines) and tick positions are rounded.
      pos.forEach((p, i) => {
        expect(Math.abs(p.x - pixelOf(xt, i, false))).toBeLessThan(1.5);
        expect(Math.abs(p.y - pixelOf(yt, value(i), log))).toBeLessThan(1.5);
      });
    }
  });

  it("draws the model MSE as a dashed horizontal rule at its value, only when given", async () => {
    const withMSE = await renderReportSVGs(syntheticReport({ modelMSE: 0.03 }));
    const rules = markGroups(withMSE.nrc4, "mse_rule");
    expect(rules.length).toBe(1);
    expect(rules[0]).toMatch(/<line[^>]*stroke-dasharray="6,4"/);
    const yt = axisTicks(withMSE.nrc4, "Y");
    const [pos] = translates(rules[0]);
    expect(Math.abs(pos.y - pixelOf(yt, 0.03, true))).toBeLessThan(1.5);
    expect(texts(withMSE.nrc4).some((t) => t.includes("model MSE = 0.03"))).toBe(true);

    const without = await renderReportSVGs(syntheticReport({ modelMSE: null }));
    expect(markGroups(without.nrc4, "mse_rule")).toEqual([]);
  });

  it("draws the targets' stable rank and the collapse threshold as reference rules", async () => {
    const rep = syntheticReport({ threshold: 1e-4 });
    const svgs = await renderReportSVGs(rep);
    const t = markGroups(svgs.stableRank, "target_rule");
    expect(t.length).toBe(1);
    const [tp] = translates(t[0]);
    expect(Math.abs(tp.y - pixelOf(axisTicks(svgs.stableRank, "Y"), 1.33, true))).toBeLessThan(1.5);
    const th = markGroups(svgs.nrc1, "threshold_rule");
    const [hp] = translates(th[0]);
    expect(Math.abs(hp.y - pixelOf(axisTicks(svgs.nrc1, "Y"), 1e-4, true))).toBeLessThan(1.5);
  });

  it("marks the first collapsed layer with a vertical rule and a label naming it", async () => {
    const names = ["in", "a", "b", "c", "d", "e", "f", 'fc<&"7'];
    const rep = syntheticReport({ names, threshold: 1e-3 });
    // independent of the code: the synthetic NRC1 is 0.8·10^(−6i/7) ≤ 1e-3 from i = 4 on
    expect(rep.firstCollapsedLayer).toBe(4);
    rep.firstCollapsedLayer = 7; // pretend only the last one counts, to show the escaped name
    const svgs = await renderReportSVGs(rep);
    for (const name of CORE) {
      const svg = svgs[name as "nrc1"];
      const rule = markGroups(svg, "collapse_rule");
      expect(rule.length).toBe(1);
      const [p] = translates(rule[0]);
      expect(Math.abs(p.x - pixelOf(axisTicks(svg, "X"), 7, false))).toBeLessThan(1.5);
      expect(texts(svg)).toContain('first collapsed: 7 (fc<&"7)');
      expect(svg).not.toContain('fc<&"7');
      expect(svg).toContain("fc&lt;&amp;");
    }
    const none = await renderReportSVGs(syntheticReport({ progress: 0.1 }));
    expect(markGroups(none.nrc1, "collapse_rule")).toEqual([]);
  });

  it("clamps NRC1 = 0 to the log floor, draws it as ▼ and says so", async () => {
    const rep = syntheticReport({ zeroNRC1: [7] });
    const svgs = await renderReportSVGs(rep, { logFloor: 1e-12 });
    const pts = markGroups(svgs.nrc1, "points")[0];
    const paths = [...pts.matchAll(/<path[^>]*\sd="([^"]+)"/g)].map((m) => m[1]);
    expect(paths.length).toBe(8);
    // circles are drawn with arcs; the clamped triangle has none
    expect(paths.filter((d) => !d.includes("A")).length).toBe(1);
    const yt = axisTicks(svgs.nrc1, "Y");
    const last = translates(pts)[7];
    expect(Math.abs(last.y - pixelOf(yt, 1e-12, true))).toBeLessThan(1.5);
    expect(texts(svgs.nrc1).join(" ")).toContain("drawn at 1e-12");
    const [spec] = reportSpecs(rep, { logFloor: 1e-12 });
    expect(spec.caption).toMatch(/1 value below 1e-12 \(exact zeros included\) is drawn at 1e-12/);
  });

  it("draws no point for a missing value (NRC3 without a weight) and says which", async () => {
    const rep = syntheticReport({ layers: 5, noWeight: [0, 3] });
    const svgs = await renderReportSVGs(rep);
    expect(points(svgs.nrc3)).toBe(3);
    expect(points(svgs.nrc2)).toBe(5);
    expect(points(svgs.stableRank)).toBe(5 + 3);
    const specs = reportSpecs(rep);
    const nrc3 = specs.find((s) => s.name === "nrc3")!;
    expect(nrc3.caption).toContain(
      "No NRC3 value (no point) for 2 layers (no weight given): 0 (fc0), 3 (fc3)",
    );
  });

  it("shades degenerate layers and leaves them without points", async () => {
    const rep = syntheticReport({ layers: 6, degenerate: [1, 2] });
    const svgs = await renderReportSVGs(rep);
    for (const name of CORE) {
      const svg = svgs[name as "nrc1"];
      expect(countTags(markGroups(svg, "degenerate")[0], "path")).toBe(2);
      expect(texts(svg).filter((t) => t === "degenerate").length).toBe(2);
    }
    expect(points(svgs.nrc1)).toBe(4);
  });

  it("handles a single layer", async () => {
    const rep = syntheticReport({ layers: 1 });
    const svgs = await renderReportSVGs(rep);
    for (const name of CORE) {
      const svg = svgs[name as "nrc1"];
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
      expect(xmlProblem(svg)).toBeNull();
      expect(points(svg)).toBe(name === "stableRank" ? 2 : 1);
      expect(axisTicks(svg, "X").map((t) => t.value)).toEqual([0]);
    }
  });

  it("handles 100 layers × 3 runs with a readable layer axis", async () => {
    const runs = [0.3, 0.6, 1].map((p) => ({
      label: `progress ${p}`,
      report: syntheticReport({ layers: 100, progress: p }),
    }));
    const t0 = performance.now();
    const svgs = await renderReportSVGs(runs);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(20_000);
    expect(points(svgs.nrc1)).toBe(300);
    expect(points(svgs.stableRank)).toBe(600);
    const xt = axisTicks(svgs.nrc1, "X");
    expect(xt.length).toBeLessThanOrEqual(12);
    expect(xt[0].value).toBe(0);
  });

  it("overlays many runs (epochs): a rule per run, one label per first-collapsed layer", async () => {
    // progress p: NRC1 of layer i is 0.8·10^(−6p·i/7) ≤ 1e-3 ⇔ i ≥ 7·log10(800)/(6p)
    const ps = Array.from({ length: 12 }, (_, i) => 0.5 + i * 0.1);
    const firsts = ps.map((p) => Math.ceil((7 * Math.log10(800)) / (6 * p) - 1e-9));
    const runs = ps.map((p, i) => ({
      label: `epoch ${i}`,
      report: syntheticReport({ progress: p }),
    }));
    runs.forEach((r, i) =>
      expect(r.report.firstCollapsedLayer).toBe(firsts[i] <= 7 ? firsts[i] : null),
    );
    const svgs = await renderReportSVGs(runs);
    const collapsing = firsts.filter((f) => f <= 7);
    expect(countTags(markGroups(svgs.nrc1, "collapse_rule")[0], "line")).toBe(collapsing.length);
    const labels = texts(svgs.nrc2).filter((t) => t.startsWith("first collapsed"));
    // labels are drawn twice (white halo, then the text)
    expect(labels.length).toBe(2 * new Set(collapsing).size);
    expect(points(svgs.nrc2)).toBe(12 * 8);
  });

  it("adds the intrinsic-dimension figure and NRC1 at r when r was measured", async () => {
    const svgs = await renderReportSVGs(syntheticReport({ layers: 5, r: 2 }));
    expect(svgs.intrinsic).toBeDefined();
    expect(points(svgs.intrinsic!)).toBe(10);
    expect(points(svgs.nrc1)).toBe(10);
    expect(texts(svgs.nrc1)).toContain("NRC1 at r = 2");
    const plain = await renderReportSVGs(syntheticReport({ layers: 5 }));
    expect(plain.intrinsic).toBeUndefined();
  });
});

describe("renderReportHTML", () => {
  it("is self-contained: inline SVG and CSS, no scripts, nothing fetched", async () => {
    const html = await renderReportHTML(syntheticReport(), { title: "T" });
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("<style>");
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|\bsrc=/i);
    // the only URLs are XML namespace names, which are never fetched
    const urls = [...html.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(
      new Set(["http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"]),
    );
    expect((html.match(/<svg /g) ?? []).length).toBe(5);
    for (const f of CORE) expect(html).toContain(`<figure id="fig-${f}"`);
    // ids stay unique across the inlined SVGs
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("escapes layer names and run labels everywhere", async () => {
    const evil = 'x<script>alert("&")</script>';
    const runs = [
      { label: `A ${evil}`, report: syntheticReport({ names: ['fc<&"0', evil] }) },
      { label: "B&C", report: syntheticReport({ degenerate: [3] }) },
    ];
    const html = await renderReportHTML(runs, { title: `Report ${evil}` });
    expect(html).not.toContain("<script");
    expect(html).not.toContain('fc<&"0');
    expect(html).toContain("fc&lt;&amp;&quot;0");
    expect(html).toContain("B&amp;C");
    expect(html).not.toMatch(/B&C(?!amp)/);
    const body = html.slice(html.indexOf("<body>"));
    expect(
      xmlProblem(body.slice(0, body.indexOf("</body>") + 7).replace(/<meta[^>]*>/g, "")),
    ).toBeNull();
  });

  it("tabulates every layer's values, with the full value on hover", async () => {
    const rep = syntheticReport({ layers: 4, noWeight: [0] });
    const html = await renderReportHTML(rep);
    const table = html.slice(html.indexOf('<table class="layers">'));
    const rows = table.slice(0, table.indexOf("</table>")).split("<tr").slice(2);
    expect(rows.length).toBe(4);
    rows.forEach((row, i) => {
      const l = rep.layers[i];
      for (const v of [l.nrc1, l.nrc2, l.nrc4, l.stableRankFeatures]) {
        expect(row).toContain(`title="${String(v)}"`);
      }
    });
    expect(rows[0]).toContain('title="null">—</td>');
  });

  it("shows a real measureNRC report's numbers", async () => {
    // small deterministic example (the SPEC's reference matrices)
    const H = [
      [1, 2, 0],
      [2, 1, 1],
      [3, 5, 1],
      [4, 3, 2],
      [0, 1, 0],
      [5, 4, 3],
    ];
    const Y = [
      [1, 0],
      [0, 1],
      [2, 1],
      [1, 3],
      [0, 0],
      [3, 1],
    ];
    const W = [
      [1, 0, 2],
      [0, 1, -1],
      [1, 1, 1],
      [2, -1, 0],
    ];
    const rep = await measureNRC({ layers: [{ name: "h", features: H, weight: W }], targets: Y });
    const html = await renderReportHTML(rep);
    // SPEC reference values, formatted to 4 significant digits by hand
    expect(html).toContain(`title="${rep.layers[0].nrc1}">4.758e-3</td>`);
    expect(html).toContain(">0.8007</td>");
    expect(html).toContain(">0.7672</td>");
    expect(Math.abs(rep.layers[0].nrc1! - 0.004758239938369435)).toBeLessThan(1e-15);
    expect(fmtNumber(rep.layers[0].stableRankFeatures)).toBe("1.180"); // 1.17989…
    expect(fmtNumber(0.02)).toBe("0.02");
    expect(fmtNumber(0.99999)).toBe("1.000");
    expect(fmtNumber(0)).toBe("0");
    expect(fmtNumber(-2.5e-7)).toBe("-2.5e-7");
  });
});

describe("input errors", () => {
  const good = syntheticReport({ layers: 3 });
  const cases: [string, unknown, unknown, RegExp][] = [
    ["not a report", { foo: 1 }, undefined, /renderReportSVGs: runs must be an NRCReport/],
    [
      "no layers",
      { ...good, layers: [] },
      undefined,
      /runs\.layers must hold at least one layer; got 0/,
    ],
    [
      "NaN metric",
      { ...good, layers: [{ ...good.layers[0], nrc2: NaN }] },
      undefined,
      /runs\.layers\[0\]\.nrc2 must be a finite number or null; got NaN/,
    ],
    [
      "string metric",
      { ...good, layers: [{ ...good.layers[0], nrc1: "0.1" }] },
      undefined,
      /runs\.layers\[0\]\.nrc1 must be a finite number or null; got "0\.1"/,
    ],
    ["empty runs", [], undefined, /runs must hold at least one/],
    [
      "unlabelled run",
      [{ report: good }],
      undefined,
      /runs\[0\] must be \{ label: string, report: NRCReport \}; got label undefined/,
    ],
    [
      "duplicate labels",
      [
        { label: "a", report: good },
        { label: "a", report: good },
      ],
      undefined,
      /run labels must be unique; got "a" twice/,
    ],
    [
      "first collapsed out of range",
      { ...good, firstCollapsedLayer: 5 },
      undefined,
      /firstCollapsedLayer must be null or a layer position in \[0, 2\]; got 5/,
    ],
    ["bad width", good, { width: -3 }, /opts\.width must be a number in \[50, 5000\]; got -3/],
    ["bad floor", good, { logFloor: 0 }, /opts\.logFloor must be a number in \(0, 1\); got 0/],
    [
      "bad scale",
      good,
      { nrc4Scale: "sqrt" },
      /opts\.nrc4Scale must be "log" or "linear"; got "sqrt"/,
    ],
  ];
  for (const [what, input, opts, msg] of cases) {
    it(`rejects ${what}`, async () => {
      const err = await renderReportSVGs(input as never, opts as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NRCInputError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it("never mutates its input", async () => {
    const rep = syntheticReport({ zeroNRC1: [7], noWeight: [0] });
    const copy = JSON.parse(JSON.stringify(rep));
    Object.freeze(rep);
    rep.layers.forEach((l) => Object.freeze(l));
    await renderReportHTML(rep);
    expect(rep).toEqual(copy);
  });
});
