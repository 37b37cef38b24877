/**
 * The certified path's kernels and its agreement with the float64 path (issue 22).
 * - `lowGram` (wasm gram32.c): within its a-priori error bound of the exact shifted Gram; float32
 *   rows give bit for bit what float64 rows holding the same values give; sums and squares exact
 *   to float64 rounding.
 * - `subspacePass` (wasm subspace.c) against the JS kernel.
 * - Property: on seeded random layers of every kind (healthy, collapsed, low rank plus noise,
 *   large means, graded spectra, conv tensors, float32 rows, with and without a weight),
 *   `measureNRC` on the default (certified) path equals the float64 path within the contract
 *   (1e-9 relative; NRC1 plus 1e-16 and NRC4 plus 1e-20 absolute), and the layers built to be
 *   certified were.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../src/backends/wasm/index.js";
import { completeKernels } from "../../src/backends/complete.js";
import { subspacePassJS } from "../../src/backends/js/subspace.js";
import type { CompleteKernels, Kernels, Mat } from "../../src/backends/types.js";
import { certifiedSpectrum, lowPrecisionGram } from "../../src/linalg/certified.js";
import { measureNRC } from "../../src/index.js";
import { loadFixture, type FixtureMatrix } from "../helpers/fixtures.js";

function rng(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  return {
    u,
    g: () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()),
  };
}

function randMat(r: ReturnType<typeof rng>, rows: number, cols: number, scale = 1): Mat {
  return { rows, cols, data: Float64Array.from({ length: rows * cols }, () => scale * r.g()) };
}

let k2: CompleteKernels;
let k1: CompleteKernels;
let saved: string | undefined;
beforeAll(async () => {
  // The certified path is opt-in (DEEP_NRC_CERTIFIED=1): these tests take it wherever it applies.
  saved = process.env.DEEP_NRC_CERTIFIED;
  process.env.DEEP_NRC_CERTIFIED = "1";
  k2 = completeKernels(await wasmBackend({ threads: 2 }).init());
  k1 = completeKernels(await wasmBackend({ threads: 1 }).init());
});
afterAll(async () => {
  if (saved === undefined) delete process.env.DEEP_NRC_CERTIFIED;
  else process.env.DEEP_NRC_CERTIFIED = saved;
  await k2?.dispose?.();
  await k1?.dispose?.();
});

function exactShiftedGram(a: Mat, shift: Float64Array) {
  const { rows: n, cols: d } = a;
  const g = new Float64Array(d * d);
  const sums = new Float64Array(d);
  const absg = new Float64Array(d * d);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < d; p++) {
      const x = a.data[i * d + p] - shift[p];
      sums[p] += x;
      for (let q = 0; q < d; q++) {
        const y = a.data[i * d + q] - shift[q];
        g[p * d + q] += x * y;
        absg[p * d + q] += Math.abs(x * y);
      }
    }
  return { g, sums, absg };
}

describe("lowGram (float32 Gram with float64 sums)", () => {
  for (const [n, d] of [
    [700, 37],
    [1100, 130],
  ])
    it(`${n}×${d}: within the a-priori bound, f32 rows = f64 rows of the same values, 1 and 2 threads`, async () => {
      const r = rng(n + d);
      const a = randMat(r, n, d);
      for (let i = 0; i < a.data.length; i++)
        a.data[i] = Math.fround(a.data[i] + 3 + (i % d) * 0.1);
      const shift = Float64Array.from({ length: d }, (_, j) => 3 + j * 0.1);
      const { g, sums, absg } = exactShiftedGram(a, shift);
      const a32 = { rows: n, cols: d, data: Float32Array.from(a.data) };
      const lo2 = await k2.lowGram!(a, shift);
      const lo2f = await k2.lowGram!(a32, shift);
      const lo1 = await k1.lowGram!(a, shift);
      expect(lo2f.gram.data).toEqual(lo2.gram.data);
      expect(lo2f.sums).toEqual(lo2.sums);
      const bu = (lo2.blockRows + 2) * lo2.unitRoundoff;
      const gamma = bu / (1 - bu);
      let worst = 0;
      for (const lo of [lo1, lo2]) {
        for (let i = 0; i < d * d; i++) {
          const err = Math.abs(lo.gram.data[i] - g[i]);
          expect(err).toBeLessThanOrEqual(gamma * absg[i] + 1e-12);
          worst = Math.max(worst, err / (absg[i] + 1e-300));
        }
        for (let j = 0; j < d; j++) {
          expect(Math.abs(lo.sums[j] - sums[j])).toBeLessThanOrEqual(
            1e-11 * Math.sqrt(g[j * d + j]) + 1e-12,
          );
          expect(Math.abs(lo.squares[j] - g[j * d + j])).toBeLessThanOrEqual(1e-13 * g[j * d + j]);
        }
      }
      // It is a float32 computation, not a float64 one in disguise.
      expect(worst).toBeGreaterThan(1e-9);
    });

  it("does not mutate its inputs", async () => {
    const r = rng(5);
    const a = randMat(r, 300, 20);
    const before = Float64Array.from(a.data);
    const shift = new Float64Array(20).fill(0.5);
    await k2.lowGram!(a, shift);
    expect(a.data).toEqual(before);
    expect(Array.from(shift)).toEqual(new Array(20).fill(0.5));
  });
});

describe("subspacePass (float64 on the data) = the JS kernel", () => {
  for (const [n, d, kk, t, f32] of [
    [900, 130, 11, 3, false],
    [513, 77, 5, 0, true],
    [1500, 64, 9, 9, false],
  ] as const)
    it(`${n}×${d}, k = ${kk}, t = ${t}${f32 ? ", float32 rows" : ""}`, async () => {
      const r = rng(n * d);
      const a0 = randMat(r, n, d);
      const a = f32 ? { rows: n, cols: d, data: Float32Array.from(a0.data) } : a0;
      const mean = Float64Array.from({ length: d }, () => 0.1 * r.g());
      const v = randMat(r, d, kk);
      const want = subspacePassJS(a, mean, v, t);
      for (const k of [k1, k2]) {
        const got = await k.subspacePass(a, mean, v, t);
        let wmax = 0;
        for (const x of want.w.data) wmax = Math.max(wmax, Math.abs(x));
        for (let i = 0; i < want.w.data.length; i++)
          expect(Math.abs(got.w.data[i] - want.w.data[i])).toBeLessThanOrEqual(1e-12 * wmax);
        expect(Math.abs(got.trace - want.trace)).toBeLessThanOrEqual(1e-13 * want.trace);
        expect(Math.abs(got.tail - want.tail)).toBeLessThanOrEqual(1e-12 * want.trace);
      }
    });
});

describe("certifiedSpectrum", () => {
  it("throws on shapes that do not fit and on t out of range", async () => {
    const r = rng(9);
    const h = randMat(r, 300, 40);
    const low = (await lowPrecisionGram(k2, h))!;
    await expect(
      certifiedSpectrum(k2, h, low.mean.subarray(1), low.approx, { t: 3 }),
    ).rejects.toThrow(/shapes do not fit/);
    await expect(certifiedSpectrum(k2, h, low.mean, low.approx, { t: 0 })).rejects.toThrow(
      /t must be/,
    );
  });

  it("is not certified for an eigen-gap at t below the float32 Gram's resolution", async () => {
    // λ₃/λ₄ − 1 = 2e-9 (test/fixtures/certified.json, built by scripts/make_certified_fixtures.py).
    const fx = loadFixture("certified") as unknown as {
      cases: { name: string; features: FixtureMatrix }[];
    };
    const h = fx.cases.find((c) => c.name === "gap-below-f32")!.features;
    const low = (await lowPrecisionGram(k2, h))!;
    const cs = await certifiedSpectrum(k2, h, low.mean, low.approx, { t: 3 });
    expect(cs.certificate.certified).toBe(false);
    expect(cs.certificate.reason).toBeTruthy();
    expect(cs.certificate.passes).toBeLessThanOrEqual(5);
    // The healthy case of the same file is certified, in at most three passes.
    const ok = fx.cases.find((c) => c.name === "healthy")!.features;
    const low2 = (await lowPrecisionGram(k2, ok))!;
    const cs2 = await certifiedSpectrum(k2, ok, low2.mean, low2.approx, { t: 3 });
    expect(cs2.certificate.certified).toBe(true);
    expect(cs2.certificate.passes).toBeLessThanOrEqual(3);
  });
});

type Kind = "healthy" | "collapsed" | "lowrank" | "large-mean" | "graded" | "conv" | "float32";
const KINDS: Kind[] = [
  "healthy",
  "collapsed",
  "lowrank",
  "large-mean",
  "graded",
  "conv",
  "float32",
];
/** Kinds the float32 pass must certify (their gaps and conditioning are comfortably inside it). */
const CERTIFY = new Set<Kind>(["healthy", "collapsed", "float32"]);

