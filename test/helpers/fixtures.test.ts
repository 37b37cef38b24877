import { describe, expect, it } from "vitest";
import {
  decodeMatrix,
  decodeTensor,
  isEncodedMatrix,
  isEncodedTensor,
  loadFixture,
  loadRawFixture,
  toArray2D,
  type EncodedMatrix,
  type EncodedTensor,
  type FixtureMatrix,
  type FixtureName,
  type FixtureTensor,
} from "./fixtures.js";

const FILES: FixtureName[] = ["metrics", "angles", "cka", "pinv", "conv"];

/** Neumaier-compensated sum (close to Python's math.fsum). */
function accurateSum(a: Float64Array, abs = false): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < a.length; i++) {
    const x = abs ? Math.abs(a[i]) : a[i];
    const t = s + x;
    c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    s = t;
  }
  return s + c;
}

function collectEncoded(v: unknown, out: (EncodedMatrix | EncodedTensor)[] = []) {
  if (Array.isArray(v)) for (const x of v) collectEncoded(x, out);
  else if (isEncodedMatrix(v) || isEncodedTensor(v)) out.push(v);
  else if (typeof v === "object" && v !== null)
    for (const x of Object.values(v)) collectEncoded(x, out);
  return out;
}

const at = (m: FixtureMatrix, i: number, j: number) => m.data[i * m.cols + j];
const at4 = (t: FixtureTensor, a: number, b: number, c: number, d: number) =>
  t.data[((a * t.shape[1] + b) * t.shape[2] + c) * t.shape[3] + d];

describe("fixture decoding", () => {
  for (const file of FILES) {
    it(`${file}.json: every matrix/tensor decodes to finite values whose sums match Python's`, () => {
      const raw = loadRawFixture(file);
      expect(typeof raw.generator).toBe("string");
      const encoded = collectEncoded(raw);
      expect(encoded.length).toBeGreaterThan(0);
      for (const enc of encoded) {
        const dec = isEncodedMatrix(enc) ? decodeMatrix(enc) : decodeTensor(enc as EncodedTensor);
        let nonFinite = 0;
        for (let i = 0; i < dec.data.length; i++) if (!Number.isFinite(dec.data[i])) nonFinite++;
        expect(nonFinite).toBe(0);
        const sumAbs = accurateSum(dec.data, true);
        expect(Math.abs(sumAbs - enc.sumAbs)).toBeLessThanOrEqual(1e-14 * enc.sumAbs);
        expect(Math.abs(accurateSum(dec.data) - enc.sum)).toBeLessThanOrEqual(
          1e-14 * enc.sumAbs + Number.MIN_VALUE,
        );
      }
    });
  }

  it("decodes the SPEC's small example exactly (row-major)", () => {
    const c = loadFixture("metrics").cases.find((x) => x.name === "spec-small")!;
    expect(toArray2D(c.H)).toEqual([
      [1, 2, 0],
      [2, 1, 1],
      [3, 5, 1],
      [4, 3, 2],
      [0, 1, 0],
      [5, 4, 3],
    ]);
    expect(toArray2D(c.Y)).toEqual([
      [1, 0],
      [0, 1],
      [2, 1],
      [1, 3],
      [0, 0],
      [3, 1],
    ]);
    expect(toArray2D(c.W!)).toEqual([
      [1, 0, 2],
      [0, 1, -1],
      [1, 1, 1],
      [2, -1, 0],
    ]);
    expect(c.expected.nrc1).toBeCloseTo(0.004758239938369435, 14);
  });

  it("decodes Kornblith's X with its published first entries", () => {
    const k = loadFixture("cka").cases.find((x) => x.name === "kornblith-demo")!;
    expect(k.X.rows).toBe(100);
    expect(k.X.cols).toBe(10);
    expect(at(k.X, 0, 0)).toBe(-0.7031873098624105);
    expect(at(k.X, 0, 1)).toBe(-0.49028236278771464);
    expect(at(k.X, 1, 0)).toBe(1.4252913986629026);
    expect(k.expected).toBeCloseTo(0.5576132566117589, 14);
  });

  it("metrics cases carry the documented fields with consistent shapes", () => {
    const m = loadFixture("metrics");
    for (const c of m.cases) {
      const { H, Y, W, expected: e, t } = c;
      expect(Y.rows).toBe(H.rows);
      expect(e.eigenvalues.length).toBe(H.cols);
      for (let i = 1; i < e.eigenvalues.length; i++) {
        expect(e.eigenvalues[i]).toBeLessThanOrEqual(e.eigenvalues[i - 1]);
      }
      expect(e.eigenvalues[e.eigenvalues.length - 1]).toBeGreaterThanOrEqual(0);
      for (const k of ["nrc1", "nrc2", "nrc4", "stableRankFeatures", "targetStableRank"] as const) {
        expect(typeof e[k]).toBe("number");
      }
      expect(Object.keys(e.prop1).sort()).toEqual(["bound", "eps1", "eps2", "lhs"]);
      if (W) {
        expect(W.cols).toBe(H.cols);
        expect(e.nrc3Angles!.length).toBe(t);
        expect(typeof e.nrc3).toBe("number");
        expect(typeof e.stableRankWeight).toBe("number");
      } else {
        expect(e.nrc3).toBeUndefined();
      }
      if (c.r !== undefined) expect(typeof e.nrc1_r).toBe("number");
    }
    const presets = new Set(m.cases.map((c) => c.preset));
    expect([...presets].sort()).toEqual(["paper", "reference-code"]);
  });

  it("the float32 case holds values exactly representable in float32", () => {
    const c = loadFixture("metrics").cases.find((x) => x.name === "float32-values")!;
    for (const mat of [c.H, c.Y, c.W!]) {
      expect(Array.from(Float32Array.from(mat.data))).toEqual(Array.from(mat.data));
    }
  });

  it("conv tensors follow the documented index conventions", () => {
    const conv = loadFixture("conv");
    for (const tc of conv.tensors) {
      const [N, C, h, w] = tc.nchw.shape;
      expect(tc.nhwc.shape).toEqual([N, h, w, C]);
      expect(tc.flatten.rows).toBe(N * h * w);
      expect(tc.gap.rows).toBe(N);
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              const v = at4(tc.nchw, n, c, y, x);
              expect(at4(tc.nhwc, n, y, x, c)).toBe(v);
              expect(at(tc.flatten, (n * h + y) * w + x, c)).toBe(v);
              s += v;
            }
          expect(at(tc.gap, n, c)).toBeCloseTo(s / (h * w), 14);
        }
    }
    for (const f of conv.filters) {
      const [co, ci, kh, kw] = f.weight.shape;
      expect([f.matrix.rows, f.matrix.cols]).toEqual([co * kh * kw, ci]);
      for (let o = 0; o < co; o++)
        for (let i = 0; i < ci; i++)
          for (let a = 0; a < kh; a++)
            for (let b = 0; b < kw; b++)
              expect(at(f.matrix, (o * kh + a) * kw + b, i)).toBe(at4(f.weight, o, i, a, b));
    }
  });

  it("rejects a byte count that does not fit the shape", () => {
    const enc = { rows: 2, cols: 2, f64: Buffer.alloc(24).toString("base64"), sum: 0, sumAbs: 0 };
    expect(() => decodeMatrix(enc)).toThrow(/3 values for a 2×2 matrix/);
  });
});
