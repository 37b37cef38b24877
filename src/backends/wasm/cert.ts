/**
 * The `wasm` backend's kernels for the certified spectrum (src/linalg/certified.ts): the float32
 * Gram (gram32.c, f32x4 products summed in float32 over 256-row blocks, then in float64) and the
 * float64 subspace-iteration pass over the data (subspace.c). `lowGram` copies A whole into the
 * module's memory and keeps it resident, so the passes that follow (and `normalStep`,
 * `projectedTail`) read it in place instead of copying it again.
 * @module
 */
import type { LowGramResult, Mat, MatF32, SubspacePassResult } from "../types.js";
import type { makeMomentKernels } from "./streaming.js";
import type { Runtime } from "./runtime.js";

/** Rows the float32 Gram sums in float32 before adding into float64 (gram32.c's GB). */
const GB = 256;

/** `lowGram` and `subspacePass` over a started runtime and its streaming kernels. */
export function makeCertKernels(rt: Runtime, mk: ReturnType<typeof makeMomentKernels>) {
  const ex = rt.ex;
  return {
    lowGram(a: Mat | MatF32, shift: Float64Array): LowGramResult {
      const { rows: m, cols: n } = a;
      if (shift.length !== n)
        throw new Error(`wasm lowGram: the shift has ${shift.length} entries for ${n} columns`);
      const f32 = a.data instanceof Float32Array;
      const size = f32 ? 4 : 8;
      let pa = mk.residentOf(a);
      const fresh = pa === 0;
      if (fresh) pa = rt.persist(Math.max(1, m * n) * size);
      rt.begin("lowGram");
      const acc = ex.g32_begin(n, m) >>> 0;
      const psh = rt.put(shift);
      const pw = rt.allocBytes(ex.g32_work_bytes(n));
      const pg = rt.alloc(n * n);
      const ps = rt.alloc(n);
      const pq = rt.alloc(n);
      // The workers start on the first rows while the rest is copied, 1 MiB at a time.
      const piece = fresh ? Math.max(1, Math.floor(2 ** 17 / n)) : m;
      const heap = f32 ? rt.f32() : rt.f64();
      const at = pa / size;
      let copied = Math.min(m, piece);
      if (fresh) heap.set(a.data.subarray(0, copied * n), at);
      ex.g32_add(acc, f32 ? 0 : pa, f32 ? pa : 0, psh, m, n, pw, copied);
      try {
        while (copied < m) {
          const next = Math.min(m, copied + piece);
          heap.set(a.data.subarray(copied * n, next * n), at + copied * n);
          ex.g32_avail((copied = next));
        }
      } finally {
        ex.par_join();
      }
      if (fresh) mk.adopt(a, pa);
      ex.g32_end(acc, pg, ps, pq, n);
      const f64 = rt.f64();
      return {
        gram: rt.take(pg, n, n),
        sums: f64.slice(ps / 8, ps / 8 + n),
        squares: f64.slice(pq / 8, pq / 8 + n),
        blockRows: GB,
        unitRoundoff: 2 ** -24,
      };
    },
    subspacePass(a: Mat | MatF32, mean: Float64Array, v: Mat, t: number): SubspacePassResult {
      const { rows: m, cols: n } = a;
      const k = v.cols;
      if (mean.length !== n || v.rows !== n || !(t >= 0 && t <= k))
        throw new Error(
          `wasm subspacePass: shapes do not fit (A ${m}×${n}, mean ${mean.length}, V ${v.rows}×${k}, t ${t})`,
        );
      const f32 = a.data instanceof Float32Array;
      const held = mk.residentOf(a);
      rt.begin("subspacePass");
      const pmu = rt.put(mean);
      const pv = rt.put(v.data);
      const acc = ex.sp_begin(n, k, m) >>> 0;
      const pwk = rt.allocBytes(ex.sp_work_bytes(n, k));
      const pout = rt.alloc(n * k + 2);
      const add = (p: number, rows: number) =>
        ex.sp_add(acc, f32 ? 0 : p, f32 ? p : 0, pmu, pv, rows, n, k, t, pwk);
      if (held) {
        add(held, m);
        ex.par_join();
      } else mk.streamRows(a, undefined, 1, (p, _pb, rows) => add(p, rows));
      ex.sp_end(acc, pout, n, k);
      const out = rt.f64().slice(pout / 8, pout / 8 + n * k + 2);
      return {
        w: { rows: n, cols: k, data: out.subarray(0, n * k) },
        tail: out[n * k],
        trace: out[n * k + 1],
      };
    },
  };
}
