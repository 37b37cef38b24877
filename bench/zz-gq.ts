import { wasmBackend } from "../src/backends/wasm/index.js";
const N = 10000, d = Number(process.env.D ?? 512);
const data = new Float64Array(N * d);
for (let i = 0; i < data.length; i++) data[i] = Math.random() - 0.5;
const a = { rows: N, cols: d, data };
for (const threads of (process.env.T ?? "1,2").split(",").map(Number)) {
  const k: any = await wasmBackend({ threads }).init();
  const sh = new Float64Array(d);
  const y = { rows: N, cols: 3, data: new Float64Array(N * 3).map(() => Math.random()) };
  const t: Record<string, number[]> = { gram: [], moments: [] };
  for (let r = 0; r < 21; r++) {
    for (const what of ["gram", "moments"]) {
      const t0 = performance.now();
      if (what === "gram") await k.gram(a);
      else await k.shiftedMoments(a, sh, y);
      t[what].push(performance.now() - t0);
    }
  }
  for (const what of ["gram", "moments"]) {
    const v = t[what].sort((x, y) => x - y);
    console.log(`threads ${threads} ${what} min ${v[0].toFixed(1)} med ${v[10].toFixed(1)} ms  ${((2 * N * d * d) / v[0] / 1e6).toFixed(1)} GFLOP/s eff (min)`);
  }
  k.dispose?.();
}
process.exit(0);
