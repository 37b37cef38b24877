/**
 * Debiased linear CKA and debiased NRC2 against an independent numpy reference: the unbiased
 * HSIC estimator of Song et al. (2012) in sample space, N×N kernels of the raw data, in extended
 * precision (scripts/make_debiased_cka_fixtures.py → test/fixtures/debiased-cka.json).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { linearCKA, NRCInputError, signalTargetAlignment } from "../../src/index.js";
import { makeRng } from "../../src/synthetic.js";

type Enc = { rows: number; cols: number; f64: string; sum: number };
type M = { rows: number; cols: number; data: Float64Array };
const dec = (e: Enc): M => {
  const b = Buffer.from(e.f64, "base64");
  const data = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  let s = 0;
  for (const v of data) s += v;
  expect(Math.abs(s - e.sum)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(e.sum)));
  return { rows: e.rows, cols: e.cols, data };
};
const fx = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "fixtures", "debiased-cka.json"), "utf8"),
) as {
  independentN32: { meanBiased: number; meanDebiased: number; sdDebiased: number };
  cka: { name: string; x: Enc; y: Enc; biased: number; debiased: number }[];
  nrc2: {
    name: string;
    h: Enc;
    y: Enc;
    t: number;
    paper: { biased: number; debiased: number };
    referenceCode: { debiased: number };
  }[];
};

const near = (got: number, want: number, what: string, rel = 1e-12) =>
  expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(
    rel * Math.abs(want) + 1e-14,
  );

describe("linearCKA({ debiased: true }) vs numpy's sample-space unbiased HSIC", () => {
  for (const c of fx.cka)
    it(c.name, async () => {
      const [x, y] = [dec(c.x), dec(c.y)];
      near(await linearCKA(x, y, { debiased: true }), c.debiased, "debiased");
      near(await linearCKA(x, y), c.biased, "biased");
    });

  it("independent data at N = 32: biased ≈ 0.19, debiased ≈ 0 (mean of 200 draws)", async () => {
    const rng = makeRng(77);
    let sb = 0;
    let sd = 0;
    const trials = 200;
    for (let r = 0; r < trials; r++) {
      const x = { rows: 32, cols: 16, data: Float64Array.from({ length: 512 }, rng.normal) };
      const y = { rows: 32, cols: 4, data: Float64Array.from({ length: 128 }, rng.normal) };
      sb += await linearCKA(x, y);
      sd += await linearCKA(x, y, { debiased: true });
    }
    // numpy's own draws (other seeds) give the expectation these means estimate.
    const ref = fx.independentN32;
    expect(ref.meanBiased).toBeGreaterThan(0.17);
    expect(Math.abs(ref.meanDebiased)).toBeLessThan(0.01);
    expect(Math.abs(sb / trials - ref.meanBiased)).toBeLessThan(0.01);
    expect(Math.abs(sd / trials)).toBeLessThan((4 * ref.sdDebiased) / Math.sqrt(trials));
  });

  it("refuses N < 4 and non-boolean debiased, naming the option", async () => {
    const x = [[1], [2], [4]];
    await expect(linearCKA(x, x, { debiased: true })).rejects.toThrow(
      /linearCKA: debiased CKA needs at least 4 samples .*got 3/,
    );
    await expect(
      linearCKA([[1], [2], [4], [0]], [[1], [2], [4], [0]], { debiased: 1 as never }),
    ).rejects.toBeInstanceOf(NRCInputError);
  });
});

describe("signalTargetAlignment({ debiased: true }) (debiased NRC2)", () => {
  for (const c of fx.nrc2)
    it(c.name, async () => {
      const [h, y] = [dec(c.h), dec(c.y)];
      near(await signalTargetAlignment(h, y, c.t), c.paper.biased, "paper biased", 1e-11);
      near(
        await signalTargetAlignment(h, y, c.t, { debiased: true }),
        c.paper.debiased,
        "paper debiased",
        1e-11,
      );
      near(
        await signalTargetAlignment(h, y, c.t, { debiased: true, preset: "reference-code" }),
        c.referenceCode.debiased,
        "reference-code debiased",
      );
    });
});
