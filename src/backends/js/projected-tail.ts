/**
 * The JS kernel of the projected tail (see `linalg/tail.ts` for why NRC1's tail is read from the
 * data): one pass over the rows, 4·N·d·k flops.
 * @module
 */
import type { Mat, ProjectedTailResult } from "../types.js";

/**
 * `tail = Σᵢ ‖(aᵢ − μ) − V·Vᵀ(aᵢ − μ)‖²` and `energy[j] = Σᵢ ((aᵢ − μ)·v_j)²` for the rows aᵢ of
 * A (m×n), μ (length n) and V (n×k, orthonormal columns). The JS kernel.
 */
export function projectedTailJS(a: Mat, mean: Float64Array, v: Mat): ProjectedTailResult {
  const { rows: m, cols: n, data } = a;
  const k = v.cols;
  // Vᵀ row-major (k×n): each projection is a contiguous dot product.
  const vt = new Float64Array(k * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vt[j * n + i] = v.data[i * k + j];
  const x = new Float64Array(n);
  const c = new Float64Array(k);
  const energy = new Float64Array(k);
  let tail = 0;
  for (let r = 0; r < m; r++) {
    const o = r * n;
    for (let i = 0; i < n; i++) x[i] = data[o + i] - mean[i];
    for (let j = 0; j < k; j++) {
      let s = 0;
      const vo = j * n;
      for (let i = 0; i < n; i++) s += vt[vo + i] * x[i];
      c[j] = s;
      energy[j] += s * s;
    }
    let ss = 0;
    for (let i = 0; i < n; i++) {
      let p = x[i];
      for (let j = 0; j < k; j++) p -= vt[j * n + i] * c[j];
      ss += p * p;
    }
    tail += ss;
  }
  return { tail, energy };
}
