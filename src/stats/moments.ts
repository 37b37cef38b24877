/**
 * Per-layer sufficient statistics, mergeable: everything the four NRC conditions need, in
 * memory independent of N.
 *
 * - `count`, feature means μ_H and target means μ_Y;
 * - M2_H = Σ(h−μ_H)(h−μ_H)ᵀ, C = Σ(h−μ_H)(y−μ_Y)ᵀ and M2_Y = Σ(y−μ_Y)(y−μ_Y)ᵀ, merged with
 *   Chan, Golub & LeVeque's pairwise update (never the one-pass E[xxᵀ] − μμᵀ). A batch's moments
 *   come from one read of H (the `shiftedMoments` kernel: moments about s, the mean of a sample
 *   of rows, then exact re-centering by δ = mean(h − s), checked small against the spread and
 *   otherwise taken again about s + δ); in the two-pass streaming mode the
 *   batches after the first accumulate inside the backend ({@link MomentsAccumulation});
 * - R, the triangular factor of the augmented matrix [H | Y | 1] (a TSQR: batches are QR'd and
 *   their factors stacked and QR'd again). Its blocks hold R_H (H = Q·R_H), Qᵀ[Y | 1] and the
 *   triangular factor of the part of [Y | 1] off range(H), so NRC4's pinv residual of the
 *   centered targets, ‖(I − H·pinv(H))(Y − 1·μ_Yᵀ)‖², is read off at the end without the data
 *   and without subtracting large numbers. R is absent where NRC4 comes from the data instead
 *   (`measureNRC`, and the accumulator's `rescan` mode).
 *
 * Merging is associative up to rounding; the result agrees with a single pass to ~1e-13.
 * @module
 */
import type {
  CompleteKernels,
  Mat,
  MatF32,
  MaybePromise,
  MomentsRun,
  ShiftedMomentsResult,
} from "../backends/types.js";
import { columnMeans, sampledColumnMeans, shiftDrifted } from "../backends/composed.js";
import { projectedOutSq } from "../linalg/lstsq.js";

/** The statistics of one layer. Plain data: serialisable with JSON. */
export interface LayerStats {
  count: number;
  d: number;
  q: number;
  meanH: Float64Array;
  meanY: Float64Array;
  /** d×d row-major. */
  m2H: Float64Array;
  /** d×q row-major. */
  cross: Float64Array;
  /** q×q row-major. */
  m2Y: Float64Array;
  /**
   * k×(d+q+1) upper-trapezoidal TSQR factor of [H | Y | 1], k ≤ d+q+1. Absent only for
   * in-memory measurement (`batchStats(…, false)`), where NRC4 is computed from the data.
   */
  r?: Mat;
}

/** A − 1·meanᵀ. */
export function centerWith(a: Mat, mean: Float64Array): Mat {
  const c = a.cols;
  const len = a.rows * c;
  const dst = new Float64Array(len);
  const src = a.data;
  for (let o = 0; o < len; o += c) for (let j = 0; j < c; j++) dst[o + j] = src[o + j] - mean[j];
  return { rows: a.rows, cols: c, data: dst };
}

/** [H | Y | 1] (the matrix whose TSQR factor the statistics keep). */
export function augmented(h: Mat, y: Mat): Mat {
  const w = h.cols + y.cols + 1;
  const out = new Float64Array(h.rows * w);
  for (let i = 0; i < h.rows; i++) {
    out.set(h.data.subarray(i * h.cols, (i + 1) * h.cols), i * w);
    out.set(y.data.subarray(i * y.cols, (i + 1) * y.cols), i * w + h.cols);
    out[i * w + w - 1] = 1;
  }
  return { rows: h.rows, cols: w, data: out };
}

/** [A; B]. */
export function stackRows(a: Mat, b: Mat): Mat {
  const out = new Float64Array((a.rows + b.rows) * a.cols);
  out.set(a.data, 0);
  out.set(b.data, a.data.length);
  return { rows: a.rows + b.rows, cols: a.cols, data: out };
}

export async function batchStats(
  k: CompleteKernels,
  h: Mat,
  y: Mat,
  factor = true,
  scratch?: (length: number) => Float64Array,
): Promise<LayerStats> {
  const f = factor ? k.qr(augmented(h, y)) : undefined;
  const inp = statsInputs(h, y);
  const again = (s: Float64Array) => k.shiftedMoments(h, s, inp.yc, scratch);
  const stats = await momentsStats(k, h, inp, again(inp.shift), again);
  return f ? { ...stats, r: (await f).R } : stats;
}

