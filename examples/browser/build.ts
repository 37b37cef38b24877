/**
 * Bundles the browser demo (`demo.ts` → `<outDir>/demo.js`, one ESM file with deep-nrc, its WASM
 * module and Vega inlined) and copies `index.html` beside it, with esbuild for the browser
 * platform: any Node built-in reached statically fails the build.
 *
 * Run: `npx tsx examples/browser/build.ts [outDir]`. The default builds in place: the committed
 * `examples/browser/index.html` loads `./dist/demo.js` (git-ignored). Then
 * `npx tsx examples/browser/serve.ts` and open the printed address.
 */
import { build, type Metafile } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Builds the page into `outDir` (`index.html` + `dist/demo.js`, so the page's relative script path
 * holds in both layouts).
 *
 * @param outDir - destination folder; the page is `outDir/index.html`.
 * @returns the metafile (inputs and outputs) and the bundle size in bytes.
 */
export async function buildBrowserDemo(
  outDir: string,
): Promise<{ metafile: Metafile; bytes: number; page: string }> {
  const jsDir = join(outDir, "dist");
  mkdirSync(jsDir, { recursive: true });
  const res = await build({
    entryPoints: [join(HERE, "demo.ts")],
    outfile: join(jsDir, "demo.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    // The `webgpu` npm package is the Node implementation; the page uses navigator.gpu and the
    // backend imports the package only under Node.
    external: ["webgpu"],
    minify: true,
    sourcemap: false,
    metafile: true,
    logLevel: "silent",
    legalComments: "none",
  });
  if (resolve(outDir) !== HERE) copyFileSync(join(HERE, "index.html"), join(outDir, "index.html"));
  const bytes = Object.values(res.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { metafile: res.metafile, bytes, page: join(outDir, "index.html") };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? HERE);
  buildBrowserDemo(out).then(
    ({ bytes, page }) => console.log(`built ${page} (bundle ${(bytes / 1e6).toFixed(2)} MB)`),
    (e: Error) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
