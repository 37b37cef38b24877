/**
 * Hostile binary states (issue 21): a bit flipped anywhere in a state file either leaves the
 * report bit-for-bit unchanged or is an NRCInputError — one naming the tensor when the flip is in
 * a tensor's data. Seeded (NRC_SEED overrides): every tensor of three states (tsqr, rescan,
 * debiased with weights) gets flips in its sign, exponent and mantissa bits, and the container's
 * header random flips. Then the consistency checks alone (the checksums recomputed after the
 * change, as a buggy writer would): the issue's own examples are refused, naming the tensor.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  createNRCAccumulator,
  makeSyntheticNetwork,
  NRCAccumulator,
  NRCInputError,
  type AccumulatorBatch,
  type AccumulatorOptions,
  type NRCReport,
} from "../../src/index.js";
import { readSafetensorsHeader } from "../../src/io/safetensors.js";
import { memorySource } from "../../src/io/source.js";
import { makeRng } from "../../src/io/synthetic.js";
import { decodeState, encodeState } from "../../src/state/binary.js";
import { batchesOf } from "../helpers/batches.js";

const net = makeSyntheticNetwork({ samples: 90, layers: 4, width: 6, targets: 2, seed: 5 });
const weights = net.layers.map((l) => l.weight);
const batches: AccumulatorBatch[] = batchesOf(net, [0, 40, 90]);

const SEED = process.env.NRC_SEED ? Number(process.env.NRC_SEED) : 21;

const CASES: [string, AccumulatorOptions][] = [
  ["tsqr", { weights, r: 1 }],
  ["rescan", { weights, nrc4: "rescan" }],
  ["debiased", { weights, preset: "reference-code", debiased: true }],
];

/** The report as text (bit-exact comparison; NaN and -0 kept apart by the replacer). */
const asText = (r: NRCReport) =>
  JSON.stringify(r, (_k, v) => (typeof v === "number" ? `${Object.is(v, -0) ? "-0" : v}` : v));

/** The argument an error should name for a flip in tensor `name`. */
const argOf = (name: string) => name.replace(/^weights\.(\d+)$/, "weights[$1]");

for (const [label, opts] of CASES) {
  describe(`bit flips in a binary state (${label})`, () => {
    let good: Uint8Array;
    let want: string;
    const report = async (bytes: Uint8Array) => {
      const acc = await NRCAccumulator.fromSafetensors(bytes);
      return asText(
        await acc.finalize(opts.nrc4 === "rescan" ? { rescan: () => batches } : undefined),
      );
    };
    beforeAll(async () => {
      const acc = createNRCAccumulator(opts);
      await acc.addAll(batches);
      good = acc.toSafetensors();
      want = await report(good);
    });

    it("every tensor: each flipped bit is an error naming the tensor", async () => {
      const st = await readSafetensorsHeader(memorySource(good, "state"));
      const rng = makeRng(SEED);
      let flips = 0;
      for (const t of st.tensors) {
        const [a, b] = t.dataOffsets;
        const size = t.dtype === "F64" ? 8 : 4;
        // The sign bit, every exponent bit of one value, and random bits anywhere.
        const value = a + size * Math.floor(rng.uniform() * ((b - a) / size));
        const bits = [
          8 * size - 1,
          ...Array.from({ length: size === 8 ? 11 : 8 }, (_, i) => 8 * size - 2 - i),
        ];
        const positions = bits.map((bit) => [value + (bit >> 3), bit & 7]);
        for (let i = 0; i < 6; i++)
          positions.push([a + Math.floor(rng.uniform() * (b - a)), Math.floor(rng.uniform() * 8)]);
        for (const [byte, bit] of positions) {
          const bad = Uint8Array.from(good);
          bad[st.dataOffset + byte] ^= 1 << bit;
          const err = await report(bad).then(
            () => null,
            (e) => e,
          );
          expect(err, `${t.name}, byte ${byte} bit ${bit}: no error`).toBeInstanceOf(NRCInputError);
          expect((err as NRCInputError).arg, `${t.name}: ${(err as Error).message}`).toBe(
            argOf(t.name),
          );
          flips++;
        }
      }
      expect(flips).toBeGreaterThan(st.tensors.length * 14);
    });

    it("the header: each flipped bit is an error or changes nothing", async () => {
      const st = await readSafetensorsHeader(memorySource(good, "state"));
      const rng = makeRng(SEED + 1);
      let errors = 0;
      for (let i = 0; i < 150; i++) {
        const byte = Math.floor(rng.uniform() * st.dataOffset);
        const bad = Uint8Array.from(good);
        bad[byte] ^= 1 << Math.floor(rng.uniform() * 8);
        const got = await report(bad).catch((e) => {
          expect(e, `byte ${byte}: ${(e as Error).message}`).toBeInstanceOf(NRCInputError);
          return null;
        });
        if (got === null) errors++;
        else expect(got, `byte ${byte}`).toBe(want);
      }
      expect(errors).toBeGreaterThan(100);
    });
  });
}

describe("consistency checks without the checksums (the issue's examples)", () => {
  it("an exponent bit of an off-diagonal m2_h entry, and of a TSQR factor entry", async () => {
    const acc = createNRCAccumulator({ weights });
    await acc.addAll(batches);
    const bytes = acc.toSafetensors();
    const flipExponent = (x: number) => {
      const f = new Float64Array([x]);
      new Uint8Array(f.buffer)[7] ^= 0x10;
      return f[0];
    };
    // layers.1.m2_h[0, 1] (stored once: the triangle), re-encoded with fresh checksums.
    const s = await decodeState("test", bytes);
    const m = s.layers![1].m2H;
    const d = s.layers![1].d;
    m[1] = m[d] = flipExponent(m[1]);
    const e1 = await NRCAccumulator.fromSafetensors(encodeState(s)).catch((e) => e);
    expect(e1).toBeInstanceOf(NRCInputError);
    expect((e1 as NRCInputError).arg).toBe("layers[1].m2_h");
    const s2 = await decodeState("test", bytes);
    const r = s2.layers![3].r!;
    r.data[r.cols + 2] = flipExponent(r.data[r.cols + 2]);
    const e2 = await NRCAccumulator.fromSafetensors(encodeState(s2)).catch((e) => e);
    expect(e2).toBeInstanceOf(NRCInputError);
    expect((e2 as NRCInputError).arg).toBe("layers[3].r");
    expect((e2 as Error).message).toMatch(/does not match the layer's moments/);
  });
});
