/**
 * NRC4, linear predictability: ‖(I − H·pinv(H))·Yc‖² / (N·q), with pinv's cutoff set by the
 * preset ({@link nrc4Rtol}). The residual comes from a TSQR factor when the statistics hold one;
 * otherwise from the data, by normal equations solved with the Gram's eigenvectors or Cholesky
 * factor and refined against the data where the spectrum proves that safe
 * (`linalg/lstsq.ts`); where it does not, by the two-level solve of `linalg/deflated.ts` (the
 * Gram's well-resolved directions, then the data deflated of them: no QR of all of H), and by a
 * Householder QR of [H | Y | 1] and an SVD of its factor where that cannot certify its value.
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import type { Spectrum } from "../linalg/spectrum.js";
import { centeredGramSolver, refinedResidualSq, type CenteredGramEigen } from "../linalg/lstsq.js";
import { augmented, centerWith, nrc4Residual, type LayerStats } from "../stats/moments.js";
import { reduceRows, reducedAugmented } from "../linalg/reduce.js";
import type { Ctx } from "./options.js";
import { nrc4Cutoff } from "./nrc4-cutoff.js";
import type { ReducedSpectrum } from "./layer-spectrum.js";
import { layerDeflatedResidual } from "./nrc4-deflated.js";

/** What the NRC4 refinement solves with ({@link centeredGramSolver}) for a layer's statistics. @internal */
export function layerGramSolver(
  k: CompleteKernels,
  s: LayerStats,
  spec: Spectrum,
): Promise<CenteredGramEigen> {
  const c = { rows: s.d, cols: s.d, data: s.m2H };
  return centeredGramSolver(
    k,
    c,
    spec.values.map((v) => v * s.count),
    spec.vectors,
    s.meanH,
  );
}

/** pinv's cutoff for NRC4 under a preset. @internal */
export function nrc4Rtol(
  ctx: Pick<Ctx, "preset" | "precision" | "nrc4Rtol">,
  n: number,
  d: number,
): number {
  return nrc4Cutoff(ctx.preset, n, d, ctx.precision, ctx.nrc4Rtol);
}

/**
 * NRC4's residual ‖(I − H·pinv(H))·Yc‖²: from the TSQR factor when the statistics hold one;
 * otherwise from the data, by refined normal equations where the spectrum proves them safe
 * ({@link refinedResidualSq}) and by a Householder QR of [H | Y | 1] where it does not.
 */
export async function layerResidual(
  k: CompleteKernels,
  s: LayerStats,
  spec: Spectrum,
  rtol: number,
  data: { h: Mat; y: Mat } | undefined,
  reduced?: ReducedSpectrum,
  beforeFactor?: () => Promise<unknown>,
): Promise<number> {
  if (s.r) return nrc4Residual(k, { ...s, r: s.r }, rtol);
  if (!data) throw new Error("finalizeLayer: neither a TSQR factor, the data nor the residual");
  const yc = centerWith(data.y, s.meanY);
  const cross = { rows: s.d, cols: s.q, data: s.cross };
  let refined: number | null;
  if (reduced) {
    const { red, gram, spec: rs } = reduced;
    const dr = red.keep.length;
    const eig = await centeredGramSolver(
      k,
      gram,
      rs.values.map((v) => v * s.count),
      rs.vectors,
      reduceRows(red, s.meanH, 1),
    );
    refined = await refinedResidualSq(k, data.h, yc, { ...eig, columns: red }, rtol, {
      rows: dr,
      cols: s.q,
      data: reduceRows(red, s.cross, s.q),
    });
    if (refined !== null) return refined;
    await beforeFactor?.();
    const two = await layerDeflatedResidual(k, s, spec, rtol, { h: data.h, yc }, reduced);
    if (two) return two.residual;
    const { a, d: width } = reducedAugmented(red, data.h, data.y);
    const r = (await k.qr(a)).R;
    return nrc4Residual(k, { ...s, d: width, r }, rtol);
  }
  refined = await refinedResidualSq(k, data.h, yc, await layerGramSolver(k, s, spec), rtol, cross);
  if (refined !== null) return refined;
  await beforeFactor?.();
  const two = await layerDeflatedResidual(k, s, spec, rtol, { h: data.h, yc });
  if (two) return two.residual;
  const r = (await k.qr(augmented(data.h, data.y))).R;
  return nrc4Residual(k, { ...s, r }, rtol);
}
