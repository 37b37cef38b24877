/**
 * Checks on the statistics read from a binary state file before the consistency checks shared
 * with the JSON states (`validate-stats.ts`): finite values, the TSQR factor's shape and its
 * column of ones, and sample counts that agree across layers. Each failure is an NRCInputError
 * naming the field, e.g. `layers[2].m2_y`.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { LayerStats } from "../stats/moments.js";

function finite(fn: string, field: string, a: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++)
    if (!Number.isFinite(a[i]))
      throw new NRCInputError(
        fn,
        field,
        `${field} must hold finite numbers; got ${a[i]} at index ${i}`,
      );
}

/**
 * Validates one layer's statistics as read from a state file.
 * @param fn - the public function reading the state (for the message).
 * @param at - the layer's field prefix, e.g. `layers[2]`.
 * @param s - the statistics (arrays already of the right lengths).
 * @throws NRCInputError naming the field.
 */
export function validateLayerStats(fn: string, at: string, s: LayerStats): void {
  const { d, q } = s;
  if (!Number.isSafeInteger(s.count) || s.count < 1)
    throw new NRCInputError(
      fn,
      `${at}.count`,
      `${at}.count must be a positive integer; got ${s.count}`,
    );
  finite(fn, `${at}.mean_h`, s.meanH);
  finite(fn, `${at}.mean_y`, s.meanY);
  finite(fn, `${at}.m2_h`, s.m2H);
  finite(fn, `${at}.cross`, s.cross);
  finite(fn, `${at}.m2_y`, s.m2Y);
  if (s.r) {
    finite(fn, `${at}.r`, s.r.data);
    const w = d + q + 1;
    if (s.r.cols !== w || s.r.rows < 1 || s.r.rows > w)
      throw new NRCInputError(
        fn,
        `${at}.r`,
        `${at}.r must be k×${w} with 1 ≤ k ≤ ${w}; got ${s.r.rows}×${s.r.cols}`,
      );
    // [H | Y | 1]ᵀ[H | Y | 1] = RᵀR: its last diagonal entry is the row count.
    let ones = 0;
    for (let i = 0; i < s.r.rows; i++) ones += s.r.data[i * w + w - 1] ** 2;
    if (!(Math.abs(ones - s.count) <= 1e-8 * s.count))
      throw new NRCInputError(
        fn,
        `${at}.r`,
        `${at}.r does not belong to ${s.count} samples: its column of ones has squared norm ${ones}`,
      );
  }
}

/**
 * The layers' counts must agree with the samples: `samples` for a dense layer, a multiple of it
 * (spatial positions) for a conv layer; and every layer must have the same target width.
 */
export function validateCounts(
  fn: string,
  samples: number,
  layers: readonly LayerStats[],
  kinds: readonly ("dense" | "conv")[],
): void {
  layers.forEach((s, i) => {
    const ok = kinds[i] === "conv" ? s.count % samples === 0 : s.count === samples;
    if (!ok)
      throw new NRCInputError(
        fn,
        `layers[${i}].count`,
        `layers[${i}].count must equal samples (${samples})${kinds[i] === "conv" ? " times the spatial positions" : ""}; got ${s.count}`,
      );
    if (s.q !== layers[0].q)
      throw new NRCInputError(
        fn,
        `layers[${i}].q`,
        `every layer must have the targets' width ${layers[0].q}; layers[${i}] has ${s.q}`,
      );
  });
}
