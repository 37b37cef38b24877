/**
 * How many samples one model run takes, sized for throughput: as many as a memory budget for
 * the captured features allows, and enough that the accumulator's per-call cost (a TSQR merge,
 * ~ (d + q + 1)³ per layer) stays small against the batch's own work (~ rows·(d + q + 1)²).
 *
 * The features' size is measured, not guessed: a first run of {@link PROBE_ROWS} samples (not
 * handed to the caller: the first batch it sees is a full one) gives
 * every captured tensor's bytes per sample and each layer's rows per sample (a conv's positions,
 * a sequence's tokens); later runs use {@link throughputRows}.
 * @module
 */

/** Samples in the first (measuring) run. */
export const PROBE_ROWS = 8;

/**
 * Bytes of captured features one batch may hold (two are alive while the next one runs). On the
 * ResNet-18 of bench:models (2.6 MB of float32 features per image) 64 MiB gives 25 images per run:
 * peak RSS 896 MB in 72 s, against 1042 MB in 98 s at 96 MiB (37 images; loaded 2-core VM).
 */
export const BATCH_BYTES = 64 * 2 ** 20;

/** Most samples per run. */
export const MAX_BATCH_ROWS = 4096;

/** Fewest samples per run the budget allows, where it allows them (the runtime's per-run cost). */
export const MIN_FORWARD_ROWS = 512;

/** Rows per accumulator call, as a multiple of a layer's width d + q + 1. */
const MERGE_FACTOR = 4;

/** What the probe run measured. */
export interface BatchMeasure {
  /** Bytes of every captured tensor, per sample. */
  bytesPerSample: number;
  /** Per layer: its width d and its rows per sample (positions; 1 for dense features). */
  layers: { d: number; positions: number }[];
  /** Target columns q. */
  q: number;
}

/**
 * Samples per run after the probe: min(budget ÷ bytes per sample, max(512, the rows that make
 * every layer's call ≥ 4·(d + q + 1) rows)), within [1, 4096].
 * @param m - what the probe measured.
 * @param budget - bytes of features per batch (default {@link BATCH_BYTES}).
 * @returns samples per run.
 */
export function throughputRows(m: BatchMeasure, budget = BATCH_BYTES): number {
  let forMerge = 1;
  for (const l of m.layers)
    forMerge = Math.max(
      forMerge,
      Math.ceil((MERGE_FACTOR * (l.d + m.q + 1)) / Math.max(1, l.positions)),
    );
  const byMemory = Math.floor(budget / Math.max(1, m.bytesPerSample));
  const want = Math.max(MIN_FORWARD_ROWS, forMerge);
  return Math.max(1, Math.min(MAX_BATCH_ROWS, byMemory, want));
}
