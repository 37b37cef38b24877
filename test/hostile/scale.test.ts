/**
 * Scale invariance: every metric of features (and weights, and targets) scaled by 2^±300 equals
 * the unscaled value to 1e-12 — NRC4 scales with the targets' square — or throws an NRCInputError
 * that says overflow. Scalings by 1e±170, 1e155, 1e±100, 1e80 (not powers of two: one rounding of
 * the data) agree to 1e-9. The reference is the same function on the unscaled data.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  featureWeightAlignment,
  linearCKA,
  measureNRC,
  noiseComponent,
  NRCInputError,
  pinvPredictMSE,
  principalAngles,
  proposition1Bound,
  signalTargetAlignment,
  stableRank,
  type NRCReport,
} from "../../src/index.js";
import { fcParams } from "../properties/generators.js";

type M = { rows: number; cols: number; data: Float64Array };
const scaled = (m: M, s: number): M => ({ ...m, data: m.data.map((v) => v * s) });
const matArb = (rows: number, cols: number) =>
  fc
    .array(
      fc.integer({ min: -400, max: 400 }).map((v) => v / 100),
      {
        minLength: rows * cols,
        maxLength: rows * cols,
      },
    )
    .map((a) => ({ rows, cols, data: Float64Array.from(a) }) as M);

const POW2 = [2 ** 300, 2 ** -300];
const DECIMAL = [1e170, 1e-170, 1e155, 1e100, 1e-100, 1e80, 1e-80];

function close(got: number, want: number, rel: number, what: string) {
  expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(
    rel * Math.abs(want) + 1e-13,
  );
}

/** Runs f; an NRCInputError saying overflow is an allowed outcome (returns null). */
async function orOverflow<T>(f: () => Promise<T>): Promise<T | null> {
  try {
    return await f();
  } catch (e) {
    expect(e).toBeInstanceOf(NRCInputError);
    expect((e as Error).message).toMatch(/overflows|underflows/);
    return null;
  }
}

const reportNumbers = (r: NRCReport) =>
  r.layers.flatMap((l) =>
    [l.nrc1, l.nrc2, l.nrc3, l.stableRankFeatures, l.stableRankWeight].map((v) => v ?? NaN),
  );

