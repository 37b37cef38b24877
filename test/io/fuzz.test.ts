/**
 * Fuzzing the readers: random bytes, mutated valid files, truncations and grammar-generated
 * headers. Every run must end, within a second, in either a result whose size is bounded by the
 * file's bytes (no allocation beyond what the file holds) or an NRCInputError — never another
 * exception, a hang or a huge allocation.
 *
 * Reproduce a failure with FC_SEED=<seed> (fast-check prints the seed and the shrunk input).
 * Run counts: FUZZ_RUNS (default 1500 per property; 8 properties).
 */
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  type ByteSource,
  memorySource,
  readNpy,
  readNpyHeader,
  readSafetensor,
  readSafetensorsHeader,
} from "../../src/io/index.js";
import { NRCInputError } from "../../src/errors.js";
import { FIX, npyBytes, readBytes, stBytes } from "./helpers.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
const params = { numRuns: RUNS, seed };

const stats = { runs: 0, ok: 0, rejected: 0, reads: 0 };
afterAll(() => {
  console.log(
    `reader fuzz: ${stats.runs} inputs, ${stats.reads} parser calls: ${stats.ok} parsed, ${stats.rejected} rejected with NRCInputError, 0 other outcomes`,
  );
});

/** Runs one parser call: must finish within 1 s and either return or throw NRCInputError. */
async function guarded<T>(p: () => Promise<T>): Promise<T | null> {
  stats.reads++;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error("parser hung (> 1 s)")), 1000);
  });
  try {
    const v = await Promise.race([p(), timeout]);
    stats.ok++;
    return v;
  } catch (e) {
    if (e instanceof NRCInputError) {
      stats.rejected++;
      expect(e.message).toMatch(/^(readNpy|readNpyHeader|readSafetensor|readSafetensorsHeader): /);
      return null;
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads everything readable from the bytes with both parsers and checks the size bounds. */
async function exercise(bytes: Uint8Array, rows?: [number, number]): Promise<void> {
  stats.runs++;
  const src: ByteSource = memorySource(bytes, "fuzz");
  const h = await guarded(() => readNpyHeader(src));
  const t = await guarded(() => readNpy(src, rows ? { rows } : {}));
  if (t) {
    expect(h).not.toBeNull();
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    expect(t.data.length).toBeLessThanOrEqual(bytes.length); // ≥ 1 byte per element in the file
  }
  const sh = await guarded(() => readSafetensorsHeader(src));
  if (sh) {
    let total = 0;
    for (const info of sh.tensors) {
      const x = await guarded(() =>
        readSafetensor(src, info.name, rows ? { rows, header: sh } : { header: sh }),
      );
      if (x) {
        expect(x.data.length).toBe(x.shape.reduce((a, b) => a * b, 1));
        total += x.data.length;
      }
    }
    expect(total).toBeLessThanOrEqual(bytes.length);
  }
}

const fixtures: Uint8Array[] = [
  ...readdirSync(join(FIX, "npy"))
    .filter((f) => f.endsWith(".npy") && !f.includes("300x7"))
    .filter((_, i) => i % 3 === 0)
    .map((f) => readBytes("npy", f)),
  readBytes("npy", "f8_be_F_300x7.npy"),
  readBytes("safetensors", "all_dtypes.safetensors"),
  readBytes("safetensors", "one.safetensors"),
  readBytes("safetensors", "empty.safetensors"),
];

const rowsArb = fc.option(
  fc.oneof(
    fc.tuple(fc.nat({ max: 4 }), fc.nat({ max: 6 })),
    fc.tuple(fc.integer({ min: -2, max: 12 }), fc.integer({ min: -2, max: 400 })),
  ),
  { nil: undefined, freq: 2 },
);

/** A mutation of a valid file: flip bytes (biased to the header), truncate, splice, extend. */
const mutation = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    pos: fc.nat({ max: 160 }),
    val: fc.nat({ max: 255 }),
  }),
  fc.record({
    op: fc.constant("set" as const),
    pos: fc.nat({ max: 100_000 }),
    val: fc.nat({ max: 255 }),
  }),
  fc.record({
    op: fc.constant("truncate" as const),
    pos: fc.nat({ max: 20_000 }),
    val: fc.constant(0),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    pos: fc.nat({ max: 200 }),
    val: fc.nat({ max: 16 }),
  }),
  fc.record({
    op: fc.constant("insert" as const),
    pos: fc.nat({ max: 200 }),
    val: fc.nat({ max: 255 }),
  }),
  fc.record({ op: fc.constant("append" as const), pos: fc.constant(0), val: fc.nat({ max: 64 }) }),
);

function mutate(b: Uint8Array, muts: { op: string; pos: number; val: number }[]): Uint8Array {
  let x = b.slice();
  for (const m of muts) {
    const p = x.length ? m.pos % (x.length + 1) : 0;
    if (m.op === "set" && x.length) x[m.pos % x.length] = m.val;
    else if (m.op === "truncate") x = x.slice(0, p);
    else if (m.op === "delete") x = new Uint8Array([...x.subarray(0, p), ...x.subarray(p + m.val)]);
    else if (m.op === "insert") x = new Uint8Array([...x.subarray(0, p), m.val, ...x.subarray(p)]);
    else if (m.op === "append") x = new Uint8Array([...x, ...new Uint8Array(m.val).fill(0x41)]);
  }
  return x;
}

const ST_SIZES: Record<string, number> = {
  F16: 2,
  BF16: 2,
  F32: 4,
  F64: 8,
  I16: 2,
  I32: 4,
  I64: 8,
  U16: 2,
  U32: 4,
  U64: 8,
};

