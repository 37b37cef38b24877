/**
 * NRC4's float32-aware cutoff (src/engine/nrc4-cutoff.ts) against the float64 numpy reference of
 * scripts/make_precision_fixtures.py: float32 features of an exactly rank-deficient layer, whose
 * other directions are float32 rounding noise.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import {
  createNRCAccumulator,
  measureNRC,
  NRCAccumulator,
  NRCInputError,
} from "../../src/index.js";

const fx = JSON.parse(
  readFileSync(new URL("../fixtures/nrc4-precision.json", import.meta.url), "utf8"),
) as {
  n: number;
  d: number;
  q: number;
  H_f32: string;
  Y_f64: string;
  nrc4_f32: number;
  nrc4_f64: number;
  nrc4_custom: number;
  rtol_f32: number;
  rtol_custom: number;
};
const bytes = (s: string) => {
  const b = Buffer.from(s, "base64");
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const h32 = new Float32Array(bytes(fx.H_f32));
const H32 = { rows: fx.n, cols: fx.d, data: h32 };
const H64 = { rows: fx.n, cols: fx.d, data: Float64Array.from(h32) };
const Y = { rows: fx.n, cols: fx.q, data: new Float64Array(bytes(fx.Y_f64)) };
const rel = (a: number | null, b: number) => Math.abs((a as number) - b) / Math.abs(b);

describe("NRC4's cutoff follows the features' precision", () => {
  it("the fixture's three answers differ (the test can fail)", () => {
    expect(rel(fx.nrc4_f64, fx.nrc4_f32)).toBeGreaterThan(0.03);
    expect(rel(fx.nrc4_custom, fx.nrc4_f32)).toBeGreaterThan(0.1);
  });

  it("Float32Array features: rtol = max(N, d)·ε₃₂, numpy's float32 answer", async () => {
    const rep = await measureNRC({ layers: [{ features: H32 }], targets: Y, backend: "js" });
    expect(rep.featurePrecision).toBe("float32");
    expect(rep.layers[0].nrc4Rtol).toBe(fx.rtol_f32);
    expect(rel(rep.layers[0].nrc4, fx.nrc4_f32)).toBeLessThan(1e-9);
  });

  it("Float64Array features keep the float64 cutoff (and report nothing new)", async () => {
    const rep = await measureNRC({ layers: [{ features: H64 }], targets: Y, backend: "js" });
    expect(rep.featurePrecision).toBeUndefined();
    expect(rep.layers[0].nrc4Rtol).toBeUndefined();
    expect(rel(rep.layers[0].nrc4, fx.nrc4_f64)).toBeLessThan(1e-6);
  });

  it("featurePrecision and nrc4Rtol override the data's precision", async () => {
    const as32 = await measureNRC({
      layers: [{ features: H64 }],
      targets: Y,
      featurePrecision: "float32",
    });
    expect(rel(as32.layers[0].nrc4, fx.nrc4_f32)).toBeLessThan(1e-9);
    const as64 = await measureNRC({
      layers: [{ features: H32 }],
      targets: Y,
      featurePrecision: "float64",
    });
    expect(as64.featurePrecision).toBeUndefined();
    expect(rel(as64.layers[0].nrc4, fx.nrc4_f64)).toBeLessThan(1e-6);
    const custom = await measureNRC({
      layers: [{ features: H32 }],
      targets: Y,
      nrc4Rtol: fx.rtol_custom,
    });
    expect(custom.layers[0].nrc4Rtol).toBe(fx.rtol_custom);
    expect(rel(custom.layers[0].nrc4, fx.nrc4_custom)).toBeLessThan(1e-9);
  });

  it("the accumulator: float32 batches, state files and JSON keep the rule; merge takes the coarser", async () => {
    const part = (a: number, b: number, f32: boolean) => ({
      features: [
        {
          rows: b - a,
          cols: fx.d,
          data: f32
            ? h32.slice(a * fx.d, b * fx.d)
            : Float64Array.from(h32.subarray(a * fx.d, b * fx.d)),
        },
      ],
      targets: { rows: b - a, cols: fx.q, data: Y.data.slice(a * fx.q, b * fx.q) },
    });
    const acc = createNRCAccumulator({ backend: "js" });
    for (let a = 0; a < fx.n; a += 64) await acc.add(part(a, Math.min(fx.n, a + 64), true));
    const rep = await acc.finalize();
    expect(rep.featurePrecision).toBe("float32");
    expect(rel(rep.layers[0].nrc4, fx.nrc4_f32)).toBeLessThan(1e-9);
    const again = await NRCAccumulator.fromSafetensors(acc.toSafetensors(), { backend: "js" });
    expect(rel((await again.finalize()).layers[0].nrc4, fx.nrc4_f32)).toBeLessThan(1e-9);
    const json = NRCAccumulator.fromJSON(JSON.stringify(acc.toJSON()), { backend: "js" });
    expect(rel((await json.finalize()).layers[0].nrc4, fx.nrc4_f32)).toBeLessThan(1e-9);
    // A float64 shard merged with a float32 one measures at float32.
    const a64 = createNRCAccumulator({ backend: "js" });
    await a64.add(part(0, 128, false));
    const a32 = createNRCAccumulator({ backend: "js" });
    await a32.add(part(128, fx.n, true));
    expect(a64.toJSON().options.featurePrecision).toBeUndefined();
    await a64.merge(a32);
    expect(a64.toJSON().options.featurePrecision).toBe("float32");
    expect(rel((await a64.finalize()).layers[0].nrc4, fx.nrc4_f32)).toBeLessThan(1e-9);
    // An explicit cutoff must agree between shards.
    const c1 = createNRCAccumulator({ backend: "js", nrc4Rtol: 0.1 });
    await c1.add(part(0, 128, true));
    await expect(a32.merge(c1)).rejects.toThrow(/nrc4Rtol/);
    for (const x of [acc, again, json, a64, a32, c1]) await x.dispose();
  });

  it("bad options are refused, naming the argument", async () => {
    await expect(
      measureNRC({ layers: [{ features: H32 }], targets: Y, featurePrecision: "double" as never }),
    ).rejects.toThrow(
      /measureNRC: featurePrecision must be "auto", "float64", "float32" or "float16"; got "double"/,
    );
    for (const bad of [-1, 1, Number.NaN, "1e-3"])
      await expect(
        measureNRC({ layers: [{ features: H32 }], targets: Y, nrc4Rtol: bad as never }),
      ).rejects.toThrow(NRCInputError);
    expect(() => createNRCAccumulator({ nrc4Rtol: -0.5 })).toThrow(
      /createNRCAccumulator: nrc4Rtol/,
    );
    expect(() => createNRCAccumulator({ featurePrecision: "f32" as never })).toThrow(
      /createNRCAccumulator: featurePrecision/,
    );
  });
});
