/**
 * A tiny static server for the browser demo, on 127.0.0.1 only. It sends the cross-origin
 * isolation headers (COOP/COEP) so that `SharedArrayBuffer` exists and the WASM backend can use
 * its threads; `isolate: false` serves without them (the backend then falls back to one thread).
 *
 * Run: `npx tsx examples/browser/serve.ts [port]` after `npx tsx examples/browser/build.ts`.
 */
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/**
 * Serves `root` on 127.0.0.1.
 *
 * @param root - folder to serve (files only; `/` is `index.html`; no path may leave it).
 * @param opts - `port` (0 = a random free port), `isolate` (COOP/COEP headers, default true).
 * @returns the server, its base URL, and a `close()`.
 */
export async function serveStatic(
  root: string,
  opts: { port?: number; isolate?: boolean } = {},
): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = normalize(join(base, path === "/" ? "index.html" : path));
    if (!file.startsWith(base + sep)) {
      res.writeHead(403).end("forbidden");
      return;
    }
    try {
      const body = await readFile(file);
      const headers: Record<string, string> = {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      };
      if (opts.isolate !== false) {
        headers["cross-origin-opener-policy"] = "same-origin";
        headers["cross-origin-embedder-policy"] = "require-corp";
      }
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(opts.port ?? 0, "127.0.0.1", () => ok());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    server,
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  serveStatic(here, { port: Number(process.argv[2] ?? 8080) }).then(({ url }) =>
    console.log(`deep-nrc browser demo: ${url}  (Ctrl-C to stop)`),
  );
}
