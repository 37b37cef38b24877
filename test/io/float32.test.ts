/**
 * `float32: true` reads: a float32 tensor's values come back as a Float32Array holding exactly
 * the stored values (their float64 widening equals the float64 read bit for bit), in either byte
 * order, C or Fortran order, whole or a row range, into a caller's buffer; other dtypes are read
 * as float64 as before.
 */
import { describe, it, expect } from "vitest";
import { readNpy } from "../../src/io/npy.js";
import { readSafetensor } from "../../src/io/safetensors.js";
import { memorySource } from "../../src/io/source.js";
import { isFloat32Dtype, tensorToMatrix } from "../../src/io/common.js";
import { NRCInputError } from "../../src/errors.js";
import { npyBytes, stBytes } from "./helpers.js";

const R = 7;
const C = 5;
/** Values that are float32 but not short decimals: −0, a subnormal, big and small magnitudes. */
const VALUES = Float32Array.from({ length: R * C }, (_, i) =>
  i === 3 ? -0 : i === 4 ? 1e-42 : i === 5 ? 3.4e38 : Math.sin(i + 1) * 10 ** ((i % 9) - 4),
);

function bytesOf(values: Float32Array, le: boolean): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, le));
  return out;
}

/** Column-major (Fortran) copy of the R×C values. */
function fortran(values: Float32Array): Float32Array {
  const out = new Float32Array(R * C);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) out[j * R + i] = values[i * C + j];
  return out;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Object.is(a[i], b[i])).toBe(true);
}

describe("readNpy with float32: true", () => {
  for (const le of [true, false])
    for (const fo of [false, true]) {
      const descr = `${le ? "<" : ">"}f4`;
      const data = bytesOf(fo ? fortran(VALUES) : VALUES, le);
      const file = npyBytes(
        `{'descr': '${descr}', 'fortran_order': ${fo ? "True" : "False"}, 'shape': (${R}, ${C}), }`,
        data,
      );
      it(`${descr}, ${fo ? "Fortran" : "C"} order: the stored values, as a Float32Array`, async () => {
        const src = memorySource(file);
        const t = await readNpy(src, { float32: true });
        expect(t.data).toBeInstanceOf(Float32Array);
        expect(t.shape).toEqual([R, C]);
        sameBits(t.data, VALUES);
        const wide = await readNpy(src);
        expect(wide.data).toBeInstanceOf(Float64Array);
        sameBits(Float64Array.from(t.data), wide.data);
        // A row range into a caller's (larger) buffer: a view of it.
        const into = new Float32Array(4 * C + 3);
        const part = await readNpy(src, { rows: [2, 6], float32: true, into });
        expect(part.data.buffer).toBe(into.buffer);
        sameBits(part.data, VALUES.subarray(2 * C, 6 * C));
        const m = tensorToMatrix(part);
        expect([m.rows, m.cols, m.data instanceof Float32Array]).toEqual([4, C, true]);
        // A Float64Array `into` asks for float64.
        const f64 = await readNpy(src, { float32: true, into: new Float64Array(R * C) });
        expect(f64.data).toBeInstanceOf(Float64Array);
        sameBits(f64.data, wide.data);
      });
    }

  it("reads a little-endian float32 range straight into the output with the source's readInto", async () => {
    const file = npyBytes(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (${R}, ${C}), }`,
      bytesOf(VALUES, true),
    );
    const mem = memorySource(file);
    const calls: number[] = [];
    const src = {
      size: mem.size,
      read: (o: number, l: number) => mem.read(o, l),
      async readInto(o: number, target: Uint8Array) {
        calls.push(target.byteLength);
        target.set(await mem.read(o, target.byteLength));
      },
    };
    const into = new Float32Array(R * C);
    const t = await readNpy(src, { rows: [1, 6], float32: true, into, chunkBytes: 2 * C * 4 });
    expect(calls).toEqual([2 * C * 4, 2 * C * 4, C * 4]);
    expect(t.data.buffer).toBe(into.buffer);
    sameBits(t.data, VALUES.subarray(C, 6 * C));
    // A source whose readInto fails: the error names readNpy and the file.
    const bad = { ...src, name: "x.npy", readInto: () => Promise.reject(new Error("EIO")) };
    const err = await readNpy(bad, { float32: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NRCInputError);
    expect((err as Error).message).toMatch(/readNpy.*x\.npy: reading array data failed: EIO/);
  });

  it("other dtypes are converted to float64 as without the option", async () => {
    const vals = [1.5, -2.25, 3e-300, 7];
    const file = npyBytes(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
      new Uint8Array(new Float64Array(vals).buffer),
    );
    const t = await readNpy(memorySource(file), { float32: true });
    expect(t.data).toBeInstanceOf(Float64Array);
    sameBits(t.data, vals);
  });

  it("a Float32Array into is refused where the result is float64, naming the argument", async () => {
    const f4 = npyBytes(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (${R}, ${C}), }`,
      bytesOf(VALUES, true),
    );
    const f8 = npyBytes(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
      new Uint8Array(32),
    );
    const into = new Float32Array(64);
    for (const [file, opts] of [
      [f4, { into }],
      [f8, { into, float32: true }],
    ] as const) {
      const err = await readNpy(memorySource(file), opts as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NRCInputError);
      expect((err as Error).message).toMatch(/readNpy.*into must be a Float64Array.*Float32Array/);
    }
    const small = await readNpy(memorySource(f4), {
      float32: true,
      into: new Float32Array(3),
    }).catch((e: unknown) => e);
    expect((small as Error).message).toMatch(
      /into must be a Float32Array with room for 35 values .*; got length 3/,
    );
  });
});

describe("readSafetensor with float32: true", () => {
  it("an F32 tensor's stored values as a Float32Array; F64 tensors as float64", async () => {
    const f32 = bytesOf(VALUES, true);
    const f64 = new Uint8Array(new Float64Array([1, 2, 3, 4]).buffer);
    const data = new Uint8Array(f32.length + f64.length);
    data.set(f32);
    data.set(f64, f32.length);
    const file = stBytes(
      {
        h: { dtype: "F32", shape: [R, C], data_offsets: [0, f32.length] },
        w: { dtype: "F64", shape: [2, 2], data_offsets: [f32.length, f32.length + 32] },
      },
      data,
    );
    const src = memorySource(file);
    const t = await readSafetensor(src, "h", { float32: true, rows: [1, 5] });
    expect(t.data).toBeInstanceOf(Float32Array);
    sameBits(t.data, VALUES.subarray(C, 5 * C));
    sameBits(Float64Array.from(t.data), (await readSafetensor(src, "h", { rows: [1, 5] })).data);
    const w = await readSafetensor(src, "w", { float32: true });
    expect(w.data).toBeInstanceOf(Float64Array);
    sameBits(w.data, [1, 2, 3, 4]);
  });

  it("isFloat32Dtype knows both spellings", () => {
    expect(["F32", "<f4", ">f4", "F64", "<f8", "F16", "BF16"].map(isFloat32Dtype)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });
});
