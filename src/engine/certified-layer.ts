/**
 * The certified path of a layer: the O(N·d²) pass in float32 (the backend's `lowGram`), every
 * value the metrics read in float64 on the data at O(N·d·k) with an a-posteriori bound —
 * the spectrum by `linalg/certified.ts` (NRC1's tail, NRC2's and NRC3's top-t vectors, the
 * stable rank's λ₁), NRC4 by the float32 Gram's Cholesky factor as a preconditioner refined on the
 * data (`linalg/preconditioned.ts`). Where a bound misses its tolerance, or the layer is outside
 * what this path covers (preset `reference-code`, `r`, debiased NRC2, narrow layers), it returns
 * null and the caller takes the float64 path: the values never loosen.
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import { columnMeans } from "../backends/composed.js";
import { certifiedSpectrum, lowPrecisionGram } from "../linalg/certified.js";
import { lowGramSolver, preconditionedResidual } from "../linalg/preconditioned.js";
import { augmented, centerWith, nrc4Residual, type LayerStats } from "../stats/moments.js";
import { findReduction } from "../linalg/reduce.js";
import { deflatedResidualSq } from "../linalg/deflated.js";
import type { Ctx } from "./options.js";
import type { LayerCertificate, LayerReport } from "./report.js";
import { finalizeLayer } from "./layer.js";
import { nrc4Rtol } from "./nrc4.js";

/** Narrower layers never take the certified path (t + 8 ≤ d/4 is also needed). */
export const CERTIFIED_MIN_FEATURES = 128;
/**
 * From this width the certified path is measureNRC's default on the `wasm` backend: off
 * (Infinity), as measured. On the 2-core AMD EPYC VM (Node 20, 2 threads, wall time,
 * `npm run bench:certified`, loaded VM) it took 1.57× the float64 path on 8 × 10000 × 512, 1.68× at
 * d = 1024 and 1.00× at 2048 (Node 24: 1.01× on the standard workload; one thread, CPU time: 1.3×,
 * 1.0×, 0.83×): the float32 Gram saves about half of the float64 moments, but the passes over the
 * data, the JS around them and the loss of the float64 path's overlap (the next layer's moments
 * on the workers while this one's eigensolver runs) take it back. Backends whose float64 Gram is
 * the slow route (webgpu, tfjs: their `lowGram` is the GPU's float32 pass) take it from
 * {@link CERTIFIED_MIN_FEATURES}. `DEEP_NRC_CERTIFIED=1` takes it wherever a layer's shape allows
 * on any backend with `lowGram`; `=0`, never.
 */
export const CERTIFIED_WASM_MIN_FEATURES = Infinity;

function policyMin(k: CompleteKernels): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.DEEP_NRC_CERTIFIED;
  if (env === "0") return Infinity;
  if (env === "1") return CERTIFIED_MIN_FEATURES;
  return k.name === "wasm" ? CERTIFIED_WASM_MIN_FEATURES : CERTIFIED_MIN_FEATURES;
}

/** Basis vectors beyond t in the subspace iteration. */
const EXTRA = 8;
/** Relative accuracy the certified values must have. */
const RTOL = 1e-10;

/** Whether a layer of N×d features may take the certified path under `ctx`. @internal */
export function certifiedEligible(k: CompleteKernels, ctx: Ctx, n: number, d: number): boolean {
  return (
    k.lowGram !== undefined &&
    ctx.preset === "paper" &&
    ctx.r === null &&
    !ctx.debiased &&
    d >= policyMin(k) &&
    4 * (ctx.t + EXTRA) <= d &&
    n >= 2 * d
  );
}

/**
 * One layer on the certified path, or null (not certified: the caller takes the float64 path).
 * `notFinite` is called (and should throw) when the features' moments are not finite.
 * @internal
 */
