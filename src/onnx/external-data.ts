/**
 * External data files of an ONNX model (initializers stored outside the protobuf, e.g.
 * `model.onnx.data`): checked once, then read **by byte range** — a weight reads only its own
 * bytes, so files of any size (> 2 GiB) are fine, and nothing is read twice.
 *
 * Only regular files inside the model's folder are read: a location that is absolute, names a
 * parent folder (`..`), is a symbolic link, or resolves outside the folder through a linked
 * sub-folder is refused with a message saying so; a missing or unreadable file is named with
 * its real cause (no such file, permission denied, not a regular file, too short for a tensor).
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { ModelProto } from "./proto.js";

type NodeFsSync = typeof import("node:fs");
type NodePath = typeof import("node:path");

/** One external data file: on disk (Node, by path) or given as bytes. */
export type ExternalFile =
  | { kind: "disk"; location: string; path: string; size: number }
  | { kind: "bytes"; location: string; bytes: Uint8Array; size: number };

/** The external data files of a model, and a byte-range reader over them. */
export interface ExternalData {
  /** The files by location (as the model names them). */
  files: Map<string, ExternalFile>;
  /** The model's folder (absolute, real path), or null for a model given as bytes. */
  dir: string | null;
  /** `length` bytes at `offset` of `location` (length < 0: to the end). */
  read(location: string, offset: number, length: number): Uint8Array;
  /** A file's whole contents (for runtimes that take external data as bytes). */
  whole(location: string): Uint8Array;
  /** Closes the open files. */
  close(): void;
}

/** The locations of external data the model's initializers reference. */
export function externalLocations(m: ModelProto): string[] {
  const locs = new Set<string>();
  for (const t of m.graph?.initializer ?? [])
    if (t.dataLocation === 1)
      for (const e of t.externalData ?? []) if (e.key === "location" && e.value) locs.add(e.value);
  return [...locs];
}

/** Node's sync fs and path, imported through a variable so that bundlers leave them alone. */
async function nodeFs(): Promise<{ fs: NodeFsSync; path: NodePath }> {
  const fsSpec = "node:fs";
  const pathSpec = "node:path";
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsSpec)) as NodeFsSync;
  const path = (await import(/* @vite-ignore */ /* webpackIgnore: true */ pathSpec)) as NodePath;
  return { fs, path };
}

/** Whether a location stays inside the folder by its spelling (relative, no `..`, no drive). */
function staysInside(loc: string): boolean {
  if (loc.includes("\0") || loc.startsWith("/") || loc.startsWith("\\")) return false;
  if (/^[a-zA-Z]:/.test(loc)) return false;
  return !loc.split(/[\\/]/).some((part) => part === "..");
}

/**
 * Finds and checks the external data files of a model.
 * @param fn - the public function, for messages.
 * @param m - the decoded model.
 * @param modelPath - the model file's path (Node), or null for bytes.
 * @param given - external data files given as bytes, by location (take precedence).
 * @throws NRCInputError naming the location and the cause.
 */
