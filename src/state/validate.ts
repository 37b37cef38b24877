/**
 * Checks on an accumulator state read from a file (the binary state files; the JSON states have
 * their own checks in the accumulator): shapes, finite values, symmetric second moments with a
 * non-negative diagonal, the Cauchy–Schwarz bound between the cross products and the two
 * Grams, and sample counts that agree across layers. Each failure is an NRCInputError naming the
 * field, e.g. `layers[2].m2_y`.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { LayerStats } from "../stats/moments.js";

/** Relative slack for checks that rounding can touch (symmetry of m2Y, Cauchy–Schwarz). */
const SLACK = 1e-9;

function finite(fn: string, field: string, a: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++)
    if (!Number.isFinite(a[i]))
      throw new NRCInputError(
        fn,
        field,
        `${field} must hold finite numbers; got ${a[i]} at index ${i}`,
      );
}

/** Diagonal ≥ −slack·max and, for a full matrix, symmetric to rounding. */
function secondMoment(fn: string, field: string, m: Float64Array, n: number, full: boolean): void {
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, Math.abs(m[i * n + i]));
  for (let i = 0; i < n; i++) {
    const v = m[i * n + i];
    if (v < -SLACK * maxDiag || (maxDiag === 0 && v < 0))
      throw new NRCInputError(
        fn,
        field,
        `${field} must have a non-negative diagonal (it is a sum of squares); got ${v} at [${i}, ${i}]`,
      );
  }
  if (!full) return;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) {
      const a = m[i * n + j];
      const b = m[j * n + i];
      const tol = SLACK * Math.sqrt(Math.abs(m[i * n + i] * m[j * n + j])) + 1e-300;
      if (!(Math.abs(a - b) <= tol))
        throw new NRCInputError(
          fn,
          field,
          `${field} must be symmetric; got ${a} at [${i}, ${j}] and ${b} at [${j}, ${i}]`,
        );
    }
}

/**
 * Validates one layer's statistics as read from a state file.
 * @param fn - the public function reading the state (for the message).
 * @param at - the layer's field prefix, e.g. `layers[2]`.
 * @param s - the statistics (arrays already of the right lengths).
 * @param m2HSymmetric - whether m2H was stored as one triangle (then symmetric by construction).
 * @throws NRCInputError naming the field.
 */
export function validateLayerStats(
  fn: string,
  at: string,
  s: LayerStats,
  m2HSymmetric: boolean,
): void {
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
  secondMoment(fn, `${at}.m2_h`, s.m2H, d, !m2HSymmetric);
  secondMoment(fn, `${at}.m2_y`, s.m2Y, q, true);
  // |C_ic| ≤ √(M2H_ii·M2Y_cc), with slack for rounding (near-constant columns).
  let maxH = 0;
  let maxY = 0;
  for (let i = 0; i < d; i++) maxH = Math.max(maxH, s.m2H[i * d + i]);
  for (let c = 0; c < q; c++) maxY = Math.max(maxY, s.m2Y[c * q + c]);
  const floor = 1e-8 * Math.sqrt(maxH * maxY);
  for (let i = 0; i < d; i++)
    for (let c = 0; c < q; c++) {
      const v = s.cross[i * q + c];
      const bound = Math.sqrt(Math.max(0, s.m2H[i * d + i] * s.m2Y[c * q + c]));
      if (Math.abs(v) > bound * (1 + 1e-6) + floor)
        throw new NRCInputError(
          fn,
          `${at}.cross`,
          `${at}.cross[${i}, ${c}] = ${v} exceeds the Cauchy–Schwarz bound √(m2_h[${i}, ${i}]·m2_y[${c}, ${c}]) = ${bound}: the moments do not belong together`,
        );
    }
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
