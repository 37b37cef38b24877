/**
 * Tests for the float32 backends (webgpu, tfjs), written once as a factory. They check the Gram
 * and cross-product kernels against an independent float64 triple loop (and the JS kernels), and
 * the metrics against the numpy/scipy golden fixtures, with the accuracy bounds stated here:
 *
 * - kernels: |Ĉᵢⱼ − Cᵢⱼ| ≤ KERNEL_BOUND · ‖ãᵢ‖‖b̃ⱼ‖ (ã, b̃ the *centered* columns): the float32
 *   rounding of the inputs and of ≤ tileRows-term sums, relative to the centered data, whatever
 *   the columns' means and scales;
 * - metrics: see {@link METRIC_BOUNDS}; NRC2/NRC3 errors grow like (Gram error)/(eigengap), so
 *   their bound carries 1/gap from the fixture's conditioning record.
 *
 * Set NRC_PRINT_ACCURACY=1 to print the worst measured error per quantity.
 */
import { describe, it, expect, afterAll } from "vitest";
import { jsKernels, measureNRC, type Kernels, type Mat } from "../../src/index.js";
import { NRCInputError } from "../../src/errors.js";
import { loadFixture, type MetricsCase } from "../helpers/fixtures.js";

/** Kernel bound, relative to the centered column norms (≈ 2^-20). */
export const KERNEL_BOUND = 1e-6;
const KERNEL_BOUND_F32 = KERNEL_BOUND;

/** Metric bounds against the float64 fixtures (|Δ| ≤ rel·|expected| + abs). */
export const METRIC_BOUNDS = {
  /** NRC1, absolute: a float32 Gram cannot resolve a noise share below ~1e-7. */
  nrc1Abs: 5e-7,
  /** NRC2, NRC3, bottom alignment: absolute, times (1 + 1/gap). */
  alignAbs: 1e-6,
  /** Stable ranks, relative. */
  stableRankRel: 2e-6,
  /** Eigenvalues: absolute, relative to λ₁ (Weyl: ‖ΔΣ‖₂). */
  eigAbsRel: 1e-6,
  /** NRC4 (pinv residual; computed from H by the float64 QR/SVD): relative, absolute. */
  nrc4Rel: 1e-6,
  nrc4Abs: 1e-15,
};

/** A seeded standard-normal matrix. */
export function randn(rows: number, cols: number, seed: number): Mat {
  let s = seed >>> 0 || 1;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++)
    data[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return { rows, cols, data };
}

/**
 * A collapsed layer (m×d): a rank-2 signal plus noise 1e-4 of its scale (NRC1 at t = 2 ≈ 1e-9).
 */
export function collapsedLayer(m: number, d: number): Mat {
  const s = randn(m, 2, 4);
  const nz = randn(m, d, 5);
  const h = randn(m, d, 6);
  for (let r = 0; r < m; r++)
    for (let j = 0; j < d; j++)
      h.data[r * d + j] =
        s.data[r * 2] * (j + 1) + s.data[r * 2 + 1] * (d - j) + 1e-4 * nz.data[r * d + j];
  return h;
}

/** `AᵀB` by the plain float64 triple loop (the independent reference). */
export function crossRef(a: Mat, b: Mat): Float64Array {
  const { rows: m, cols: n } = a;
  const q = b.cols;
  const out = new Float64Array(n * q);
  for (let r = 0; r < m; r++)
    for (let i = 0; i < n; i++) {
      const v = a.data[r * n + i];
      for (let j = 0; j < q; j++) out[i * q + j] += v * b.data[r * q + j];
    }
  return out;
}

/** Column norms of the centered matrix, in float64 (two passes). */
function centeredNorms(a: Mat): Float64Array {
  const { rows: m, cols: n, data } = a;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let mu = 0;
    for (let r = 0; r < m; r++) mu += data[r * n + j];
    mu /= m;
    let s = 0;
    for (let r = 0; r < m; r++) s += (data[r * n + j] - mu) ** 2;
    out[j] = Math.sqrt(s);
  }
  return out;
}

