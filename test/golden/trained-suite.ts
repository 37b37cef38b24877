/**
 * The trained-like layers (test/fixtures/trained.json, scripts/make_trained_fixtures.py) against
 * the backward-stable numpy reference, written once and run on every backend. Tolerances as issue
 * 13 states them: NRC1 and NRC4 to 1e-6 relative plus 1e-16 / 1e-20 absolute, everything else to
 * 1e-8 relative.
 */
import { describe, expect, it } from "vitest";
import { measureNRC, noiseComponent } from "../../src/index.js";
import type { Kernels } from "../../src/backends/types.js";
import { loadFixture, type FixtureMatrix } from "../helpers/fixtures.js";
import { expectNear } from "../helpers/near.js";

interface Expected {
  nrc1: number;
  nrc2: number;
  nrc3: number;
  nrc4: number;
  stableRankFeatures: number;
  stableRankWeight: number;
  intrinsic: { nrc1: number; nrc3: number; bottomAlignment: number };
}
interface Case {
  name: string;
  features: FixtureMatrix;
  weight: FixtureMatrix;
  dead: number[];
  constant: number[];
  duplicates: number[][];
  expected: Expected;
}
export const fx = loadFixture("trained") as unknown as {
  t: number;
  r: number;
  targets: FixtureMatrix;
  cases: Case[];
};

/** Worst |Δ|/|v| per backend and metric (`NRC_PRINT_ACCURACY=1` prints it). */
export const worst: Record<string, Record<string, number>> = {};
let current = "";

function near(
  got: number | null | undefined,
  want: number,
  rel: number,
  abs: number,
  what: string,
) {
  const err = Math.abs((got ?? NaN) - want);
  const w = (worst[current] ??= {});
  if (Number.isFinite(err))
    w[what] = Math.max(w[what] ?? 0, want === 0 ? err : err / Math.abs(want));
  expectNear(got, want, rel, abs, what);
}

/** Registers the trained-like layers' tests for a backend. */
export function trainedSuite(name: string, kernels: () => Kernels) {
  describe(`trained-like layers [${name}]`, () => {
    for (const c of fx.cases)
      it(`${c.name}: every metric against the reference`, async () => {
        current = name;
        const before = Float64Array.from(c.features.data);
        const rep = await measureNRC({
          layers: [{ name: c.name, features: c.features, weight: c.weight }],
          targets: fx.targets,
          r: fx.r,
          backend: kernels(),
        });
        const l = rep.layers[0];
        const e = c.expected;
        expect(l.degenerate).toBeNull();
        near(l.nrc1, e.nrc1, 1e-6, 1e-16, "nrc1");
        near(l.nrc4, e.nrc4, 1e-6, 1e-20, "nrc4");
        near(l.nrc2, e.nrc2, 1e-8, 0, "nrc2");
        near(l.nrc3, e.nrc3, 1e-8, 0, "nrc3");
        near(l.stableRankFeatures, e.stableRankFeatures, 1e-8, 0, "stable rank (features)");
        near(l.stableRankWeight, e.stableRankWeight, 1e-8, 0, "stable rank (weight)");
        near(l.intrinsic?.nrc1, e.intrinsic.nrc1, 1e-6, 1e-16, "intrinsic nrc1");
        near(l.intrinsic?.nrc3, e.intrinsic.nrc3, 1e-8, 0, "intrinsic nrc3");
        near(l.intrinsic?.bottomAlignment, e.intrinsic.bottomAlignment, 1e-8, 1e-15, "bottom");
        near(
          await noiseComponent(c.features, fx.t, { backend: kernels() }),
          e.nrc1,
          1e-6,
          1e-16,
          "noiseComponent",
        );
        expect(c.features.data).toEqual(before);
      });
  });
}
