/**
 * `measureNRC`: every Deep Neural Regression Collapse condition of Rangamani & Unal (2026), per
 * layer, from one pass of shared intermediates per layer (`shiftedMoments`: the centered Gram,
 * the feature–target cross products and the means in one read of H): every eigenvalue of the
 * Gram and its leading max(t, r) eigenvectors (NRC1, NRC2, stable rank, intrinsic-dimension
 * variants; all of them only for the bottom-subspace alignment), the weight's Gram (NRC3, its
 * stable rank), and for NRC4 the normal equations — solved with the Gram's Cholesky factor, or
 * its eigenvectors when all are at hand — refined against the data where the Gram's spectrum
 * proves that safe, else a Householder QR of [H | Y | 1] and an SVD of its factor. Nothing N×N
 * is formed. The per-layer engine is `layer.ts` (with `spectrum.ts` and `nrc4.ts`), shared with
 * the streaming accumulator.
 * @module
 */
import { assertFinite, type MatrixInput, asMatrix } from "../linalg/matrix.js";
import { center, frobeniusSq } from "../linalg/center.js";
import { startBatchStats } from "../stats/moments.js";
import { withKernels } from "../backends/shared.js";
import { NRCInputError, checkCallback, checkKeys } from "../errors.js";
import { pow2Normalized, pow2Scaled, unscaleSquared } from "../linalg/scale.js";
import { checkDebiased } from "../metrics/cka.js";
import { type LayerReport, type NRCReport, assembleReport } from "./report.js";
import { NRC_OPTION_KEYS, checkNRCOptions, type Ctx, type NRCOptions } from "./options.js";
import { coarser, precisionOf, resolvePrecision, type FeaturePrecision } from "./nrc4-cutoff.js";
import {
  type LayerInput,
  roughWork,
  prepareLayer,
  repeatRows,
  momentsFinite,
  finalizeLayer,
} from "./layer.js";
import { certifiedEligible, certifiedLayer } from "./certified-layer.js";

/** The keys {@link measureNRC} reads (others are rejected). @internal */
export const MEASURE_KEYS = [
  "layers",
  "targets",
  ...NRC_OPTION_KEYS,
  "onProgress",
  "debiased",
] as const;

/** The keys of one {@link LayerInput}. @internal */
export const LAYER_KEYS = ["name", "features", "weight"] as const;