/**
 * {@link batchStats} without the factor, its pass over H started now on the backend's
 * background (`startShiftedMoments`: the wasm backend's workers take the moments while the
 * caller runs other kernels) and finished by `finish()`, which also gives `rows`: H as the
 * backend's `normalStep` may read it from its own copy (`PendingMoments.join`).
 * @internal
 */
export function startBatchStats(
  k: CompleteKernels,
  h: Mat,
  y: Mat,
  scratch?: (length: number) => Float64Array,
): { finish(): Promise<{ stats: LayerStats; rows: Mat }> } {
  const inp = statsInputs(h, y);
  const pending = k.startShiftedMoments(h, inp.shift, inp.yc);
  const again = (s: Float64Array) => k.shiftedMoments(h, s, inp.yc, scratch);
  let done: Promise<{ stats: LayerStats; rows: Mat }> | undefined;
  return {
    // Memoised: a caller may complete the moments early (to free the backend's threads) and
    // read them later.
    finish() {
      return (done ??= (async () => {
        const first = await pending.join();
        // `rows` is H itself (float64 here), as the backend holds it.
        const rows = (first.rows as Mat | undefined) ?? h;
        return { stats: await momentsStats(k, h, inp, first, again), rows };
      })());
    },
  };
}

/** What a batch's moments are taken with: the targets' means, the centered targets, H's shift. */
function statsInputs(h: Mat, y: Mat): { meanY: Float64Array; yc: Mat; shift: Float64Array } {
  const meanY = columnMeans(y);
  return { meanY, yc: centerWith(y, meanY), shift: sampledColumnMeans(h) };
}

/**
 * The moments part of {@link batchStats}, from the moments `first` about `inp.shift` (the mean of
 * a row sample); `again(s)` takes them about another shift when that one drifted.
 */
async function momentsStats(
  k: CompleteKernels,
  h: Mat,
  inp: { meanY: Float64Array; yc: Mat; shift: Float64Array },
  first: MaybePromise<ShiftedMomentsResult>,
  again: (shift: Float64Array) => MaybePromise<ShiftedMomentsResult>,
): Promise<LayerStats> {
  const n = h.rows;
  const d = h.cols;
  const { meanY, yc } = inp;
  const q = yc.cols;
  // Moments of H about s, the mean of a sample of rows, then exact re-centering: with
  // δ = Σ(h − s)/n the mean is s + δ, Σ(h−μ)(h−μ)ᵀ = Σ(h−s)(h−s)ᵀ − n·δδᵀ and
  // Σ(h−μ)ycᵀ = Σ(h−s)ycᵀ − δ·(Σyc)ᵀ. While N·δ² ≤ ¼·Σ(h−s)² in every column (checked: else the
  // moments are taken again about s + δ, now the mean to rounding) this is as accurate as
  // two-pass centering, in one pass over H.
  let shift = inp.shift;
  const [m0, gy] = await Promise.all([first, k.gram(yc)]);
  let mom = m0;
  if (shiftDrifted(mom.sums, (j) => mom.gram.data[j * d + j], n)) {
    const s = shift;
    shift = Float64Array.from(s, (v, j) => v + mom.sums[j] / n);
    mom = await again(shift);
  }
  const ySum = new Float64Array(q);
  for (let i = 0; i < n; i++) for (let c = 0; c < q; c++) ySum[c] += yc.data[i * q + c];
  const { meanH, m2H, cross } = recenter(mom, shift, n, ySum);
  return {
    count: n,
    d,
    q,
    meanH,
    meanY,
    m2H,
    cross,
    m2Y: gy.data,
  };
}

/**
 * Exact re-centering of moments taken about a shift s over n rows (in place on `mom`'s arrays):
 * with δ = sums/n the mean is μ = s + δ, Σ(h−μ)(h−μ)ᵀ = Σ(h−s)(h−s)ᵀ − n·δδᵀ, and for targets
 * taken about any shift t (ν their mean) Σ(h−μ)(y−ν)ᵀ = Σ(h−s)(y−t)ᵀ − δ·ySumᵀ, ySum = Σ(y − t).
 */
