/**
 * Load-time checks of a serialised accumulator state ({@link AccumulatorState}) beyond the
 * shapes `statsFromJSON` checks: a state is either consistent with itself — options of the right
 * types, names and kinds one per layer, every layer's count fitting `samples`, symmetric second
 * moments with non-negative diagonals within Cauchy–Schwarz, the same targets in every layer,
 * and a TSQR factor R whose RᵀR reproduces the moments — or it is rejected with an
 * `NRCInputError` naming the field. Tampering that keeps a state consistent (e.g. a smaller
 * change than rounding could explain) cannot be told from a genuine state.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { LayerStats } from "../stats/moments.js";

/** The option keys a state holds. */
const OPTION_KEYS = [
  "t",
  "r",
  "preset",
  "modelMSE",
  "collapseThreshold",
  "nrc4",
  "debiased",
  "featurePrecision",
  "nrc4Rtol",
];

/**
 * Relative tolerance of the consistency checks, against each entry's Cauchy–Schwarz scale:
 * rounding in merged float64 sums is ~1e-15 of it, 10⁴× less; a change this small moves no
 * metric by more than ~1e-10 relative.
 */
const TOL = 1e-11;

const posInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;
const show = (v: unknown) => (v === undefined ? "undefined" : JSON.stringify(v));

/**
 * Checks the parts of a state that are not the layers' numbers: `options`, `samples`, `names`,
 * `kinds`, and that `layers` is null (an empty accumulator) or a non-empty array.
 * @throws NRCInputError naming the field.
 */
export function checkStateShape(fn: string, s: Record<string, unknown>): void {
  const bad = (field: string, what: string, got: unknown): never => {
    throw new NRCInputError(fn, "state", `state.${field} must be ${what}; got ${show(got)}`);
  };
  const o = s.options as Record<string, unknown> | null;
  if (o === null || typeof o !== "object" || Array.isArray(o)) bad("options", "an object", o);
  for (const key of Object.keys(o!))
    if (!OPTION_KEYS.includes(key))
      bad(`options.${key}`, `absent (accepted keys: ${OPTION_KEYS.join(", ")})`, o![key]);
  const { t, r, preset, modelMSE, collapseThreshold, nrc4 } = o!;
  if (t !== null && !posInt(t)) bad("options.t", "null or a positive integer", t);
  if (r !== null && r !== undefined && !posInt(r))
    bad("options.r", "null or a positive integer", r);
  if (preset !== "paper" && preset !== "reference-code")
    bad("options.preset", '"paper" or "reference-code"', preset);
  if (
    modelMSE !== null &&
    modelMSE !== undefined &&
    !(typeof modelMSE === "number" && Number.isFinite(modelMSE) && modelMSE > 0)
  )
    bad("options.modelMSE", "null or a finite number > 0", modelMSE);
  if (!(
    typeof collapseThreshold === "number" &&
    Number.isFinite(collapseThreshold) &&
    collapseThreshold >= 0
  ))
    bad("options.collapseThreshold", "a finite number ≥ 0", collapseThreshold);
  if (o!.debiased !== undefined && typeof o!.debiased !== "boolean")
    bad("options.debiased", "absent or a boolean", o!.debiased);
  const fp = o!.featurePrecision;
  if (fp !== undefined && fp !== "float32" && fp !== "float16")
    bad("options.featurePrecision", '"float32", "float16" or absent', fp);
  const rt = o!.nrc4Rtol;
  if (rt !== undefined && !(typeof rt === "number" && Number.isFinite(rt) && rt >= 0 && rt < 1))
    bad("options.nrc4Rtol", "a number in [0, 1) or absent", rt);
  if (nrc4 !== undefined && nrc4 !== "tsqr" && nrc4 !== "rescan")
    bad("options.nrc4", '"tsqr" or "rescan" (or absent)', nrc4);
  const layers = s.layers;
  const samples = s.samples;
  if (layers === null) {
    if (samples !== 0) bad("samples", "0 in a state without layers (layers: null)", samples);
    if (s.kinds !== null && s.kinds !== undefined)
      bad("kinds", "null in a state without layers", s.kinds);
    return;
  }
  if (!Array.isArray(layers) || layers.length === 0)
    bad("layers", "null (nothing added) or a non-empty array of layer states", layers);
  const L = (layers as unknown[]).length;
  if (!posInt(samples)) bad("samples", "a positive integer", samples);
  if (s.names !== null && s.names !== undefined) {
    const names = s.names;
    if (!Array.isArray(names) || names.length !== L)
      bad("names", `null or an array of ${L} strings (one per layer)`, names);
    (names as unknown[]).forEach((v, i) => {
      if (typeof v !== "string") bad(`names[${i}]`, "a string", v);
    });
  }
  if (s.kinds !== null && s.kinds !== undefined) {
    const kinds = s.kinds;
    if (!Array.isArray(kinds) || kinds.length !== L)
      bad("kinds", `null or an array of ${L} kinds (one per layer)`, kinds);
    (kinds as unknown[]).forEach((v, i) => {
      if (v !== "dense" && v !== "conv") bad(`kinds[${i}]`, '"dense" or "conv"', v);
    });
  }
}