export async function openExternalData(
  fn: string,
  m: ModelProto,
  modelPath: string | null,
  given: Readonly<Record<string, Uint8Array>> | undefined,
): Promise<ExternalData> {
  const files = new Map<string, ExternalFile>();
  const locs = externalLocations(m);
  let node: { fs: NodeFsSync; path: NodePath } | null = null;
  let dir: string | null = null;
  for (const loc of locs) {
    const g = given?.[loc];
    if (g) {
      if (!(g instanceof Uint8Array))
        throw new NRCInputError(
          fn,
          "externalData",
          `externalData["${loc}"] must be a Uint8Array; got ${typeof g}`,
        );
      files.set(loc, { kind: "bytes", location: loc, bytes: g, size: g.length });
      continue;
    }
    if (modelPath === null)
      throw new NRCInputError(
        fn,
        "externalData",
        `the model keeps tensors in the external data file '${loc}'; pass the model as a file path (Node) or externalData: { "${loc}": bytes }`,
      );
    if (!staysInside(loc))
      throw new NRCInputError(
        fn,
        "model",
        `external data location '${loc}' leaves the model's folder (an absolute path or '..'); deep-nrc reads external data only from inside the model's folder`,
      );
    node ??= await nodeFs();
    const { fs, path } = node;
    if (dir === null) {
      try {
        dir = fs.realpathSync(path.dirname(path.resolve(modelPath)));
      } catch (e) {
        throw new NRCInputError(
          fn,
          "model",
          `cannot resolve the model's folder ${path.dirname(modelPath)}: ${(e as Error).message}`,
        );
      }
    }
    const full = path.join(dir, loc);
    let st: import("node:fs").Stats;
    try {
      st = fs.lstatSync(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NRCInputError(
        fn,
        "model",
        code === "ENOENT" || code === "ENOTDIR"
          ? `the model keeps tensors in the external data file '${loc}', which does not exist (looked for ${full})`
          : `cannot read the external data file '${loc}' (${full}): ${code === "EACCES" ? "permission denied" : (e as Error).message}`,
      );
    }
    if (st.isSymbolicLink()) {
      let target = "?";
      try {
        target = fs.readlinkSync(full);
      } catch {
        /* the message names the link either way */
      }
      throw new NRCInputError(
        fn,
        "model",
        `the external data file '${loc}' is a symbolic link (to ${target}); deep-nrc does not follow links for external data: copy the file into the model's folder`,
      );
    }
    if (!st.isFile())
      throw new NRCInputError(
        fn,
        "model",
        `the external data location '${loc}' (${full}) is not a regular file`,
      );
    const real = fs.realpathSync(full);
    if (!(real.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep) && real !== dir))
      throw new NRCInputError(
        fn,
        "model",
        `the external data file '${loc}' resolves to ${real}, outside the model's folder ${dir} (through a linked folder); refusing to read it`,
      );
    try {
      fs.accessSync(real, fs.constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NRCInputError(
        fn,
        "model",
        `cannot read the external data file '${loc}' (${real}): ${code === "EACCES" ? "permission denied" : (e as Error).message}`,
      );
    }
    files.set(loc, { kind: "disk", location: loc, path: real, size: st.size });
  }
  const fds = new Map<string, number>();
  const fdOf = (f: ExternalFile & { kind: "disk" }): number => {
    let fd = fds.get(f.location);
    if (fd === undefined) {
      fd = node!.fs.openSync(f.path, "r");
      fds.set(f.location, fd);
    }
    return fd;
  };
  const read = (loc: string, offset: number, length: number): Uint8Array => {
    const f = files.get(loc);
    if (!f)
      throw new NRCInputError(
        fn,
        "model",
        `a tensor reads the external data file '${loc}', which the model does not list`,
      );
    const end = length < 0 ? f.size : offset + length;
    if (!(Number.isSafeInteger(offset) && offset >= 0 && end >= offset && end <= f.size))
      throw new NRCInputError(
        fn,
        "model",
        `the external data file '${loc}' holds ${f.size} bytes; a tensor reads bytes ${offset}–${end} (a truncated file, or one from another export?)`,
      );
    if (f.kind === "bytes") return f.bytes.subarray(offset, end);
    const out = new Uint8Array(end - offset);
    const fd = fdOf(f);
    for (let done = 0; done < out.length;) {
      const n = node!.fs.readSync(fd, out, done, out.length - done, offset + done);
      if (n <= 0)
        throw new NRCInputError(
          fn,
          "model",
          `the external data file '${loc}' ended at byte ${offset + done} while reading bytes ${offset}–${end} (changed while reading?)`,
        );
      done += n;
    }
    return out;
  };
  return {
    files,
    dir,
    read,
    whole: (loc) => read(loc, 0, -1),
    close: () => {
      for (const fd of fds.values()) node!.fs.closeSync(fd);
      fds.clear();
    },
  };
}
