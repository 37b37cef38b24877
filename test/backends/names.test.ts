/**
 * Backends by name, the shared default backend and backend-option errors (issue 13 items 4–5).
 */
import { describe, expect, it, afterAll, vi } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import "@tensorflow/tfjs-backend-cpu";
import {
  measureNRC,
  noiseComponent,
  linearCKA,
  initBackend,
  makeSyntheticNetwork,
  NRCInputError,
  releaseSharedBackends,
  AUTO_BACKEND_MIN_WORK,
  SHARED_BACKEND_IDLE_MS,
} from "../../src/index.js";
import { sharedBackendStarted } from "../../src/backends/shared.js";

const net = makeSyntheticNetwork({ samples: 200, layers: 2, width: 12, targets: 2, seed: 3 });
const layers = net.layers.map((l) => ({ features: l.features, weight: l.weight }));

afterAll(() => releaseSharedBackends());

describe("backend names", () => {
  for (const name of ["wasm", "js", "auto"] as const)
    it(`measureNRC with backend: "${name}" runs that backend and says so`, async () => {
      const ref = await measureNRC({ layers, targets: net.targets, backend: "js" });
      const r = await measureNRC({ layers, targets: net.targets, backend: name });
      expect(r.backend).toBe(name === "auto" ? "wasm" : name);
      for (let i = 0; i < layers.length; i++)
        expect(r.layers[i].nrc1!).toBeCloseTo(ref.layers[i].nrc1!, 10);
    });

  it('backend: "tfjs" runs the tfjs kernels (optional peer present here)', async () => {
    const r = await noiseComponent(net.layers[0].features, 2, { backend: "tfjs" });
    const ref = await noiseComponent(net.layers[0].features, 2, { backend: "js" });
    expect(r).toBeCloseTo(ref, 6);
  });

  it("a list of names is tried in order, and initBackend takes names", async () => {
    const k = await initBackend(["wasm", "js"]);
    expect(k.name).toBe("wasm");
    await k.dispose?.();
    const j = await initBackend("js");
    expect(j.name).toBe("js");
  });

  it("names use one shared backend, started once and reused", async () => {
    await releaseSharedBackends();
    expect(sharedBackendStarted("wasm")).toBe(false);
    await measureNRC({ layers, targets: net.targets, backend: "wasm" });
    expect(sharedBackendStarted("wasm")).toBe(true);
    const k1 = await initBackend("js"); // unrelated: does not touch the shared one
    expect(k1.name).toBe("js");
    await measureNRC({ layers, targets: net.targets, backend: "wasm" });
    expect(sharedBackendStarted("wasm")).toBe(true);
    await releaseSharedBackends();
    expect(sharedBackendStarted("wasm")).toBe(false);
  });

  it("the default call on heavy input starts the shared auto backend", async () => {
    await releaseSharedBackends();
    const n = 2000;
    const d = Math.ceil(Math.sqrt(AUTO_BACKEND_MIN_WORK / n)) + 1;
    const x = new Float64Array(n * d);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) + ((i * 7919) % 13) / 13;
    await noiseComponent({ rows: n, cols: d, data: x }, 2);
    expect(sharedBackendStarted("auto")).toBe(true);
    expect(sharedBackendStarted("wasm")).toBe(true);
    await releaseSharedBackends();
    expect(sharedBackendStarted("auto")).toBe(false);
  });
});

describe("idle release", () => {
  it(`a shared backend is disposed after ${SHARED_BACKEND_IDLE_MS} ms without a call, and restarts on the next`, async () => {
    await releaseSharedBackends();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await measureNRC({ layers, targets: net.targets, backend: "wasm" });
      expect(sharedBackendStarted("wasm")).toBe(true);
      vi.advanceTimersByTime(SHARED_BACKEND_IDLE_MS - 1);
      expect(sharedBackendStarted("wasm")).toBe(true);
      // A call within the idle time restarts the clock.
      await measureNRC({ layers, targets: net.targets, backend: "wasm" });
      vi.advanceTimersByTime(SHARED_BACKEND_IDLE_MS - 1);
      expect(sharedBackendStarted("wasm")).toBe(true);
      vi.advanceTimersByTime(1);
      expect(sharedBackendStarted("wasm")).toBe(false);
    } finally {
      vi.useRealTimers();
    }
    const r = await measureNRC({ layers, targets: net.targets, backend: "wasm" });
    expect(r.backend).toBe("wasm");
    expect(sharedBackendStarted("wasm")).toBe(true);
  });
});

describe("backend option errors", () => {
  const bad: [string, unknown][] = [
    ["an unknown name", "wsam"],
    ["a number", 5],
    ["null", null],
    ["an object without init or kernels", { name: "x" }],
    ["an empty list", []],
    ["a list with a bad entry", ["wasm", 3]],
  ];
  for (const [what, value] of bad) {
    it(`measureNRC rejects ${what}`, async () => {
      const p = measureNRC({ layers, targets: net.targets, backend: value as never });
      await expect(p).rejects.toThrow(NRCInputError);
      await expect(p).rejects.toThrow(
        /^measureNRC: backend.*must be a backend name \("auto", "wasm", "js", "webgpu", "tfjs"\)/,
      );
    });
    it(`linearCKA rejects ${what}`, async () => {
      await expect(
        linearCKA(net.layers[0].features, net.targets, { backend: value as never }),
      ).rejects.toThrow(/^linearCKA: backend/);
    });
  }
  it("initBackend() and initBackend(null) name the argument", async () => {
    await expect((initBackend as (x?: unknown) => Promise<unknown>)()).rejects.toThrow(
      /^initBackend: candidates must be a backend name.*got undefined/,
    );
    await expect(initBackend(null as never)).rejects.toThrow(NRCInputError);
  });
  it("a named backend that cannot start is an error listing why, never a silent fallback", async () => {
    // webgpu without its peer or adapter fails to start; with a GPU it starts and names itself.
    try {
      const r = await measureNRC({ layers, targets: net.targets, backend: "webgpu" });
      expect(r.backend).toBe("webgpu");
    } catch (e) {
      expect(String(e)).toMatch(/^Error: measureNRC: no backend could be started:\n {2}webgpu: /);
    }
  });
});

describe("the shared backend never keeps Node alive", () => {
  it("a script that measures once by default exits by itself", () => {
    const dir = mkdtempSync(join(tmpdir(), "nrc-exit-"));
    const script = join(dir, "once.mts");
    const src = resolve(__dirname, "../../src/index.ts");
    writeFileSync(
      script,
      `import { noiseComponent, AUTO_BACKEND_MIN_WORK } from ${JSON.stringify(src)};
const n = 4000, d = Math.ceil(Math.sqrt(AUTO_BACKEND_MIN_WORK / n)) + 1;
const x = new Float64Array(n * d);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) + ((i * 7919) % 13) / 13;
const v = await noiseComponent({ rows: n, cols: d, data: x }, 2);
console.log("measured", v > 0, Date.now());
`,
    );
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ["--import", "tsx", script], {
      encoding: "utf8",
      timeout: 60000,
      cwd: resolve(__dirname, "../.."),
    });
    const end = Date.now();
    expect(r.status, r.stderr).toBe(0);
    const m = /measured true (\d+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    // It exits once the work is done, not after the idle release (5 s) or the 60 s kill.
    expect(end - Number(m![1])).toBeLessThan(4000);
    expect(end - t0).toBeLessThan(60000);
  }, 70000);
});