/**
 * max over (i, j) of (|got − ref| − 1e-14·|ref|) / (‖ãᵢ‖‖b̃ⱼ‖): the error of a cross product
 * relative to the centered column norms, after allowing for the float64 rounding of the result
 * itself (an entry of magnitude 1e13 carries an ulp of 2e-3 whatever the kernel does).
 */
export function normalisedError(got: Mat, ref: Float64Array, a: Mat, b: Mat): number {
  const na = centeredNorms(a);
  const nb = centeredNorms(b);
  let worst = 0;
  for (let i = 0; i < a.cols; i++)
    for (let j = 0; j < b.cols; j++) {
      const k = i * b.cols + j;
      const err = Math.abs(got.data[k] - ref[k]) - 1e-14 * Math.abs(ref[k]);
      if (!(err > 0)) {
        if (Number.isNaN(err)) return Infinity;
        continue;
      }
      const scale = na[i] * nb[j];
      worst = Math.max(worst, scale > 0 ? err / scale : Infinity);
    }
  return worst;
}

function transform(a: Mat, f: (v: number, i: number, j: number) => number): Mat {
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) data[i * a.cols + j] = f(a.data[i * a.cols + j], i, j);
  return { rows: a.rows, cols: a.cols, data };
}

/** Worst measured error per quantity (printed with NRC_PRINT_ACCURACY=1). */
const worst: Record<string, Record<string, number>> = {};
function record(suite: string, what: string, v: number): void {
  const w = (worst[suite] ??= {});
  w[what] = Math.max(w[what] ?? 0, v);
}

/**
 * Registers the float32-backend tests.
 * @param name Suite name (shown in the test names).
 * @param kernels Returns the started kernels (called inside the tests).
 * @param opts `presets`: which presets of metrics.json to run (default both); `golden: false`
 *   skips the golden fixtures (for a backend the float64 golden suite checks); `kernelBound`: the
 *   kernels' bound (default {@link KERNEL_BOUND}; an exact backend states a float64 one);
 *   `maxKernelWork`: skip the larger kernel shapes.
 */
