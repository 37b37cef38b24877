/** Shared helpers for the reader tests. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { expect } from "vitest";

export const FIX = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "io");

/** JSON values as written by make_io_fixtures.py: numbers, or "NaN"/"Infinity"/"-Infinity". */
export function decodeExpected(values: (number | string)[]): number[] {
  return values.map((v) =>
    typeof v === "number"
      ? v
      : v === "NaN"
        ? NaN
        : v === "Infinity"
          ? Infinity
          : v === "-Infinity"
            ? -Infinity
            : (() => {
                throw new Error(`bad expected value ${v}`);
              })(),
  );
}

/** Exact, element-wise comparison (NaN equals NaN, +0 differs from −0). */
export function expectSameValues(got: Float64Array, want: number[], what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]))
      expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

export function readBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(join(FIX, ...parts)));
}

export function readJSON<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(join(FIX, ...parts), "utf8")) as T;
}

const enc = new TextEncoder();

/** Builds a .npy file from a header string (padded as numpy does) and raw data bytes. */
export function npyBytes(
  header: string,
  data: Uint8Array = new Uint8Array(0),
  version = 1,
): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  let h = header;
  const total = prefix + enc.encode(h).length + 1;
  h += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const hb = version === 3 ? enc.encode(h) : Uint8Array.from(h, (c) => c.charCodeAt(0));
  const out = new Uint8Array(prefix + hb.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) {
    out[8] = hb.length & 0xff;
    out[9] = hb.length >> 8;
  } else new DataView(out.buffer).setUint32(8, hb.length, true);
  out.set(hb, prefix);
  out.set(data, prefix + hb.length);
  return out;
}

/** Builds a .safetensors file from a header (object or raw string) and the data buffer. */
export function stBytes(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const hb = enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + hb.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

export function f64Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float64Array(values).buffer);
}
