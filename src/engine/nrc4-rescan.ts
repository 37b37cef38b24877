/**
 * NRC4 in the accumulator's `rescan` mode: the statistics keep moments only, so each layer's
 * residual ‖(I − H·pinv(H))·Yc‖² comes from passes over the same batches again — refinement
 * passes of the normal equations for every layer whose Gram proves them safe (all layers share
 * each pass), then one TSQR pass for any layer left — with a cheap check that the second read
 * is the first ({@link RescanCheck}).
 * @module
 */
import type { CompleteKernels, Mat, MatF32 } from "../backends/types.js";
import { widenMat } from "../backends/composed.js";
import { NRCInputError } from "../errors.js";
import type { Ctx } from "./options.js";
import { asMatrix } from "../linalg/matrix.js";
import { degenerateReason, prepareLayer, repeatRows, type LayerExtras } from "./layer.js";
import { layerSpectrum, spectrumVectors } from "./layer-spectrum.js";
import { layerGramSolver, nrc4Rtol } from "./nrc4.js";
import {
  augmented,
  centerWith,
  nrc4Residual,
  stackRows,
  type LayerStats,
} from "../stats/moments.js";
import { Refinement } from "../linalg/lstsq.js";
import type { Spectrum } from "../linalg/spectrum.js";
import { turnEventLoop } from "./event-loop.js";

/**
 * `rescan` mode: each layer's spectrum and NRC4 residual, from passes over the batches again —
 * refinement passes for every layer whose Gram proves it safe (all layers share each pass),
 * then one TSQR pass for any layer left.
 */
/** One rescanned batch: every layer's features for the same samples, and their targets. */
export interface RescanBatch {
  features: readonly unknown[];
  targets: unknown;
}