export function runFloat32Suite(
  name: string,
  kernels: () => Kernels,
  opts: {
    presets?: readonly ("paper" | "reference-code")[];
    maxGoldenWork?: number;
    golden?: boolean;
    kernelBound?: number;
    /** Skip kernel shapes with m·n·max(n, q) above this (a slow exact backend). */
    maxKernelWork?: number;
  } = {},
): void {
  const presets = opts.presets ?? ["paper", "reference-code"];
  const KERNEL_BOUND = opts.kernelBound ?? KERNEL_BOUND_F32;
  afterAll(() => {
    if (process.env.NRC_PRINT_ACCURACY) {
      console.log(
        `float32 accuracy [${name}] (worst measured; bounds in test/backends/f32-suite.ts)`,
      );
      console.table(worst[name]);
    }
  });

  describe(`float32 kernels [${name}]`, () => {
    const shapes: [number, number, number][] = [
      [1, 3, 2],
      [5, 3, 3],
      [33, 31, 37],
      [257, 64, 5],
      [3001, 100, 37],
      [2500, 256, 3],
    ];
    for (const [m, n, q] of shapes) {
      if (m * n * Math.max(n, q) > (opts.maxKernelWork ?? Infinity)) continue;
      it(`gram and crossProd of centered normal data, ${m}×${n} and ${m}×${q}: within ${KERNEL_BOUND} of the float64 loop`, async () => {
        const k = kernels();
        const a = randn(m, n, 11 + m);
        const b = randn(m, q, 97 + n);
        const g = await k.gram!(a);
        const c = await k.crossProd!(a, b);
        expect([g.rows, g.cols, c.rows, c.cols]).toEqual([n, n, n, q]);
        const eg = normalisedError(g, crossRef(a, a), a, a);
        const ec = normalisedError(c, crossRef(a, b), a, b);
        record(name, "gram (normalised)", eg);
        record(name, "crossProd (normalised)", ec);
        expect(eg).toBeLessThanOrEqual(KERNEL_BOUND);
        expect(ec).toBeLessThanOrEqual(KERNEL_BOUND);
        // the Gram is exactly symmetric
        for (let i = 0; i < n; i++)
          for (let j = 0; j < i; j++) expect(g.data[i * n + j]).toBe(g.data[j * n + i]);
        // and agrees with the JS float64 kernels to the same bound
        const js = await jsKernels.crossProd(a, b);
        expect(normalisedError(c, js.data, a, b)).toBeLessThanOrEqual(KERNEL_BOUND);
      });
    }

    it("large column means (1e4 ± 1): the error is relative to the centered data", async () => {
      const k = kernels();
      // Rows in ± pairs (entries with 20 fractional bits) around integer means: every sum is exact
      // in float64, so the reference XᵀY + m·μₐμ_bᵀ is exact up to its final rounding.
      const pairs = (rows: number, cols: number, seed: number, mu: (j: number) => number) => {
        const z = randn(rows / 2, cols, seed);
        const x = new Float64Array(rows * cols);
        const a = new Float64Array(rows * cols);
        for (let r = 0; r < rows / 2; r++)
          for (let j = 0; j < cols; j++) {
            const v = Math.round(z.data[r * cols + j] * 2 ** 20) / 2 ** 20;
            x[2 * r * cols + j] = v;
            x[(2 * r + 1) * cols + j] = -v;
            a[2 * r * cols + j] = mu(j) + v;
            a[(2 * r + 1) * cols + j] = mu(j) - v;
          }
        return { x: { rows, cols, data: x }, a: { rows, cols, data: a } };
      };
      const m = 2000;
      const muA = (j: number) => 1e4 * (j + 1);
      const muB = (j: number) => -3e3 * (j + 1);
      const A = pairs(m, 40, 5, muA);
      const B = pairs(m, 7, 6, muB);
      const ref = (p: Mat, q: Mat, ma: (j: number) => number, mb: (j: number) => number) => {
        const c = crossRef(p, q);
        for (let i = 0; i < p.cols; i++)
          for (let j = 0; j < q.cols; j++) c[i * q.cols + j] += m * ma(i) * mb(j);
        return c;
      };
      const eg = normalisedError(await k.gram!(A.a), ref(A.x, A.x, muA, muA), A.a, A.a);
      const ec = normalisedError(await k.crossProd!(A.a, B.a), ref(A.x, B.x, muA, muB), A.a, B.a);
      record(name, "gram, means 1e4 (normalised)", eg);
      expect(eg).toBeLessThanOrEqual(KERNEL_BOUND);
      expect(ec).toBeLessThanOrEqual(KERNEL_BOUND);
    });

    it("columns scaled from 1e-30 to 1e30 (beyond float32's range when squared) stay accurate", async () => {
      const k = kernels();
      const scales = [1e-30, 3e-12, 1, 7e11, 1e30, 2 ** -100, 2 ** 100];
      const a = transform(randn(600, scales.length, 8), (v, _i, j) => v * scales[j]);
      const g = await k.gram!(a);
      expect(g.data.every(Number.isFinite)).toBe(true);
      const eg = normalisedError(g, crossRef(a, a), a, a);
      record(name, "gram, scales 1e±30 (normalised)", eg);
      expect(eg).toBeLessThanOrEqual(KERNEL_BOUND);
    });

    it("never mutates its inputs", async () => {
      const k = kernels();
      const a = transform(randn(300, 9, 3), (v) => v + 5);
      const b = randn(300, 4, 4);
      const a0 = a.data.slice();
      const b0 = b.data.slice();
      await k.gram!(a);
      await k.crossProd!(a, b);
      expect(a.data).toEqual(a0);
      expect(b.data).toEqual(b0);
    });

    it("rejects mismatched row counts with an NRCInputError naming the kernel and the shapes", async () => {
      const k = kernels();
      const err = await Promise.resolve()
        .then(() => k.crossProd!(randn(10, 3, 1), randn(11, 2, 2)))
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(NRCInputError);
      expect(String((err as Error).message)).toMatch(/crossProd.*10×3.*11×2/);
    });
  });

  if (opts.golden === false) return;
  describe(`float32 golden fixtures [${name}] (bounds: ${JSON.stringify(METRIC_BOUNDS)})`, () => {
    const fx = loadFixture("metrics");
    const cases = fx.cases.filter(
      (c) =>
        presets.includes(c.preset) &&
        c.H.rows * c.H.cols * c.H.cols <= (opts.maxGoldenWork ?? Infinity),
    );
    it(`metrics.json: ${cases.length} cases (${presets.join(", ")}) within the stated bounds`, async () => {
      const k = kernels();
      for (const c of cases) await checkCase(name, k, c);
    });
  });
}

