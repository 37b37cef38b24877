/**
 * Float32 inputs (MatF32) to the kernels that read the data matrix: the wasm kernels copy the
 * float32 rows as they are and widen them while packing, the JS kernels widen in JS. Either way
 * the results must be bit for bit those of the same kernel on the rows widened first (in JS) —
 * every product and sum is float64 on the same values in the same order. Both wasm builds
 * (plain SIMD, FMA) × 1 and 2 threads.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { relaxedSimdAvailable, wasmBackend } from "../../src/backends/wasm/index.js";
import { jsKernels } from "../../src/backends/js/index.js";
import { completeKernels } from "../../src/backends/complete.js";
import type {
  Kernels,
  Mat,
  MatF32,
  NormalStepResult,
  ShiftedMomentsResult,
} from "../../src/backends/types.js";
import { createNRCAccumulator } from "../../src/engine/accumulator.js";
import { NRCInputError } from "../../src/errors.js";

/** Deterministic float32 data: mean `mu`, spread `scale`, some exact zeros and tiny values. */
function f32Mat(rows: number, cols: number, seed: number, mu = 0.3, scale = 1): MatF32 {
  const data = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32 - 0.5;
    const j = i % cols;
    data[i] = j % 11 === 5 ? 0 : j % 13 === 7 ? u * 1e-30 : mu + scale * u * (1 + (j % 5));
  }
  return { rows, cols, data };
}

function f64Mat(rows: number, cols: number, seed: number): Mat {
  const a = f32Mat(rows, cols, seed, 0, 1);
  // Values that are not float32: the B side stays float64.
  return { rows, cols, data: Float64Array.from(a.data, (v, i) => v + i * 1e-9) };
}

const widen = (a: MatF32): Mat => ({ rows: a.rows, cols: a.cols, data: Float64Array.from(a.data) });

/** Byte-for-byte equality of two float64 arrays (so −0 vs 0 and NaN payloads count). */
function sameBits(x: Float64Array, y: Float64Array): boolean {
  if (x.length !== y.length) return false;
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  for (let i = 0; i < bx.length; i++) if (bx[i] !== by[i]) return false;
  return true;
}

function expectSameMoments(a: ShiftedMomentsResult, b: ShiftedMomentsResult): void {
  expect(sameBits(a.gram.data, b.gram.data)).toBe(true);
  expect(sameBits(a.cross.data, b.cross.data)).toBe(true);
  expect(sameBits(a.sums, b.sums)).toBe(true);
}

function expectSameStep(a: NormalStepResult, b: NormalStepResult): void {
  expect(sameBits(a.g.data, b.g.data)).toBe(true);
  expect(sameBits(a.rss, b.rss)).toBe(true);
}

/**
 * Shapes: widths that are and are not multiples of the packing's 6-wide slivers and odd (the
 * normal step's scalar tail), row counts across the 128-row panels, one large enough to be
 * streamed in two chunks, one wider than the one-pass moments kernel (the composed path).
 */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 3],
  [130, 12, 1],
  [257, 37, 4],
  [300, 64, 5],
  [1100, 477, 3],
  [3, 1300, 2],
];

function shiftOf(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, j) => 0.3 + 0.01 * Math.sin(j));
}

