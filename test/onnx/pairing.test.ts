/**
 * Samples ↔ rows (src/onnx/pairing.ts): the probe finds the one stride under which rows move with
 * their samples, refuses rows that mix samples or do not depend on them, and pairRows lays every
 * layout out with each row beside its own sample. On a hand-built model (pairing.onnx), maps on
 * x, on its sequence-first transpose, on a mean over the samples and on constants: x and its
 * transpose are measured with the same features, a position-dependent constant is measured, a
 * mean over samples and identical rows are skipped with a note.
 */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { describePairing, pairRows, proveStrides, type RowView } from "../../src/onnx/pairing.js";
import { captureONNX, measureONNX } from "../../src/onnx/index.js";
import type { TensorInput } from "../../src/io/conv.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx");
const layer = { name: "l", op: "MatMul" as const, input: "x", transA: false };

/** A deterministic value of (sample, position, column). */
const val = (s: number, p: number, c: number) =>
  Math.sin(1 + s * 1.37 + p * 0.71 + c * 2.3) * (1 + s);

/** Rows of a run on samples order[0…n−1], laid out as outer × n × inner blocks. */
function rows(order: ArrayLike<number>, outer: number, inner: number, w: number): RowView {
  const n = order.length;
  const data = new Float64Array(outer * n * inner * w);
  for (let a = 0; a < outer; a++)
    for (let j = 0; j < n; j++)
      for (let b = 0; b < inner; b++)
        for (let c = 0; c < w; c++)
          data[((a * n + j) * inner + b) * w + c] = val(order[j], a * inner + b, c);
  return { rows: outer * n * inner, width: w, data, image: null };
}

const shift = (n: number) => Int32Array.from({ length: n }, (_, j) => (j + 1) % n);
const ident = (n: number) => Int32Array.from({ length: n }, (_, j) => j);

describe("proveStrides", () => {
  it.each([
    [1, 1],
    [1, 6],
    [6, 1],
    [2, 3],
    [3, 4],
  ])("finds the one stride of outer %i × n × inner %i, also with n = tokens", (outer, inner) => {
    for (const n of [2, 6, 12]) {
      const perm = shift(n);
      const found = proveStrides(
        rows(ident(n), outer, inner, 5),
        rows(perm, outer, inner, 5),
        perm,
      );
      expect(found, `n ${n}`).toEqual([inner]);
    }
  });

  it("finds no stride when rows mix samples, several when they ignore them", () => {
    const perm = shift(4);
    const a = rows(ident(4), 1, 3, 2);
    const mixed = rows(perm, 1, 3, 2);
    mixed.data[5] += 1; // one value of one row no longer follows its sample
    expect(proveStrides(a, mixed, perm)).toEqual([]);
    const same = (r: RowView) => ({ ...r, data: r.data.map((_, i) => Math.cos(i % 2)) });
    expect(proveStrides(same(a), same(rows(perm, 1, 3, 2)), perm).length).toBeGreaterThan(1);
    expect(proveStrides(a, rows(perm, 1, 4, 2), perm)).toEqual([]); // rows changed count
  });
});

describe("pairRows", () => {
  it("lays every (outer, sample, inner) layout out as N×d×P×1 with rows beside their sample", () => {
    for (const [outer, inner] of [
      [1, 4],
      [4, 1],
      [2, 2],
    ]) {
      const n = 3;
      const v = rows(ident(n), outer, inner, 5);
      const t = pairRows("f", layer, v, n, describePairing(inner, v.rows, n, false)) as TensorInput;
      expect(t.shape).toEqual([n, 5, outer * inner, 1]);
      for (let s = 0; s < n; s++)
        for (let c = 0; c < 5; c++)
          for (let p = 0; p < outer * inner; p++)
            expect(t.data[(s * 5 + c) * outer * inner + p]).toBe(val(s, p, c));
    }
  });

  it("stacks a sample's conv images along h; one row per sample stays a matrix", () => {
    const n = 2;
    const C = 2;
    const h = 1;
    const w = 3;
    const v = { ...rows(ident(n), 2, 1, C * h * w), image: [C, h, w] }; // 2·N images
    const t = pairRows("f", { ...layer, op: "Conv" }, v, n, describePairing(1, 4, n, true));
    expect((t as TensorInput).shape).toEqual([n, C, 2 * h, w]);
    const d = (t as TensorInput).data;
    // sample 1, channel 1, image 1 (second row of h), x 2 = the image's value (c·h + y)·w + x
    expect(d[((1 * C + 1) * 2 + 1) * w + 2]).toBe(val(1, 1, 1 * w + 2));
    const m = pairRows("f", layer, rows(ident(5), 1, 1, 3), 5, describePairing(1, 5, 5, false));
    expect(m).toMatchObject({ rows: 5, cols: 3 });
  });

  it("refuses a batch whose rows do not split as the probe proved", () => {
    const v = rows(ident(4), 1, 3, 2);
    expect(() =>
      pairRows("f", layer, { ...v, rows: 10 }, 4, describePairing(3, 12, 4, false)),
    ).toThrow(/reads 10 rows for a batch of 4 samples, which do not split in blocks of 3/);
  });
});