/**
 * Checks the numbers of parsed layer statistics against each other and against `samples`.
 * @throws NRCInputError naming `state.layers[i]` and the field.
 */
export function checkStateLayers(
  fn: string,
  stats: readonly LayerStats[],
  samples: number,
  kinds: readonly ("dense" | "conv")[] | null,
): void {
  const bad = (i: number, field: string, why: string): never => {
    throw new NRCInputError(fn, "state", `state.layers[${i}].${field} ${why}`);
  };
  const first = stats[0];
  stats.forEach((s, i) => {
    const { d, q, count } = s;
    const conv = kinds?.[i] === "conv";
    if (conv ? count % samples !== 0 : count !== samples)
      bad(
        i,
        "count",
        `must be ${conv ? "a multiple of" : "equal to"} state.samples (${samples}) for a ${conv ? "conv" : "dense"} layer; got ${count}`,
      );
    if (q !== first.q)
      bad(i, "q", `must be ${first.q} like layer 0's (the same targets); got ${q}`);
    checkSymmetricPSD(i, "m2H", s.m2H, d, bad);
    checkSymmetricPSD(i, "m2Y", s.m2Y, q, bad);
    // Cauchy–Schwarz on the cross products: |Σ(h−μ)(y−μ_Y)| ≤ √(m2H_ii·m2Y_jj).
    for (let a = 0; a < d; a++)
      for (let c = 0; c < q; c++) {
        const v = s.cross[a * q + c];
        const lim = Math.sqrt(s.m2H[a * d + a] * s.m2Y[c * q + c]);
        if (Math.abs(v) > lim * (1 + TOL) + Number.MIN_VALUE)
          bad(i, `cross[${a * q + c}]`, `exceeds √(m2H·m2Y) = ${lim} (Cauchy–Schwarz); got ${v}`);
      }
    // The same targets in every layer: means and per-sample second moments.
    const ratio = count / first.count;
    for (let c = 0; c < q; c++) {
      const sd = Math.sqrt(first.m2Y[c * q + c] / first.count);
      if (Math.abs(s.meanY[c] - first.meanY[c]) > TOL * (sd + Math.abs(first.meanY[c])))
        bad(i, `meanY[${c}]`, `must equal layer 0's ${first.meanY[c]}; got ${s.meanY[c]}`);
    }
    for (let c = 0; c < q * q; c++) {
      const want = first.m2Y[c] * ratio;
      const scale = Math.sqrt(
        first.m2Y[(c % q) * (q + 1)] * first.m2Y[Math.floor(c / q) * (q + 1)],
      );
      if (Math.abs(s.m2Y[c] - want) > TOL * scale * ratio + Number.MIN_VALUE)
        bad(i, `m2Y[${c}]`, `must equal layer 0's scaled by count (${want}); got ${s.m2Y[c]}`);
    }
    if (s.r) checkFactor(i, s, s.r, bad);
  });
}

