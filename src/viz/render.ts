/**
 * Renders the report's Vega-Lite specs to SVG strings with Vega's headless view (no browser, no
 * canvas). Vega and Vega-Lite are loaded lazily, on the first render, so importing
 * `deep-nrc/report` costs nothing until a figure is drawn.
 * @module
 */
import type { FigureSpec } from "./specs.js";

interface VegaModules {
  parse: (spec: unknown) => unknown;
  View: new (
    runtime: unknown,
    opts: { renderer: "none" },
  ) => {
    toSVG: (scaleFactor?: number) => Promise<string>;
    finalize: () => void;
  };
  compile: (spec: unknown) => { spec: unknown };
}

let loading: Promise<VegaModules> | null = null;

/**
 * Loads `vega` and `vega-lite` (optional peer dependencies of deep-nrc).
 *
 * @param fn - the public function asking, for the error message.
 * @returns the two modules' entry points the renderer needs.
 * @throws {Error} naming the missing packages and the install command when they cannot be imported.
 */
async function loadVega(fn: string): Promise<VegaModules> {
  loading ??= (async () => {
    const [vega, vl] = await Promise.all([import("vega"), import("vega-lite")]);
    return {
      parse: vega.parse as VegaModules["parse"],
      View: vega.View as unknown as VegaModules["View"],
      compile: vl.compile as unknown as VegaModules["compile"],
    };
  })();
  try {
    return await loading;
  } catch (e) {
    loading = null;
    throw new Error(
      `${fn}: drawing the report needs the optional peer dependencies vega and vega-lite ` +
        `(npm install vega vega-lite); importing them failed: ${(e as Error).message}`,
    );
  }
}

/**
 * Makes every `id` in an SVG unique to its figure (Vega numbers clip paths and gradients from 1 in
 * each SVG, so several inlined in one page would otherwise share ids).
 */
function prefixIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${prefix}-${id}"`);
}

/**
 * Compiles each figure's Vega-Lite spec and renders it headlessly to an SVG string.
 *
 * @param fn - the public function's name (error messages).
 * @param figures - the figure specs.
 * @param idPrefix - prefix for SVG ids (keeps inlined SVGs from clashing).
 * @returns the SVG text per figure, in the same order.
 * @throws {Error} when vega/vega-lite are missing or a spec fails to render.
 */
export async function renderFigures(
  fn: string,
  figures: readonly FigureSpec[],
  idPrefix = "nrc",
): Promise<string[]> {
  const { parse, View, compile } = await loadVega(fn);
  const out: string[] = [];
  for (const fig of figures) {
    const view = new View(parse(compile(fig.spec).spec), { renderer: "none" });
    try {
      const svg = await view.toSVG();
      out.push(prefixIds(svg, `${idPrefix}-${fig.name}`));
    } finally {
      view.finalize();
    }
  }
  return out;
}