function close(
  suite: string,
  what: string,
  got: number | null | undefined,
  exp: number,
  rel: number,
  abs: number,
): void {
  expect(got, what).not.toBeNull();
  expect(got, what).not.toBeUndefined();
  const err = Math.abs((got as number) - exp);
  record(suite, what.split(" ")[0], err);
  if (!(err <= rel * Math.abs(exp) + abs))
    expect.fail(
      `${what}: got ${got}, expected ${exp}, |Δ| = ${err.toExponential(2)} > ${rel}·|e| + ${abs}`,
    );
}

async function checkCase(suite: string, k: Kernels, c: MetricsCase): Promise<void> {
  const rep = await measureNRC({
    layers: [{ features: c.H, weight: c.W }],
    targets: c.Y,
    t: c.t,
    r: c.r,
    preset: c.preset,
    backend: k,
  });
  const L = rep.layers[0];
  const e = c.expected;
  const B = METRIC_BOUNDS;
  const tag = `${c.name} (${c.preset})`;
  expect(L.degenerate, tag).toBeNull();
  const gapT = Math.min(c.conditioning.eigGapRel_t, c.conditioning.weightGapRel_t ?? Infinity);
  const gapR = Math.min(
    c.conditioning.eigGapRel_r ?? Infinity,
    c.conditioning.weightGapRel_r ?? Infinity,
  );
  const align = (gap: number) => B.alignAbs * (1 + 1 / Math.max(gap, 1e-12));
  L.topEigenvalues.forEach((v, i) =>
    close(
      suite,
      `eigenvalue/λ₁ ${tag}[${i}]`,
      v / e.eigenvalues[0],
      e.eigenvalues[i] / e.eigenvalues[0],
      0,
      B.eigAbsRel,
    ),
  );
  close(suite, `nrc1 ${tag}`, L.nrc1, e.nrc1, 0, B.nrc1Abs);
  close(suite, `nrc2 ${tag}`, L.nrc2, e.nrc2, 0, align(gapT));
  if (e.nrc3 !== undefined) close(suite, `nrc3 ${tag}`, L.nrc3, e.nrc3, 0, align(gapT));
  close(suite, `nrc4 ${tag}`, L.nrc4, e.nrc4, B.nrc4Rel, B.nrc4Abs);
  close(
    suite,
    `stableRankFeatures ${tag}`,
    L.stableRankFeatures,
    e.stableRankFeatures,
    B.stableRankRel,
    0,
  );
  if (e.stableRankWeight !== undefined)
    close(
      suite,
      `stableRankWeight ${tag}`,
      L.stableRankWeight,
      e.stableRankWeight,
      B.stableRankRel,
      0,
    );
  close(
    suite,
    `targetStableRank ${tag}`,
    rep.targetStableRank,
    e.targetStableRank,
    B.stableRankRel,
    0,
  );
  if (e.nrc1_r !== undefined)
    close(suite, `nrc1_r ${tag}`, L.intrinsic?.nrc1, e.nrc1_r, 0, B.nrc1Abs);
  if (e.nrc3_r !== undefined)
    close(suite, `nrc3_r ${tag}`, L.intrinsic?.nrc3, e.nrc3_r, 0, align(gapR));
  if (e.bottomAlignment !== undefined)
    close(
      suite,
      `bottomAlignment ${tag}`,
      L.intrinsic?.bottomAlignment,
      e.bottomAlignment,
      0,
      align(Math.min(gapR, gapT)),
    );
}
