/**
 * The `wasm` backend's row-streaming kernels: Gram and cross products, shifted moments (at once,
 * in the background, or accumulated over a stream), the normal step and the projected tail. Rows
 * are copied into the module's memory in chunks while the worker threads sum the previous one.
 * @module
 */
import type {
  Mat,
  MatF32,
  MomentsRun,
  NormalStepResult,
  PendingMoments,
  ProjectedTailResult,
  ShiftedMomentsResult,
} from "../types.js";
import { composedMomentsRun, composedShiftedMoments } from "../composed.js";
import type { Runtime } from "./runtime.js";

/**
 * Rows are streamed into wasm memory in chunks of about this many doubles (4 MiB; two buffers,
 * one filled while the threads work on the other).
 */
const CHUNK_DOUBLES = 1 << 19;
/**
 * `startShiftedMoments` copies a layer (and its targets) whole into wasm memory for the worker
 * threads to work on in the background, up to this many bytes; a larger one is computed at once,
 * streamed in chunks. The copy stays allocated as part of the module's memory (which never
 * shrinks) — a bounded block, whatever N is.
 */
const BACKGROUND_MAX_BYTES = 64 * 2 ** 20;

/**
 * The streaming kernels over a started runtime, with their state: the pending background job and
 * the resident copy of the last joined layer. `settle()` completes the one and drops the other.
 */
