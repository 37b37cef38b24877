/**
 * A layer with fewer features than t (issue 21, e.g. a first conv with 1–2 channels): NRC1–NRC3
 * need a top-t subspace and are null with a reason; NRC4, the stable ranks and the eigenvalues do
 * not depend on t and are reported — checked against the SPEC's float64 reference values of its
 * small example (d = 3, measured here with t = 4), through measureNRC, the accumulator (both NRC4
 * modes) and the table.
 */
import { describe, expect, it } from "vitest";
import {
  createNRCAccumulator,
  formatReport,
  measureNRC,
  type LayerReport,
} from "../../src/index.js";
import { H, W, Y } from "../helpers/spec-example.js";

// SPEC.md, "Reference values" (reference-code preset: NRC4 with rtol 1e-3, stable rank of Σ_H).
const NRC4 = 0.6315932311621968;
const SR_COV = 1.0304055966258066;
const SR_W = 1.651378988721896;
const EIG = [5.320620360494682, 0.927286244336666, 0.02987117294643];

function check(l: LayerReport): void {
  expect(l.degenerate).toBeNull();
  expect(l.nrc1).toBeNull();
  expect(l.nrc2).toBeNull();
  expect(l.nrc3).toBeNull();
  expect(l.collapsed).toBe(false);
  const why = "the layer has 3 features, fewer than t = 4";
  expect(l.reasons).toMatchObject({ nrc1: why, nrc2: why, nrc3: why });
  expect(Math.abs(l.nrc4! - NRC4)).toBeLessThanOrEqual(1e-12 * NRC4);
  expect(Math.abs(l.stableRankFeatures! - SR_COV)).toBeLessThanOrEqual(1e-12 * SR_COV);
  expect(Math.abs(l.stableRankWeight! - SR_W)).toBeLessThanOrEqual(1e-12 * SR_W);
  l.topEigenvalues.forEach((v, i) =>
    expect(Math.abs(v - EIG[i])).toBeLessThanOrEqual(1e-12 * EIG[0]),
  );
}

describe("layers with fewer features than t", () => {
  it("measureNRC: NRC1–3 null with the reason, NRC4 and stable ranks reported; the table says why", async () => {
    const report = await measureNRC({
      layers: [{ name: "conv1", features: H, weight: W }],
      targets: Y,
      t: 4,
      preset: "reference-code",
    });
    check(report.layers[0]);
    expect(report.firstCollapsedLayer).toBeNull();
    expect(formatReport(report)).toMatch(
      /conv1 .*\(NRC1–3: the layer has 3 features, fewer than t = 4\)/,
    );
  });

  for (const nrc4 of ["tsqr", "rescan"] as const)
    it(`the accumulator (${nrc4}) gives the same`, async () => {
      const acc = createNRCAccumulator({ weights: [W], t: 4, preset: "reference-code", nrc4 });
      const batches = [
        { features: [H.slice(0, 2)], targets: Y.slice(0, 2) },
        { features: [H.slice(2)], targets: Y.slice(2) },
      ];
      await acc.addAll(batches);
      check((await acc.finalize(nrc4 === "rescan" ? { rescan: () => batches } : {})).layers[0]);
    });
});
