/**
 * A started threaded wasm backend, or an accumulator that started one, left undisposed must not
 * keep Node alive: the child process has to exit by itself once its work is done. (The time
 * limit only catches a hang; nothing here measures speed.)
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const INDEX = JSON.stringify(join(ROOT, "src", "index.ts"));

/** Runs an ES module snippet under tsx; resolves with its exit code, or "hung" after `limitMs`. */
function runChild(code: string, limitMs = 45_000): Promise<{ exit: number | "hung"; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ exit: "hung", out });
    }, limitMs);
    child.on("exit", (c) => {
      clearTimeout(timer);
      resolve({ exit: c ?? -1, out });
    });
  });
}

describe("undisposed threaded backends do not keep Node alive", () => {
  it("a started wasmBackend({ threads: 2 }), used by measureNRC, never disposed", async () => {
    const r = await runChild(`
      const { wasmBackend, measureNRC, makeSyntheticNetwork } = await import(${INDEX});
      const k = await wasmBackend({ threads: 2 }).init();
      const net = makeSyntheticNetwork({ samples: 200, layers: 2, width: 8 });
      const rep = await measureNRC({ ...net, backend: k });
      console.log("threads " + k.threads + " nrc1 " + rep.layers[1].nrc1.toFixed(3));
    `);
    expect(r.out).toMatch(/threads 2 nrc1 /);
    expect(r.exit, r.out).toBe(0);
  }, 60_000);

  it("an accumulator that started its own wasm backend, never disposed", async () => {
    const r = await runChild(`
      const { wasmBackend, createNRCAccumulator, makeSyntheticNetwork } = await import(${INDEX});
      const net = makeSyntheticNetwork({ samples: 200, layers: 2, width: 8 });
      const acc = createNRCAccumulator({ backend: wasmBackend({ threads: 2 }) });
      await acc.add({ features: net.layers.map((l) => l.features), targets: net.targets });
      const rep = await acc.finalize();
      console.log("done " + rep.backend);
    `);
    expect(r.out).toMatch(/done wasm/);
    expect(r.exit, r.out).toBe(0);
  }, 60_000);

  it("a top-level await on init() still completes (workers are referenced while starting)", async () => {
    const r = await runChild(`
      const { wasmBackend } = await import(${INDEX});
      const k = await wasmBackend({ threads: 3 }).init();
      const g = k.gram({ rows: 2, cols: 1, data: new Float64Array([1, 2]) });
      console.log("gram " + g.data[0] + " threads " + k.threads);
      await k.dispose();
      console.log("disposed");
    `);
    expect(r.out).toMatch(/gram 5 threads 3\ndisposed/);
    expect(r.exit, r.out).toBe(0);
  }, 60_000);
});