/** Arguments of {@link measureNRC}: the layers, the targets, and the shared {@link NRCOptions}. */
export interface MeasureOptions extends NRCOptions {
  /** The layers, input side first. */
  layers: readonly LayerInput[];
  /** N×q targets. */
  targets: MatrixInput;
  /** Called after each layer with (layers done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Measures Deep Neural Regression Collapse layer by layer (Rangamani & Unal 2026): NRC1 noise
 * component, NRC2 signal–target alignment, NRC3 feature–weight alignment, NRC4 linear
 * predictability, stable ranks, intrinsic-dimension variants and the first collapsed layer.
 *
 * A layer whose features have zero variance (a dead ReLU layer) or fewer than t columns is
 * reported with `degenerate` set and null metrics; the others are still measured.
 * @param options - layers (features entering each linear map + its weight), targets, and
 *   `t`, `r`, `preset`, `modelMSE`, `collapseThreshold`, `backend`, `onProgress`.
 * @returns an {@link NRCReport}.
 * @throws NRCInputError on malformed input: no layers, a row-count mismatch, a weight whose
 *   column count differs from the features', NaN/±Infinity, t or r out of range, zero-variance
 *   targets, a bad preset/threshold/modelMSE.
 * @example
 * ```ts
 * import { measureNRC } from "deep-nrc";
 * const report = await measureNRC({
 *   layers: [{ name: "fc1", features: H1, weight: W1 }, { name: "fc2", features: H2, weight: W2 }],
 *   targets: Y,
 * });
 * console.log(report.firstCollapsedLayer, report.layers.map((l) => l.nrc1));
 * ```
 */
export async function measureNRC(options: MeasureOptions): Promise<NRCReport> {
  const fn = "measureNRC";
  if (options === null || typeof options !== "object")
    throw new NRCInputError(
      fn,
      "options",
      `options must be { layers, targets, … }; got ${options === null ? "null" : typeof options}`,
    );
  checkKeys(fn, "options", options, MEASURE_KEYS);
  checkCallback(fn, "onProgress", options.onProgress);
  const { layers } = options;
  if (!Array.isArray(layers) || layers.length === 0)
    throw new NRCInputError(
      fn,
      "layers",
      `layers must be a non-empty array of { name?, features, weight? }; got ${Array.isArray(layers) ? "[]" : typeof layers}`,
    );
  // Before any work: a misspelt key (`weights:`) would otherwise drop a metric silently.
  layers.forEach((l: unknown, i) => {
    if (l !== null && typeof l === "object") checkKeys(fn, `layers[${i}]`, l, LAYER_KEYS);
  });
  const o = checkNRCOptions(fn, options);
  const { preset, r, modelMSE, threshold } = o;
  // Exact power-of-two rescaling of targets and features of extreme size (outside 2^±200), so
  // their Grams stay finite and normal; NRC4 is scaled back (it scales with Y²), the rest is
  // scale invariant.
  const { m: y, exp: yExp } = pow2Normalized(asMatrix(fn, "targets", options.targets, 2));
  const t = o.t ?? y.cols;
  const yc = center(y).centered;
  if (!(frobeniusSq(yc) > 0))
    throw new NRCInputError(
      fn,
      "targets",
      `targets have zero variance (every column constant across ${y.rows} samples); NRC2 and NRC4 are undefined`,
    );
  const debiased = checkDebiased(fn, o.debiased, y.rows);
  // NRC4's cutoff follows the least precise features (nrc4-cutoff.ts).
  let detected: FeaturePrecision = "float64";
  for (const l of layers)
    detected = coarser(detected, precisionOf((l as LayerInput | null)?.features));
  const ctx: Ctx = {
    preset,
    t,
    r,
    modelMSE,
    threshold,
    debiased,
    precision: resolvePrecision(o.precisionOption, detected),
    nrc4Rtol: o.nrc4Rtol,
  };
  let work = 0;
  for (const layer of layers) work += roughWork((layer as LayerInput | null)?.features);
  return withKernels(fn, options.backend, work, async (k) => {
    const out: LayerReport[] = [];
    // A reusable buffer for backends that center by copying (allocated only if one asks).
    let buf = new Float64Array(0);
    const scratch = (len: number) => (buf.length >= len ? buf : (buf = new Float64Array(len)));
    const prepare = (i: number) => {
      const arg = `layers[${i}]`;
      const layer = layers[i];
      if (layer === null || typeof layer !== "object")
        throw new NRCInputError(
          fn,
          arg,
          `${arg} must be { name?, features, weight? }; got ${layer === null ? "null" : typeof layer}`,
        );
      // Finiteness of the features is read off their moments (a pass made anyway) instead of a
      // scan of its own; the scan runs only when they are not finite, to name the entry.
      const p = prepareLayer(
        fn,
        arg,
        i,
        layer.features,
        layer.weight,
        layer.name,
        preset,
        y.rows,
        true,
      );
      p.h = pow2Scaled(p.h);
      if (p.w) p.w = pow2Scaled(p.w);
      const yr = repeatRows(y, p.repeat);
      // A layer the certified path may take starts no float64 moments (its fallback starts them
      // when asked: `finish()`), so its float32 Gram has the worker threads to itself.
      const cert = certifiedEligible(k, ctx, p.h.rows, p.h.cols);
      let started: ReturnType<typeof startBatchStats> | null = cert
        ? null
        : startBatchStats(k, p.h, yr, scratch);
      const stats = {
        finish: () => (started ??= startBatchStats(k, p.h, yr, scratch)).finish(),
        settle: () => (started ? started.finish().catch(() => undefined) : undefined),
      };
      return { arg, p, yr, cert, stats };
    };
    // Layer i + 1's moments are started (on the wasm backend's worker threads, in the
    // background) before layer i is finished, so the two overlap.
    let next: ReturnType<typeof prepare> | null = prepare(0);
    try {
      for (let i = 0; i < layers.length; i++) {
        const { arg, p, yr, cert, stats: pending } = next!;
        next = null;
        if (cert) {
          const notFinite = () => assertFinite(fn, `${arg}.features`, p.h);
          const rep = await certifiedLayer(k, i, p, yr, ctx, notFinite);
          if (rep) {
            out.push(rep);
            if (i + 1 < layers.length) next = prepare(i + 1);
            options.onProgress?.(i + 1, layers.length);
            continue;
          }
        }
        const { stats, rows } = await pending.finish();
        if (!momentsFinite(stats)) assertFinite(fn, `${arg}.features`, p.h);
        if (i + 1 < layers.length) next = prepare(i + 1);
        const upcoming = next;
        out.push(
          await finalizeLayer(k, i, p, stats, ctx, {
            data: { h: rows, y: yr },
            // An error of the next layer surfaces when its turn comes (finish() is memoised).
            beforeFactor: upcoming
              ? () => upcoming.stats.finish().catch(() => undefined)
              : undefined,
          }),
        );
        options.onProgress?.(i + 1, layers.length);
      }
    } finally {
      // A layer that failed leaves the next one's moments pending: complete them (unused).
      if (next) await next.stats.settle();
    }
    if (yExp !== 0)
      for (const l of out) {
        if (l.nrc4 === null) continue;
        const v = unscaleSquared(l.nrc4, yExp);
        if (!Number.isFinite(v))
          throw new NRCInputError(
            fn,
            "targets",
            `NRC4 of ${l.name} ${yExp > 0 ? "overflows" : "underflows"} float64: ${l.nrc4} × 2^${2 * yExp} (the targets reach 2^${yExp}); rescale the targets`,
          );
        l.nrc4 = v;
        l.nrc4OverModelMSE = modelMSE !== null ? v / modelMSE : null;
      }
    return assembleReport(
      k,
      ctx,
      { samples: y.rows, count: y.rows, q: y.cols, m2Y: (await k.gram(yc)).data },
      out,
    );
  });
}

export { DEFAULT_COLLAPSE_THRESHOLD } from "./options.js";
export type { LayerInput } from "./layer.js";
