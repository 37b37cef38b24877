/** Argument checks on matrices shared by the metric functions (the generic ones are in `errors.ts`). @module */
import { NRCInputError, fmtShape } from "../errors.js";
import type { Mat } from "../backends/types.js";

/** Checks that two matrices have the same number of rows (samples). */
export function checkSameRows(fn: string, na: string, a: Mat, nb: string, b: Mat): void {
  if (a.rows !== b.rows)
    throw new NRCInputError(
      fn,
      nb,
      `${na} and ${nb} must have the same number of rows (samples); got ${fmtShape(a.rows, a.cols)} and ${fmtShape(b.rows, b.cols)}`,
    );
}

/** Throws when centered data has zero variance. */
export function checkVariance(fn: string, arg: string, total: number, m: Mat): void {
  if (!(total > 0))
    throw new NRCInputError(
      fn,
      arg,
      `${arg} has zero variance (every column is constant across the ${m.rows} samples of the ${fmtShape(m.rows, m.cols)} matrix); the metric is undefined`,
    );
}

/** Checks that a weight reads the features: W is out×in with in = d. */
export function checkWeight(fn: string, w: Mat, d: number, arg = "W"): void {
  if (w.cols !== d)
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be out×in with in = the features' column count ${d} (W reads H as y = W·h); got ${fmtShape(w.rows, w.cols)}`,
    );
}
