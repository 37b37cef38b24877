/**
 * Debiased linear CKA and debiased NRC2 against an independent numpy reference: the unbiased
 * HSIC estimator of Song et al. (2012) in sample space, N×N kernels of the raw data, in extended
 * precision (scripts/make_debiased_cka_fixtures.py → test/fixtures/debiased-cka.json).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  createNRCAccumulator,
  linearCKA,
  measureNRC,
  NRCAccumulator,
  NRCInputError,
  signalTargetAlignment,
} from "../../src/index.js";
import { makeRng } from "../../src/io/synthetic.js";

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

describe("measureNRC({ debiased: true }) and the accumulator", () => {
  it("measureNRC's NRC2 is numpy's debiased CKA (both presets)", async () => {
    for (const c of fx.nrc2) {
      const [h, y] = [dec(c.h), dec(c.y)];
      const paper = await measureNRC({
        layers: [{ features: h }],
        targets: y,
        t: c.t,
        debiased: true,
      });
      near(paper.layers[0].nrc2!, c.paper.debiased, `${c.name} paper`, 1e-11);
      const ref = await measureNRC({
        layers: [{ features: h }],
        targets: y,
        t: c.t,
        preset: "reference-code",
        debiased: true,
      });
      near(ref.layers[0].nrc2!, c.referenceCode.debiased, `${c.name} reference-code`, 1e-11);
      const plain = await measureNRC({ layers: [{ features: h }], targets: y, t: c.t });
      near(plain.layers[0].nrc2!, c.paper.biased, `${c.name} biased`, 1e-11);
    }
    await expect(
      measureNRC({
        layers: [{ features: [[1], [2], [3]] }],
        targets: [[1], [0], [2]],
        debiased: true,
      }),
    ).rejects.toThrow(/measureNRC: debiased CKA needs at least 4 samples/);
  });

  it("the accumulator's running sums (reference-code) merge to the one-pass value", async () => {
    // Drifting batch means (sorted rows, offsets) exercise the sums' moves to a new center.
    const rng = makeRng(31);
    const n = 150;
    const y = { rows: n, cols: 2, data: new Float64Array(n * 2) };
    const h = { rows: n, cols: 5, data: new Float64Array(n * 5) };
    for (let i = 0; i < n; i++) {
      const drift = i / 15;
      y.data[2 * i] = rng.normal() + drift;
      y.data[2 * i + 1] = rng.normal() - 3;
      for (let j = 0; j < 5; j++)
        h.data[5 * i + j] =
          (j < 2 ? 0.2 * y.data[2 * i + j] : 0) + rng.normal() * (j + 1) + 10 + drift;
    }
    const rowsOf = (m: M, a: number, b: number): M => ({
      rows: b - a,
      cols: m.cols,
      data: m.data.slice(a * m.cols, b * m.cols),
    });
    const want = await measureNRC({
      layers: [{ features: h }],
      targets: y,
      preset: "reference-code",
      debiased: true,
    });
    const shard = async (a: number, b: number, cuts: number[]) => {
      const acc = createNRCAccumulator({ preset: "reference-code", debiased: true });
      for (let i = 0; i + 1 < cuts.length; i++)
        await acc.add({
          features: [rowsOf(h, cuts[i], cuts[i + 1])],
          targets: rowsOf(y, cuts[i], cuts[i + 1]),
        });
      expect(acc.samples).toBe(b - a);
      return acc;
    };
    const a = await shard(0, 40, [0, 7, 25, 40]);
    const b = await shard(40, 150, [40, 90, 150]);
    const viaFile = await NRCAccumulator.fromSafetensors(b.toSafetensors());
    const viaJSON = NRCAccumulator.fromJSON(JSON.stringify(a.toJSON()));
    await viaFile.merge(viaJSON);
    const got = await viaFile.finalize();
    near(got.layers[0].nrc2!, want.layers[0].nrc2!, "merged debiased NRC2", 1e-10);
    const biased = await measureNRC({
      layers: [{ features: h }],
      targets: y,
      preset: "reference-code",
    });
    expect(Math.abs(got.layers[0].nrc2! - biased.layers[0].nrc2!)).toBeGreaterThan(1e-4);
  });

  it("refuses the paper preset in the accumulator, and mixing debiased and plain states", async () => {
    expect(() => createNRCAccumulator({ debiased: true })).toThrow(
      /createNRCAccumulator: debiased NRC2 streams only with preset "reference-code"/,
    );
    const x = { rows: 6, cols: 2, data: Float64Array.from({ length: 12 }, (_, i) => (i * 7) % 5) };
    const y = { rows: 6, cols: 1, data: Float64Array.of(1, 3, 2, 5, 4, 0) };
    const d = createNRCAccumulator({ preset: "reference-code", debiased: true });
    const p = createNRCAccumulator({ preset: "reference-code" });
    await d.add({ features: [x], targets: y });
    await p.add({ features: [x], targets: y });
    await expect(d.merge(p)).rejects.toMatchObject({ arg: "debiased" });
  });
});
