/**
 * Completing a backend: every kernel it lacks is filled from the JS kernels, with the composed
 * moments where it has only products, and float32 inputs widened for backends that read only
 * float64 ({@link completeKernels}).
 * @module
 */
import type { CompleteKernels, Kernels, Mat, MatF32 } from "./types.js";
import { jsKernels } from "./js/index.js";
import {
  scaledSvd,
  scaledSvdParts,
  scaledSymEig,
  scaledTopEig,
  svdPartsFromSvd,
  topEigFromSymEig,
} from "./scaled.js";
import { projectedTailJS } from "./js/projected-tail.js";
import { subspacePassJS } from "./js/subspace.js";
import {
  composedMomentsRun,
  composedShiftedMoments,
  eagerMomentsStart,
  widenMat,
} from "./composed.js";

/**
 * A backend's kernels with a float32 A widened before the kernels that read the data matrix
 * (for a backend that does not take {@link MatF32} itself).
 */
function widening(
  k: Kernels,
): Pick<Kernels, "shiftedMoments" | "startShiftedMoments" | "normalStep" | "momentsRun"> {
  const { shiftedMoments: sm, startShiftedMoments: st, normalStep: ns, momentsRun: mr } = k;
  return {
    shiftedMoments: sm && ((a, s, b, sc) => sm.call(k, widenMat(a), s, b, sc)),
    startShiftedMoments: st && ((a, s, b) => st.call(k, widenMat(a), s, b)),
    normalStep: ns && ((a, b, x) => ns.call(k, widenMat(a), b, x)),
    momentsRun:
      mr &&
      ((n, q, s, sc) => {
        const run = mr.call(k, n, q, s, sc);
        return {
          add: (a: Mat | MatF32, b: Mat) => run.add(widenMat(a), b),
          probe: () => run.probe(),
          result: () => run.result(),
          dispose: () => run.dispose(),
        };
      }),
  };
}

/**
 * Fills every kernel a backend lacks from the JS kernels. A backend that does not declare
 * `float32Inputs` gets float32 matrices widened to float64 before its own `shiftedMoments`,
 * `startShiftedMoments`, `momentsRun().add` and `normalStep` see them.
 */
export function completeKernels(k: Kernels): CompleteKernels {
  const gram = k.gram ? k.gram.bind(k) : jsKernels.gram;
  const crossProd = k.crossProd ? k.crossProd.bind(k) : jsKernels.crossProd;
  // The data-reading kernels as called: widening a float32 A first where k does not take it.
  const own = k.float32Inputs
    ? {
        shiftedMoments: k.shiftedMoments?.bind(k),
        startShiftedMoments: k.startShiftedMoments?.bind(k),
        normalStep: k.normalStep?.bind(k),
        momentsRun: k.momentsRun?.bind(k),
      }
    : widening(k);
  const shiftedMoments = own.shiftedMoments ?? composedShiftedMoments(gram, crossProd);
  const symEig = k.symEig ? scaledSymEig(k.symEig.bind(k)) : jsKernels.symEig;
  const svd = k.svd ? scaledSvd(k.svd.bind(k)) : jsKernels.svd;
  return {
    name: k.name,
    float32Inputs: true,
    gram,
    crossProd,
    shiftedMoments,
    startShiftedMoments: own.startShiftedMoments ?? eagerMomentsStart(shiftedMoments),
    momentsRun: own.momentsRun ?? composedMomentsRun(shiftedMoments),
    matmul: k.matmul ? k.matmul.bind(k) : jsKernels.matmul,
    normalStep: own.normalStep ?? jsKernels.normalStep,
    cholesky: k.cholesky ? k.cholesky.bind(k) : jsKernels.cholesky,
    symEig,
    topEig: k.topEig ? scaledTopEig(k.topEig.bind(k)) : topEigFromSymEig(symEig),
    svd,
    svdParts: k.svdParts
      ? scaledSvdParts(k.svdParts.bind(k))
      : k.svd
        ? scaledSvdParts(svdPartsFromSvd(svd))
        : jsKernels.svdParts,
    qr: k.qr ? k.qr.bind(k) : jsKernels.qr,
    projectedTail: k.projectedTail ? k.projectedTail.bind(k) : projectedTailJS,
    subspacePass: k.subspacePass ? k.subspacePass.bind(k) : subspacePassJS,
    lowGram: k.lowGram?.bind(k),
    dispose: k.dispose ? k.dispose.bind(k) : undefined,
  };
}
