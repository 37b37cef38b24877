/**
 * NRC4's pseudo-inverse cutoff, aware of the precision the features were computed in.
 *
 * The rule (preset `paper`): singular values σ ≤ rtol·σ_max of H (N×d, as given) are dropped, with
 *
 *     float64 features:          rtol = max(N, d)·ε₆₄                      (as before, SPEC)
 *     float32 / float16 features: rtol = max(d·ε_p, max(N, d)·ε₆₄)
 *     ε₆₄ = 2⁻⁵² ≈ 2.2e-16 · ε₃₂ = 2⁻²³ ≈ 1.2e-7 · ε₁₆ = 2⁻¹⁰ ≈ 9.8e-4 (machine epsilons).
 *
 * Why: features computed in float32 (ONNX Runtime, PyTorch, `.npy` f4, `Float32Array` inputs)
 * carry rounding noise of a few ε₃₂ relative to their size in every direction, so a direction of
 * H below ~ε₃₂·σ_max is the runtime's noise, not the model: with the float64 cutoff NRC4 of a
 * rank-deficient layer (LayerNorm outputs, linear bottlenecks) depends on which runtime computed
 * the features. The noise's norm relative to σ_max does not grow with N (both grow like √N), so
 * the cutoff scales with the width d (the number of directions the noise spreads over), not with
 * the rows: numpy's Array-API default for `pinv`/`matrix_rank` on a float32 array,
 * max(N, d)·ε₃₂, would drop real directions of conv layers, whose rows are N·h·w
 * (4096·1024·ε₃₂ ≈ 0.5). Float64 features keep the float64 cutoff exactly. Preset
 * `reference-code` keeps the authors' fixed rtol = 1e-3. `nrc4Rtol` overrides both.
 *
 * `featurePrecision: "auto"` (the default) reads the precision off the data: the measurement is as
 * precise as its least precise features (a `Float32Array` in any layer, any batch → float32).
 * @module
 */
import { NRCInputError, type Preset } from "../errors.js";

/** The precision features were computed in. */
export type FeaturePrecision = "float64" | "float32" | "float16";

/** `featurePrecision` option: a precision, or `"auto"` (read off the data: Float32Array → float32). */
export type FeaturePrecisionOption = "auto" | FeaturePrecision;

/** Machine epsilon (spacing of the numbers at 1) of each precision. */
export const MACHINE_EPSILON: Readonly<Record<FeaturePrecision, number>> = {
  float64: 2 ** -52,
  float32: 2 ** -23,
  float16: 2 ** -10,
};

const ORDER: Record<FeaturePrecision, number> = { float64: 0, float32: 1, float16: 2 };

/** The coarser of two precisions. */
export function coarser(a: FeaturePrecision, b: FeaturePrecision): FeaturePrecision {
  return ORDER[a] >= ORDER[b] ? a : b;
}

/**
 * The precision of a features argument, read off its storage: a matrix or tensor whose `data` is
 * a `Float32Array` (or a `Float32Array` itself) is float32; anything else float64.
 */
export function precisionOf(x: unknown): FeaturePrecision {
  if (x instanceof Float32Array) return "float32";
  if (x !== null && typeof x === "object" && (x as { data?: unknown }).data instanceof Float32Array)
    return "float32";
  return "float64";
}

/**
 * NRC4's relative cutoff: `nrc4Rtol` when given, else 1e-3 (preset reference-code), else
 * max(n, d)·ε₆₄ for float64 features and max(d·ε_p, max(n, d)·ε₆₄) for float32/float16 ones.
 * @param preset - `paper` or `reference-code`.
 * @param n - rows of H (samples; conv: samples × positions).
 * @param d - columns of H.
 * @param precision - the features' precision (default float64).
 * @param override - an explicit rtol (the `nrc4Rtol` option), used as given.
 * @returns rtol: singular values σ ≤ rtol·σ_max are dropped.
 */
export function nrc4Cutoff(
  preset: Preset,
  n: number,
  d: number,
  precision: FeaturePrecision = "float64",
  override?: number | null,
): number {
  if (override !== undefined && override !== null) return override;
  if (preset === "reference-code") return 1e-3;
  const f64 = Math.max(n, d) * MACHINE_EPSILON.float64;
  return precision === "float64" ? f64 : Math.max(d * MACHINE_EPSILON[precision], f64);
}

/** Validates the `featurePrecision` option (default `"auto"`). */
export function checkPrecisionOption(fn: string, v: unknown): FeaturePrecisionOption {
  if (v === undefined) return "auto";
  if (v === "auto" || v === "float64" || v === "float32" || v === "float16") return v;
  throw new NRCInputError(
    fn,
    "featurePrecision",
    `featurePrecision must be "auto", "float64", "float32" or "float16"; got ${JSON.stringify(v) ?? String(v)}`,
  );
}

/** Validates the `nrc4Rtol` option: absent, or a finite number in [0, 1). */
export function checkRtolOption(fn: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v >= 1)
    throw new NRCInputError(
      fn,
      "nrc4Rtol",
      `nrc4Rtol must be a finite number in [0, 1) (a cutoff relative to σ_max); got ${String(v)}`,
    );
  return v;
}

/** The precision a measurement uses: the option, or (auto) the coarsest of the data's. */
export function resolvePrecision(
  option: FeaturePrecisionOption,
  detected: FeaturePrecision,
): FeaturePrecision {
  return option === "auto" ? detected : option;
}

/**
 * The precision of a streamed measurement: the option, or (auto) the coarsest features seen in
 * any batch or merged state. @internal
 */
export class PrecisionTracker {
  private seen: FeaturePrecision = "float64";
  constructor(private readonly option: FeaturePrecisionOption = "auto") {}

  /** The coarsest precision of `features` and what was seen before (not yet recorded). */
  peek(features: readonly unknown[]): FeaturePrecision {
    let p = this.seen;
    for (const f of features) p = coarser(p, precisionOf(f));
    return p;
  }

  /** Records a precision seen (a batch's, from {@link peek}, or a merged or loaded state's). */
  see(p: FeaturePrecision): void {
    this.seen = coarser(this.seen, p);
  }

  /** The precision NRC4's cutoff uses. */
  get value(): FeaturePrecision {
    return resolvePrecision(this.option, this.seen);
  }

  /** What a state records: the precision when coarser than float64, else nothing. */
  stateField(): { featurePrecision?: "float32" | "float16" } {
    const p = this.value;
    return p === "float64" ? {} : { featurePrecision: p };
  }
}
