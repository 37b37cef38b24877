/**
 * One pass of block subspace iteration on centered rows, in float64 (the JS kernel of
 * `Kernels.subspacePass`): `W = HcᵀHc·V`, the tail off V's first t columns and the trace.
 * @module
 */
import type { Mat, MatF32, SubspacePassResult } from "../types.js";

/**
 * For rows aᵢ of A (m×n, float64 or float32), μ (n) and V (n×k): with xᵢ = aᵢ − μ and
 * cᵢ = Vᵀxᵢ, `w = Σᵢ xᵢcᵢᵀ` (n×k), `tail = Σᵢ ‖xᵢ − V_t·cᵢ[:t]‖²` (residuals formed entry by
 * entry), `trace = Σᵢ ‖xᵢ‖²`. 4·m·n·k + 2·m·n·t flops.
 */
export function subspacePassJS(
  a: Mat | MatF32,
  mean: Float64Array,
  v: Mat,
  t: number,
): SubspacePassResult {
  const { rows: m, cols: n, data } = a;
  const k = v.cols;
  const vt = new Float64Array(k * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vt[j * n + i] = v.data[i * k + j];
  const wt = new Float64Array(k * n);
  const x = new Float64Array(n);
  const c = new Float64Array(k);
  let tail = 0;
  let trace = 0;
  for (let r = 0; r < m; r++) {
    const o = r * n;
    let xx = 0;
    for (let i = 0; i < n; i++) {
      const e = data[o + i] - mean[i];
      x[i] = e;
      xx += e * e;
    }
    trace += xx;
    for (let j = 0; j < k; j++) {
      let s = 0;
      const vo = j * n;
      for (let i = 0; i < n; i++) s += vt[vo + i] * x[i];
      c[j] = s;
      for (let i = 0; i < n; i++) wt[vo + i] += s * x[i];
    }
    if (t > 0) {
      let ss = 0;
      for (let i = 0; i < n; i++) {
        let p = x[i];
        for (let j = 0; j < t; j++) p -= vt[j * n + i] * c[j];
        ss += p * p;
      }
      tail += ss;
    }
  }
  const w = new Float64Array(n * k);
  for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) w[i * k + j] = wt[j * n + i];
  return { w: { rows: n, cols: k, data: w }, tail, trace };
}
