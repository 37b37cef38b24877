/**
 * Consistency checks of an accumulator state's statistics, shared by the JSON states
 * (`json.ts`) and the binary state files (`binary.ts`): a state is either consistent with itself
 * — every layer's count fitting `samples`, symmetric second moments with non-negative diagonals
 * within Cauchy–Schwarz, the same targets in every layer, and a TSQR factor R whose RᵀR
 * reproduces the moments — or it is rejected with an `NRCInputError` naming the field.
 * Tampering that keeps a state consistent is caught by the state's checksums instead
 * (`checksum.ts`).
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { LayerStats } from "../stats/moments.js";

/**
 * Relative tolerance of the consistency checks, against each entry's Cauchy–Schwarz scale:
 * rounding in merged float64 sums is ~1e-15 of it, 10⁴× less; a change this small moves no
 * metric by more than ~1e-10 relative.
 */
const TOL = 1e-11;

/** The binary state's name of each statistic (`layers[i].m2_h` for the JSON's `m2H`). */
const BINARY_NAMES: Record<string, string> = {
  m2H: "m2_h",
  m2Y: "m2_y",
  meanY: "mean_y",
  meanH: "mean_h",
};

/**
 * Checks the numbers of parsed layer statistics against each other and against `samples`:
 * counts, the same targets in every layer, symmetric second moments with non-negative diagonals
 * and every off-diagonal within Cauchy–Schwarz, the cross products within Cauchy–Schwarz, and a
 * TSQR factor R whose RᵀR reproduces the moments (which bounds every eigenvalue of the moments
 * below by −TOL of the scale: positive semidefinite within rounding).
 * @param naming - `"json"`: errors name the argument `state` and say `state.layers[i].m2H`;
 *   `"binary"`: errors name `layers[i].m2_h` (the binary state's spelling).
 * @throws NRCInputError naming the layer and the field.
 */
export function checkStateLayers(
  fn: string,
  stats: readonly LayerStats[],
  samples: number,
  kinds: readonly ("dense" | "conv")[] | null,
  naming: "json" | "binary" = "json",
): void {
  const bad = (i: number, field: string, why: string): never => {
    if (naming === "json")
      throw new NRCInputError(fn, "state", `state.layers[${i}].${field} ${why}`);
    const m = /^(\w+)(.*)$/.exec(field)!;
    const arg = `layers[${i}].${BINARY_NAMES[m[1]] ?? m[1]}`;
    throw new NRCInputError(fn, arg, `${arg}${m[2]} ${why}`);
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
