/**
 * Readers for `.npy` and `.safetensors` files (browser-safe: no Node built-ins). For files on disk
 * in Node, import `openFileSource` from `deep-nrc/node` (src/node/file-source.ts).
 * @module
 */
export { type ByteSource, memorySource } from "./source.js";
export {
  type Tensor,
  type TensorF32,
  type ReadTensorOptions,
  isFloat32Dtype,
  type ElementType,
  type ElementKind,
  DEFAULT_MAX_ELEMENTS,
  tensorToMatrix,
} from "./common.js";
export {
  type NpyHeader,
  type NpyHeaderOptions,
  type ReadNpyOptions,
  readNpyHeader,
  readNpy,
} from "./npy.js";
export {
  type SafetensorsDtype,
  type SafetensorsTensorInfo,
  type SafetensorsHeader,
  type SafetensorsHeaderOptions,
  type ReadSafetensorOptions,
  readSafetensorsHeader,
  readSafetensor,
} from "./safetensors.js";