export async function certifiedLayer(
  k: CompleteKernels,
  index: number,
  meta: { name: string; kind: "dense" | "conv"; w: Mat | null; h: Mat },
  y: Mat,
  ctx: Ctx,
  notFinite: () => void,
): Promise<LayerReport | null> {
  const h = meta.h;
  const n = h.rows;
  const d = h.cols;
  const q = y.cols;
  const t = ctx.t;
  const low = await lowPrecisionGram(k, h);
  if (!low) return null;
  if (!Number.isFinite(low.trace) || !low.mean.every(Number.isFinite)) notFinite();
  // Zero or near-zero variance: the float64 path reports it (degenerate) or resolves it. Exactly
  // constant or duplicated columns (dead units, copies; candidates from the float32 Gram, whose
  // entries for identical columns are computed alike, verified bit for bit against the data):
  // the float64 path's column reduction keeps such a layer on its fast path.
  if (!(low.trace > 0) || low.approx.error >= 0.01 * low.trace) return null;
  if (findReduction(h, low.mean, low.approx.gram.data)) return null;
  // NRC4's preconditioner first: where the float32 Gram cannot precondition (its error, seen on
  // the diagonal against the exact squares, near λ_min) and κ(HᵀH) is not past the float64
  // path's 1e12 either, that path serves the layer better — before any pass over the data.
  const solver = await lowGramSolver(k, low.approx, low.mean, low.trace);
  let mu2 = 0;
  for (let j = 0; j < d; j++) mu2 += low.mean[j] * low.mean[j];
  const lamMinEst = (solver?.bounds?.lower ?? 0) * 4;
  const preconditions = solver !== null && lamMinEst > 4 * diagError(low, d);
  // (Where C̃'s Cholesky fails outright, λ_min is below the float32 resolution and only the
  // certified tail can tell whether κ(HᵀH) is past 1e12: decided after the spectrum.)
  if (solver && !preconditions && !((low.trace + n * mu2) / (lamMinEst + low.approx.error) > 1e12))
    return null;
  const cs = await certifiedSpectrum(k, h, low.mean, low.approx, { t, extra: EXTRA, rtol: RTOL });
  const c = cs.certificate;
  if (!c.certified) return null;
  const meanY = columnMeans(y);
  const yc = centerWith(y, meanY);
  // HcᵀYc = HᵀYc − μ·(1ᵀYc), 1ᵀYc = 0 up to rounding, subtracted as computed.
  const g = (await k.normalStep(h, yc)).g.data;
  const ys = new Float64Array(q);
  for (let o = 0; o < yc.data.length; o += q) for (let j = 0; j < q; j++) ys[j] += yc.data[o + j];
  const cross = new Float64Array(d * q);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < q; j++) cross[i * q + j] = g[i * q + j] - low.mean[i] * ys[j];
  const rtol = nrc4Rtol(ctx, n, d);
  const refined =
    solver && preconditions
      ? await preconditionedResidual(k, h, yc, solver, rtol, { rows: d, cols: q, data: g })
      : null;
  let nrc4: {
    residual: number;
    passes: number;
    rel: number;
    route: LayerCertificate["nrc4"];
  };
  if (refined && refined.excessRel <= RTOL)
    nrc4 = {
      residual: refined.residual,
      passes: refined.passes,
      rel: refined.excessRel,
      route: "refined",
    };
  else {
    // κ(HᵀH) ≥ (λ₁ + N‖μ‖²)/λ_min, with λ_min ≤ tail/(d − t) and λ_min ≤ λ_min(C̃) + η ≤ the
    // inverse iteration's estimate + η: past 1e12 the float64 path's refinement is refused too
    // and it factorises [H | Y | 1] — so factorise here, keeping the certified spectrum.
    const lamMin = Math.min(
      (cs.tail * n) / (d - t),
      (solver?.bounds?.lower ?? Infinity) * 4 + low.approx.error,
    );
    if (!((cs.values[0] * n + n * mu2) / lamMin > 1e12)) return null;
    // The two-level solve (linalg/deflated.ts) from the float32 Gram's eigenvalues (resolved to
    // its error bound) and leading subspace; the QR of [H | Y | 1] where it cannot certify.
    const { values } = await k.symEig(low.approx.gram, { vectors: 0 });
    const two = await deflatedResidualSq(k, {
      a: h,
      yc,
      mean: low.mean,
      gram: low.approx.gram,
      values: values.map((v) => Math.max(v, 0)),
      vectors: cs.vectors,
      rtol,
      resolution: low.approx.error,
    });
    if (two && two.errorRel <= RTOL)
      nrc4 = { residual: two.residual, passes: two.passes, rel: two.errorRel, route: "two-level" };
    else {
      const r = (await k.qr(augmented(h, y))).R;
      const residual = await nrc4Residual(
        k,
        { count: n, d, q, meanY, r } as LayerStats & { r: Mat },
        rtol,
      );
      nrc4 = { residual, passes: 0, rel: 0, route: "qr" };
    }
  }
  const s: LayerStats = {
    count: n,
    d,
    q,
    meanH: low.mean,
    meanY,
    // The approximate Gram: nothing on this path reads m2H (spectrum, tails and residual given).
    m2H: low.approx.gram.data,
    cross,
    m2Y: (await k.gram(yc)).data,
  };
  const certificate: LayerCertificate = {
    spectrumPasses: c.passes,
    nrc1Rel: c.tailRel,
    eigenvalueRel: c.valueRel,
    sinTheta: c.sinTheta,
    gramErrorRel: c.gramError / low.trace,
    nrc4: nrc4.route,
    nrc4Passes: nrc4.passes,
    nrc4Rel: nrc4.rel,
  };
  return finalizeLayer(k, index, meta, s, ctx, {
    spec: { values: cs.values, vectors: cs.vectors, total: cs.total },
    residual: nrc4.residual,
    tails: (from) => {
      if (from !== t) throw new Error(`certifiedLayer: only the tail at t = ${t} is certified`);
      return cs.tail;
    },
    certificate,
  });
}

/**
 * √d · the largest error of the approximate Gram's diagonal against the float64 one (exact
 * squares, re-centered alike): a sample of its actual error, which the a-priori bound overstates
 * ~100×.
 */
function diagError(low: { approx: { gram: Mat }; diag: Float64Array }, d: number): number {
  let e = 0;
  for (let j = 0; j < d; j++)
    e = Math.max(e, Math.abs(low.approx.gram.data[j * d + j] - low.diag[j]));
  return Math.sqrt(d) * e;
}
