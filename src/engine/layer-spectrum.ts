/**
 * A layer's covariance spectrum from its statistics: every eigenvalue of the centered Gram and
 * the leading eigenvectors the metrics read ({@link spectrumVectors}), directly or through the
 * column reduction of exactly constant and duplicate columns (`linalg/reduce.ts`).
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import { psdSpectrum, type Spectrum } from "../linalg/spectrum.js";
import type { LayerStats } from "../stats/moments.js";
import { expandVectors, reduceGram, type ColumnReduction } from "../linalg/reduce.js";

/**
 * How many leading eigenvectors of the features' covariance the metrics read: t (NRC2, NRC3) and
 * r (intrinsic NRC3), or all of them when the bottom-subspace alignment (r < d) is asked for.
 * @internal
 */
export function spectrumVectors(d: number, t: number, r: number | null): number {
  if (r !== null && r < d) return d;
  return Math.min(d, Math.max(t, r ?? 0));
}

/** The covariance spectrum of a layer's statistics: every eigenvalue, `vectors` eigenvectors (default all). @internal */
export function layerSpectrum(
  k: CompleteKernels,
  s: LayerStats,
  vectors?: number,
): Promise<Spectrum> {
  return psdSpectrum(k, { rows: s.d, cols: s.d, data: s.m2H }, s.count, vectors);
}

/** A spectrum computed on reduced columns: the reduction, its d'×d' Gram and spectrum. */
export interface ReducedSpectrum {
  red: ColumnReduction;
  gram: Mat;
  spec: Spectrum;
}

/**
 * The covariance spectrum of a layer through its column reduction: the eigen-decomposition of
 * the reduced, scaled d'×d' Gram, its values padded with d − d' zeros and its vectors expanded
 * to d rows (completed to a basis of ℝᵈ where more than d' are wanted).
 */
export async function reducedSpectrum(
  k: CompleteKernels,
  s: LayerStats,
  red: ColumnReduction,
  want: number,
): Promise<{ spec: Spectrum; reduced: ReducedSpectrum }> {
  const gram = reduceGram(red, s.m2H);
  const dr = red.keep.length;
  const rs = dr > 0 ? await psdSpectrum(k, gram, s.count, Math.min(want, dr)) : null;
  const values = new Float64Array(s.d);
  if (rs) values.set(rs.values);
  const vr = rs?.vectors ?? { rows: 0, cols: 0, data: new Float64Array(0) };
  const vectors = expandVectors(red, vr, want > vr.cols);
  const spec = { values, vectors, total: rs?.total ?? 0 };
  return {
    spec,
    reduced: { red, gram, spec: rs ?? { values: new Float64Array(0), vectors: vr, total: 0 } },
  };
}
