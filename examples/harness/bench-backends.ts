/**
 * Measures one training epoch of the harness MLP on the tfjs cpu and wasm backends
 * (8 linear layers, width 128 and 256, batch 128, 8,000 samples). Usage:
 * `npx tsx examples/harness/bench-backends.ts [--threads N]`.
 * @module
 */
import { MLP, train, useTfBackend, tf, type TfBackendName } from "./mlp.js";
import { splitAndStandardize, syntheticTeacher } from "./data.js";

const ds = splitAndStandardize(syntheticTeacher({ t: 3, r: 10, seed: 1 }));
const rows: string[] = [];
for (const backend of ["cpu", "wasm"] as TfBackendName[]) {
  await useTfBackend(backend);
  for (const width of [128, 256]) {
    const model = new MLP({
      inputDim: 20,
      outputDim: 3,
      depth: 8,
      width,
      bias: false,
      init: "default",
      seed: 1,
    });
    const cfg = { epochs: 3, batchSize: 128, lr: 0.05, momentum: 0.9, weightDecay: 1e-3 };
    const times: number[] = [];
    let last = performance.now();
    await train(model, ds.xTrain, ds.yTrain, cfg, ({ epoch }) => {
      const now = performance.now();
      if (epoch > 0) times.push(now - last);
      last = now;
    });
    const t0 = performance.now();
    model.capture(ds.xTrain);
    const cap = performance.now() - t0;
    model.dispose();
    const best = Math.min(...times.slice(1));
    rows.push(
      `${backend}\twidth ${width}\t${(best / 1000).toFixed(2)} s/epoch\tcapture ${(cap / 1000).toFixed(2)} s\ttensors ${tf.memory().numTensors}`,
    );
    console.log(rows[rows.length - 1]);
  }
}
