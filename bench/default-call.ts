/**
 * `npm run bench:default`: the call users write, against a hand-started backend, in one process,
 * alternating: (1) `measureNRC({ layers, targets })` with no backend (the shared default, 2nd call
 * on) vs the same call with one `wasmBackend()` started by hand and reused (target ≤ 1.05×);
 * (2) `noiseComponent(H, 3)` on one 10000×512 layer with no backend vs the time of its kernels
 * alone on a started backend (centering, Gram, eigenvalues; target ≤ 1.3×). Medians of 5 rounds.
 * @module
 */
import { SyntheticNet, fmtMs, median } from "./common.js";
import { measureNRC, noiseComponent, wasmBackend, releaseSharedBackends } from "../src/index.js";
import { center } from "../src/linalg/center.js";
import { completeKernels } from "../src/backends/complete.js";

const quick = process.argv.includes("--quick");
const [N, d, L] = quick ? [2000, 128, 4] : [10000, 512, 8];
const net = new SyntheticNet(N, d, L, 3);
const layers = Array.from({ length: L }, (_, l) => ({
  features: net.features(l),
  weight: net.weight(l),
}));
const h = layers[L - 1].features;
const k = completeKernels(await wasmBackend().init());
const rounds = 5;
const t = {
  byDefault: [] as number[],
  reused: [] as number[],
  metric: [] as number[],
  kernels: [] as number[],
};
const time = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};
// Warm-up: starts the shared default backend and tiers up both paths.
await measureNRC({ layers, targets: net.y });
await measureNRC({ layers, targets: net.y, backend: k });
await noiseComponent(h, 3);
for (let r = 0; r < rounds; r++) {
  t.byDefault.push(await time(() => measureNRC({ layers, targets: net.y })));
  t.reused.push(await time(() => measureNRC({ layers, targets: net.y, backend: k })));
  t.metric.push(await time(() => noiseComponent(h, 3)));
  t.kernels.push(
    await time(async () => {
      const hc = center(h).centered;
      const g = await k.gram(hc);
      await k.symEig(g, { vectors: 3 });
    }),
  );
}
const m = (x: number[]) => median(x);
console.log(`| ${L}×${N}×${d} | median of ${rounds} | ratio |`);
console.log("| --- | --- | --- |");
console.log(
  `| measureNRC, no backend (shared default) | ${fmtMs(m(t.byDefault))} | ${(m(t.byDefault) / m(t.reused)).toFixed(2)}× the reused backend |`,
);
console.log(`| measureNRC, one wasmBackend() reused | ${fmtMs(m(t.reused))} | 1 |`);
console.log(
  `| noiseComponent(H, 3) ${N}×${d}, no backend | ${fmtMs(m(t.metric))} | ${(m(t.metric) / m(t.kernels)).toFixed(2)}× its kernels |`,
);
console.log(`| its kernels alone (center, Gram, symEig) | ${fmtMs(m(t.kernels))} | 1 |`);
await k.dispose?.();
await releaseSharedBackends();
