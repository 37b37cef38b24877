/**
 * Golden fixtures from the independent float64 numpy/scipy reference (scripts/make_fixtures.py),
 * written once as a factory and run against every backend. Tolerances are stated per quantity:
 * |Δ| ≤ rel·|e| + abs, with rel = 1e-9 (the reference itself is good to ~1e-13) and abs sized
 * to the quantity's conditioning (see test/fixtures/metrics.json → conventions.tolerance).
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import {
  measureNRC,
  noiseComponent,
  signalTargetAlignment,
  featureWeightAlignment,
  pinvPredictMSE,
  stableRank,
  proposition1Bound,
  principalAngles,
  linearCKA,
  convFeaturesToMatrix,
  convWeightsToMatrix,
  type BackendOption,
  type Preset,
} from "../../src/index.js";

type Enc = { rows?: number; cols?: number; shape?: number[]; f64: string; sum?: number };
const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8"));
const f64 = (e: Enc) => {
  const b = Buffer.from(e.f64, "base64");
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8).slice();
};
const mat = (e: Enc) => ({ rows: e.rows as number, cols: e.cols as number, data: f64(e) });
const tensor = (e: Enc) => ({ shape: e.shape as number[], data: f64(e) });

/**
 * Worst agreement seen per quantity, printed with NRC_PRINT_ACCURACY=1 (the README's accuracy
 * table): relative error where |expected| ≥ 1e-6, absolute error where it is smaller.
 */
export const worst: Record<string, { rel: number; absSmall: number }> = {};
function close(
  what: string,
  got: number | null | undefined,
  exp: number,
  rel = 1e-9,
  abs = 0,
): void {
  expect(got, what).not.toBeNull();
  const g = got as number;
  const err = Math.abs(g - exp);
  const w = (worst[what.split(" ")[0]] ??= { rel: 0, absSmall: 0 });
  if (Math.abs(exp) >= 1e-6) w.rel = Math.max(w.rel, err / Math.abs(exp));
  else w.absSmall = Math.max(w.absSmall, err);
  if (!(err <= rel * Math.abs(exp) + abs))
    expect.fail(
      `${what}: got ${g}, expected ${exp} (|Δ| = ${err.toExponential(2)} > ${rel}·|e| + ${abs})`,
    );
}

/** Expected per-layer values in the fixtures' field names. */
type Exp = {
  eigenvalues: number[];
  nrc1: number;
  nrc2: number;
  nrc3?: number;
  nrc4: number;
  stableRankFeatures: number;
  stableRankWeight?: number;
  targetStableRank?: number;
  nrc1_r?: number;
  nrc3_r?: number;
  bottomAlignment?: number;
  prop1: { lhs: number; bound: number; eps1: number; eps2: number };
};

function checkLayer(
  tag: string,
  got: Awaited<ReturnType<typeof measureNRC>>["layers"][number],
  e: Exp,
): void {
  const l1 = e.eigenvalues[0];
  got.topEigenvalues.forEach((v, i) =>
    close(`eigenvalue ${tag}[${i}]`, v, e.eigenvalues[i], 1e-9, 1e-13 * l1),
  );
  close(`nrc1 ${tag}`, got.nrc1, e.nrc1, 1e-9, 1e-14);
  close(`nrc2 ${tag}`, got.nrc2, e.nrc2, 1e-9, 1e-13);
  if (e.nrc3 !== undefined) close(`nrc3 ${tag}`, got.nrc3, e.nrc3, 1e-9, 1e-13);
  close(`nrc4 ${tag}`, got.nrc4, e.nrc4, 1e-9, 1e-15);
  close(`stableRankFeatures ${tag}`, got.stableRankFeatures, e.stableRankFeatures, 1e-9);
  if (e.stableRankWeight !== undefined)
    close(`stableRankWeight ${tag}`, got.stableRankWeight, e.stableRankWeight, 1e-9);
  if (e.nrc1_r !== undefined) close(`nrc1_r ${tag}`, got.intrinsic?.nrc1, e.nrc1_r, 1e-9, 1e-14);
  if (e.nrc3_r !== undefined) close(`nrc3_r ${tag}`, got.intrinsic?.nrc3, e.nrc3_r, 1e-9, 1e-13);
  if (e.bottomAlignment !== undefined)
    close(`bottomAlignment ${tag}`, got.intrinsic?.bottomAlignment, e.bottomAlignment, 1e-9, 1e-13);
}