export function makeMomentKernels(rt: Runtime) {
  const ex = rt.ex;
  /**
   * Copies A (and B, row-aligned) into wasm memory in chunks of about CHUNK_DOUBLES (at least
   * `minRows` rows) and calls `start(pa, pb, rows)` per chunk (pb = 0 without B): an export
   * that hands the chunk to the worker threads and returns (par_start). The next chunk is copied
   * into a second buffer while they work on it, then `par_join` adds the host's share and waits:
   * the copy costs the host's time, not the workers'.
   */
  const streamRows = (
    a: Mat | MatF32,
    b: Mat | undefined,
    minRows: number,
    start: (pa: number, pb: number, rows: number) => void,
  ): void => {
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : 0;
    // Float32 rows are copied as they are (4 bytes an entry; the kernel widens them).
    const f32 = a.data instanceof Float32Array;
    const chunk = Math.max(minRows, Math.min(m, Math.floor(CHUNK_DOUBLES / (n + q))));
    const bufs = [0, 1]
      .slice(0, chunk < m ? 2 : 1)
      .map(() => [
        f32 ? rt.allocBytes(chunk * n * 4) : rt.alloc(chunk * n),
        b ? rt.alloc(Math.max(1, chunk * q)) : 0,
      ]);
    let pending = false;
    try {
      for (let r = 0, i = 0; r < m; r += chunk, i++) {
        const rows = Math.min(chunk, m - r);
        const [pa, pb] = bufs[i % bufs.length];
        if (f32) rt.f32().set(a.data.subarray(r * n, (r + rows) * n), pa / 4);
        else rt.f64().set(a.data.subarray(r * n, (r + rows) * n), pa / 8);
        if (b) rt.f64().set(b.data.subarray(r * q, (r + rows) * q), pb / 8);
        if (pending) ex.par_join();
        pending = false;
        start(pa, pb, rows);
        pending = true;
      }
    } finally {
      if (pending) ex.par_join();
    }
  };
  /** The moments' slots at `acc` summed (mom_end) and copied out. */
  const momentsOf = (acc: number, n: number, q: number): ShiftedMomentsResult => {
    const pg = rt.alloc(n * n);
    const px = rt.alloc(Math.max(1, n * q));
    const ps = rt.alloc(n);
    ex.mom_end(acc, pg, px, ps, n, q);
    const sums = rt.f64().slice(ps / 8, ps / 8 + n);
    return { gram: rt.take(pg, n, n), cross: rt.take(px, n, q), sums };
  };
  /** Σ over row chunks of AᵀB (or AᵀA when b is undefined). */
  const accumulate = (fn: string, a: Mat, b: Mat | undefined): Mat => {
    rt.begin(fn);
    const n = a.cols;
    const q = b ? b.cols : n;
    const acc = ex.acc_begin(n, q, a.rows) >>> 0;
    const pc = rt.alloc(n * q);
    streamRows(a, b, 1, (pa, pb, rows) => ex.acc_add(acc, pa, pb, rows, n, q));
    ex.acc_end(acc, pc, n, q, b ? 0 : 1);
    return rt.take(pc, n, q);
  };
  /**
   * One refinement pass (nstep.c): g = Aᵀ(B − A·X) and the residual's column norms². A float32
   * A is copied as float32 and widened entry by entry in the pass (ns_add_f32).
   */
  const normalStep = (
    fn: string,
    a: Mat | MatF32,
    b: Mat,
    x: Mat | undefined,
  ): NormalStepResult => {
    rt.begin(fn);
    const n = a.cols;
    const q = b.cols;
    const acc = ex.ns_begin(n, q, a.rows) >>> 0;
    let pxt = 0;
    if (x) {
      const xt = new Float64Array(n * q);
      for (let j = 0; j < n; j++) for (let c = 0; c < q; c++) xt[c * n + j] = x.data[j * q + c];
      pxt = rt.put(xt);
    }
    const pg = rt.alloc(n * q);
    const ps = rt.alloc(q);
    const add = a.data instanceof Float32Array ? ex.ns_add_f32 : ex.ns_add;
    if (resident && a === resident.mat) {
      // A is already in memory (startShiftedMoments' copy): one pass, only B copied.
      const pb = rt.put(b.data);
      add(acc, resident.p, pb, pxt, a.rows, n, q);
      ex.par_join();
    } else streamRows(a, b, 2, (pa, pb, rows) => add(acc, pa, pb, pxt, rows, n, q));
    ex.ns_end(acc, pg, ps, n, q);
    const heap = rt.f64();
    const gc = heap.subarray(pg / 8, pg / 8 + n * q);
    const g = new Float64Array(n * q);
    for (let j = 0; j < n; j++) for (let c = 0; c < q; c++) g[j * q + c] = gc[c * n + j];
    return { g: { rows: n, cols: q, data: g }, rss: heap.slice(ps / 8, ps / 8 + q) };
  };
  const composedRun = composedMomentsRun((a, sh, b, scratch) =>
    mk.shiftedMoments(a, sh, b, scratch),
  );
  const composed = composedShiftedMoments(
    (a) => accumulate("gram", a, undefined),
    (a, b) =>
      b.cols <= 8 ? normalStep("crossProd", a, b, undefined).g : accumulate("crossProd", a, b),
  );
  /**
   * The pending startShiftedMoments job: its persisted blocks (released when it completes) and,
   * when a later start or dispose() completes it before its own join(), the moments it computed,
   * which that join() then returns (so callers sharing one backend never lose a job).
   */
  interface BackgroundJob {
    blocks: number[];
    n: number;
    q: number;
    done?: ShiftedMomentsResult;
  }
  let background: BackgroundJob | null = null;
  /** The last joined job's copy of A (float32 when A was), which normalStep reads for `mat`. */
  let resident: { mat: Mat | MatF32; p: number } | null = null;
  const dropResident = (): void => {
    if (resident) rt.release(resident.p);
    resident = null;
  };
  const settleBackground = (): void => {
    const job = background;
    if (!job) return;
    background = null;
    ex.par_bg_join();
    try {
      rt.begin("startShiftedMoments.join");
      job.done = momentsOf(job.blocks[0], job.n, job.q);
    } finally {
      for (const p of job.blocks) rt.release(p);
    }
  };
  const mk = {
    gram(a: Mat): Mat {
      return accumulate("gram", a, undefined);
    },
    /** One pass over A: the shift is subtracted while packing, cross products and sums read off the packed panels. */
    shiftedMoments(
      a: Mat | MatF32,
      shift: Float64Array,
      b: Mat,
      scratch?: (length: number) => Float64Array,
    ): ShiftedMomentsResult | Promise<ShiftedMomentsResult> {
      if (a.rows !== b.rows || shift.length !== a.cols)
        throw new Error(
          `wasm shiftedMoments: shapes do not fit (A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}, shift ${shift.length})`,
        );
      const n = a.cols;
      const q = b.cols;
      // Wider than the packed panel allows: the composition (center, then gram and crossProd).
      if (n > ex.mom_max_cols()) return composed(a, shift, b, scratch);
      rt.begin("shiftedMoments");
      const acc = ex.mom_begin(n, q, a.rows) >>> 0;
      const psh = rt.put(shift);
      const add = a.data instanceof Float32Array ? ex.mom_add_f32 : ex.mom_add;
      streamRows(a, b, 1, (pa, pb, rows) => add(acc, pa, psh, pb, rows, n, q));
      return momentsOf(acc, n, q);
    },
    /**
     * shiftedMoments over worker threads in the background (par_bg_start): A, B and the shift are
     * copied whole into blocks kept out of the host's arenas (up to BACKGROUND_MAX_BYTES, else it
     * is computed at once), the slots are those `shiftedMoments` would use (same part count), and
     * `join()` adds the host's share of what is left, reduces, and releases the blocks but A's,
     * which stays (with the previous job's A dropped) for `normalStep` on the returned `rows`.
     * Kernels called meanwhile run on the calling thread alone.
     */
    startShiftedMoments(a: Mat | MatF32, shift: Float64Array, b: Mat): PendingMoments {
      if (a.rows !== b.rows || shift.length !== a.cols)
        throw new Error(
          `wasm startShiftedMoments: shapes do not fit (A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}, shift ${shift.length})`,
        );
      const m = a.rows;
      const n = a.cols;
      const q = b.cols;
      settleBackground();
      const f32 = a.data instanceof Float32Array;
      const size = f32 ? 4 : 8;
      if (
        rt.threads === 1 ||
        n > ex.mom_max_cols() ||
        size * m * n + 8 * m * q > BACKGROUND_MAX_BYTES
      ) {
        const r = mk.shiftedMoments(a, shift, b);
        return { join: () => r };
      }
      rt.begin("startShiftedMoments");
      const per = n * n + n * q + n;
      const parts = ex.mom_parts(n, q, m);
      const acc = rt.persist((2 + parts * per) * 8);
      const psh = rt.persist(n * 8);
      const pa = rt.persist(m * n * size);
      const pb = rt.persist(Math.max(1, m * q) * 8);
      const heap = rt.f64();
      heap.set(b.data, pb / 8);
      heap.set(shift, psh / 8);
      rt.begin("startShiftedMoments");
      ex.mom_init(acc, n, q, parts);
      // The workers start on A's first rows while the rest is copied, 1 MiB at a time (float32
      // rows as they are: the kernel widens them).
      const piece = Math.max(1, Math.floor(2 ** 17 / n));
      const aHeap = f32 ? rt.f32() : heap;
      const at = pa / size;
      let copied = Math.min(m, piece);
      aHeap.set(a.data.subarray(0, copied * n), at);
      (f32 ? ex.mom_add_bg_f32 : ex.mom_add_bg)(acc, pa, psh, pb, m, n, q, copied);
      for (; copied < m;) {
        const next = Math.min(m, copied + piece);
        aHeap.set(a.data.subarray(copied * n, next * n), at + copied * n);
        ex.mom_bg_avail((copied = next));
      }
      const job: BackgroundJob = { blocks: [acc, psh, pa, pb], n, q };
      background = job;
      let joined = false;
      return {
        join(): ShiftedMomentsResult & { rows?: Mat | MatF32 } {
          if (joined) throw new Error("wasm startShiftedMoments: this job was already joined");
          joined = true;
          // Completed early by another caller's start (or dispose()): its moments were kept.
          if (job.done) return job.done;
          ex.par_bg_join();
          background = null;
          rt.begin("startShiftedMoments.join");
          let r: ShiftedMomentsResult;
          try {
            r = momentsOf(acc, n, q);
          } finally {
            for (const p of [acc, psh, pb]) rt.release(p);
          }
          // A's copy stays for normalStep's pass over the same rows (the previous one goes).
          dropResident();
          const rows: Mat | MatF32 = f32
            ? { rows: m, cols: n, data: a.data as Float32Array }
            : { rows: m, cols: n, data: a.data as Float64Array };
          resident = { mat: rows, p: pa };
          return { ...r, rows };
        },
      };
    },
    /**
     * The moments accumulate in the module's memory across calls (parts' slots, summed only by
     * `result`): a streamed batch costs its copy-in and the kernel, no d×d reduction or copy-out.
     */
    momentsRun(
      n: number,
      q: number,
      shift: Float64Array,
      scratch?: (length: number) => Float64Array,
    ): MomentsRun {
      if (shift.length !== n)
        throw new Error(`wasm momentsRun: the shift has ${shift.length} entries for ${n} columns`);
      if (n > ex.mom_max_cols()) return composedRun(n, q, shift, scratch);
      // Two parts per thread (slack for a thread that falls behind, preempted by I/O or the GC)
      // while that stays under 32 MiB a run, else one: a run holds its slots for as long as the
      // stream goes on, one run per layer, next to the layer's own d² statistics.
      const per = n * n + n * q + n;
      const parts =
        rt.threads === 1
          ? 1
          : 2 * rt.threads * per * 8 <= 32 * 2 ** 20
            ? 2 * rt.threads
            : rt.threads;
      const base = rt.persist((2 + parts * per + n) * 8);
      const psh = base + (2 + parts * per) * 8;
      rt.f64().set(shift, psh / 8);
      rt.begin("momentsRun");
      ex.mom_init(base, n, q, parts);
      let open = true;
      const check = (fn: string) => {
        if (!open) throw new Error(`wasm momentsRun.${fn}: the run was disposed`);
      };
      return {
        add(a: Mat | MatF32, b: Mat): void {
          check("add");
          if (a.cols !== n || b.cols !== q || a.rows !== b.rows)
            throw new Error(
              `wasm momentsRun.add: expected A m×${n} and B m×${q}; got ${a.rows}×${a.cols} and ${b.rows}×${b.cols}`,
            );
          rt.begin("momentsRun.add");
          const add = a.data instanceof Float32Array ? ex.mom_add_f32 : ex.mom_add;
          streamRows(a, b, 1, (pa, pb, rows) => add(base, pa, psh, pb, rows, n, q));
        },
        probe() {
          check("probe");
          rt.begin("momentsRun.probe");
          const ps = rt.alloc(n);
          const pd = rt.alloc(n);
          ex.mom_probe(base, n, q, ps, pd);
          const heap = rt.f64();
          return {
            sums: heap.slice(ps / 8, ps / 8 + n),
            diag: heap.slice(pd / 8, pd / 8 + n),
          };
        },
        result(): ShiftedMomentsResult {
          check("result");
          rt.begin("momentsRun.result");
          return momentsOf(base, n, q);
        },
        dispose(): void {
          if (!open) return;
          open = false;
          rt.release(base);
        },
      };
    },
    crossProd(a: Mat, b: Mat): Mat {
      if (a.rows !== b.rows)
        throw new Error(`wasm crossProd: row counts differ (${a.rows} and ${b.rows})`);
      // Few columns: the row-streaming pass beats the packed GEMM's wide panels.
      if (b.cols <= 8) return normalStep("crossProd", a, b, undefined).g;
      return accumulate("crossProd", a, b);
    },
    normalStep(a: Mat | MatF32, b: Mat, x?: Mat): NormalStepResult {
      if (a.rows !== b.rows || (x && (x.rows !== a.cols || x.cols !== b.cols)))
        throw new Error(
          `wasm normalStep: shapes do not fit (A ${a.rows}×${a.cols}, B ${b.rows}×${b.cols}${x ? `, X ${x.rows}×${x.cols}` : ""})`,
        );
      return normalStep("normalStep", a, b, x);
    },
    projectedTail(a: Mat, mean: Float64Array, v: Mat): ProjectedTailResult {
      const { rows: m, cols: n } = a;
      const k = v.cols;
      if (mean.length !== n || v.rows !== n)
        throw new Error(
          `wasm projectedTail: shapes do not fit (A ${m}×${n}, mean ${mean.length}, V ${v.rows}×${k})`,
        );
      rt.begin("projectedTail");
      const vt = new Float64Array(k * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vt[j * n + i] = v.data[i * k + j];
      const pmu = rt.put(mean);
      const pvt = rt.put(vt);
      const pout = rt.alloc(k + 1);
      // A is read in place where startShiftedMoments left its (float64) copy, else copied in.
      const pa =
        resident && a === resident.mat && !(resident.mat.data instanceof Float32Array)
          ? resident.p
          : rt.put(a.data);
      ex.k_projtail(pa, m, n, pmu, pvt, k, pout);
      const out = rt.f64().slice(pout / 8, pout / 8 + k + 1);
      return { tail: out[k], energy: out.subarray(0, k) };
    },
    /**
     * Makes `p` (a persisted block holding `mat`'s rows as they are) the resident copy, which
     * `normalStep`, `projectedTail` and `residentOf` then read for `mat` (the previous one goes).
     */
    adopt(mat: Mat | MatF32, p: number): void {
      dropResident();
      resident = { mat, p };
    },
    /** Where `a`'s rows already are in the module's memory (the resident copy), else 0. */
    residentOf(a: Mat | MatF32): number {
      return resident && resident.mat === a ? resident.p : 0;
    },
    streamRows,
    /** Completes a pending background job and drops the resident copy (before dispose). */
    settle(): void {
      settleBackground();
      dropResident();
    },
  };
  return mk;
}