export async function rescanResiduals(
  k: CompleteKernels,
  ctx: Ctx,
  stats: LayerStats[],
  samples: number,
  rescan: () => AsyncIterable<RescanBatch> | Iterable<RescanBatch>,
): Promise<LayerExtras[]> {
  const fn = "NRCAccumulator.finalize";
  const L = stats.length;
  const extras: LayerExtras[] = [];
  const refs: (Refinement | null)[] = [];
  const pending: boolean[] = [];
  for (const s of stats) {
    const spec: Spectrum = await layerSpectrum(k, s, spectrumVectors(s.d, ctx.t, ctx.r));
    extras.push({ spec });
    const live = degenerateReason(s, spec) === null;
    pending.push(live);
    let ref: Refinement | null = null;
    if (live) {
      let yy = 0;
      for (let i = 0; i < s.q; i++) yy += s.m2Y[i * s.q + i];
      ref = Refinement.create(
        await layerGramSolver(k, s, spec),
        s.count,
        s.q,
        nrc4Rtol(ctx.preset, s.count, s.d),
        yy,
      );
      ref?.begin(s.cross);
    }
    refs.push(ref);
  }
  /**
   * One pass over the rescanned batches, calling `each(layer, h, yRepeated)` per batch. The
   * first pass also checks the second read against the first (the statistics): per column,
   * the means, the sums of squares about the mean and the cross products with the targets'
   * row sums (O(N·(d + q)), against the pass's N·d·q), so other data of the same row count
   * throws instead of changing NRC4 silently.
   */
  let verified = false;
  const pass = async (each: (i: number, h: Mat | MatF32, y: Mat) => Promise<void>) => {
    const check = verified ? null : stats.map((s) => new RescanCheck(s));
    verified = true;
    let rows = 0;
    for await (const batch of rescan()) {
      if (batch === null || typeof batch !== "object" || !Array.isArray(batch.features))
        throw new NRCInputError(fn, "rescan", "rescan must yield { features, targets } batches");
      const y = asMatrix(fn, "rescan targets", batch.targets);
      if (batch.features.length !== L || y.cols !== stats[0].q)
        throw new NRCInputError(
          fn,
          "rescan",
          `rescan batches must have ${L} layers and ${stats[0].q} target columns like the added ones; got ${batch.features.length} and ${y.cols}`,
        );
      rows += y.rows;
      for (let i = 0; i < L; i++) {
        const p = prepareLayer(
          fn,
          `rescan features[${i}]`,
          i,
          batch.features[i],
          null,
          undefined,
          ctx.preset,
          y.rows,
          false,
          true,
        );
        const h = p.h32 ?? p.h;
        if (h.cols !== stats[i].d)
          throw new NRCInputError(
            fn,
            "rescan",
            `rescan features[${i}] must have ${stats[i].d} columns; got ${h.cols}`,
          );
        const yr = repeatRows(y, p.repeat);
        check?.[i].add(h, yr);
        await each(i, h, yr);
      }
    }
    if (rows !== samples)
      throw new NRCInputError(
        fn,
        "rescan",
        `rescan must yield the same ${samples} samples as were added; got ${rows}`,
      );
    check?.forEach((c, i) => {
      const why = c.mismatch();
      if (why)
        throw new NRCInputError(
          fn,
          "rescan",
          `rescan must yield the same samples as were added: layer ${i}'s second read differs from the first (${why})`,
        );
    });
  };
  // Refinement passes, all layers together.
  for (;;) {
    const xs = refs.map((r) => (r ? r.next() : null));
    if (xs.every((x) => x === null)) break;
    const g = stats.map((s) => new Float64Array(s.d * s.q));
    const rss = stats.map((s) => new Float64Array(s.q));
    await pass(async (i, h, y) => {
      const x = xs[i];
      if (!x) return;
      const st = await k.normalStep(h, centerWith(y, stats[i].meanY), x);
      for (let j = 0; j < st.g.data.length; j++) g[i][j] += st.g.data[j];
      for (let j = 0; j < st.rss.length; j++) rss[i][j] += st.rss[j];
      await turnEventLoop();
    });
    xs.forEach((x, i) => x && refs[i]!.update(g[i], rss[i]));
  }
  refs.forEach((r, i) => {
    if (r && r.result !== null) {
      extras[i].residual = r.result;
      pending[i] = false;
    }
  });
  // Whatever the refinement could not settle: one TSQR pass.
  if (pending.some(Boolean)) {
    const factors: (Mat | null)[] = stats.map(() => null);
    await pass(async (i, h, y) => {
      if (!pending[i]) return;
      const f = (await k.qr(augmented(widenMat(h), y))).R;
      const prev = factors[i];
      factors[i] = prev ? (await k.qr(stackRows(prev, f))).R : f;
    });
    for (let i = 0; i < L; i++)
      if (pending[i])
        extras[i].residual = await nrc4Residual(
          k,
          { ...stats[i], r: factors[i]! },
          nrc4Rtol(ctx.preset, stats[i].count, stats[i].d),
        );
  }
  return extras;
}

/**
 * The cheap second-read check of `finalize({ rescan })`: per feature column the sum, the sum of
 * squares about the first read's mean and the cross products with the centered targets' row
 * sums, and the targets' column sums and squares, compared with the statistics.
 */
class RescanCheck {
  private readonly sumH: Float64Array;
  private readonly sqH: Float64Array;
  private readonly crossOnes: Float64Array;
  private readonly sumY: Float64Array;
  private readonly sqY: Float64Array;
  private n = 0;
  constructor(private readonly s: LayerStats) {
    this.sumH = new Float64Array(s.d);
    this.sqH = new Float64Array(s.d);
    this.crossOnes = new Float64Array(s.d);
    this.sumY = new Float64Array(s.q);
    this.sqY = new Float64Array(s.q);
  }