function layer(kind: Kind, seed: number, y: Mat) {
  const r = rng(seed);
  const n = y.rows;
  const t = y.cols;
  const d = kind === "conv" ? 0 : 128 + Math.floor(r.u() * 40);
  const w = randMat(r, 24, kind === "conv" ? 128 : d, 0.3);
  if (kind === "conv") {
    // N×C×2×2 maps: 4 positions a sample, C = 128 channels.
    const c = 128;
    const b = randMat(r, t, c);
    const data = new Float64Array(n * c * 4);
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < c; ch++)
        for (let p = 0; p < 4; p++) {
          let v = 0.3 * r.g();
          for (let a = 0; a < t; a++) v += y.data[i * t + a] * b.data[a * c + ch] * (1 + 0.1 * p);
          data[((i * c + ch) * 4 + p) | 0] = v;
        }
    return { features: { data, shape: [n, c, 2, 2] }, weight: w };
  }
  const b = randMat(r, t, d);
  const noise = kind === "collapsed" ? 1e-8 : kind === "lowrank" ? 1e-3 : 0.3;
  const mean = kind === "large-mean" ? 3e3 : 2;
  const h = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      let v = mean + 0.01 * j;
      for (let a = 0; a < t; a++) v += (y.data[i * t + a] + 0.2 * r.g()) * b.data[a * d + j];
      const scale = kind === "graded" ? 10 ** (-3 * (j / d)) : 1;
      h[i * d + j] = v + noise * scale * r.g();
    }
  const features =
    kind === "float32"
      ? { rows: n, cols: d, data: Float32Array.from(h) }
      : { rows: n, cols: d, data: h };
  return { features, weight: seed % 3 === 0 ? null : w };
}

