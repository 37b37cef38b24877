/**
 * The same metrics pipeline as `numpy_pipeline.py`'s fast route, written with ml-matrix (the
 * library a JS user would otherwise reach for): centered Gram → symmetric EVD (NRC1, NRC2, stable
 * rank), WᵀW → EVD (NRC3, weight stable rank), and NRC4 from the normal equations
 * `HᵀH = HcᵀHc + N·μμᵀ` by Cholesky (eigen-decomposition with the pinv cutoff if that fails).
 * Nothing N×N. Inputs are converted to `Matrix` before timing.
 * @module
 */
import { CholeskyDecomposition, EVD, Matrix, SVD } from "ml-matrix";
import type { M } from "./common.js";

/** A layer converted to ml-matrix. */
export interface MLLayer {
  h: Matrix;
  w: Matrix;
}

export function toML(m: M): Matrix {
  const out = new Matrix(m.rows, m.cols);
  for (let i = 0; i < m.rows; i++)
    for (let j = 0; j < m.cols; j++) out.set(i, j, m.data[i * m.cols + j]);
  return out;
}

/** Eigenpairs of a symmetric matrix, descending. */
function symEig(a: Matrix): { values: number[]; vectors: Matrix } {
  const e = new EVD(a, { assumeSymmetric: true });
  const vals = e.realEigenvalues;
  const order = vals.map((_, i) => i).sort((x, y) => vals[y] - vals[x]);
  const V = e.eigenvectorMatrix;
  const vectors = new Matrix(V.rows, V.columns);
  order.forEach((src, dst) => {
    for (let i = 0; i < V.rows; i++) vectors.set(i, dst, V.get(i, src));
  });
  return { values: order.map((i) => vals[i]), vectors };
}

function frob2(a: Matrix): number {
  let s = 0;
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.columns; j++) s += a.get(i, j) ** 2;
  return s;
}

/** Centered Gram HcᵀHc of an N×d Matrix (the kernel timed on its own). */
export function mlGram(h: Matrix): Matrix {
  const hc = h.clone().subRowVector(h.mean("column"));
  return hc.transpose().mmul(hc);
}

export function mlSymEig(s: Matrix): number[] {
  return symEig(s).values;
}

/** The paper-preset metrics of one layer. */
export function mlLayer(
  h: Matrix,
  w: Matrix,
  y: Matrix,
  t: number,
): {
  nrc1: number;
  nrc2: number;
  nrc3: number;
  nrc4: number;
  stableRankFeatures: number;
  stableRankWeight: number;
} {
  const N = h.rows;
  const d = h.columns;
  const q = y.columns;
  const mu = h.mean("column");
  const hc = h.clone().subRowVector(mu);
  const yc = y.clone().subRowVector(y.mean("column"));
  const hct = hc.transpose();
  const G = hct.mmul(hc);
  const C = hct.mmul(yc);
  const { values, vectors } = symEig(G);
  const lam = values.map((v) => Math.max(v, 0));
  let total = 0;
  for (let i = d - 1; i >= 0; i--) total += lam[i];
  let tail = 0;
  for (let i = d - 1; i >= t; i--) tail += lam[i];
  const nrc1 = tail / total;
  const Ut = vectors.subMatrix(0, d - 1, 0, t - 1);
  const num = frob2(Ut.transpose().mmul(C));
  let l2 = 0;
  for (let i = 0; i < t; i++) l2 += lam[i] ** 2;
  const yyF = Math.sqrt(frob2(yc.transpose().mmul(yc)));
  const nrc2 = num / Math.sqrt(l2) / yyF;
  // NRC3
  const we = symEig(w.transpose().mmul(w));
  const Vt = we.vectors.subMatrix(0, d - 1, 0, t - 1);
  const cosines = new SVD(Ut.transpose().mmul(Vt), { autoTranspose: true }).diagonal;
  let nrc3 = 0;
  for (const c of cosines) nrc3 += Math.min(1, c);
  nrc3 /= t;
  const stableRankWeight = frob2(w) / Math.max(we.values[0], 0);
  // NRC4 from the normal equations: ‖Yc‖² − cᵀ(HᵀH)⁻¹c with c = HᵀYc = HcᵀYc.
  const HtH = G.clone();
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++)
      HtH.set(i, j, (G.get(i, j) + G.get(j, i)) / 2 + N * (mu[i] * mu[j]));
  let explained = 0;
  const chol = new CholeskyDecomposition(HtH);
  if (chol.isPositiveDefinite()) {
    const X = chol.solve(C);
    for (let i = 0; i < d; i++) for (let j = 0; j < q; j++) explained += C.get(i, j) * X.get(i, j);
  } else {
    const e = symEig(HtH);
    const cut = (Math.max(N, d) * 2 ** -52) ** 2 * e.values[0];
    const P = e.vectors.transpose().mmul(C);
    for (let i = 0; i < d; i++)
      if (e.values[i] > cut)
        for (let j = 0; j < q; j++) explained += P.get(i, j) ** 2 / e.values[i];
  }
  const nrc4 = (frob2(yc) - explained) / (N * q);
  return { nrc1, nrc2, nrc3, nrc4, stableRankFeatures: total / lam[0], stableRankWeight };
}
