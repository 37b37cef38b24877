/**
 * `deep-nrc/tfjs`: tfjs tensors wherever the core takes a matrix, {@link measureLayersModel} for a
 * whole `tf.LayersModel`, and the {@link tfjsBackend} (float32 products summed in float64).
 *
 * - {@link fromTensor}, {@link toMatrixInput}, {@link tensorsToInputs}: accept `tf.Tensor2D`
 *   (and 4-D conv tensors) wherever the core accepts a matrix.
 * - The metric functions and {@link measureNRC} re-exported with tensor arguments allowed.
 *
 * `@tensorflow/tfjs-core` is an optional peer dependency; the core entry never imports it.
 *
 * @module
 */
import { NRCInputError } from "../errors.js";
import * as core from "./core.js";
import { isTensor, tensorsToInputs, toMatrixInput, withTensorInputs } from "./tensors.js";
import type { WithTensors } from "./tensors.js";

export { tfjsBackend } from "../backends/tfjs/index.js";
export type { TF, TfjsBackendOptions, TfjsKernels } from "../backends/tfjs/index.js";
export {
  isTensor,
  fromTensor,
  toMatrixInput,
  tensorsToInputs,
  withTensorInputs,
} from "./tensors.js";
export type { TensorLike, WithTensors, AnyFn, WithTensorArgs, TensorAccepting } from "./tensors.js";

/** Options of this module's {@link measureNRC}: the core's, tensors allowed, plus `layout`. */
export type TfjsMeasureOptions = WithTensors<core.MeasureOptions> & {
  /**
   * How rank-4 tfjs tensors are laid out: `"NHWC"` (default, what tfjs produces: activations
   * [N, h, w, C] and `conv2d` filters [kh, kw, Cin, Cout], HWIO) or `"NCHW"` (activations
   * [N, C, h, w] and filters [Cout, Cin, kh, kw], as the core reads). Plain `{ data, shape }`
   * values are always read as NCHW/OIHW, as the core does.
   */
  layout?: "NHWC" | "NCHW";
};

/** Permutes a C-order 4-D array: `out[i0][i1][i2][i3] = src` at `axes` (out axis k = src axis axes[k]). */
function permute4(
  data: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly [number, number, number, number],
): { data: Float64Array; shape: number[] } {
  const outShape = axes.map((a) => shape[a]);
  const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const st = axes.map((a) => strides[a]);
  const out = new Float64Array(data.length);
  let o = 0;
  for (let a = 0; a < outShape[0]; a++)
    for (let b = 0; b < outShape[1]; b++)
      for (let c = 0; c < outShape[2]; c++) {
        const base = a * st[0] + b * st[1] + c * st[2];
        for (let d = 0; d < outShape[3]; d++) out[o++] = data[base + d * st[3]];
      }
  return { data: out, shape: outShape };
}

/**
 * {@link core.measureNRC} accepting tfjs tensors for `layers[i].features`, `layers[i].weight` and
 * `targets`, with conv tensors read in tfjs's own layout by default (`layout: "NHWC"`: activations
 * NHWC, filters HWIO), converted to the core's NCHW/OIHW.
 * @param options - as {@link core.measureNRC}, plus `layout` (`"NHWC"` default, or `"NCHW"`).
 * @returns the {@link core.NRCReport}.
 * @throws NRCInputError as {@link core.measureNRC}, and on a `layout` other than "NHWC"/"NCHW".
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { measureNRC } from "deep-nrc/tfjs";
 * const x = tf.randomNormal([8, 5, 5, 3]); // NHWC input of a conv layer
 * const f = tf.randomNormal([3, 3, 3, 4]); // HWIO filters
 * const y = tf.randomNormal([8, 2]);
 * const report = await measureNRC({ layers: [{ features: x, weight: f }], targets: y });
 * ```
 */
export async function measureNRC(options: TfjsMeasureOptions): Promise<core.NRCReport> {
  // Not an object: the core's own error.
  if (options === null || typeof options !== "object") return core.measureNRC(options as never);
  const { layout = "NHWC", ...rest } = options as Record<string, unknown>;
  if (layout !== "NHWC" && layout !== "NCHW")
    throw new NRCInputError(
      "measureNRC",
      "layout",
      `layout must be "NHWC" (tfjs: activations NHWC, filters HWIO) or "NCHW"; got ${JSON.stringify(layout)}`,
    );
  const layers = rest.layers;
  if (layout === "NHWC" && Array.isArray(layers))
    rest.layers = await Promise.all(
      layers.map(async (l: unknown, i) => {
        if (l === null || typeof l !== "object") return l;
        const o = { ...(l as Record<string, unknown>) };
        const f = o.features;
        if (isTensor(f) && f.rank === 4) {
          const v = await toMatrixInput(f, `options.layers[${i}].features`);
          const { data, shape } = v as { data: Float64Array; shape: number[] };
          o.features = permute4(data, shape, [0, 3, 1, 2]); // NHWC → NCHW
        }
        const w = o.weight;
        if (isTensor(w) && w.rank === 4) {
          const v = await toMatrixInput(w, `options.layers[${i}].weight`);
          const { data, shape } = v as { data: Float64Array; shape: number[] };
          o.weight = permute4(data, shape, [3, 2, 0, 1]); // HWIO → OIHW
        }
        return o;
      }),
    );
  return core.measureNRC(await tensorsToInputs<core.MeasureOptions>(rest as never, "options"));
}
/** {@link core.noiseComponent} (NRC1) accepting a tfjs tensor for `H`. */
export const noiseComponent = withTensorInputs(core.noiseComponent, ["H", "t", "options"]);
/** {@link core.linearCKA} accepting tfjs tensors. */
export const linearCKA = withTensorInputs(core.linearCKA, ["X", "Y", "options"]);
/** {@link core.signalTargetAlignment} (NRC2) accepting tfjs tensors. */
export const signalTargetAlignment = withTensorInputs(core.signalTargetAlignment, [
  "H",
  "Y",
  "t",
  "options",
]);
/** {@link core.principalAngles} accepting tfjs tensors. */
export const principalAngles = withTensorInputs(core.principalAngles, ["A", "B", "options"]);
/** {@link core.featureWeightAlignment} (NRC3) accepting tfjs tensors. */
export const featureWeightAlignment = withTensorInputs(core.featureWeightAlignment, [
  "H",
  "W",
  "t",
  "options",
]);
/** {@link core.pinvPredictMSE} (NRC4) accepting tfjs tensors. */
export const pinvPredictMSE = withTensorInputs(core.pinvPredictMSE, ["H", "Y", "options"]);
/** {@link core.stableRank} accepting a tfjs tensor. */
export const stableRank = withTensorInputs(core.stableRank, ["A", "options"]);
/** {@link core.proposition1Bound} accepting tfjs tensors. */
export const proposition1Bound = withTensorInputs(core.proposition1Bound, [
  "H",
  "Y",
  "t",
  "options",
]);
/** {@link core.convFeaturesToMatrix} accepting a rank-4 tfjs tensor (async here). */
export const convFeaturesToMatrix = withTensorInputs(core.convFeaturesToMatrix, ["x", "options"]);
/** {@link core.convWeightsToMatrix} accepting a rank-4 tfjs tensor (async here). */
export const convWeightsToMatrix = withTensorInputs(core.convWeightsToMatrix, ["x", "options"]);

export {
  measureLayersModel,
  type MeasureLayersModelOptions,
  type LayersModelLike,
  type TfLayersNamespace,
  type LayerLike,
} from "./layers-model.js";