describe("property: the certified path equals the float64 path within the contract", () => {
  for (const kind of KINDS)
    for (const seed of [1, 2]) {
      it(`${kind}, seed ${seed}`, async () => {
        const r = rng(1000 + seed);
        const n = 520;
        const y = randMat(r, n, 3);
        const l = layer(kind, seed * 7 + KINDS.indexOf(kind), y);
        const f64: Kernels = { ...k2, lowGram: undefined };
        const [a, b] = [
          await measureNRC({ layers: [l], targets: y, backend: k2 }),
          await measureNRC({ layers: [l], targets: y, backend: f64 }),
        ];
        const la = a.layers[0];
        const lb = b.layers[0];
        expect(lb.certificate).toBeUndefined();
        if (CERTIFY.has(kind)) expect(la.certificate, "certified").toBeDefined();
        const near = (
          x: number | null,
          z: number | null,
          rel: number,
          abs: number,
          what: string,
        ) => {
          if (z === null) return expect(x, what).toBeNull();
          expect(Math.abs((x as number) - z), `${what}: ${x} vs ${z}`).toBeLessThanOrEqual(
            rel * Math.abs(z) + abs,
          );
        };
        // The float64 path's own error on a collapsed or graded layer's NRC4 is ~ε·κ(H).
        const nrc4Rel = kind === "collapsed" || kind === "lowrank" ? 1e-6 : 1e-9;
        near(la.nrc1, lb.nrc1, 1e-9, 1e-16, "nrc1");
        near(la.nrc2, lb.nrc2, 1e-9, 0, "nrc2");
        near(la.nrc3, lb.nrc3, 1e-9, 0, "nrc3");
        near(la.nrc4, lb.nrc4, nrc4Rel, 1e-20, "nrc4");
        near(la.stableRankFeatures, lb.stableRankFeatures, 1e-9, 0, "stable rank");
        near(la.stableRankWeight, lb.stableRankWeight, 1e-12, 0, "stable rank (weight)");
        for (let j = 0; j < 3; j++)
          near(la.topEigenvalues[j], lb.topEigenvalues[j], 1e-9, 0, `λ${j + 1}`);
      });
    }
});

describe("the default policy", () => {
  it("measureNRC takes the float64 path unless DEEP_NRC_CERTIFIED=1", async () => {
    const r = rng(77);
    const y = randMat(r, 520, 3);
    const l = layer("healthy", 3, y);
    process.env.DEEP_NRC_CERTIFIED = "";
    const auto = await measureNRC({ layers: [l], targets: y, backend: k2 });
    process.env.DEEP_NRC_CERTIFIED = "0";
    const never = await measureNRC({ layers: [l], targets: y, backend: k2 });
    process.env.DEEP_NRC_CERTIFIED = "1";
    const forced = await measureNRC({ layers: [l], targets: y, backend: k2 });
    expect(auto.layers[0].certificate).toBeUndefined();
    expect(never.layers[0].certificate).toBeUndefined();
    expect(forced.layers[0].certificate).toBeDefined();
  });
});
