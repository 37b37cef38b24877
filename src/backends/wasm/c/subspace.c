/*
 * One pass of block subspace iteration on centered data, in float64 (src/linalg/certified.ts):
 * for rows aᵢ of A (m×n, float64 or float32 widened exactly), the mean μ and V (n×k, row-major),
 * with xᵢ = aᵢ − μ and cᵢ = Vᵀxᵢ:
 *   W = Σᵢ xᵢcᵢᵀ = HcᵀHc·V   (n×k),
 *   tail = Σᵢ ‖xᵢ − V_t·cᵢ[:t]‖²  (the energy off V's first t columns: each residual formed
 *          entry by entry, never ‖x‖² − ‖c‖²),
 *   trace = Σᵢ ‖xᵢ‖².
 * Row blocks of SB rows at GEMM rate (gemm_serial): Cb = Xb·V, W += Xbᵀ·Cb, Xb −= Cb_t·V_tᵀ.
 * 4·m·n·k + 2·m·n·t flops. Rows are claimed in chunks summed into per-part slots in a fixed
 * order (claims_t), so the sums depend on m and the part count only.
 */
#include "common.h"

#define SB 256 /* rows per block */

typedef struct {
  const double *A;
  const float *Af;
  const double *mu, *V;
  int m, n, k, t;
  double *acc;  /* slots: n·k (W) then 2 (tail, trace) */
  double *work; /* per thread: SB·n (Xb) + SB·k (Cb) */
  claims_t cl;
} sp_args;

static double sumsq(size_t len, const double *x) {
  f2 s0 = wasm_f64x2_splat(0.0), s1 = s0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    f2 a = wasm_v128_load(x + i), b = wasm_v128_load(x + i + 2);
    s0 = MADD(s0, a, a);
    s1 = MADD(s1, b, b);
  }
  s0 = wasm_f64x2_add(s0, s1);
  double s = wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
  for (; i < len; i++) s += x[i] * x[i];
  return s;
}

static void sp_block(const sp_args *g, int lo, int rows, double *Xb, double *Cb, double *W,
                     double *gw) {
  const int n = g->n, k = g->k, t = g->t;
  for (int r = 0; r < rows; r++) {
    double *x = Xb + (size_t)r * n;
    if (g->Af) {
      const float *a = g->Af + (size_t)(lo + r) * n;
      for (int j = 0; j < n; j++) x[j] = (double)a[j] - g->mu[j];
    } else {
      const double *a = g->A + (size_t)(lo + r) * n;
      for (int j = 0; j < n; j++) x[j] = a[j] - g->mu[j];
    }
  }
  const size_t len = (size_t)rows * n;
  W[(size_t)n * k + 1] += sumsq(len, Xb);
  for (size_t i = 0; i < (size_t)rows * k; i++) Cb[i] = 0.0;
  gemm_serial(0, 0, rows, k, n, 1.0, Xb, n, g->V, k, Cb, k, gw);
  gemm_serial(1, 0, n, k, rows, 1.0, Xb, n, Cb, k, W, k, gw);
  if (t > 0) {
    gemm_serial(0, 1, rows, n, t, -1.0, Cb, k, g->V, k, Xb, n, gw);
    W[(size_t)n * k] += sumsq(len, Xb);
  }
}

static void sp_task(int tid, int nt, void *p) {
  sp_args *g = (sp_args *)p;
  const int n = g->n, k = g->k;
  double *Xb = g->work + (size_t)par_self_tid() * SB * (n + k);
  double *Cb = Xb + (size_t)SB * n;
  double *gw = thread_gemm_work(tid);
  for (int lo, hi, part, ch; claims_next(&g->cl, SB, &lo, &hi, &part, &ch);) {
    double *W = slot_at(g->acc, (size_t)n * k + 2, part);
    for (int b = lo; b < hi; b += SB) sp_block(g, b, MIN(SB, hi - b), Xb, Cb, W, gw);
    claims_done(&g->cl, ch);
  }
}

/* Zeroed slots for m rows, n columns, k vectors. */
EXPORT(sp_begin) double *sp_begin(int n, int k, int m) {
  return slots_begin((size_t)n * k + 2, m);
}

/* Bytes of the per-thread row blocks sp_add needs. */
EXPORT(sp_work_bytes) size_t sp_work_bytes(int n, int k) {
  return sizeof(double) * (size_t)SB * (size_t)(n + k) * (size_t)par_threads();
}

static sp_args g_sp;

/* Starts the pass over m rows of A (float64, or float32 when Af != 0); par_join() completes it.
 * V: n×k row-major; the tail is taken off V's first t columns; work: sp_work_bytes(n, k) bytes. */
EXPORT(sp_add) void sp_add(double *acc, const double *A, const float *Af, const double *mu,
                           const double *V, int m, int n, int k, int t, double *work) {
  g_sp = (sp_args){A, Af, mu, V, m, n, k, t, acc, work, {0}};
  claims_init(&g_sp.cl, m, slots_parts(acc));
  par_start(sp_task, &g_sp, (double)m * n * k < 2.0e5);
}

/* out (n·k + 2): W (n×k), tail, trace summed over the parts. */
EXPORT(sp_end) void sp_end(const double *acc, double *out, int n, int k) {
  const size_t per = (size_t)n * k + 2;
  const int T = slots_parts(acc);
  for (size_t o = 0; o < per; o++) {
    double s = 0.0;
    for (int t = 0; t < T; t++) s += slot_at((double *)acc, per, t)[o];
    out[o] = s;
  }
}