function recenter(
  mom: ShiftedMomentsResult,
  shift: Float64Array,
  n: number,
  ySum: Float64Array,
): { meanH: Float64Array; m2H: Float64Array; cross: Float64Array } {
  const d = shift.length;
  const q = ySum.length;
  const delta = new Float64Array(d);
  const meanH = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    delta[j] = mom.sums[j] / n;
    meanH[j] = shift[j] + delta[j];
  }
  const m2H = mom.gram.data;
  for (let i = 0; i < d; i++) {
    const di = n * delta[i];
    if (di === 0) continue;
    for (let j = 0; j < d; j++) m2H[i * d + j] -= di * delta[j];
  }
  const cross = mom.cross.data;
  for (let i = 0; i < d; i++) for (let c = 0; c < q; c++) cross[i * q + c] -= delta[i] * ySum[c];
  return { meanH, m2H, cross };
}

/**
 * Merges two layers' statistics (Chan et al. for the moments; a TSQR step for R). With `intoA`,
 * the result is written over `a`'s arrays and `a` is returned (no d×d allocation per batch; for a
 * caller that owns `a`), else both are left unchanged.
 */
export async function mergeStats(
  k: CompleteKernels,
  a: LayerStats,
  b: LayerStats,
  intoA = false,
): Promise<LayerStats> {
  if (!a.r !== !b.r) throw new Error("mergeStats: one state has a TSQR factor, the other none");
  const r = a.r && b.r ? (await k.qr(stackRows(a.r, b.r))).R : undefined;
  const out = mergeMoments(a, b, intoA);
  out.r = r;
  return out;
}

/** The moments part of {@link mergeStats} (synchronous; the result has no TSQR factor). */
export function mergeMoments(a: LayerStats, b: LayerStats, intoA = false): LayerStats {
  const n = a.count + b.count;
  const { d, q } = a;
  const wa = a.count / n;
  const wb = b.count / n;
  const f = (a.count * b.count) / n;
  const dH = new Float64Array(d);
  const dY = new Float64Array(q);
  const meanH = new Float64Array(d);
  const meanY = new Float64Array(q);
  for (let i = 0; i < d; i++) {
    dH[i] = b.meanH[i] - a.meanH[i];
    meanH[i] = wa * a.meanH[i] + wb * b.meanH[i];
  }
  for (let i = 0; i < q; i++) {
    dY[i] = b.meanY[i] - a.meanY[i];
    meanY[i] = wa * a.meanY[i] + wb * b.meanY[i];
  }
  const m2H = intoA ? a.m2H : new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const fi = f * dH[i];
    const o = i * d;
    for (let j = 0; j < d; j++) m2H[o + j] = a.m2H[o + j] + b.m2H[o + j] + fi * dH[j];
  }
  const cross = intoA ? a.cross : new Float64Array(d * q);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < q; j++)
      cross[i * q + j] = a.cross[i * q + j] + b.cross[i * q + j] + f * dH[i] * dY[j];
  const m2Y = intoA ? a.m2Y : new Float64Array(q * q);
  for (let i = 0; i < q; i++)
    for (let j = 0; j < q; j++)
      m2Y[i * q + j] = a.m2Y[i * q + j] + b.m2Y[i * q + j] + f * dY[i] * dY[j];
  if (!intoA) return { count: n, d, q, meanH, meanY, m2H, cross, m2Y };
  a.count = n;
  a.meanH.set(meanH);
  a.meanY.set(meanY);
  a.r = undefined;
  return a;
}

/**
 * A layer's batches accumulating about a fixed shift (the state's mean μₐ when the run started)
 * in the backend's {@link MomentsRun}, for the two-pass streaming mode (no TSQR factor): a batch
 * costs one pass over its rows, with no d×d reduction, copy or merge until {@link settle}.
 *
 * Error analysis. About the shift s = μₐ the run's moments are exact after re-centering,
 * M2_b = G − n_b·δδᵀ with G = Σ(h−s)(h−s)ᵀ and δ = μ_b − s, and the Chan merge with the state
 * adds back f·δδᵀ, f = nₐn_b/(nₐ+n_b). The rounding of G − n_b·δδᵀ is ~ε·(Gⱼⱼ + n_b·δⱼ²) on the
 * diagonal; the merged M2ⱼⱼ is at least M2ₐ,ⱼⱼ + Gⱼⱼ − n_b·δⱼ². So while n_b·δⱼ² ≤ ¼·(M2ₐ,ⱼⱼ + Gⱼⱼ)
 * the merged moments carry at most ~3ε relative error (off the diagonal the same bound holds
 * against √(M2ᵢᵢM2ⱼⱼ)). {@link drifted} checks that after each batch, for the features and the
 * targets; past it the caller settles the run and starts a new one about the new mean. For
 * batches that are alike (shuffled samples) n_b·δ² stays a small fraction of G and no run ever
 * needs restarting.
 */
