/**
 * `deep-nrc/webgpu`: the WebGPU backend (the optional peer `webgpu` in Node, `navigator.gpu` in
 * browsers). Pass it as `backend` to any deep-nrc function, or name it: `backend: "webgpu"`.
 * @example
 * ```ts
 * import { measureNRC } from "deep-nrc";
 * import { webgpuBackend } from "deep-nrc/webgpu";
 * const report = await measureNRC({ layers, targets, backend: [webgpuBackend(), "wasm"] });
 * ```
 * @module
 */
export { webgpuBackend } from "../backends/webgpu/index.js";
export type {
  WebGPUBackendOptions,
  WebGPUKernels,
  WebGPUDevice,
  WebGPUEntry,
  LowGram,
  EigenStart,
} from "../backends/webgpu/index.js";
