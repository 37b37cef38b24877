/**
 * deep-nrc: measure Deep Neural Regression Collapse (Rangamani & Unal 2026) in trained
 * regression networks, exactly in float64.
 * @packageDocumentation
 */
export { measureNRC, DEFAULT_COLLAPSE_THRESHOLD } from "./engine/measure.js";
export type { LayerInput, MeasureOptions } from "./engine/measure.js";
export { noiseComponent } from "./metrics/noise.js";
export type { MetricOptions } from "./metrics/noise.js";
export { linearCKA, signalTargetAlignment } from "./metrics/cka.js";
export type { AlignmentOptions, CKAOptions } from "./metrics/cka.js";
export { principalAngles, featureWeightAlignment } from "./metrics/angles.js";
export { pinvPredictMSE } from "./metrics/pinv.js";
export type { PinvOptions } from "./metrics/pinv.js";
export { stableRank } from "./metrics/stable-rank.js";
export { proposition1Bound } from "./metrics/proposition1.js";
export type { Proposition1Result } from "./metrics/proposition1.js";
export { convFeaturesToMatrix, convWeightsToMatrix } from "./io/conv.js";
export type { TensorInput, ConvFeatureOptions, ConvWeightOptions } from "./io/conv.js";
export { NRCInputError } from "./errors.js";
export { initBackend, autoBackend, BACKEND_NAMES } from "./backends/choose.js";
export { completeKernels } from "./backends/complete.js";
export {
  AUTO_BACKEND_MIN_WORK,
  SHARED_BACKEND_IDLE_MS,
  releaseSharedBackends,
} from "./backends/shared.js";
export { wasmBackend } from "./backends/wasm/index.js";
export type { WasmBackendOptions, WasmKernels } from "./backends/wasm/index.js";
export type { BackendOption, BackendName } from "./backends/choose.js";
export { jsBackend, jsKernels } from "./backends/js/index.js";
export type {
  Backend,
  Kernels,
  CompleteKernels,
  Mat,
  MatF32,
  SymEigResult,
  TopEigResult,
  SymEigOptions,
  SvdResult,
  SvdPartsOptions,
  SvdPartsResult,
  ProjectedTailResult,
  QrResult,
  NormalStepResult,
  ShiftedMomentsResult,
  PendingMoments,
  MomentsRun,
  MaybePromise,
} from "./backends/types.js";
export type { MatrixInput, DenseMatrixInput, MatrixLikeObject } from "./linalg/matrix.js";
export type {
  NRCReport,
  LayerReport,
  LayerReasons,
  IntrinsicReport,
  Preset,
} from "./engine/report.js";
export { formatReport } from "./engine/table.js";
export { makeSyntheticNetwork } from "./io/synthetic.js";
export type { SyntheticNetworkOptions } from "./io/synthetic.js";
export { createNRCAccumulator, NRCAccumulator } from "./engine/accumulator.js";
export type {
  AccumulatorOptions,
  AccumulatorBatch,
  AccumulatorState,
  FinalizeOptions,
  MergeOptions,
} from "./engine/accumulator.js";
export type { LayerStatsJSON } from "./stats/moments.js";
export type { HsicSumsJSON } from "./stats/hsic.js";
export {
  memorySource,
  tensorToMatrix,
  DEFAULT_MAX_ELEMENTS,
  readNpyHeader,
  readNpy,
  readSafetensorsHeader,
  readSafetensor,
  isFloat32Dtype,
} from "./io/index.js";
export type {
  ByteSource,
  Tensor,
  TensorF32,
  ReadTensorOptions,
  ElementType,
  ElementKind,
  NpyHeader,
  NpyHeaderOptions,
  ReadNpyOptions,
  SafetensorsDtype,
  SafetensorsTensorInfo,
  SafetensorsHeader,
  SafetensorsHeaderOptions,
  ReadSafetensorOptions,
} from "./io/index.js";
