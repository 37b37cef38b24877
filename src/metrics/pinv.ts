/**
 * NRC4, linear predictability (Rangamani & Unal 2026):
 *
 *   NRC4(H, Y) = ‖H·pinv(H)·Yc − Yc‖²_F / (N·q),
 *
 * the mean squared error of the best linear read-out of the (centered) targets from the
 * features as given; pinv's cutoff drops singular values σ ≤ rtol·σ_max with
 * rtol = max(N, d)·ε₆₄ by default (the authors' scripts: 1e-3). ≈ the model's train MSE in
 * collapsed layers. The residual is always formed from the data, never as ‖Y‖² − ‖projection‖²:
 * where the centered Gram's spectrum proves HᵀH well conditioned (κ ≤ 1e12, and every σ above
 * pinv's cutoff) by refined normal equations (`refinedResidualSq`: N·d² for the Gram plus a few
 * N·d·q passes), else by Householder QR + SVD of R (≈ 3× that).
 * @module
 */
import { pow2Normalized, pow2Scaled, unscaleSquared } from "../linalg/scale.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { center } from "../linalg/center.js";
import {
  centeredGramSolver,
  defaultRtol,
  pinvResidualSq,
  refinedResidualSq,
} from "../linalg/lstsq.js";
import { withKernels, workOf } from "../backends/shared.js";
import { NRCInputError, checkOptions } from "../errors.js";
import { checkSameRows } from "./matrix-checks.js";
import type { MetricOptions } from "./noise.js";

/** Options of {@link pinvPredictMSE}. */
export interface PinvOptions extends MetricOptions {
  /** Relative cutoff: singular values ≤ rtol·σ_max are dropped. Default max(N, d)·ε₆₄. */
  rtol?: number;
  /** Center Y over samples first (default true, as the paper's NRC4). */
  centerY?: boolean;
}

/**
 * NRC4: mean squared residual of the least-squares (pseudo-inverse) prediction of Y from H.
 * @param H - features, N×d, used as given (not centered).
 * @param Y - targets, N×q.
 * @param options - `rtol` (default max(N, d)·ε), `centerY` (default true), `backend`.
 * @returns `‖H·pinv(H)·Y' − Y'‖²_F / (N·q)` with Y' = Yc (or Y when centerY is false); ≥ 0.
 * @throws NRCInputError on mismatched rows, fewer than 2 samples, NaN, or an rtol that is not a finite number ≥ 0.
 * @example
 * ```ts
 * import { pinvPredictMSE } from "deep-nrc";
 * const H = [[1, 2, 0], [2, 1, 1], [3, 5, 1], [4, 3, 2], [0, 1, 0], [5, 4, 3]];
 * const Y = [[1, 0], [0, 1], [2, 1], [1, 3], [0, 0], [3, 1]];
 * await pinvPredictMSE(H, Y, { rtol: 1e-3 }); // 0.6315932311621968
 * ```
 */
export async function pinvPredictMSE(
  H: MatrixInput,
  Y: MatrixInput,
  options: PinvOptions = {},
): Promise<number> {
  const fn = "pinvPredictMSE";
  checkOptions(fn, options);
  // One sample has no centered targets to predict (Yc = 0): as every other metric, N ≥ 2.
  // H·pinv(H) does not change when H is scaled; NRC4 scales with Y², put back at the end.
  const h = pow2Scaled(toMat(fn, "H", H, { minRows: 2 }));
  const { m: y, exp: yExp } = pow2Normalized(toMat(fn, "Y", Y, { minRows: 2 }));
  checkSameRows(fn, "H", h, "Y", y);
  const rtol = options.rtol ?? defaultRtol(h.rows, h.cols);
  if (typeof rtol !== "number" || !Number.isFinite(rtol) || rtol < 0)
    throw new NRCInputError(fn, "rtol", `rtol must be a finite number ≥ 0; got ${String(rtol)}`);
  const centerY = options.centerY ?? true;
  if (typeof centerY !== "boolean")
    throw new NRCInputError(fn, "centerY", `centerY must be a boolean; got ${String(centerY)}`);
  const target = centerY ? center(y).centered : y;
  const unscaled = (v: number) => {
    const out = unscaleSquared(v, yExp);
    if (!Number.isFinite(out))
      throw new NRCInputError(
        fn,
        "Y",
        `NRC4 ${yExp > 0 ? "overflows" : "underflows"} float64: the mean squared residual is ${v} × 2^${2 * yExp} (Y's entries reach 2^${yExp}); rescale Y`,
      );
    return out;
  };
  return withKernels(fn, options.backend, workOf(h, y), async (k) => {
    if (h.rows >= h.cols) {
      const { centered, mean } = center(h);
      const c = await k.gram(centered);
      // Every eigenvalue (the conditioning proof), no eigenvector: the solve uses C's Cholesky
      // factor (or the eigenvectors where a backend returns them anyway).
      const { values, vectors } = await k.symEig(c, { vectors: 0 });
      const clamped = values.map((v) => Math.max(v, 0));
      const solver = await centeredGramSolver(k, c, clamped, vectors, mean);
      const res = await refinedResidualSq(k, h, target, solver, rtol);
      if (res !== null) return unscaled(res / (h.rows * y.cols));
    }
    const { perColumn } = await pinvResidualSq(k, h, target, rtol);
    let s = 0;
    for (let i = 0; i < perColumn.length; i++) s += perColumn[i];
    return unscaled(s / (h.rows * y.cols));
  });
}
