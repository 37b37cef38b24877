import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { readdirSync } from "node:fs";
import { memorySource, readNpy, readNpyHeader, tensorToMatrix } from "../../src/io/index.js";
import { openFileSource } from "../../src/node/file-source.js";
import { NRCInputError } from "../../src/errors.js";
import {
  FIX,
  decodeExpected,
  expectSameValues,
  f64Bytes,
  npyBytes,
  readBytes,
  readJSON,
} from "./helpers.js";

interface NpyExpected {
  descr: string;
  shape: number[];
  fortran: boolean;
  version: number;
  values: (number | string)[];
  ranges?: { rows: [number, number]; values: (number | string)[] }[];
}
const expected = readJSON<Record<string, NpyExpected>>("npy", "expected.json");
const names = Object.keys(expected);

describe("readNpy on files written by numpy", () => {
  it("covers every dtype × byte order × memory order × version", () => {
    const files = readdirSync(join(FIX, "npy")).filter((f) => f.endsWith(".npy"));
    expect(files.sort()).toEqual([...names].sort());
    for (const code of ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"])
      for (const order of ["C", "F"])
        for (const v of [1, 2, 3])
          expect(names.some((n) => n.startsWith(code) && n.includes(`_${order}_v${v}`))).toBe(true);
  });

  it.each(names)("%s: header and values match numpy (memory source)", async (name) => {
    const e = expected[name];
    const src = memorySource(readBytes("npy", name), name);
    const h = await readNpyHeader(src);
    expect(h.shape).toEqual(e.shape);
    expect(h.descr).toBe(e.descr);
    expect(h.fortranOrder).toBe(e.fortran);
    expect(h.version).toEqual([e.version, 0]);
    const t = await readNpy(src);
    expect(t.shape).toEqual(e.shape);
    expect(t.dtype).toBe(e.descr);
    expectSameValues(t.data, decodeExpected(e.values), name);
  });

  it.each(names)("%s: same values through the file source", async (name) => {
    const src = await openFileSource(join(FIX, "npy", name));
    try {
      const t = await readNpy(src);
      expectSameValues(t.data, decodeExpected(expected[name].values), name);
    } finally {
      await src.close();
    }
  });

  const ranged = names.filter((n) => expected[n].ranges);
  it.each(ranged)("%s: row ranges (one read, and in tiny chunks)", async (name) => {
    const src = memorySource(readBytes("npy", name), name);
    for (const r of expected[name].ranges!) {
      for (const chunkBytes of [undefined, 1, 24, 1000]) {
        const t = await readNpy(src, { rows: r.rows, chunkBytes });
        expect(t.shape).toEqual([r.rows[1] - r.rows[0], 7]);
        expectSameValues(
          t.data,
          decodeExpected(r.values),
          `${name} rows ${r.rows} chunk ${chunkBytes}`,
        );
      }
    }
  });

  it("reads only the requested bytes for a row range", async () => {
    const bytes = readBytes("npy", "f8_le_C_300x7.npy");
    const base = memorySource(bytes);
    const reads: [number, number][] = [];
    const spy = {
      size: base.size,
      read: (o: number, l: number) => (reads.push([o, l]), base.read(o, l)),
    };
    await readNpy(spy, { rows: [10, 20] });
    const dataReads = reads.filter(([o]) => o >= 128);
    expect(dataReads).toEqual([[128 + 10 * 56, 10 * 56]]);
    // Fortran order, sparse rows: one read of 10 elements per column, nothing else.
    const fb = readBytes("npy", "f8_be_F_300x7.npy");
    const fbase = memorySource(fb);
    const freads: [number, number][] = [];
    await readNpy(
      { size: fbase.size, read: (o, l) => (freads.push([o, l]), fbase.read(o, l)) },
      { rows: [10, 20] },
    );
    expect(freads.filter(([o]) => o >= 128).map(([, l]) => l)).toEqual(Array(7).fill(80));
  });

  it("with a header from readNpyHeader, reads only the rows (one read) and checks the header fits", async () => {
    const bytes = readBytes("npy", "f8_le_C_300x7.npy");
    const base = memorySource(bytes);
    const header = await readNpyHeader(base);
    const reads: [number, number][] = [];
    const spy = {
      size: base.size,
      read: (o: number, l: number) => (reads.push([o, l]), base.read(o, l)),
    };
    const got = await readNpy(spy, { rows: [10, 20], header });
    expect(reads).toEqual([[128 + 10 * 56, 10 * 56]]);
    const full = await readNpy(base);
    expect(Array.from(got.data)).toEqual(Array.from(full.data.subarray(10 * 7, 20 * 7)));
    // A header read from a larger file is refused before anything is allocated or read.
    const small = memorySource(readBytes("npy", "f8_le_C_1d.npy"), "small.npy");
    const err = await readNpy(small, { rows: [0, 5], header }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NRCInputError);
    expect((err as Error).message).toMatch(
      /readNpy: .*small\.npy: the given header puts 16800 data bytes at offset 128, past the end of the \d+-byte source/,
    );
  });

  it("decodes into a given buffer (C and Fortran order), refusing one too small", async () => {
    for (const name of ["f8_le_C_300x7.npy", "f8_be_F_300x7.npy"]) {
      const src = memorySource(readBytes("npy", name), name);
      const full = await readNpy(src);
      const into = new Float64Array(40).fill(NaN);
      const t = await readNpy(src, { rows: [100, 105], into });
      expect(t.data.buffer).toBe(into.buffer);
      expect(Array.from(t.data)).toEqual(Array.from(full.data.subarray(700, 735)));
      await expect(readNpy(src, { rows: [0, 6], into })).rejects.toThrow(
        /readNpy: into must be a Float64Array with room for 42 values; got length 40/,
      );
    }
  });

  it("converts to the library's matrix input", async () => {
    const t = await readNpy(memorySource(readBytes("npy", "f8_le_C_300x7.npy")), { rows: [0, 5] });
    const m = tensorToMatrix(t);
    expect([m.rows, m.cols]).toEqual([5, 7]);
    expect(m.data).toBe(t.data);
    const v = tensorToMatrix(await readNpy(memorySource(readBytes("npy", "f8_le_C_1d.npy"))));
    expect([v.rows, v.cols]).toEqual([7, 1]);
    const t4 = await readNpy(memorySource(readBytes("npy", "f4_le_C_4d.npy")));
    expect(() => tensorToMatrix(t4, "features.3")).toThrow(
      /tensorToMatrix: features\.3 must be a 1-D or 2-D array; got shape \(4, 3, 2, 2\)/,
    );
  });

  it("rejects bad options with a clear error", async () => {
    const src = memorySource(readBytes("npy", "f8_le_C_300x7.npy"), "x.npy");
    await expect(readNpy(src, { rows: [5, 301] })).rejects.toThrow(
      /readNpy: rows \[start, end\] must satisfy 0 ≤ start ≤ end ≤ 300.*got \[5, 301\]/,
    );
    await expect(readNpy(src, { rows: [5, 2] })).rejects.toThrow(NRCInputError);
    await expect(readNpy(src, { rows: [0.5, 2] as [number, number] })).rejects.toThrow(
      /integer start and end/,
    );
    await expect(readNpy(src, { maxElements: 100 })).rejects.toThrow(
      /readNpy: the requested array of shape \(300, 7\) has 2100 elements, more than maxElements = 100/,
    );
    await expect(readNpy(src, { chunkBytes: 0 })).rejects.toThrow(
      /readNpy: chunkBytes must be a positive integer; got 0/,
    );
    await expect(
      readNpy(memorySource(readBytes("npy", "f8_le_C_0d.npy")), { rows: [0, 1] }),
    ).rejects.toThrow(/0-d/);
    await expect(readNpy({} as never)).rejects.toThrow(/readNpy: expected a ByteSource/);
  });
});

describe("readNpy on malformed files", () => {
  const data6 = f64Bytes([1, 2, 3, 4, 5, 6]);
  const good = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  const bad = async (bytes: Uint8Array, re: RegExp) => {
    const err = await readNpy(memorySource(bytes, "bad.npy")).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NRCInputError);
    expect((err as Error).message).toMatch(/^readNpy: bad\.npy: /);
    expect((err as Error).message).toMatch(re);
  };

  it("accepts the well-formed control", async () => {
    const t = await readNpy(memorySource(npyBytes(good, data6)));
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it("bad magic, short file, unknown version", async () => {
    const b = npyBytes(good, data6);
    b[1] = 0x41;
    await bad(b, /does not start with the magic/);
    await bad(new Uint8Array([0x93, 0x4e, 0x55]), /shorter than the 10-byte preamble/);
    const v = npyBytes(good, data6);
    v[6] = 4;
    await bad(v, /unsupported \.npy format version 4\.0/);
    const m = npyBytes(good, data6);
    m[7] = 1;
    await bad(m, /version 1\.1/);
  });
  it("header length beyond the file or above the limit", async () => {
    const b = npyBytes(good, data6);
    b[8] = 0xff;
    b[9] = 0xff;
    await bad(b.subarray(0, 200), /header length 65535 runs past the end of the file/);
    const v2 = npyBytes(good, data6, 2);
    new DataView(v2.buffer).setUint32(8, 0xfffffff0, true);
    await bad(v2, /header length 4294967280 exceeds the limit/);
  });
  it("truncated data, trailing bytes, lying and huge shapes", async () => {
    await bad(
      npyBytes(good, data6.subarray(0, 40)),
      /shape \(2, 3\) of <f8 = 48 bytes of data, more than the 40 bytes after the header \(truncated/,
    );
    await bad(
      npyBytes(good, f64Bytes([1, 2, 3, 4, 5, 6, 7])),
      /but 56 bytes follow the header \(trailing garbage/,
    );
    await bad(
      npyBytes(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }",
        data6,
      ),
      /shape \(1000000000000, 1000000000000\) of <f8, more than the 48 bytes/,
    );
    await bad(
      npyBytes(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }",
        data6,
      ),
      /too large/,
    );
    await bad(
      npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (-2, -3), }", data6),
      /non-negative integers, got -2/,
    );
  });
  it("malformed header literals", async () => {
    await bad(
      npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ", data6),
      /malformed header/,
    );
    await bad(npyBytes("['descr', 1]", data6), /expected a dict/);
    await bad(
      npyBytes("{'descr': '<f8', 'shape': (2, 3), }", data6),
      /exactly the keys.*got 'descr', 'shape'/,
    );
    await bad(
      npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", data6),
      /'x'/,
    );
    await bad(
      npyBytes("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", data6),
      /duplicate key/,
    );
    await bad(
      npyBytes("{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3), }", data6),
      /fortran_order must be True or False, got 0/,
    );
    await bad(
      npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3], }", data6),
      /shape must be a tuple/,
    );
    await bad(
      npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } junk", data6),
      /unexpected "junk"/,
    );
    await bad(
      npyBytes("{'descr': '<f\\8', 'fortran_order': False, 'shape': (2, 3), }", data6),
      /escape/,
    );
    await bad(npyBytes("(".repeat(30) + ")".repeat(30), data6), /nested too deeply/);
  });
  it("unsupported dtypes", async () => {
    const withDescr = (d: string) =>
      npyBytes(`{'descr': ${d}, 'fortran_order': False, 'shape': (2, 3), }`, data6);
    await bad(withDescr("'<c16'"), /unsupported dtype '<c16'/);
    await bad(withDescr("'<U5'"), /unsupported dtype '<U5'/);
    await bad(withDescr("'|O'"), /unsupported dtype '\|O'/);
    await bad(withDescr("'<f16'"), /unsupported dtype '<f16'/);
    await bad(withDescr("'|f8'"), /byte order '\|'/);
    await bad(withDescr("'=f8'"), /native byte order '='/);
    await bad(withDescr("[('a', '<f8')]"), /structured dtypes/);
    await bad(withDescr("3"), /descr must be a string, got 3/);
  });
  it("version 3 headers must be UTF-8", async () => {
    const b = npyBytes(good, data6, 3);
    b[12 + 11] = 0xff; // inside the descr string
    await bad(b, /not valid UTF-8/);
    // version 1 is latin-1: the same byte is just an odd character in the descr
    const l = npyBytes(good, data6, 1);
    l[10 + 11] = 0xff;
    await bad(l, /unsupported dtype/);
  });
  it("a source that returns short reads", async () => {
    const b = npyBytes(good, data6);
    const base = memorySource(b);
    const liar = {
      size: b.length,
      name: "liar.npy",
      read: async (o: number, l: number) => (await base.read(o, l)).subarray(0, Math.max(0, l - 1)),
    };
    await expect(readNpy(liar)).rejects.toThrow(
      /readNpy: liar\.npy: reading the preamble returned 11 bytes, expected 12/,
    );
    const failing = {
      size: b.length,
      read: async () => {
        throw new Error("EIO");
      },
    };
    await expect(readNpy(failing)).rejects.toThrow(
      /readNpy: <source>: reading the preamble failed: EIO/,
    );
  });
});

describe("openFileSource", () => {
  it("reports missing files and directories clearly", async () => {
    await expect(openFileSource(join(FIX, "nope.npy"))).rejects.toThrow(
      /openFileSource: cannot open .*nope\.npy: no such file/,
    );
    await expect(openFileSource(FIX)).rejects.toThrow(
      /openFileSource: .*(is a directory|not a regular file)/,
    );
  });
  it("rejects reads after close", async () => {
    const src = await openFileSource(join(FIX, "npy", "f8_le_C_1d.npy"));
    await src.close();
    await expect(readNpy(src)).rejects.toThrow(/closed/);
  });
});
