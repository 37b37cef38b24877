import { describe, expect, it } from "vitest";
import { join } from "node:path";
import {
  memorySource,
  readSafetensor,
  readSafetensorsHeader,
  tensorToMatrix,
} from "../../src/io/index.js";
import { openFileSource } from "../../src/node/file-source.js";
import { NRCInputError } from "../../src/errors.js";
import {
  FIX,
  decodeExpected,
  expectSameValues,
  f64Bytes,
  readBytes,
  readJSON,
  stBytes,
} from "./helpers.js";

interface StExpected {
  metadata: Record<string, string>;
  tensors: Record<
    string,
    {
      dtype: string;
      shape: number[];
      values: (number | string)[];
      ranges?: { rows: [number, number]; values: (number | string)[] }[];
    }
  >;
}
const expected = readJSON<StExpected>("safetensors", "expected.json");
const names = Object.keys(expected.tensors);

describe("readSafetensor on a file written to the format spec", () => {
  const bytes = readBytes("safetensors", "all_dtypes.safetensors");

  it("parses the header: metadata, every tensor, sorted by data offset", async () => {
    const h = await readSafetensorsHeader(memorySource(bytes));
    expect(h.metadata).toEqual(expected.metadata);
    expect(h.tensors.map((t) => t.name).sort()).toEqual([...names].sort());
    for (let i = 1; i < h.tensors.length; i++)
      expect(h.tensors[i].dataOffsets[0]).toBe(h.tensors[i - 1].dataOffsets[1]);
    for (const t of h.tensors) {
      expect(t.dtype).toBe(expected.tensors[t.name].dtype);
      expect(t.shape).toEqual(expected.tensors[t.name].shape);
    }
    const dtypes = new Set(h.tensors.map((t) => t.dtype));
    for (const d of [
      "F16",
      "BF16",
      "F32",
      "F64",
      "I8",
      "I16",
      "I32",
      "I64",
      "U8",
      "U16",
      "U32",
      "U64",
      "BOOL",
    ])
      expect(dtypes.has(d as never)).toBe(true);
  });

  it.each(names)("%s: values match numpy", async (name) => {
    const e = expected.tensors[name];
    for (const src of [
      memorySource(bytes, "all.safetensors"),
      await openFileSource(join(FIX, "safetensors", "all_dtypes.safetensors")),
    ]) {
      const t = await readSafetensor(src, name);
      expect(t.shape).toEqual(e.shape);
      expect(t.dtype).toBe(e.dtype);
      expectSameValues(t.data, decodeExpected(e.values), name);
      if ("close" in src) await (src as { close(): Promise<void> }).close();
    }
  });

  it("row ranges, with a reused header and tiny chunks", async () => {
    const src = memorySource(bytes);
    const header = await readSafetensorsHeader(src);
    for (const r of expected.tensors.big.ranges!)
      for (const chunkBytes of [undefined, 1, 56, 1000]) {
        const t = await readSafetensor(src, "big", { rows: r.rows, header, chunkBytes });
        expect(t.shape).toEqual([r.rows[1] - r.rows[0], 7]);
        expectSameValues(t.data, decodeExpected(r.values), `big rows ${r.rows}`);
      }
    const m = tensorToMatrix(await readSafetensor(src, "big", { rows: [3, 9], header }));
    expect([m.rows, m.cols]).toEqual([6, 7]);
  });

  it("decodes into a given buffer (a view of it), reused across ranges; refuses one too small", async () => {
    const src = memorySource(bytes, "all.safetensors");
    const header = await readSafetensorsHeader(src);
    const into = new Float64Array(10 * 7).fill(-7);
    for (const r of expected.tensors.big.ranges!) {
      const n = r.rows[1] - r.rows[0];
      if (n > 10) continue;
      const t = await readSafetensor(src, "big", { rows: r.rows, header, into });
      expect(t.data.buffer).toBe(into.buffer);
      expect(t.data.length).toBe(n * 7);
      expectSameValues(t.data, decodeExpected(r.values), `big rows ${r.rows} into a buffer`);
    }
    await expect(readSafetensor(src, "big", { rows: [0, 11], header, into })).rejects.toThrow(
      /readSafetensor: into must be a Float64Array with room for 77 values; got length 70/,
    );
  });

  it("reads only the header and the requested rows", async () => {
    const base = memorySource(bytes);
    const reads: [number, number][] = [];
    const spy = {
      size: base.size,
      read: (o: number, l: number) => (reads.push([o, l]), base.read(o, l)),
    };
    const h = await readSafetensorsHeader(spy);
    const big = h.tensors.find((t) => t.name === "big")!;
    reads.length = 0;
    await readSafetensor(spy, "big", { rows: [10, 12], header: h });
    expect(reads).toEqual([[h.dataOffset + big.dataOffsets[0] + 10 * 56, 2 * 56]]);
  });

  it("small and empty files", async () => {
    const one = memorySource(readBytes("safetensors", "one.safetensors"));
    const t = await readSafetensor(one, "x");
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await readSafetensorsHeader(one)).metadata).toBeNull();
    const empty = await readSafetensorsHeader(
      memorySource(readBytes("safetensors", "empty.safetensors")),
    );
    expect(empty.tensors).toEqual([]);
  });

  it("a missing tensor names the ones present; bad options are rejected", async () => {
    const src = memorySource(readBytes("safetensors", "one.safetensors"), "one.safetensors");
    await expect(readSafetensor(src, "features.0")).rejects.toThrow(
      /^readSafetensor: one\.safetensors: no tensor named "features\.0"; the file holds x$/,
    );
    await expect(readSafetensor(src, "x", { rows: [0, 3] })).rejects.toThrow(
      /readSafetensor: rows .* ≤ 2/,
    );
    await expect(readSafetensor(src, "x", { maxElements: 5 })).rejects.toThrow(
      /readSafetensor: .*6 elements, more than maxElements = 5/,
    );
  });
});

