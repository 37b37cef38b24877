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

/** Widths up to which RᵀR is compared entry by entry (O(k·w²/2): ~1 s at w = 1024 in JS). */
export const EXACT_FACTOR_CHECK_MAX = 1024;

/** Random ±1 probes of the wide-factor check (each finds a wrong entry with probability ≥ 1/2). */
const PROBES = 8;

/**
 * RᵀR must be the uncentered Gram G of [H | Y | 1], which the moments give:
 * HᵀH = m2H + n·μμᵀ, HᵀY = cross + n·μμ_Yᵀ, YᵀY = m2Y + n·μ_Yμ_Yᵀ, Hᵀ1 = n·μ, Yᵀ1 = n·μ_Y,
 * 1ᵀ1 = n. Up to {@link EXACT_FACTOR_CHECK_MAX} columns, every entry (a, b) is compared within
 * TOL·√(G_aa·G_bb) (the Cauchy–Schwarz scale of the entry), with G_aa the smaller of the two
 * sides' diagonals, so that a side tampered to be huge cannot widen the tolerance: O(k·w²/2) for
 * a k×w factor, ~0.14 s at w = 512, ~1 s at 1024. Wider (cubic time would be minutes at 4096):
 * the diagonals entry by entry, and the rest along {@link PROBES} random sign vectors scaled by
 * 1/√G_bb (Freivalds' check, O(k·w + w²) each), each component within TOL·√G_aa·w — a wrong
 * entry larger than that is found with probability ≥ 1 − 2⁻⁸.
 * @param exactMax - the width up to which the check is entrywise (tests lower it).
 * @returns what does not match, or null. @internal
 */
export function factorMismatch(
  s: LayerStats,
  r: Mat,
  exactMax = EXACT_FACTOR_CHECK_MAX,
): string | null {
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
  const entry = (a: number, b: number, got: number, want: number) =>
    `(RᵀR)[${a}, ${b}] = ${got} against ${want} from the moments`;
  if (w <= exactMax) {
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
          return entry(a, b, got, want);
      }
    return null;
  }
  // Wide: the diagonals exactly, then random probes.
  const diag = new Float64Array(w);
  for (let k = 0; k < r.rows; k++) for (let a = 0; a < w; a++) diag[a] += r.data[k * w + a] ** 2;
  const scale = new Float64Array(w);
  let live = 0;
  for (let a = 0; a < w; a++) {
    const want = g(a, a);
    scale[a] = Math.sqrt(Math.min(diag[a], want));
    if (!(Math.abs(diag[a] - want) <= TOL * scale[a] ** 2 + Number.MIN_VALUE))
      return entry(a, a, diag[a], want);
    if (scale[a] > 0) live++;
  }
  let seed = 0x2545f491;
  const sign = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed & 1 ? 1 : -1;
  };
  const v = new Float64Array(w);
  const u = new Float64Array(r.rows);
  const got = new Float64Array(w);
  const want = new Float64Array(w);
  for (let p = 0; p < PROBES; p++) {
    for (let b = 0; b < w; b++) v[b] = scale[b] > 0 ? sign() / scale[b] : 0;
    // RᵀR·v = Rᵀ(R·v), over every entry (a stored full factor may hold entries below its diagonal).
    got.fill(0);
    for (let k = 0; k < r.rows; k++) {
      let t = 0;
      for (let b = 0; b < w; b++) t += r.data[k * w + b] * v[b];
      u[k] = t;
    }
    for (let k = 0; k < r.rows; k++) {
      const uk = u[k];
      for (let a = 0; a < w; a++) got[a] += r.data[k * w + a] * uk;
    }
    // G·v from the moments: the centered part, then n·μ(μᵀv).
    let mv = 0;
    for (let b = 0; b < w; b++) mv += mean[b] * v[b];
    for (let a = 0; a < w; a++) {
      let t = 0;
      if (a < d) {
        for (let b = 0; b < d; b++) t += s.m2H[a * d + b] * v[b];
        for (let c = 0; c < q; c++) t += s.cross[a * q + c] * v[d + c];
      } else if (a < d + q) {
        for (let b = 0; b < d; b++) t += s.cross[b * q + (a - d)] * v[b];
        for (let c = 0; c < q; c++) t += s.m2Y[(a - d) * q + c] * v[d + c];
      }
      want[a] = t + n * mean[a] * mv;
    }
    for (let a = 0; a < w; a++)
      if (!(Math.abs(got[a] - want[a]) <= TOL * scale[a] * live + Number.MIN_VALUE))
        return `(RᵀR·v)[${a}] = ${got[a]} against ${want[a]} from the moments (random probe ${p})`;
  }
  return null;
}

/** {@link factorMismatch} as an error naming the factor. */
function checkFactor(
  i: number,
  s: LayerStats,
  r: Mat,
  bad: (i: number, field: string, why: string) => never,
): void {
  const why = factorMismatch(s, r);
  if (why) bad(i, "r", `(the TSQR factor) does not match the layer's moments: ${why}`);
}