describe("pairing.onnx", () => {
  const N = 30;
  const x = Float64Array.from({ length: N * 24 }, (_, i) => Math.sin(i * 0.37) + (i % 7) * 0.1);
  const y = { rows: N, cols: 2, data: Float64Array.from({ length: N * 2 }, (_, i) => Math.cos(i)) };

  it.each([undefined, 6, 7])(
    "measures x and its transpose alike, skips the rest (batchRows %s)",
    async (batchRows) => {
      const cap = await captureONNX({
        model: join(FIX, "pairing.onnx"),
        inputs: { data: x, shape: [N, 6, 4] },
        targets: y,
        batchRows,
      });
      try {
        expect(cap.names).toEqual(["tok", "seq", "const"]);
        expect(cap.layers.map((l) => l.pairing.stride)).toEqual([6, 1, 6]);
        expect(cap.layers[1].pairing.layout).toMatch(/6 rows per sample, samples innermost/);
        expect(cap.notes).toHaveLength(2);
        expect(cap.notes[0]).toMatch(
          /'pool' \(MatMul\) reads 'xm' of shape \[6, 4\] for 16 samples: its rows do not follow the samples.*not measured/,
        );
        expect(cap.notes[1]).toMatch(
          /'flat' \(MatMul\) reads 'fe' .*fit 4 layouts.*not proven; not measured/,
        );
        let done = 0;
        for await (const b of cap.batches()) {
          const [tok, seq] = b.features as TensorInput[];
          const n = (b.targets as { rows: number }).rows;
          expect(tok.shape).toEqual([n, 4, 6, 1]);
          expect(seq.shape).toEqual([n, 4, 6, 1]);
          for (let s = 0; s < n; s++)
            for (let c = 0; c < 4; c++)
              for (let p = 0; p < 6; p++) {
                const want = Math.fround(x[((done + s) * 6 + p) * 4 + c]);
                expect(tok.data[(s * 4 + c) * 6 + p]).toBe(want);
                expect(seq.data[(s * 4 + c) * 6 + p]).toBe(want);
              }
          done += n;
        }
        expect(done).toBe(N);
      } finally {
        await cap.close();
      }
    },
  );

  it("measureONNX reports the skipped maps in model.notes", async () => {
    const r = await measureONNX({
      model: join(FIX, "pairing.onnx"),
      inputs: { data: x, shape: [N, 6, 4] },
      targets: y,
    });
    expect(r.layers.map((l) => l.name)).toEqual(["tok", "seq", "const"]);
    expect(r.layers[0].samples).toBe(N * 6);
    expect(r.model.notes.join(" ")).toMatch(/'pool'.*'flat'/);
    expect(r.layers[0].nrc1).toBeCloseTo(r.layers[1].nrc1!, 12);
  });
});

describe("sampleAxis", () => {
  const N = 12;
  const x = Float64Array.from({ length: N * 24 }, (_, i) => Math.cos(i * 0.41));
  const y = { rows: N, cols: 2, data: Float64Array.from({ length: N * 2 }, (_, i) => i % 5) };
  const model = join(FIX, "pairing.onnx");

  it("is checked", async () => {
    for (const [v, msg] of [
      [-1, /sampleAxis must be an integer ≥ 0; got -1/],
      [1.5, /sampleAxis must be an integer ≥ 0; got 1.5/],
      [3, /sampleAxis 3 is past the last axis of the model's input 'x' of shape \[N, 6, 4\]/],
    ] as const)
      await expect(
        captureONNX({ model, inputs: { data: x, shape: [N, 6, 4] }, targets: y, sampleAxis: v }),
      ).rejects.toThrow(msg);
  });

  it("feeds along the given axis: the rows stay paired (proven, samples innermost)", async () => {
    // x laid out 6×N×4 and read with sampleAxis 1: the model sees batches of 6 "samples" (its axis
    // 0) whose axis 1 holds ours; the probe proves where our samples went.
    const xt = new Float64Array(x.length);
    for (let s = 0; s < N; s++)
      for (let p = 0; p < 6; p++)
        for (let c = 0; c < 4; c++) xt[(p * N + s) * 4 + c] = x[(s * 6 + p) * 4 + c];
    const a = await measureONNX({ model, inputs: { data: x, shape: [N, 6, 4] }, targets: y });
    const along1 = { model, inputs: { data: xt, shape: [6, N, 4] }, targets: y, sampleAxis: 1 };
    const cap = await captureONNX({ ...along1, batchRows: 6 });
    await cap.close();
    expect(cap.layers[0].pairing.layout).toMatch(/samples innermost/);
    const b = await measureONNX({ ...along1, batchRows: 6 });
    expect(b.layers[0].name).toBe("tok");
    expect(b.layers[0].nrc1).toBeCloseTo(a.layers[0].nrc1!, 12);
    expect(b.layers[0].nrc2).toBeCloseTo(a.layers[0].nrc2!, 12);
  });
});
