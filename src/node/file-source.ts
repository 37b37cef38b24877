/**
 * A {@link ByteSource} over a file on disk (Node only: imports `node:fs`). Kept out of the
 * browser-safe barrel `src/io/index.ts`; import it from Node code such as the CLI.
 * @module
 */
import { open, type FileHandle } from "node:fs/promises";
import { NRCInputError } from "../errors.js";
import type { ByteSource } from "../io/source.js";

/** A {@link ByteSource} backed by an open file; call `close()` when done. */
export interface FileSource extends ByteSource {
  readonly name: string;
  /** Closes the file handle. Further reads reject. */
  close(): Promise<void>;
}

/** Largest single `read()` call (Node caps one read at 2 GiB − 1). */
const MAX_READ = 1 << 30;

/**
 * Opens a file for lazy, random-access reading by `readNpy` / `readSafetensor`.
 * Each `read(offset, length)` is a positioned read (`pread`) of exactly those bytes.
 *
 * @param path - The file's path.
 * @returns An open {@link FileSource}; its `size` is the file size at open time.
 * @throws NRCInputError naming `openFileSource` when the file cannot be opened or is not a
 *   regular file (the message carries the system error, e.g. ENOENT).
 * @example
 * ```ts
 * const src = await openFileSource("acts/features.0.npy");
 * try {
 *   const head = await readNpyHeader(src);
 *   const first = await readNpy(src, { rows: [0, 1024] });
 * } finally {
 *   await src.close();
 * }
 * ```
 */
export async function openFileSource(path: string): Promise<FileSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT"
        ? "no such file"
        : err.code === "EACCES"
          ? "permission denied"
          : err.code === "EISDIR"
            ? "is a directory"
            : err.message;
    throw new NRCInputError("openFileSource", "path", `cannot open ${path}: ${why}`);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new NRCInputError("openFileSource", "path", `${path} is not a regular file`);
  }
  let closed = false;
  const readInto = async (offset: number, buf: Uint8Array): Promise<void> => {
    if (closed) throw new NRCInputError("FileSource.read", "source", `${path} is closed`);
    const length = buf.byteLength;
    let got = 0;
    while (got < length) {
      const n = Math.min(MAX_READ, length - got);
      const { bytesRead } = await fh.read(buf, got, n, offset + got);
      if (bytesRead === 0)
        throw new NRCInputError(
          "FileSource.read",
          "source",
          `${path}: unexpected end of file at byte ${offset + got} (file shrank while reading?)`,
        );
      got += bytesRead;
    }
  };
  return {
    size: st.size,
    name: path,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const buf = new Uint8Array(length);
      await readInto(offset, buf);
      return buf;
    },
    readInto,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