function checkSymmetricPSD(
  i: number,
  field: string,
  m: Float64Array,
  n: number,
  bad: (i: number, field: string, why: string) => never,
): void {
  for (let a = 0; a < n; a++)
    if (!(m[a * n + a] >= 0))
      bad(i, `${field}[${a * n + a}]`, `(a diagonal entry) must be ≥ 0; got ${m[a * n + a]}`);
  for (let a = 0; a < n; a++)
    for (let b = 0; b < a; b++) {
      const lim = Math.sqrt(m[a * n + a] * m[b * n + b]);
      const x = m[a * n + b];
      const y = m[b * n + a];
      if (Math.abs(x - y) > TOL * lim + Number.MIN_VALUE)
        bad(i, field, `must be symmetric; entries (${a}, ${b}) = ${x} and (${b}, ${a}) = ${y}`);
      if (Math.abs(x) > lim * (1 + TOL) + Number.MIN_VALUE)
        bad(
          i,
          `${field}[${a * n + b}]`,
          `exceeds √(diagonal product) = ${lim} (not a Gram matrix); got ${x}`,
        );
    }
}

/**
 * RᵀR must be the uncentered Gram G of [H | Y | 1], which the moments give:
 * HᵀH = m2H + n·μμᵀ, HᵀY = cross + n·μμ_Yᵀ, YᵀY = m2Y + n·μ_Yμ_Yᵀ, Hᵀ1 = n·μ, Yᵀ1 = n·μ_Y,
 * 1ᵀ1 = n. Every entry (a, b) is compared within TOL·√(G_aa·G_bb) (the Cauchy–Schwarz scale of
 * the entry), with G_aa the smaller of the two sides' diagonals, so that a side tampered to be
 * huge cannot widen the tolerance. O(k·w²/2) for a k×w factor: ~0.1 s at w = 512.
 */
function checkFactor(
  i: number,
  s: LayerStats,
  r: Mat,
  bad: (i: number, field: string, why: string) => never,
): void {
  const { d, q, count: n } = s;
  const w = d + q + 1;
  const mean = new Float64Array(w);
  mean.set(s.meanH, 0);
  mean.set(s.meanY, d);
  mean[w - 1] = 1;
  const centered = (a: number, b: number): number => {
    if (a === w - 1 || b === w - 1) return 0;
    if (a < d && b < d) return s.m2H[a * d + b];
    if (a >= d && b >= d) return s.m2Y[(a - d) * q + (b - d)];
    return a < d ? s.cross[a * q + (b - d)] : s.cross[b * q + (a - d)];
  };
  const g = (a: number, b: number) => centered(a, b) + n * mean[a] * mean[b];
  // RᵀR, upper triangle, row by row of R (R is upper trapezoidal: row k starts at column k).
  const rr = new Float64Array(w * w);
  for (let k = 0; k < r.rows; k++) {
    const row = r.data.subarray(k * w, (k + 1) * w);
    for (let a = 0; a < w; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < w; b++) rr[a * w + b] += ra * row[b];
    }
  }
  const scale = new Float64Array(w);
  for (let a = 0; a < w; a++) scale[a] = Math.sqrt(Math.min(rr[a * w + a], g(a, a)));
  for (let a = 0; a < w; a++)
    for (let b = a; b < w; b++) {
      const want = g(a, b);
      const got = rr[a * w + b];
      if (!(Math.abs(got - want) <= TOL * scale[a] * scale[b] + Number.MIN_VALUE))
        bad(
          i,
          "r",
          `(the TSQR factor) does not match the layer's moments: (RᵀR)[${a}, ${b}] = ${got} against ${want} from the moments`,
        );
    }
}
