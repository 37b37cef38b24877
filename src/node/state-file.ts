/**
 * State files on disk (Node only: `node:fs`): {@link writeStateFile} and {@link readStateFile},
 * exported from `deep-nrc/node`.
 * @module
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { NRCInputError } from "../errors.js";
import { NRCAccumulator, type AccumulatorOptions } from "../engine/accumulator.js";

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT"
    ? "no such file or folder"
    : code === "EACCES"
      ? "permission denied"
      : code === "EISDIR"
        ? "is a directory"
        : (e as Error).message;
}

/**
 * Writes an accumulator's state to a binary state file (`.nrc.safetensors`, see
 * {@link NRCAccumulator.toSafetensors}). The file appears whole or not at all (written next to
 * its destination, then renamed), so a crashed shard never leaves a truncated state behind.
 * @param path - the file to write.
 * @param acc - the accumulator.
 * @returns the number of bytes written.
 * @throws NRCInputError naming `writeStateFile` when the file cannot be written.
 * @example
 * ```ts
 * import { writeStateFile } from "deep-nrc/node";
 * await writeStateFile(`shard-${rank}.nrc.safetensors`, acc);
 * ```
 */
export async function writeStateFile(path: string, acc: NRCAccumulator): Promise<number> {
  const fn = "writeStateFile";
  if (typeof path !== "string" || path === "")
    throw new NRCInputError(
      fn,
      "path",
      `path must be a non-empty string; got ${JSON.stringify(path)}`,
    );
  if (!(acc instanceof NRCAccumulator))
    throw new NRCInputError(fn, "acc", "acc must be an NRCAccumulator");
  const bytes = acc.toSafetensors();
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new NRCInputError(fn, "path", `cannot write ${path}: ${why(e)}`);
  }
  return bytes.length;
}

/**
 * Reads a binary state file written by {@link writeStateFile} (or `toSafetensors`).
 * @param path - the file.
 * @param extra - `weights` to check against the state's, `backend`.
 * @returns the accumulator.
 * @throws NRCInputError naming `readStateFile` when the file cannot be read, or
 *   `NRCAccumulator.fromSafetensors` with the field at fault when it is not a valid state.
 * @example
 * ```ts
 * import { readStateFile } from "deep-nrc/node";
 * const acc = await readStateFile("merged.nrc.safetensors");
 * console.log(await acc.finalize());
 * ```
 */
export async function readStateFile(
  path: string,
  extra: Pick<AccumulatorOptions, "weights" | "backend"> = {},
): Promise<NRCAccumulator> {
  const fn = "readStateFile";
  if (typeof path !== "string" || path === "")
    throw new NRCInputError(
      fn,
      "path",
      `path must be a non-empty string; got ${JSON.stringify(path)}`,
    );
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new NRCInputError(fn, "path", `cannot read ${path}: ${why(e)}`);
  }
  try {
    return await NRCAccumulator.fromSafetensors(
      new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      extra,
    );
  } catch (e) {
    if (e instanceof NRCInputError) {
      const err = new NRCInputError(e.fn, e.arg, `${path}: ${e.message.slice(e.fn.length + 2)}`);
      throw err;
    }
    throw e;
  }
}