export class MomentsAccumulation {
  private readonly run: MomentsRun;
  private readonly shiftH: Float64Array;
  private readonly shiftY: Float64Array;
  private readonly q: number;
  private readonly d: number;
  private count = 0;
  private readonly sy: Float64Array;
  private readonly gy: Float64Array;
  /** Diagonals of the state's M2_H and M2_Y when the run started (the drift test's floor). */
  private readonly baseH: Float64Array;
  private readonly baseY: Float64Array;

  constructor(k: CompleteKernels, about: LayerStats, scratch?: (length: number) => Float64Array) {
    this.d = about.d;
    this.q = about.q;
    this.shiftH = Float64Array.from(about.meanH);
    this.shiftY = Float64Array.from(about.meanY);
    this.sy = new Float64Array(this.q);
    this.gy = new Float64Array(this.q * this.q);
    this.baseH = Float64Array.from({ length: this.d }, (_, j) => about.m2H[j * this.d + j]);
    this.baseY = Float64Array.from({ length: this.q }, (_, c) => about.m2Y[c * this.q + c]);
    this.run = k.momentsRun(this.d, this.q, this.shiftH, scratch);
  }

  /** Adds a batch (rows of H and Y are the same samples; H float64 or float32). */
  async add(h: Mat | MatF32, y: Mat): Promise<void> {
    const { q } = this;
    const m = y.rows;
    const yc = new Float64Array(m * q);
    for (let i = 0; i < m; i++)
      for (let c = 0; c < q; c++) {
        const v = y.data[i * q + c] - this.shiftY[c];
        yc[i * q + c] = v;
        this.sy[c] += v;
        for (let e = 0; e <= c; e++) this.gy[e * q + c] += yc[i * q + e] * v;
      }
    await this.run.add(h, { rows: m, cols: q, data: yc });
    this.count += m;
  }

  /** Whether re-centering about the shift would now cancel too much (see the class doc). */
  drifted(): boolean {
    const { sums, diag } = this.run.probe();
    const n = this.count;
    return (
      shiftDrifted(sums, (j) => diag[j], n, this.baseH) ||
      shiftDrifted(this.sy, (c) => this.gy[c * this.q + c], n, this.baseY)
    );
  }

  /** The statistics of everything added (centered exactly); frees the backend's run. */
  settle(): LayerStats | null {
    const { d, q } = this;
    const n = this.count;
    if (n === 0) {
      this.run.dispose();
      return null;
    }
    const mom = this.run.result();
    this.run.dispose();
    const { meanH, m2H, cross } = recenter(mom, this.shiftH, n, this.sy);
    const meanY = new Float64Array(q);
    for (let c = 0; c < q; c++) meanY[c] = this.shiftY[c] + this.sy[c] / n;
    const m2Y = new Float64Array(q * q);
    for (let c = 0; c < q; c++)
      for (let e = c; e < q; e++) {
        const v = this.gy[c * q + e] - (this.sy[c] * this.sy[e]) / n;
        m2Y[c * q + e] = v;
        m2Y[e * q + c] = v;
      }
    return { count: n, d, q, meanH, meanY, m2H, cross, m2Y };
  }

  /** Frees the backend's run without reading it (the accumulator is being thrown away). */
  dispose(): void {
    this.run.dispose();
  }
}

/** Serialisable form (numbers round-trip exactly through JSON). */
export interface LayerStatsJSON {
  count: number;
  d: number;
  q: number;
  meanH: number[];
  meanY: number[];
  m2H: number[];
  cross: number[];
  m2Y: number[];
  /** null in the accumulator's `rescan` mode (no TSQR factor kept). */
  r: { rows: number; cols: number; data: number[] } | null;
}

export function statsToJSON(s: LayerStats): LayerStatsJSON {
  return {
    count: s.count,
    d: s.d,
    q: s.q,
    meanH: Array.from(s.meanH),
    meanY: Array.from(s.meanY),
    m2H: Array.from(s.m2H),
    cross: Array.from(s.cross),
    m2Y: Array.from(s.m2Y),
    r: s.r ? { rows: s.r.rows, cols: s.r.cols, data: Array.from(s.r.data) } : null,
  };
}

/**
 * Parses and checks a serialised state; throws a plain message on anything malformed.
 * `withFactor`: whether the TSQR factor r must be present (true) or absent (false).
 */
