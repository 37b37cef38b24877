/**
 * Batches of a synthetic network's samples for the accumulator tests: rows a … b−1 of every
 * layer's features and of the targets.
 */
import type { AccumulatorBatch, makeSyntheticNetwork } from "../../src/index.js";

type M = { rows: number; cols: number; data: Float64Array };
type Net = ReturnType<typeof makeSyntheticNetwork>;

/** Rows a … b−1 of a matrix (a copy). */
export const rowsOf = (m: M, a: number, b: number): M => ({
  rows: b - a,
  cols: m.cols,
  data: m.data.slice(a * m.cols, b * m.cols),
});

/** The batch of samples a … b−1. */
export const batchOf = (net: Net, a: number, b: number): AccumulatorBatch => ({
  features: net.layers.map((l) => rowsOf(l.features, a, b)),
  targets: rowsOf(net.targets, a, b),
});

/** Consecutive batches cut at `cuts` (e.g. [0, 40, 90]: samples 0–39 and 40–89). */
export const batchesOf = (net: Net, cuts: readonly number[]): AccumulatorBatch[] =>
  cuts.slice(1).map((b, i) => batchOf(net, cuts[i], b));