export function runGoldenSuite(
  name: string,
  backend: () => BackendOption,
  opts: { pure?: boolean } = {},
): void {
  const pure = opts.pure ?? true;
  describe(`golden fixtures [${name}]`, () => {
    const metrics = load("metrics.json");
    for (const c of metrics.cases) {
      it(`metrics.json ${c.name} (${c.preset})`, async () => {
        const H = mat(c.H);
        const Y = mat(c.Y);
        const W = c.W ? mat(c.W) : undefined;
        const e = c.expected as Exp;
        const rep = await measureNRC({
          layers: [{ features: H, weight: W }],
          targets: Y,
          t: c.t,
          r: c.r ?? undefined,
          preset: c.preset as Preset,
          backend: backend(),
        });
        close(`targetStableRank ${c.name}`, rep.targetStableRank, e.targetStableRank as number);
        checkLayer(c.name, rep.layers[0], e);
        if (!pure || c.preset !== "paper") return;
        const o = { backend: backend() };
        close(`nrc1(pure) ${c.name}`, await noiseComponent(H, c.t, o), e.nrc1, 1e-9, 1e-14);
        close(
          `nrc2(pure) ${c.name}`,
          await signalTargetAlignment(H, Y, c.t, o),
          e.nrc2,
          1e-9,
          1e-13,
        );
        close(`nrc4(pure) ${c.name}`, await pinvPredictMSE(H, Y, o), e.nrc4, 1e-9, 1e-15);
        if (W && e.nrc3 !== undefined) {
          close(
            `nrc3(pure) ${c.name}`,
            await featureWeightAlignment(H, W, c.t, o),
            e.nrc3,
            1e-9,
            1e-13,
          );
          close(`stableRank(pure) ${c.name}`, await stableRank(W, o), e.stableRankWeight as number);
        }
        const p = await proposition1Bound(H, Y, c.t, o);
        close(`prop1.lhs ${c.name}`, p.lhs, e.prop1.lhs, 1e-9, 1e-13);
        close(`prop1.eps2 ${c.name}`, p.eps2, e.prop1.eps2, 1e-9, 1e-13);
        close(`prop1.bound ${c.name}`, p.bound, e.prop1.bound, 1e-9, 1e-7);
      });
    }

    it("angles.json: principal angles, incl. tiny and exactly-zero angles", async () => {
      for (const c of load("angles.json").cases) {
        const got = await principalAngles(mat(c.A), mat(c.B), { backend: backend() });
        expect(got.length, c.name).toBe(c.angles.length);
        // Tiny angles to 1e-6 relative; all to 1e-12 absolute.
        c.angles.forEach((a: number, i: number) =>
          close(`angle ${c.name}[${i}]`, got[i], a, 1e-6, 1e-12),
        );
      }
    });

    it("cka.json: linear CKA incl. Kornblith's example", async () => {
      for (const c of load("cka.json").cases)
        close(
          `cka ${c.name}`,
          await linearCKA(mat(c.X), mat(c.Y), { backend: backend() }),
          c.expected,
          1e-9,
        );
    });

    it("pinv.json: NRC4 with cutoffs and centering options", async () => {
      for (const c of load("pinv.json").cases) {
        const got = await pinvPredictMSE(mat(c.H), mat(c.Y), {
          rtol: c.rtol,
          centerY: c.centerY,
          backend: backend(),
        });
        close(`pinv ${c.name}`, got, c.expected, 1e-9, 1e-15);
      }
    });

    it("conv.json: reshaping conventions and a conv network in both presets", async () => {
      const conv = load("conv.json");
      const same = (a: { data: Float64Array }, b: { data: Float64Array }) =>
        expect(Array.from(a.data)).toEqual(Array.from(b.data));
      for (const c of conv.tensors) {
        same(convFeaturesToMatrix(tensor(c.nchw)), mat(c.flatten));
        same(convFeaturesToMatrix(tensor(c.nhwc), { layout: "NHWC" }), mat(c.flatten));
        const gap = convFeaturesToMatrix(tensor(c.nchw), { mode: "gap" });
        mat(c.gap).data.forEach((v, i) => close(`gap ${c.name}`, gap.data[i], v, 1e-15, 1e-15));
      }
      for (const c of conv.filters) same(convWeightsToMatrix(tensor(c.weight)), mat(c.matrix));
      const net = conv.network;
      for (const preset of ["paper", "reference-code"] as const) {
        const rep = await measureNRC({
          layers: net.layers.map((l: { name: string; features: Enc; weight: Enc }) => ({
            name: l.name,
            features: l.features.shape ? tensor(l.features) : mat(l.features),
            weight:
              l.weight.shape && l.weight.shape.length === 4 ? tensor(l.weight) : mat(l.weight),
          })),
          targets: mat(net.targets),
          t: net.t,
          r: net.r,
          preset,
          backend: backend(),
        });
        const exp = net.expected[preset];
        close(`targetStableRank conv-${preset}`, rep.targetStableRank, exp.targetStableRank);
        rep.layers.forEach((l, i) => checkLayer(`conv-${preset}-${l.name}`, l, exp.layers[i]));
      }
    });
  });
}