export function statsFromJSON(j: LayerStatsJSON, withFactor = true): LayerStats {
  const ok = (x: unknown, len: number) =>
    Array.isArray(x) &&
    x.length === len &&
    x.every((v) => typeof v === "number" && Number.isFinite(v));
  if (!j || typeof j !== "object") throw new Error("a layer's state must be an object");
  const { count, d, q, r } = j;
  if (
    !Number.isInteger(count) ||
    count < 1 ||
    !Number.isInteger(d) ||
    d < 1 ||
    !Number.isInteger(q) ||
    q < 1
  )
    throw new Error(`count, d and q must be positive integers; got ${count}, ${d}, ${q}`);
  if (
    !ok(j.meanH, d) ||
    !ok(j.meanY, q) ||
    !ok(j.m2H, d * d) ||
    !ok(j.cross, d * q) ||
    !ok(j.m2Y, q * q)
  )
    throw new Error(
      `meanH, meanY, m2H, cross and m2Y must be finite number arrays of lengths ${d}, ${q}, ${d * d}, ${d * q}, ${q * q}`,
    );
  if (!withFactor) {
    if (r != null) throw new Error("r must be null in rescan mode (no TSQR factor)");
  } else if (
    !r ||
    r.cols !== d + q + 1 ||
    !Number.isInteger(r.rows) ||
    r.rows < 1 ||
    r.rows > d + q + 1 ||
    !ok(r.data, r.rows * r.cols)
  )
    throw new Error(`r must be a k×${d + q + 1} factor with k ≤ ${d + q + 1}`);
  return {
    count,
    d,
    q,
    meanH: Float64Array.from(j.meanH),
    meanY: Float64Array.from(j.meanY),
    m2H: Float64Array.from(j.m2H),
    cross: Float64Array.from(j.cross),
    m2Y: Float64Array.from(j.m2Y),
    r: r ? { rows: r.rows, cols: r.cols, data: Float64Array.from(r.data) } : undefined,
  };
}

/**
 * NRC4's residual ‖(I − H·pinv(H))·Yc‖²_F from the TSQR factor: with R_H the leading d columns,
 * Z = Qᵀ[Y | 1] its trailing q+1 columns (top rows) and R_B the factor of [Y | 1] off range(H)
 * (bottom rows), and T = [I; −μ_Yᵀ] turning [Y | 1] into Yc: residual = ‖R_B·T‖² +
 * ‖(I − U₊U₊ᵀ)·Z·T‖², U₊ the left singular vectors of R_H above the cutoff rtol·σ_max (the rows
 * of Uᵀ·Z·T beyond the kept rank, from `svdParts`: U is never formed).
 */
export async function nrc4Residual(
  k: CompleteKernels,
  s: LayerStats & { r: Mat },
  rtol: number,
): Promise<number> {
  const { d, q, r, meanY } = s;
  const w = d + q + 1;
  const top = Math.min(r.rows, d);
  // R_H (top×d), Z·T (top×q), R_B·T ((rows−top)×q).
  const rh = new Float64Array(top * d);
  const zt = new Float64Array(top * q);
  let res = 0;
  for (let i = 0; i < r.rows; i++) {
    const row = i * w;
    if (i < top) for (let j = 0; j < d; j++) rh[i * d + j] = r.data[row + j];
    const one = r.data[row + w - 1];
    for (let j = 0; j < q; j++) {
      const v = r.data[row + d + j] - one * meanY[j];
      if (i < top) zt[i * q + j] = v;
      else res += v * v;
    }
  }
  const rhMat = { rows: top, cols: d, data: rh };
  // No eigenvalue shortcut first: svdParts of R_H (values and Uᵀ·Z only) costs no more than
  // symEig(R_HᵀR_H) on the wasm backend (512×512, one thread, CPU time: 58 vs 64 ms).
  const { perColumn } = await projectedOutSq(k, rhMat, { rows: top, cols: q, data: zt }, rtol);
  for (let col = 0; col < q; col++) res += perColumn[col];
  return res;
}

/**
 * Makes M2_H exactly symmetric (its lower triangle a copy of the upper): the merges round the two
 * triangles differently (by an ulp or so), and a symmetric state is stored as one triangle,
 * bit-exactly. Returns its argument.
 */
export function mirrorUpper(s: LayerStats): LayerStats {
  const { d, m2H } = s;
  for (let i = 1; i < d; i++) for (let j = 0; j < i; j++) m2H[i * d + j] = m2H[j * d + i];
  return s;
}
