/**
 * Empty batches: a shard or partition with no samples feeds the accumulator a batch of 0 rows,
 * which adds nothing (an empty state is the identity of merge); its features must be empty too.
 * @module
 */
import { NRCInputError } from "../errors.js";

/** Rows of a matrix or tensor input (undefined when it is neither). */
function rowCount(x: unknown): number | undefined {
  if (Array.isArray(x)) return x.length;
  if (x === null || typeof x !== "object") return undefined;
  const o = x as { shape?: unknown; rows?: unknown };
  if (Array.isArray(o.shape)) return typeof o.shape[0] === "number" ? o.shape[0] : undefined;
  return typeof o.rows === "number" ? o.rows : undefined;
}

/**
 * Whether a batch has no rows (its targets have none).
 * @throws NRCInputError naming `features[i]` when the targets have no rows but a layer has some.
 */
export function isEmptyBatch(fn: string, features: readonly unknown[], targets: unknown): boolean {
  if (rowCount(targets) !== 0) return false;
  features.forEach((f, i) => {
    if (rowCount(f) !== 0)
      throw new NRCInputError(
        fn,
        `features[${i}]`,
        `features[${i}] must have 0 rows like the targets (an empty batch); got ${rowCount(f) ?? "not a matrix or tensor"}`,
      );
  });
  return true;
}
