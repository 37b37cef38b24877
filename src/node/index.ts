/**
 * `deep-nrc/node`: what only Node can do — open files on disk for the lazy `.npy` /
 * `.safetensors` readers (which themselves live in the browser-safe core, `deep-nrc`).
 * @example
 * ```ts
 * import { readNpy } from "deep-nrc";
 * import { openFileSource } from "deep-nrc/node";
 * const src = await openFileSource("acts/features.0.npy");
 * const rows = await readNpy(src, { rows: [0, 1024] }); // only those rows are read
 * await src.close();
 * ```
 * @module
 */
export { openFileSource } from "./file-source.js";
export type { FileSource } from "./file-source.js";
export { writeStateFile, readStateFile } from "./state-file.js";
