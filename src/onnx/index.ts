/**
 * Measure a trained model straight from its ONNX file (`deep-nrc/onnx`).
 *
 * - {@link measureONNX}: every linear map of the graph (`Gemm`, `MatMul` with a constant right
 *   operand, `Conv`), its features (the map's **input**, computed by ONNX Runtime) and its weight
 *   (the initializer), streamed in batches into {@link createNRCAccumulator}: the same
 *   {@link NRCReport} as `measureNRC`, with memory O(batch + Σd²) whatever N is.
 * - {@link captureONNX}: the same batches, for your own accumulator (shards, `merge`, `toJSON`).
 * - {@link listONNXLayers}: the linear maps found, without running the model.
 *
 * How the features are read: the inputs of the linear maps are added to the graph's outputs (see
 * `expose-outputs.ts`: appended, the model is never re-encoded) and the model runs in ONNX Runtime Web's
 * WASM backend (Node and browsers, no native binary) with graph optimisations **off**, so that no
 * fused node hides a tensor; results are looked up by name. Float16/float32/float64 models; the
 * features are read as float64.
 *
 * Conventions (SPEC.md): Gemm's weight is honoured with `transB` and scaled by `alpha` (out×in);
 * MatMul's stored in×out weight is transposed to out×in; Conv filters Cout×Cin×kh×kw and features
 * N×C×h×w go through the conv presets (paper: every position a sample; reference-code: GAP). A
 * grouped conv's filters are spread over all input channels with zeros; 1-D convs are read as
 * h×1 images. A map's input rows are paired with their samples by a probe (`pairing.ts`):
 * tokens (N×T×d, T×N×d, (T·N)×d…) are each a sample of their sample's targets, like a conv's pixels
 * (features passed as N×d×P×1); unprovable maps are left out with a note.
 *
 * `onnxruntime-web` and `protobufjs` are optional peer dependencies; the core entry never imports
 * them. Linear maps inside control-flow subgraphs (If/Loop/Scan) are not seen.
 * @module
 */
export type { ONNXLayerInfo, ONNXLayer, LayerFilter, GraphInfo } from "./linear-maps.js";
export type { ONNXModelSource } from "./model-bytes.js";
export type { ONNXInput } from "./feed.js";
export type { CaptureONNXOptions, MeasureONNXOptions, ONNXReport, ONNXCapture } from "./capture.js";
export { captureONNX, measureONNX } from "./capture.js";
export { listONNXLayers } from "./linear-maps.js";
