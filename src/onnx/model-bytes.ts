/**
 * Reading an ONNX model's bytes: from a path (Node; through a variable import so that browser
 * bundlers leave `node:fs` alone) or given bytes. External data files: `external-data.ts`.
 * @module
 */
import { NRCInputError } from "../errors.js";

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
