/**
 * `npm run bench:profile [-- --trained]`: where `measureNRC`'s time goes on the standard workload
 * (8 × 10000 × 512, t = 3, wasm with 2 threads), or on the trained-like one (bench/trained.ts): every kernel call is timed through a proxy, the rest is JS
 * outside the kernels. One warm-up layer first; the data are generated in memory. The wasm build
 * is the default one (FMA where relaxed SIMD is on: Node ≥ 22, or
 * `node --experimental-wasm-relaxed-simd --import tsx bench/profile.ts` on Node 20).
 * @module
 */
import { SyntheticNet } from "./common.js";
import { TrainedLikeNet } from "./trained.js";
import { measureNRC } from "../src/index.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
// `--trained`: the trained-like workload (bench/trained.ts) instead of the standard one.
const trained = process.argv.includes("--trained");
const L = 8;
const net = trained ? new TrainedLikeNet(10000, 512) : new SyntheticNet(10000, 512, L, 3);
const layers = Array.from({ length: L }, (_, l) => ({
  features: net.features(l),
  weight: net.weight(l),
}));
const k = await wasmBackend({ threads: 2 }).init();
const times: Record<string, number> = {};
const counts: Record<string, number> = {};
const timed = new Proxy(k as any, {
  get(tgt, p) {
    const v = tgt[p];
    if (typeof v !== "function" || p === "dispose") return v;
    return (...a: unknown[]) => {
      const t0 = performance.now();
      const r = v.apply(tgt, a);
      const done = () => {
        const key = String(p) + (p === "symEig" ? `(${(a[1] as any)?.vectors ?? "all"})` : "");
        times[key] = (times[key] ?? 0) + performance.now() - t0;
        counts[key] = (counts[key] ?? 0) + 1;
      };
      if (r && typeof r.then === "function") return r.then((x: unknown) => (done(), x));
      done();
      return r;
    };
  },
});
const backend = timed;
await measureNRC({ layers: layers.slice(0, 1), targets: net.y, t: 3, backend: backend as any });
for (const key of Object.keys(times)) (delete times[key], delete counts[key]);
const t0 = performance.now();
await measureNRC({ layers, targets: net.y, t: 3, backend: backend as any });
const total = performance.now() - t0;
let sum = 0;
for (const [key, v] of Object.entries(times).sort((a, b) => b[1] - a[1])) {
  sum += v;
  console.log(`${key.padEnd(22)} ${v.toFixed(0).padStart(6)} ms  ×${counts[key]}`);
}
console.log(
  `${"kernels".padEnd(22)} ${sum.toFixed(0).padStart(6)} ms; total ${total.toFixed(0)} ms; outside kernels ${(total - sum).toFixed(0)} ms; ${(k as { fma?: boolean }).fma ? "FMA build" : "plain SIMD build"}`,
);
process.exit(0);
