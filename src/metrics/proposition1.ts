/**
 * Proposition 1 of Rangamani & Unal (2026, Appendix C): with ε₁ = NRC1 and ε₂ = 1 − NRC2,
 *
 *   ‖Hc − P_Y·Hc‖_F / ‖Hc‖_F ≤ √ε₁ + √ε₂,   P_Y = Yc·pinv(Yc),
 *
 * i.e. features with little noise and a well-aligned signal lie close to the targets' span.
 * The paper assumes "the energy of H_sig is spread evenly"; the bound holds (and is tight) when
 * both the signal part `Hc·U_t·U_tᵀ` AND the targets have equal singular values. With
 * anisotropic targets it can fail (the proof's step CKA = (1/t)·Σcos²θ needs isotropic targets
 * too): e.g. targets scaled (1, 0.1, 0.01) and a signal 0.3 rad off their span give
 * lhs 0.826 > bound 0.689. This function reports both sides; it does not assume the hypotheses.
 * @module
 */
import { checkDim, checkOptions } from "../errors.js";
import { pow2Scaled } from "../linalg/scale.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { center, frobeniusSq } from "../linalg/center.js";
import { defaultRtol, pinvResidualSq } from "../linalg/lstsq.js";
import { withKernels, workOf } from "../backends/shared.js";
import { checkSameRows, checkVariance } from "./matrix-checks.js";
import { featureSpectrum, noiseFromSpectrum, type MetricOptions } from "./noise.js";
import { nrc2FromParts } from "./cka.js";

/** Both sides of Proposition 1's bound. */
export interface Proposition1Result {
  /** ‖Hc − P_Y·Hc‖_F / ‖Hc‖_F. */
  lhs: number;
  /** √ε₁ + √ε₂. */
  bound: number;
  /** NRC1(H, t). */
  eps1: number;
  /** 1 − NRC2(H, Y, t) (paper preset). */
  eps2: number;
  /** lhs ≤ bound (with a relative slack of 1e-12 for rounding). */
  holds: boolean;
}

/**
 * Evaluates Proposition 1's bound `‖Hc − P_Y Hc‖_F/‖Hc‖_F ≤ √NRC1 + √(1 − NRC2)`.
 * @param H - features, N×d.
 * @param Y - targets, N×q.
 * @param t - signal dimension, 1 ≤ t ≤ d.
 * @returns lhs, bound, ε₁, ε₂ and whether the bound holds on this input.
 * @throws NRCInputError on mismatched rows, t out of range, NaN or zero variance.
 * @example
 * ```ts
 * import { proposition1Bound } from "deep-nrc";
 * const { lhs, bound } = await proposition1Bound(H, Y, 2);
 * ```
 */
export async function proposition1Bound(
  H: MatrixInput,
  Y: MatrixInput,
  t: number,
  options: MetricOptions = {},
): Promise<Proposition1Result> {
  const fn = "proposition1Bound";
  checkOptions(fn, options);
  const h = pow2Scaled(toMat(fn, "H", H, { minRows: 2 }));
  const y = pow2Scaled(toMat(fn, "Y", Y, { minRows: 2 }));
  checkSameRows(fn, "H", h, "Y", y);
  checkDim(fn, "t", t, h.cols, "the feature count d");
  const yc = center(y).centered;
  checkVariance(fn, "Y", frobeniusSq(yc), y);
  return withKernels(fn, options.backend, workOf(h, y), async (k) => {
    const { hc, spectrum } = await featureSpectrum(k, fn, "H", h, t);
    const eps1 = noiseFromSpectrum(spectrum, t);
    const c = await k.crossProd(hc, yc);
    const yyF = Math.sqrt(frobeniusSq(await k.gram(yc)));
    const eps2 = Math.max(1 - nrc2FromParts(spectrum, c, yyF, h.rows, t), 0);
    const { perColumn } = await pinvResidualSq(k, yc, hc, defaultRtol(yc.rows, yc.cols));
    let res = 0;
    for (let i = 0; i < perColumn.length; i++) res += perColumn[i];
    const lhs = Math.sqrt(res / frobeniusSq(hc));
    const bound = Math.sqrt(eps1) + Math.sqrt(eps2);
    return { lhs, bound, eps1, eps2, holds: lhs <= bound * (1 + 1e-12) };
  });
}
