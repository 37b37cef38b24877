/**
 * Which ONNX Runtime runs the model, and its session.
 *
 * - `onnxruntime-node` (Node, when installed): native CPU kernels, multi-threaded (ORT's default
 *   intra-op threads: one per core), external data read by ORT itself from the model's folder
 *   (memory-mapped, any size).
 * - `onnxruntime-web` (browsers, and Node's fallback): WebAssembly; one thread in Node (its
 *   worker threads are for browsers), as many as the browser allows with cross-origin isolation.
 *   External data is handed over as bytes (WebAssembly memory: at most 4 GiB in all).
 *
 * Both are optional peer dependencies that only `deep-nrc/onnx` imports (never the core);
 * onnxruntime-node through a variable specifier, so that browser bundles leave it out. The report names the one that ran (`model.runtime`).
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Ort, OrtSession } from "./feed.js";
import type { ExternalData } from "./external-data.js";

/** The runtimes deep-nrc can run a model with. */
export type RuntimeName = "onnxruntime-node" | "onnxruntime-web";

/** `runtime` option: a runtime, or `"auto"` (onnxruntime-node in Node when installed, else web). */
export type RuntimeOption = "auto" | RuntimeName;

/** A loaded runtime. */
export interface Runtime {
  name: RuntimeName;
  /** Its version (`ort.env.versions`), or "" when it does not say. */
  version: string;
  ort: Ort;
}

const isNode = () => typeof process !== "undefined" && !!process.versions?.node;

/** The module's API (an ES module, or CommonJS under `default`). */
function api(m: Ort & { default?: Ort }): Ort {
  return (m.InferenceSession ? m : m.default) as Ort;
}

/** onnxruntime-node, imported by a variable specifier: bundles (browsers) never include it. */
async function importNode(): Promise<Ort> {
  const spec = "onnxruntime-node";
  return api(await import(/* @vite-ignore */ /* webpackIgnore: true */ spec));
}

function versionOf(ort: Ort, key: "node" | "web"): string {
  const v = (ort.env as { versions?: Record<string, string> }).versions;
  return v?.[key] ?? v?.common ?? "";
}

/** Validates the `runtime` option. */
export function checkRuntimeOption(fn: string, v: unknown): RuntimeOption {
  if (v === undefined) return "auto";
  if (v === "auto" || v === "onnxruntime-node" || v === "onnxruntime-web") return v;
  throw new NRCInputError(
    fn,
    "runtime",
    `runtime must be "auto", "onnxruntime-node" or "onnxruntime-web"; got ${JSON.stringify(v) ?? String(v)}`,
  );
}

/**
 * Loads the runtime: with `"auto"`, onnxruntime-node in Node when it is installed, else
 * onnxruntime-web.
 * @throws NRCInputError when the runtime asked for (or neither) can be loaded.
 */
export async function loadRuntime(fn: string, want: RuntimeOption = "auto"): Promise<Runtime> {
  let nodeError: Error | null = null;
  if (want === "onnxruntime-node" || (want === "auto" && isNode())) {
    try {
      const ort = await importNode();
      return { name: "onnxruntime-node", version: versionOf(ort, "node"), ort };
    } catch (e) {
      nodeError = e as Error;
      if (want === "onnxruntime-node")
        throw new NRCInputError(
          fn,
          "runtime",
          `runtime "onnxruntime-node" needs the optional package onnxruntime-node (npm i onnxruntime-node): ${nodeError.message}`,
        );
    }
  }
  try {
    // A literal specifier: a browser bundle of deep-nrc/onnx includes the web runtime.
    const ort = api((await import("onnxruntime-web")) as Ort & { default?: Ort });
    if (isNode() && !ort.env.wasm.numThreads) ort.env.wasm.numThreads = 1;
    return { name: "onnxruntime-web", version: versionOf(ort, "web"), ort };
  } catch (e) {
    throw new NRCInputError(
      fn,
      "model",
      `running ONNX models needs the optional package onnxruntime-node (Node) or onnxruntime-web (npm i onnxruntime-web protobufjs): ${(e as Error).message}`,
    );
  }
}

/** Largest external data onnxruntime-web is handed (its WebAssembly memory holds 4 GiB in all). */
const WEB_EXTERNAL_LIMIT = 2 ** 31 - 1;

/**
 * Starts a session on the model's bytes (with the layers' inputs exposed as outputs), graph
 * optimisations off so that no fused node hides a tensor.
 * @throws NRCInputError when the runtime refuses the model, or (web) external data too large.
 */
export async function openSession(
  fn: string,
  rt: Runtime,
  bytes: Uint8Array,
  ext: ExternalData,
): Promise<OrtSession> {
  const options: Record<string, unknown> = { graphOptimizationLevel: "disabled" };
  const onDisk = [...ext.files.values()].filter((f) => f.kind === "disk");
  const inMemory = [...ext.files.values()].filter((f) => f.kind === "bytes");
  if (rt.name === "onnxruntime-node") {
    options.executionProviders = ["cpu"];
    // ORT reads (memory-maps) files on disk itself, from the model's folder; files given as
    // bytes are handed over.
    if (onDisk.length && ext.dir)
      options.extra = { session: { model_external_initializers_file_folder_path: ext.dir } };
    if (inMemory.length)
      options.externalData = inMemory.map((f) => ({
        path: f.location,
        data: ext.whole(f.location),
      }));
  } else {
    options.executionProviders = ["wasm"];
    const big = [...ext.files.values()].find((f) => f.size > WEB_EXTERNAL_LIMIT);
    if (big)
      throw new NRCInputError(
        fn,
        "model",
        `the external data file '${big.location}' holds ${(big.size / 2 ** 30).toFixed(1)} GiB; onnxruntime-web keeps external data in WebAssembly memory (under 2 GiB per file), so run it with onnxruntime-node (npm i onnxruntime-node), which reads it from disk`,
      );
    if (ext.files.size)
      options.externalData = [...ext.files.values()].map((f) => ({
        path: f.location,
        data: ext.whole(f.location),
      }));
  }
  try {
    return await rt.ort.InferenceSession.create(bytes, options);
  } catch (e) {
    throw new NRCInputError(
      fn,
      "model",
      `ONNX Runtime (${rt.name}) cannot load the model: ${(e as Error).message}`,
    );
  }
}
