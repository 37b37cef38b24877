/**
 * The `js` backend: plain TypeScript float64 kernels, available everywhere and the fallback for
 * anything another backend lacks.
 * @module
 */
import type { Backend, CompleteKernels } from "../types.js";
import { gram, crossProd, matmul, normalStep, cholesky } from "./blas.js";
import { symEig } from "./eig.js";
import { svd } from "./svd.js";
import { qr } from "./qr.js";
import {
  scaledSvd,
  scaledSvdParts,
  scaledSymEig,
  svdPartsFromSvd,
  topEigFromSymEig,
} from "../scaled.js";
import { composedMomentsRun, composedShiftedMoments, eagerMomentsStart } from "../composed.js";

import { projectedTailJS } from "./projected-tail.js";
import { subspacePassJS } from "./subspace.js";

const shiftedMoments = composedShiftedMoments(gram, crossProd);

/** The plain TypeScript kernels (synchronous, float64). */
export const jsKernels: CompleteKernels = Object.freeze({
  name: "js",
  float32Inputs: true,
  gram,
  crossProd,
  matmul,
  normalStep,
  shiftedMoments,
  startShiftedMoments: eagerMomentsStart(shiftedMoments),
  momentsRun: composedMomentsRun(shiftedMoments),
  cholesky,
  symEig: scaledSymEig(symEig),
  topEig: topEigFromSymEig(scaledSymEig(symEig)),
  svd: scaledSvd(svd),
  svdParts: scaledSvdParts(svdPartsFromSvd(svd)),
  qr,
  projectedTail: projectedTailJS,
  subspacePass: subspacePassJS,
});

/**
 * The `js` backend value.
 * @example
 * ```ts
 * import { measureNRC, jsBackend } from "deep-nrc";
 * const report = await measureNRC({ layers, targets, backend: jsBackend });
 * ```
 */
export const jsBackend: Backend = Object.freeze({
  name: "js",
  init: async () => jsKernels,
});
