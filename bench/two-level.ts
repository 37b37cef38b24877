/**
 * `npm run bench:two-level [-- --rounds 9]`: NRC4's two-level fallback (issue 22 part B) against
 * the Householder QR it replaces, interleaved in one process (`DEEP_NRC_TWO_LEVEL=0` switches the
 * two-level solve off per call). Prints (1) one layer through `measureNRC` (wasm, 2 threads, one
 * backend reused): the trained-like bottleneck L4 and collapsed L7 each way, against a healthy
 * 512-wide layer and the trained-like healthy L1; (2) NRC4's fallback alone on L4 and L7, in
 * units of the float64 Gram of H. Medians over the rounds; read the ratios on a shared machine.
 * @module
 */
import { wasmBackend } from "../src/backends/wasm/index.js";
import { completeKernels } from "../src/backends/complete.js";
import { measureNRC } from "../src/index.js";
import { batchStats, centerWith, augmented } from "../src/stats/moments.js";
import { findReduction, reducedAugmented } from "../src/linalg/reduce.js";
import { layerSpectrum, reducedSpectrum } from "../src/engine/layer-spectrum.js";
import { layerDeflatedResidual } from "../src/engine/nrc4-deflated.js";
import { defaultRtol } from "../src/linalg/lstsq.js";
import { SyntheticNet, machine, median } from "./common.js";
import { TrainedLikeNet } from "./trained.js";
import type { Kernels, Mat } from "../src/backends/types.js";

const argv = process.argv.slice(2);
const at = argv.indexOf("--rounds");
const rounds = at >= 0 ? Number(argv[at + 1]) : 9;
const k = completeKernels(await wasmBackend({ threads: 2 }).init());
const net = new TrainedLikeNet(10000, 512);
const std = new SyntheticNet(10000, 512, 8, 3);
const layers: [string, Mat, Mat, Mat][] = [
  ["healthy 512 (standard layer 3)", std.features(3), std.weight(3), std.y],
  ["healthy L1 (20 % dead)", net.features(1), net.weight(1), net.y],
  ["bottleneck L4", net.features(4), net.weight(4), net.y],
  ["collapsed L7", net.features(7), net.weight(7), net.y],
];
const T: Record<string, number[]> = {};
const time = async (key: string, f: () => unknown) => {
  const t0 = performance.now();
  await f();
  (T[key] ??= []).push(performance.now() - t0);
};
const one = (h: Mat, w: Mat, y: Mat) =>
  measureNRC({ layers: [{ features: h, weight: w }], targets: y, t: 3, backend: k as Kernels });
await one(layers[0][1], layers[0][2], layers[0][3]);
for (let r = 0; r < rounds; r++)
  for (const [name, h, w, y] of layers)
    for (const off of name.startsWith("healthy") ? [false] : [false, true]) {
      process.env.DEEP_NRC_TWO_LEVEL = off ? "0" : "1";
      await time(
        `${name}${name.startsWith("healthy") ? "" : off ? ", QR (before)" : ", two-level"}`,
        () => one(h, w, y),
      );
    }
delete process.env.DEEP_NRC_TWO_LEVEL;
const h512 = median(T[`${layers[0][0]}`]);
const hL1 = median(T[`${layers[1][0]}`]);
console.log(JSON.stringify(machine()));
console.log(
  "| one layer, measureNRC | median | × healthy 512 | × healthy L1 |\n| --- | --- | --- | --- |",
);
for (const [key, v] of Object.entries(T))
  console.log(
    `| ${key} | ${median(v).toFixed(0)} ms | ${(median(v) / h512).toFixed(2)}× | ${(median(v) / hL1).toFixed(2)}× |`,
  );

// NRC4's fallback alone, from precomputed statistics.
const k64 = { ...k, lowGram: undefined };
const F: Record<string, number[]> = {};
const prep = [];
for (const l of [4, 7]) {
  const h = net.features(l);
  const s = await batchStats(k, h, net.y, false);
  const red = findReduction(h, s.meanH, s.m2H);
  const { spec, reduced } = red
    ? await reducedSpectrum(k, s, red, 3)
    : { spec: await layerSpectrum(k, s, 3), reduced: undefined };
  const yc = centerWith(net.y, s.meanY);
  const qa = red ? reducedAugmented(red, h, net.y).a : augmented(h, net.y);
  prep.push({ l, h, s, spec, reduced, yc, qa, rtol: defaultRtol(h.rows, h.cols) });
}
for (let r = 0; r < Math.max(3, Math.ceil(rounds / 2)); r++)
  for (const p of prep) {
    const t = async (name: string, f: () => unknown) => {
      const t0 = performance.now();
      await f();
      (F[`L${p.l} ${name}`] ??= []).push(performance.now() - t0);
    };
    const data = { h: p.h, yc: p.yc };
    await t("float64 Gram of H", () => k.gram(p.h));
    await t("two-level (float32 Gram of Z)", () =>
      layerDeflatedResidual(k, p.s, p.spec, p.rtol, data, p.reduced),
    );
    await t("two-level (float64 Gram of Z)", () =>
      layerDeflatedResidual(k64, p.s, p.spec, p.rtol, data, p.reduced),
    );
    await t("QR of [H | Y | 1] (before)", () => k.qr(p.qa));
  }
console.log("\n| NRC4's fallback alone | median | × Gram of H |\n| --- | --- | --- |");
for (const [key, v] of Object.entries(F)) {
  const g = median(F[`${key.slice(0, 3)}float64 Gram of H`]);
  console.log(`| ${key} | ${median(v).toFixed(0)} ms | ${(median(v) / g).toFixed(2)}× |`);
}
await k.dispose?.();
process.exit(0);