describe("readSafetensorsHeader on malformed files", () => {
  const x = { dtype: "F64", shape: [2, 3], data_offsets: [0, 48] };
  const data = f64Bytes([1, 2, 3, 4, 5, 6]);
  const bad = async (bytes: Uint8Array, re: RegExp) => {
    const err = await readSafetensorsHeader(memorySource(bytes, "bad.st")).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NRCInputError);
    expect((err as Error).message).toMatch(/^readSafetensorsHeader: bad\.st: /);
    expect((err as Error).message).toMatch(re);
  };

  it("accepts the control and trailing spaces in the header", async () => {
    const h = await readSafetensorsHeader(
      memorySource(stBytes(JSON.stringify({ x }) + "    ", data)),
    );
    expect(h.tensors[0]).toEqual({ name: "x", dtype: "F64", shape: [2, 3], dataOffsets: [0, 48] });
  });
  it("header length", async () => {
    await bad(new Uint8Array([1, 2, 3]), /shorter than the 8-byte header length/);
    const b = stBytes({ x }, data);
    new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
    await bad(b, /header length 9223372036854776000 exceeds the limit/);
    new DataView(b.buffer).setBigUint64(0, 1000n, true);
    await bad(b, /header length 1000 runs past the end of the file/);
    new DataView(b.buffer).setBigUint64(0, 0n, true);
    await bad(b, /too short/);
  });
  it("bad JSON, not an object, not UTF-8", async () => {
    await bad(stBytes('{"x": {', data), /not valid JSON/);
    await bad(stBytes("[1, 2, 3]", data), /does not start with '\{'/);
    await bad(stBytes("{}   x", data), /not valid JSON/);
    const b = stBytes('{"x\u00e9": 1}', data);
    b[8 + 3] = 0xff;
    await bad(b, /not valid UTF-8/);
  });
  it("bad entries", async () => {
    await bad(stBytes({ x: 5 }, data), /tensor "x": expected an object/);
    await bad(stBytes({ x: { ...x, extra: 1 } }, data), /unexpected key "extra"/);
    await bad(stBytes({ x: { ...x, dtype: "F8_E4M3" } }, data), /unsupported dtype "F8_E4M3"/);
    await bad(stBytes({ x: { ...x, dtype: 3 } }, data), /dtype must be a string/);
    await bad(stBytes({ x: { ...x, shape: [2, -3] } }, data), /non-negative integers; got -3/);
    await bad(stBytes({ x: { ...x, shape: [2, 1.5] } }, data), /non-negative integers; got 1.5/);
    await bad(stBytes({ x: { ...x, shape: "2,3" } }, data), /shape must be an array/);
    await bad(
      stBytes({ x: { ...x, data_offsets: [0] } }, data),
      /data_offsets must be \[begin, end\]/,
    );
    await bad(stBytes({ x: { ...x, data_offsets: [48, 0] } }, data), /begin > end/);
    await bad(stBytes({ __metadata__: { a: 1 }, x }, data), /__metadata__\["a"\] must be a string/);
    await bad(stBytes({ __metadata__: [1], x }, data), /__metadata__ must be an object/);
  });
  it("lying shapes, out-of-range, overlapping and gapped offsets, trailing bytes", async () => {
    await bad(
      stBytes({ x: { ...x, shape: [2, 4] } }, data),
      /shape \[2, 4\] of F64 needs 64 bytes but data_offsets \[0, 48\] span 48/,
    );
    await bad(
      stBytes({ x: { ...x, shape: [1e15, 1e15] } }, data),
      /shape \[1000000000000000, 1000000000000000\] of F64 needs more than 2\^53 bytes/,
    );
    await bad(
      stBytes({ x: { ...x, data_offsets: [0, 4800] } }, data),
      /run past the end of the data buffer \(48 bytes; truncated/,
    );
    await bad(stBytes({ x }, data.subarray(0, 40)), /run past the end/);
    const y = { dtype: "F64", shape: [3], data_offsets: [16, 40] };
    await bad(
      stBytes({ x: { ...x, shape: [3], data_offsets: [0, 24] }, y }, data),
      /"y": data_offsets \[16, 40\] overlap the previous tensor/,
    );
    await bad(
      stBytes(
        { x: { ...x, shape: [2], data_offsets: [0, 16] }, y: { ...y, data_offsets: [24, 48] } },
        data,
      ),
      /"y".*leave a gap after byte 16/,
    );
    await bad(
      stBytes({ x: { ...x, shape: [3], data_offsets: [0, 24] } }, data),
      /cover 24 bytes of data but 48 bytes follow/,
    );
  });
});
