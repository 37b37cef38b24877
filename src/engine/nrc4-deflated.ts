/**
 * A layer's NRC4 residual by the two-level solve of `linalg/deflated.ts` (no Householder QR of
 * all of [H | Y | 1]), from its statistics: the columns it solves with — H itself, or the
 * reduced, scaled columns `Hr` (and `√constSq·1` where nonzero constant columns put 1 in span(H))
 * of the column reduction — with their centered Gram's eigenvalues and leading eigenvectors.
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import type { Spectrum } from "../linalg/spectrum.js";
import type { LayerStats } from "../stats/moments.js";
import { reduceRows, reducedAugmented } from "../linalg/reduce.js";
import { deflatedResidualSq, type DeflatedResidual } from "../linalg/deflated.js";
import type { ReducedSpectrum } from "./layer-spectrum.js";

/**
 * `DEEP_NRC_TWO_LEVEL=0` in the environment turns the two-level solve off (the QR fallback as
 * before issue 22): a diagnostic switch for benchmarks and bisection, read at each call.
 */
function twoLevelOff(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.DEEP_NRC_TWO_LEVEL;
  return env === "0";
}

/**
 * NRC4's residual ‖(I − H·pinv(H))·Yc‖² by the two-level solve, or null (the caller factorises).
 * @internal
 */
export async function layerDeflatedResidual(
  k: CompleteKernels,
  s: LayerStats,
  spec: Spectrum,
  rtol: number,
  data: { h: Mat; yc: Mat },
  reduced?: ReducedSpectrum,
): Promise<DeflatedResidual | null> {
  if (twoLevelOff()) return null;
  const n = s.count;
  if (!reduced) {
    const gram = { rows: s.d, cols: s.d, data: s.m2H };
    return deflatedResidualSq(k, {
      a: data.h,
      yc: data.yc,
      mean: s.meanH,
      gram,
      values: spec.values.map((v) => v * n),
      vectors: spec.vectors,
      rtol,
    });
  }
  const { red, gram, spec: rs } = reduced;
  const kept = red.keep.length;
  const ones = red.constSq > 0;
  const w = kept + (ones ? 1 : 0);
  const { a } = reducedAugmented(red, data.h, null);
  const mean = new Float64Array(w);
  mean.set(reduceRows(red, s.meanH, 1));
  if (ones) mean[kept] = Math.sqrt(red.constSq);
  const values = new Float64Array(w);
  for (let j = 0; j < rs.values.length; j++) values[j] = rs.values[j] * n;
  // The constant column is a zero row and column of the centered Gram.
  let g = gram;
  let vectors: Mat | undefined = rs.vectors;
  if (ones) {
    const gd = new Float64Array(w * w);
    for (let i = 0; i < kept; i++) gd.set(gram.data.subarray(i * kept, i * kept + kept), i * w);
    g = { rows: w, cols: w, data: gd };
    vectors = undefined;
  }
  return deflatedResidualSq(k, {
    a,
    yc: data.yc,
    mean,
    gram: g,
    values,
    vectors,
    rtol,
  });
}