function suite(name: string, kernels: () => Kernels): void {
  for (const [m, n, q] of SHAPES) {
    const tag = `${m}×${n}, q = ${q}`;
    it(`${name}: shiftedMoments of float32 rows = of the widened rows, bit for bit (${tag})`, async () => {
      const k = kernels();
      const a = f32Mat(m, n, 11 + m);
      const b = f64Mat(m, q, 5);
      const sh = shiftOf(n);
      const copy = a.data.slice();
      const got = await k.shiftedMoments!(a, sh, b);
      const want = await k.shiftedMoments!(widen(a), sh, b);
      expectSameMoments(got, want);
      expect(a.data).toEqual(copy); // never mutated
    });

    it(`${name}: momentsRun over float32 batches = over the widened batches (${tag})`, async () => {
      const k = kernels();
      const a = f32Mat(m, n, 3 + n);
      const b = f64Mat(m, q, 9);
      const sh = shiftOf(n);
      const r32 = k.momentsRun!(n, q, sh);
      const r64 = k.momentsRun!(n, q, sh);
      const cuts = [0, Math.floor(m / 3), Math.floor(m / 3) + 1, m].filter(
        (c, i, xs) => i === 0 || c > xs[i - 1],
      );
      for (let c = 0; c + 1 < cuts.length; c++) {
        const lo = cuts[c];
        const hi = cuts[c + 1];
        const pa: MatF32 = { rows: hi - lo, cols: n, data: a.data.slice(lo * n, hi * n) };
        const pb: Mat = { rows: hi - lo, cols: q, data: b.data.slice(lo * q, hi * q) };
        await r32.add(pa, pb);
        await r64.add(widen(pa), pb);
      }
      const p32 = r32.probe();
      const p64 = r64.probe();
      expect(sameBits(p32.sums, p64.sums) && sameBits(p32.diag, p64.diag)).toBe(true);
      expectSameMoments(r32.result(), r64.result());
      r32.dispose();
      r64.dispose();
    });

    it(`${name}: normalStep of float32 rows = of the widened rows, bit for bit (${tag})`, async () => {
      const k = kernels();
      const a = f32Mat(m, n, 17 + q);
      const b = f64Mat(m, q, 23);
      const x = f64Mat(n, q, 29);
      expectSameStep(await k.normalStep!(a, b, x), await k.normalStep!(widen(a), b, x));
      expectSameStep(await k.normalStep!(a, b), await k.normalStep!(widen(a), b));
    });
  }

  it(`${name}: startShiftedMoments keeps float32 rows for normalStep (same bits as widened)`, async () => {
    const k = kernels();
    const a = f32Mat(1000, 96, 41);
    const b = f64Mat(1000, 3, 43);
    const x = f64Mat(96, 3, 47);
    const sh = shiftOf(96);
    const joined = await k.startShiftedMoments!(a, sh, b).join();
    expectSameMoments(joined, await k.shiftedMoments!(widen(a), sh, b));
    const rows = joined.rows ?? a;
    expect(rows.data).toBe(a.data);
    const want = await k.normalStep!(widen(a), b, x);
    expectSameStep(await k.normalStep!(rows, b, x), want);
    // An f64 job after it replaces the resident copy; the f32 matrix is then copied in again.
    const wide = widen(a);
    const j2 = await k.startShiftedMoments!(wide, sh, b).join();
    expectSameMoments(j2, joined);
    expectSameStep(await k.normalStep!(j2.rows ?? wide, b, x), want);
    expectSameStep(await k.normalStep!(a, b, x), want);
    // projectedTail on a float64 matrix is untouched by a float32 resident copy.
    await k.startShiftedMoments!(a, sh, b).join();
    const v: Mat = {
      rows: 96,
      cols: 1,
      data: Float64Array.from({ length: 96 }, (_, i) => (i === 0 ? 1 : 0)),
    };
    const mu = new Float64Array(96);
    const t1 = await k.projectedTail!(wide, mu, v);
    const t2 = await jsKernels.projectedTail(wide, mu, v);
    expect(Math.abs(t1.tail - t2.tail)).toBeLessThanOrEqual(1e-12 * t2.tail);
  });
}

const NO_RELAXED = relaxedSimdAvailable() ? "" : " (skipped: no relaxed SIMD in this engine)";
for (const fma of [false, true])
  for (const threads of [1, 2])
    describe.skipIf(fma && NO_RELAXED !== "")(
      `float32 inputs, wasm threads ${threads}${fma ? `, fma${NO_RELAXED}` : ""}`,
      () => {
        let k: Kernels;
        beforeAll(async () => {
          k = await wasmBackend({ threads, fma }).init();
          expect(k.float32Inputs).toBe(true);
        });
        afterAll(async () => {
          await k?.dispose?.();
        });
        suite(`wasm ${threads}t${fma ? " fma" : ""}`, () => k);
      },
    );

describe("float32 inputs, js kernels", () => {
  suite("js", () => jsKernels);
});

describe("float32 inputs to a backend that does not take them", () => {
  it("completeKernels widens them before the backend's own kernels", async () => {
    const seen: string[] = [];
    // A class with a private field: every kernel must still run with `this` the instance.
    class Custom implements Kernels {
      readonly name = "custom";
      #calls = 0;
      shiftedMoments(a: Mat | MatF32, s: Float64Array, b: Mat) {
        this.#calls++;
        seen.push(a.data.constructor.name);
        return jsKernels.shiftedMoments(a as Mat, s, b);
      }
      normalStep(a: Mat | MatF32, b: Mat, x?: Mat) {
        this.#calls++;
        seen.push(a.data.constructor.name);
        return jsKernels.normalStep(a as Mat, b, x);
      }
      cholesky(a: Mat) {
        this.#calls++;
        return jsKernels.cholesky(a);
      }
    }
    const custom = new Custom();
    const k = completeKernels(custom);
    expect(k.float32Inputs).toBe(true);
    const a = f32Mat(20, 7, 3);
    const b = f64Mat(20, 2, 4);
    const sh = shiftOf(7);
    expectSameMoments(
      await k.shiftedMoments(a, sh, b),
      await jsKernels.shiftedMoments(widen(a), sh, b),
    );
    const run = k.momentsRun(7, 2, sh);
    await run.add(a, b);
    expectSameMoments(run.result(), await jsKernels.shiftedMoments(widen(a), sh, b));
    expectSameStep(await k.normalStep(a, b), jsKernels.normalStep(widen(a), b) as NormalStepResult);
    await k.startShiftedMoments(a, sh, b).join();
    expect(seen).toEqual(Array(seen.length).fill("Float64Array"));
    expect(seen.length).toBe(4);
    const l = await k.cholesky({ rows: 1, cols: 1, data: Float64Array.of(4) });
    expect(l?.data[0]).toBe(2);
  });
});

