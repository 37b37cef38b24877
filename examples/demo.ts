/**
 * The main job: measure a bundled synthetic network with deep-nrc and print the per-layer report.
 * Run with `npm run demo`.
 */
import { makeSyntheticNetwork, measureNRC, formatReport } from "../src/index.js";

async function main(): Promise<void> {
  const net = makeSyntheticNetwork({ samples: 2000, layers: 6, width: 64, targets: 3, seed: 7 });
  const t0 = performance.now();
  const report = await measureNRC({ ...net, r: 2 });
  const ms = performance.now() - t0;
  console.log("deep-nrc demo: a synthetic 6-layer network (2000 samples, width 64, 3 targets)\n");
  console.log(formatReport(report));
  console.log(`\nmeasured in ${ms.toFixed(0)} ms`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
