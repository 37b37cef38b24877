/**
 * Reading an ONNX model's bytes: from a path (Node; through a variable import so that browser
 * bundlers leave `node:fs` alone) or given bytes, and the external data files its initializers
 * reference (only inside the model's folder).
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { ModelProto } from "./proto.js";

/** An ONNX model: a file path (Node), or the file's bytes. */
export type ONNXModelSource = string | Uint8Array | ArrayBuffer;

/* ------------------------------------------------------------------ model bytes */

type NodeFs = typeof import("node:fs/promises");
type NodePath = typeof import("node:path");

/**
 * Node's fs and path, imported through a variable so that browser bundlers leave them alone
 * (only a model given as a path needs them).
 */
async function nodeModules(): Promise<{ fs: NodeFs; path: NodePath }> {
  const fsSpec = "node:fs/promises";
  const pathSpec = "node:path";
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsSpec)) as NodeFs;
  const path = (await import(/* @vite-ignore */ /* webpackIgnore: true */ pathSpec)) as NodePath;
  return { fs, path };
}

export async function modelBytes(
  fn: string,
  model: unknown,
): Promise<{ bytes: Uint8Array; dir: string | null }> {
  if (typeof model === "string") {
    let fs: NodeFs;
    let path: NodePath;
    try {
      ({ fs, path } = await nodeModules());
    } catch {
      throw new NRCInputError(
        fn,
        "model",
        "a model path needs Node; in a browser pass the file's bytes",
      );
    }
    try {
      const b = await fs.readFile(model);
      return {
        bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        dir: path.dirname(model),
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NRCInputError(
        fn,
        "model",
        `cannot read model file ${model}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`,
      );
    }
  }
  if (model instanceof Uint8Array) return { bytes: model, dir: null };
  if (model instanceof ArrayBuffer) return { bytes: new Uint8Array(model), dir: null };
  throw new NRCInputError(
    fn,
    "model",
    `model must be a file path, a Uint8Array or an ArrayBuffer; got ${model === null ? "null" : typeof model}`,
  );
}

/** External data files the model references (location → bytes). */
export async function externalFiles(
  fn: string,
  m: ModelProto,
  dir: string | null,
  given: Readonly<Record<string, Uint8Array>> | undefined,
): Promise<Map<string, Uint8Array>> {
  const locs = new Set<string>();
  for (const t of m.graph?.initializer ?? [])
    if (t.dataLocation === 1)
      for (const e of t.externalData ?? []) if (e.key === "location" && e.value) locs.add(e.value);
  const out = new Map<string, Uint8Array>();
  for (const loc of locs) {
    if (given && given[loc]) {
      out.set(loc, given[loc]);
      continue;
    }
    if (dir === null)
      throw new NRCInputError(
        fn,
        "externalData",
        `the model keeps tensors in the external data file '${loc}'; pass the model as a file path (Node) or externalData: { "${loc}": bytes }`,
      );
    if (loc.includes("..") || loc.startsWith("/") || /^[a-zA-Z]:/.test(loc))
      throw new NRCInputError(
        fn,
        "model",
        `external data location '${loc}' leaves the model's folder; refusing to read it`,
      );
    const { fs, path } = await nodeModules();
    try {
      const b = await fs.readFile(path.join(dir, loc));
      out.set(loc, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    } catch {
      throw new NRCInputError(
        fn,
        "model",
        `the model keeps tensors in the external data file '${loc}', which is not in ${dir}`,
      );
    }
  }
  return out;
}

export function externalReader(fn: string, files: Map<string, Uint8Array>) {
  return (loc: string, offset: number, length: number): Uint8Array => {
    const b = files.get(loc);
    if (!b) throw new NRCInputError(fn, "model", `external data file '${loc}' is missing`);
    const end = length < 0 ? b.length : offset + length;
    if (offset < 0 || end > b.length)
      throw new NRCInputError(
        fn,
        "model",
        `external data file '${loc}' holds ${b.length} bytes; a tensor reads bytes ${offset}–${end}`,
      );
    return b.subarray(offset, end);
  };
}