describe("accumulator over float32 batches", () => {
  const L = 2;
  const N = 1500;
  const D = [40, 67];
  const feats = D.map((d, l) => f32Mat(N, d, 100 + l, 0.2 * l, 1 + l));
  const targets = f64Mat(N, 3, 7);
  // Targets that depend on the features, so NRC4 is a real fit.
  for (let i = 0; i < N; i++)
    for (let c = 0; c < 3; c++) targets.data[i * 3 + c] += feats[0].data[i * D[0] + c];
  const batches = (wide: boolean, size: number) => {
    const out = [];
    for (let r = 0; r < N; r += size) {
      const hi = Math.min(N, r + size);
      out.push({
        features: feats.map((f) => {
          const m: MatF32 = {
            rows: hi - r,
            cols: f.cols,
            data: f.data.slice(r * f.cols, hi * f.cols),
          };
          return wide ? widen(m) : m;
        }),
        targets: { rows: hi - r, cols: 3, data: targets.data.slice(r * 3, hi * 3) },
      });
    }
    return out;
  };
  const backends: [string, () => unknown][] = [
    ["js", () => "js"],
    ["wasm 2t", () => wasmBackend({ threads: 2, fma: false })],
    ["wasm 1t", () => wasmBackend({ threads: 1, fma: false })],
  ];
  for (const [name, be] of backends)
    for (const nrc4 of ["rescan", "tsqr"] as const)
      it(`${name}, nrc4 ${nrc4}: state and report equal those over the widened batches`, async () => {
        const run = async (wide: boolean) => {
          const acc = createNRCAccumulator({ t: 3, nrc4, backend: be() as never });
          for (const b of batches(wide, 256)) await acc.add(b);
          // The statistics, without the state's random id (and the checksum over it).
          const { id: _id, sources: _s, checksum: _c, ...state } = acc.toJSON();
          const report = await acc.finalize({ rescan: () => batches(wide, 300) });
          await acc.dispose();
          return { state, report };
        };
        const f = await run(false);
        const w = await run(true);
        expect(f.state).toEqual(w.state);
        expect(f.report.layers).toEqual(w.report.layers);
        expect(f.report.layers[0].nrc4).not.toBeNull();
      });

  it("NaN and ±Infinity in a float32 batch are still reported where they are", async () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const acc = createNRCAccumulator({ t: 3, nrc4: "rescan" });
      const [b0, b1] = batches(false, 700);
      await acc.add(b0);
      const f = b1.features[1] as MatF32;
      const data = f.data.slice();
      data[5 * f.cols + 9] = bad;
      const err = await acc
        .add({
          features: [b1.features[0], { rows: f.rows, cols: f.cols, data }],
          targets: b1.targets,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NRCInputError);
      expect((err as Error).message).toMatch(
        new RegExp(`features\\[1\\].*finite numbers; got ${String(bad)} at \\(5, 9\\)`),
      );
      await acc.dispose();
    }
  });

  it("a float32 second read that differs from the first is refused (rescan check)", async () => {
    const acc = createNRCAccumulator({ t: 3, nrc4: "rescan" });
    for (const b of batches(false, 256)) await acc.add(b);
    // One entry of layer 1 changed by ~1 in the second read (a different file, say).
    const other = batches(false, 256).map((b, i) => {
      if (i !== 2) return b;
      const f = b.features[1] as MatF32;
      const data = f.data.slice();
      data[17 * f.cols + 4] += 1;
      return { ...b, features: [b.features[0], { rows: f.rows, cols: f.cols, data }] };
    });
    const err = await acc.finalize({ rescan: () => other }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NRCInputError);
    expect((err as Error).message).toMatch(
      /layer 1's second read differs from the first \(feature column 4's/,
    );
    await acc.dispose();
  });

  it("a float32 batch whose data length does not match its shape is refused", async () => {
    const acc = createNRCAccumulator({ t: 3, nrc4: "rescan" });
    const err = await acc
      .add({
        features: [{ rows: 10, cols: 40, data: new Float32Array(399) }, feats[1]],
        targets: targets,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NRCInputError);
    expect((err as Error).message).toMatch(/rows·cols = 10·40 = 400 values; got 399/);
  });
});
