/**
 * One healthy 10000×512 layer (t = 3) measured with webgpu and with wasm (2 threads), alternating,
 * 2 rounds: times, whether each took the certified path, and how far their metrics differ.
 *
 *   npx tsx bench/webgpu-layer.ts
 */
import { webgpuBackend } from "../src/backends/webgpu/index.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
import { measureNRC, type LayerReport } from "../src/index.js";
const N = 10000,
  d = 512,
  t = 3;
let s = 3;
const u = () => {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return (s + 0.5) / 4294967296;
};
const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
const Y = new Float64Array(N * t).map(g);
const H = new Float64Array(N * d);
for (let r = 0; r < N; r++)
  for (let j = 0; j < d; j++) H[r * d + j] = Y[r * t + (j % t)] * (1 + j / d) + 0.05 * g();
const W = new Float64Array(64 * d).map(g);
const layer = { features: { rows: N, cols: d, data: H }, weight: { rows: 64, cols: d, data: W } };
const targets = { rows: N, cols: t, data: Y };
const gpu = await webgpuBackend().init();
const cpu = await wasmBackend({ threads: 2 }).init();
const res: Record<string, number[]> = { webgpu: [], wasm2: [] };
let rw: LayerReport | undefined;
let rc: LayerReport | undefined;
for (let rep = 0; rep < 2; rep++) {
  for (const [name, k] of [
    ["webgpu", gpu],
    ["wasm2", cpu],
  ] as const) {
    const t0 = performance.now();
    const r = await measureNRC({ layers: [layer], targets, backend: k });
    res[name].push(performance.now() - t0);
    if (name === "webgpu") rw = r.layers[0];
    else rc = r.layers[0];
  }
}
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
console.log("times ms", JSON.stringify(res));
if (!rw || !rc) throw new Error("no report");
console.log("webgpu certified", !!rw.certificate, "wasm certified", !!rc.certificate);
console.log(
  "rel diff webgpu vs wasm: nrc1",
  rel(rw.nrc1!, rc.nrc1!),
  "nrc2",
  rel(rw.nrc2!, rc.nrc2!),
  "nrc3",
  rel(rw.nrc3!, rc.nrc3!),
  "nrc4",
  rel(rw.nrc4!, rc.nrc4!),
);
await gpu.dispose!();
await cpu.dispose!();
