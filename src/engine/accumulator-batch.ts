/**
 * One batch for the streaming accumulator checked against what it already holds (layer count,
 * target columns, each layer's width and weight) and prepared (dense or conv features, float32
 * kept as float32).
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError, type Preset } from "../errors.js";
import { asMatrix } from "../linalg/matrix.js";
import type { LayerStats } from "../stats/moments.js";
import { prepareLayer, type PreparedLayer } from "./layer.js";
import { isEmptyBatch } from "./empty-batch.js";
import type { AccumulatorBatch } from "./accumulator-options.js";

/** What the accumulator holds that a batch must agree with. @internal */
export interface HeldShape {
  stats: readonly LayerStats[] | null;
  weights: readonly (Mat | null)[] | null;
  names: readonly string[] | null;
  preset: Preset;
}

/**
 * Checks and prepares a batch, errors naming `fn`; null for an empty batch (0 rows: adds nothing).
 * @throws NRCInputError on a layer-count, width or row mismatch with earlier batches or the weights.
 * @internal
 */
export function checkBatch(
  fn: string,
  batch: AccumulatorBatch,
  held: HeldShape,
): { y: Mat; prepared: PreparedLayer[] } | null {
  if (batch === null || typeof batch !== "object" || !Array.isArray(batch.features))
    throw new NRCInputError(
      fn,
      "batch",
      "batch must be { features: [layer 0, layer 1, …], targets }",
    );
  if (isEmptyBatch(fn, batch.features, batch.targets)) return null;
  const y = asMatrix(fn, "targets", batch.targets);
  const L = batch.features.length;
  const expectL = held.stats?.length ?? held.weights?.length ?? L;
  if (L === 0 || L !== expectL)
    throw new NRCInputError(
      fn,
      "features",
      `features must hold one entry per layer (${expectL}); got ${L}`,
    );
  if (held.stats && y.cols !== held.stats[0].q)
    throw new NRCInputError(
      fn,
      "targets",
      `targets must have ${held.stats[0].q} columns like earlier batches; got ${y.cols}`,
    );
  // Float32 features stay float32 (no widened copy) where the kernels take them: the moments
  // run of `rescan` mode and its refinement passes; elsewhere they are widened on first use.
  const prepared: PreparedLayer[] = batch.features.map((f, i) =>
    prepareLayer(
      fn,
      `features[${i}]`,
      i,
      f,
      null,
      held.names?.[i],
      held.preset,
      y.rows,
      false,
      true,
    ),
  );
  prepared.forEach((p, i) => {
    const w = held.weights?.[i];
    const cols = (p.h32 ?? p.h).cols; // p.h of float32 features would widen them
    if (w && w.cols !== cols)
      throw new NRCInputError(
        fn,
        `features[${i}]`,
        `features[${i}] must have ${w.cols} columns (weight ${i} is ${w.rows}×${w.cols}); got ${cols}`,
      );
    if (held.stats && held.stats[i].d !== cols)
      throw new NRCInputError(
        fn,
        `features[${i}]`,
        `features[${i}] must have ${held.stats[i].d} columns like earlier batches; got ${cols}`,
      );
  });
  return { y, prepared };
}
