/**
 * The core functions the `deep-nrc/tfjs` entry wraps, gathered from their own modules (an entry
 * never imports another entry).
 * @internal
 * @module
 */
export { measureNRC } from "../engine/measure.js";
export type { MeasureOptions } from "../engine/measure.js";
export type { NRCReport } from "../engine/report.js";
export { noiseComponent } from "../metrics/noise.js";
export { linearCKA, signalTargetAlignment } from "../metrics/cka.js";
export { principalAngles, featureWeightAlignment } from "../metrics/angles.js";
export { pinvPredictMSE } from "../metrics/pinv.js";
export { stableRank } from "../metrics/stable-rank.js";
export { proposition1Bound } from "../metrics/proposition1.js";
export { convFeaturesToMatrix, convWeightsToMatrix } from "../io/conv.js";