const bigInts = fc.oneof(
  fc.nat({ max: 8 }),
  fc.constantFrom(0, 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53 + 2, 1e15, 1e300),
  fc.integer({ min: -3, max: -1 }),
);

describe("reader fuzzing (fast-check)", () => {
  it("random bytes, with and without a valid preamble", async () => {
    const prefixes = [
      new Uint8Array(0),
      Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]),
      Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]),
      Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 3, 0]),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 3 }),
        fc.uint8Array({ maxLength: 400 }),
        rowsArb,
        async (k, body, rows) => {
          await exercise(new Uint8Array([...prefixes[k], ...body]), rows);
        },
      ),
      params,
    );
  });

  it("random bytes behind a small safetensors header length", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 300 }), fc.uint8Array({ maxLength: 400 }), async (n, body) => {
        const b = new Uint8Array(8 + body.length);
        new DataView(b.buffer).setUint32(0, n, true);
        b.set(body, 8);
        if (body.length) b[8] = 0x7b; // '{'
        await exercise(b);
      }),
      params,
    );
  });

  it("mutated and truncated valid files", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: fixtures.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        rowsArb,
        async (i, muts, rows) => {
          await exercise(mutate(fixtures[i], muts), rows);
        },
      ),
      params,
    );
  });

  it("byte changes inside the data region still parse (only values change)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: fixtures.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 }),
        rowsArb,
        async (i, sets, rows) => {
          const f = fixtures[i].slice();
          const src0 = memorySource(fixtures[i]);
          const isNpy = f[0] === 0x93;
          const start = isNpy
            ? (await readNpyHeader(src0)).dataOffset
            : (await readSafetensorsHeader(src0)).dataOffset;
          if (start >= f.length) return;
          for (const [p, v] of sets) f[start + (p % (f.length - start))] = v;
          await exercise(f, rows);
          if (isNpy && rows === undefined) expect(await readNpy(memorySource(f))).toBeTruthy();
        },
      ),
      params,
    );
  });

  it("every truncation of a valid file is rejected", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: fixtures.length - 1 }), fc.nat(), async (i, cut) => {
        const f = fixtures[i];
        const b = f.subarray(0, cut % f.length);
        stats.runs++;
        const src = memorySource(b);
        expect(await guarded(() => readNpy(src))).toBeNull();
        // A cut safetensors file is only valid if nothing (not even header padding) was lost.
        expect(await guarded(() => readSafetensorsHeader(src))).toBeNull();
      }),
      params,
    );
  });

  it("grammar-generated .npy headers (lying shapes, odd dtypes, junk)", async () => {
    const descr = fc.oneof(
      fc.constantFrom("'<f8'", "'>f4'", "'<f2'", "'|u1'", "'|b1'", "'<i8'", "'>u8'", "'|i1'"),
      fc.constantFrom(
        "'<c16'",
        "'|O'",
        "'<U3'",
        "'=f8'",
        "'|f8'",
        "'<f3'",
        "''",
        "3",
        "None",
        "[('a','<f8')]",
      ),
      fc.string({ maxLength: 6 }).map((s) => `'${s}'`),
    );
    const shape = fc
      .array(bigInts, { maxLength: 5 })
      .map((d) => `(${d.join(", ")}${d.length === 1 ? "," : ""})`);
    const fortran = fc.constantFrom("True", "False", "0", "'x'");
    const extra = fc.constantFrom("", "", "", " 'x': 1,", "'descr': '<f8',");
    await fc.assert(
      fc.asyncProperty(
        descr,
        fortran,
        shape,
        extra,
        fc.nat({ max: 3 }),
        fc.uint8Array({ maxLength: 300 }),
        rowsArb,
        async (d, f, s, x, v, data, rows) => {
          const header = `{'descr': ${d}, 'fortran_order': ${f}, 'shape': ${s},${x} }`;
          await exercise(npyBytes(header, data, v === 0 ? 1 : v), rows);
        },
      ),
      params,
    );
  });

  it("grammar-generated .safetensors headers (offsets, shapes, dtypes)", async () => {
    const dtype = fc.oneof(
      fc.constantFrom(
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
      ),
      fc.constantFrom("F8_E4M3", "f32", "", "C64"),
    );
    const entry = fc.record({
      name: fc.constantFrom(
        "a",
        "b",
        "features.0",
        "__metadata__",
        "__proto__",
        "constructor",
        "x\u00e9",
      ),
      dtype,
      shape: fc.array(bigInts, { maxLength: 4 }),
      offsets: fc.option(fc.tuple(bigInts, bigInts), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 5 }),
        fc.nat({ max: 400 }),
        fc.boolean(),
        rowsArb,
        async (entries, dataLen, tile, rows) => {
          const header: Record<string, unknown> = {};
          let off = 0;
          for (const e of entries) {
            const size = ST_SIZES[e.dtype] ?? 1;
            const n = e.shape.reduce((a, b) => a * b, 1) * size;
            // tile: offsets consistent with the shapes (often valid); else the generated ones.
            const offs = tile || !e.offsets ? [off, off + n] : e.offsets;
            if (tile) off += n;
            header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: offs };
          }
          const len = tile && Number.isSafeInteger(off) && off >= 0 && off <= 4096 ? off : dataLen;
          await exercise(stBytes(header, new Uint8Array(len).fill(0x3c)), rows);
        },
      ),
      params,
    );
  });

  it("random JSON values as a safetensors header", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.json({ depthSize: "small" }),
        fc.uint8Array({ maxLength: 64 }),
        async (j, data) => {
          await exercise(stBytes(j, data));
        },
      ),
      params,
    );
  });
});