  add(h: Mat | MatF32, y: Mat): void {
    const { d, q, meanY } = this.s;
    const m = h.rows;
    const ys = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let t = 0;
      for (let c = 0; c < q; c++) {
        const v = y.data[i * q + c] - meanY[c];
        this.sumY[c] += v;
        this.sqY[c] += v * v;
        t += v;
      }
      ys[i] = t;
    }
    this.addRows(h.data, d, m, ys);
    this.n += m;
  }

  /**
   * The feature sums over rows, four at a time (each column's three running sums are loaded and
   * stored once per four rows instead of once per row).
   */
  private addRows(data: Float64Array | Float32Array, d: number, m: number, ys: Float64Array) {
    const { meanH } = this.s;
    const { sumH, sqH, crossOnes } = this;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const o = i * d;
      const y0 = ys[i],
        y1 = ys[i + 1],
        y2 = ys[i + 2],
        y3 = ys[i + 3];
      for (let j = 0; j < d; j++) {
        const mu = meanH[j];
        const v0 = data[o + j] - mu;
        const v1 = data[o + d + j] - mu;
        const v2 = data[o + 2 * d + j] - mu;
        const v3 = data[o + 3 * d + j] - mu;
        sumH[j] += v0 + v1 + (v2 + v3);
        sqH[j] += v0 * v0 + v1 * v1 + (v2 * v2 + v3 * v3);
        crossOnes[j] += v0 * y0 + v1 * y1 + (v2 * y2 + v3 * y3);
      }
    }
    for (; i < m; i++) {
      const o = i * d;
      const yi = ys[i];
      for (let j = 0; j < d; j++) {
        const v = data[o + j] - meanH[j];
        sumH[j] += v;
        sqH[j] += v * v;
        crossOnes[j] += v * yi;
      }
    }
  }

  /** What differs beyond rounding, or null. */
  mismatch(): string | null {
    const { d, q, count, m2H, m2Y, cross, meanH, meanY } = this.s;
    if (this.n !== count) return `${this.n} rows against ${count}`;
    // Relative to each sum's scale, plus what subtracting a mean of size |μ| rounds per row
    // (ε·|μ|, so data with a mean 10¹⁰ times its spread still passes).
    const tol = 1e-10;
    const eps = 4 * Number.EPSILON;
    const sums = (sum: number, sq: number, sd2: number, mu: number, what: string) => {
      const roundMean = count * eps * Math.abs(mu);
      // Σ(x − μ) = n·Δμ: within tol·√(n·m2) (the mean to tol of a standard deviation).
      if (Math.abs(sum) > tol * Math.sqrt(count * sd2) + roundMean + 1e-300)
        return `${what}'s mean differs by ${sum / count}`;
      if (Math.abs(sq - sd2) > tol * sd2 + 2 * roundMean * Math.sqrt(sd2 / count) + 1e-300)
        return `${what}'s sum of squares is ${sq}, not ${sd2}`;
      return null;
    };
    let yy = 0;
    for (let c = 0; c < q; c++) {
      const sd2 = m2Y[c * q + c];
      yy += sd2;
      const why = sums(this.sumY[c], this.sqY[c], sd2, meanY[c], `target column ${c}`);
      if (why) return why;
    }
    let ones = 0;
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) ones += m2Y[a * q + b];
    for (let j = 0; j < d; j++) {
      const sd2 = m2H[j * d + j];
      const why = sums(this.sumH[j], this.sqH[j], sd2, meanH[j], `feature column ${j}`);
      if (why) return why;
      let want = 0;
      for (let c = 0; c < q; c++) want += cross[j * q + c];
      const lim =
        tol * Math.sqrt(sd2 * Math.max(ones, 0)) +
        tol * Math.sqrt(sd2 * yy) +
        count * eps * Math.abs(meanH[j]) * Math.sqrt(yy * q) +
        1e-300;
      if (Math.abs(this.crossOnes[j] - want) > lim)
        return `feature column ${j}'s cross products with the targets differ (${this.crossOnes[j]} vs ${want})`;
    }
    return null;
  }
}