describe("scale invariance (2^±300 to 1e-12; 1e±170 … 1e±80 to 1e-9)", () => {
  const inputs = fc.record({
    h: matArb(24, 5),
    y: matArb(24, 2),
    w: matArb(4, 5),
  });

  it("the metric functions, features / weights / targets scaled", async () => {
    await fc.assert(
      fc.asyncProperty(inputs, fc.constantFrom(...POW2, ...DECIMAL), async ({ h, y, w }, s) => {
        const rel = POW2.includes(s) ? 1e-12 : 1e-9;
        const cases: [string, (h: M, y: M, w: M) => Promise<number>, "h" | "y" | "w"][] = [
          ["noiseComponent", (h) => noiseComponent(h, 2), "h"],
          ["linearCKA H", (h, y) => linearCKA(h, y), "h"],
          ["linearCKA Y", (h, y) => linearCKA(h, y), "y"],
          ["signalTargetAlignment H", (h, y) => signalTargetAlignment(h, y, 2), "h"],
          ["signalTargetAlignment Y", (h, y) => signalTargetAlignment(h, y, 2), "y"],
          ["featureWeightAlignment H", (h, _y, w) => featureWeightAlignment(h, w, 2), "h"],
          ["featureWeightAlignment W", (h, _y, w) => featureWeightAlignment(h, w, 2), "w"],
          [
            "principalAngles",
            async (h, _y, w) => (await principalAngles(h, w.data.length ? h : h))[1],
            "h",
          ],
          ["stableRank", (h) => stableRank(h), "h"],
          ["pinvPredictMSE H", (h, y) => pinvPredictMSE(h, y), "h"],
          ["proposition1Bound H", async (h, y) => (await proposition1Bound(h, y, 2)).lhs, "h"],
          ["proposition1Bound Y", async (h, y) => (await proposition1Bound(h, y, 2)).bound, "y"],
        ];
        for (const [name, f, which] of cases) {
          let want: number;
          try {
            want = await f(h, y, w);
          } catch {
            continue; // degenerate draw (e.g. zero variance): nothing to compare
          }
          const got = await orOverflow(() =>
            f(
              which === "h" ? scaled(h, s) : h,
              which === "y" ? scaled(y, s) : y,
              which === "w" ? scaled(w, s) : w,
            ),
          );
          if (got !== null) close(got, want, rel, `${name} ×${s}`);
        }
        // NRC4 scales with Y²: the scaled value, or an overflow error.
        const want = await pinvPredictMSE(h, y).catch(() => null);
        if (want === null) return;
        const got = await orOverflow(() => pinvPredictMSE(h, scaled(y, s)));
        if (got !== null) close(got / s / s, want, rel, `pinvPredictMSE Y ×${s}`);
      }),
      fcParams(25),
    );
  });

  it("measureNRC: every layer metric, features and weights scaled; NRC4 with the targets", async () => {
    await fc.assert(
      fc.asyncProperty(inputs, fc.constantFrom(...POW2, ...DECIMAL), async ({ h, y, w }, s) => {
        const rel = POW2.includes(s) ? 1e-12 : 1e-9;
        let base: NRCReport;
        try {
          base = await measureNRC({ layers: [{ features: h, weight: w }], targets: y, r: 3 });
        } catch {
          return; // degenerate draw (zero-variance targets)
        }
        const up = await orOverflow(() =>
          measureNRC({
            layers: [{ features: scaled(h, s), weight: scaled(w, s) }],
            targets: y,
            r: 3,
          }),
        );
        if (up) {
          reportNumbers(up).forEach((v, i) =>
            close(v, reportNumbers(base)[i], rel, `measureNRC H×${s} [${i}]`),
          );
          close(up.layers[0].nrc4!, base.layers[0].nrc4!, rel, `NRC4 H×${s}`);
          expect(up.layers[0].degenerate).toBeNull();
        }
        const ys = await orOverflow(() =>
          measureNRC({
            layers: [{ features: h, weight: w }],
            targets: scaled(y, s),
            r: 3,
            modelMSE: 0.5,
          }),
        );
        if (ys) {
          reportNumbers(ys).forEach((v, i) =>
            close(v, reportNumbers(base)[i], rel, `measureNRC Y×${s} [${i}]`),
          );
          close(ys.layers[0].nrc4! / s / s, base.layers[0].nrc4!, rel, `NRC4 Y×${s}`);
          close(ys.layers[0].nrc4OverModelMSE!, ys.layers[0].nrc4! / 0.5, 1e-15, "ratio");
        }
      }),
      fcParams(25),
    );
  });

  it("the issue's examples: NRC2 at 1e-100 and 1e80 is the unscaled value, not Infinity or 0", async () => {
    const H = {
      rows: 6,
      cols: 3,
      data: Float64Array.from([1, 2, 0, 2, 1, 1, 3, 5, 1, 4, 3, 2, 0, 1, 0, 5, 4, 3]),
    };
    const Y = { rows: 6, cols: 2, data: Float64Array.from([1, 0, 0, 1, 2, 1, 1, 3, 0, 0, 3, 1]) };
    const NRC2 = 0.8007472778855418; // SPEC (numpy)
    for (const s of [1e-100, 1e80, 1e-170, 1e170]) {
      close(await signalTargetAlignment(scaled(H, s), Y, 2), NRC2, 1e-12, `H×${s}`);
      close(await signalTargetAlignment(H, scaled(Y, s), 2), NRC2, 1e-12, `Y×${s}`);
      const r = await measureNRC({ layers: [{ features: scaled(H, s) }], targets: Y });
      close(r.layers[0].nrc2!, NRC2, 1e-12, `measureNRC ×${s}`);
      close(r.layers[0].nrc1!, 0.004758239938369435, 1e-10, `NRC1 ×${s}`);
      expect(r.layers[0].degenerate).toBeNull();
    }
    // Targets of 1e170: NRC4 (≈ 1e340 × the unscaled value) is an error that says overflow.
    await expect(
      measureNRC({ layers: [{ features: H }], targets: scaled(Y, 1e170) }),
    ).rejects.toThrow(/measureNRC: NRC4 of layer 0 overflows float64/);
    const tiny = await measureNRC({ layers: [{ features: H }], targets: scaled(Y, 1e-100) });
    close(tiny.layers[0].nrc2!, NRC2, 1e-12, "targets ×1e-100");
  });
});
