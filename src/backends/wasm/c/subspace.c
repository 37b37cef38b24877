/*
 * One pass of block subspace iteration on centered data, in float64 (src/linalg/certified.ts):
 * for rows aᵢ of A (m×n, float64 or float32 widened exactly), the mean μ and V (n×k, given
 * transposed as VT k×n), with xᵢ = aᵢ − μ and cᵢ = Vᵀxᵢ:
 *   W = Σᵢ xᵢcᵢᵀ = HcᵀHc·V   (returned transposed, k×n),
 *   tail = Σᵢ ‖xᵢ − V_t·cᵢ[:t]‖²  (the energy off the leading t columns, each residual formed
 *          entry by entry, never ‖x‖² − ‖c‖²),
 *   trace = Σᵢ ‖xᵢ‖².
 * 4·m·n·k + 2·m·n·t flops. Rows are claimed in chunks summed into per-part slots in a fixed order.
 */
#include "common.h"

typedef struct {
  const double *A;
  const float *Af;
  const double *mu, *VT;
  int m, n, k, t;
  double *acc;  /* slots: k·n (W) then 2 (tail, trace) */
  double *work; /* per thread: n (x) + k (c) */
  claims_t cl;
} sp_args;

static void sp_rows(const sp_args *g, int lo, int hi, double *x, double *c, double *W) {
  const int n = g->n, k = g->k, t = g->t;
  const int n2 = n & ~1;
  double tail = 0.0, trace = 0.0;
  for (int i = lo; i < hi; i++) {
    if (g->Af) {
      const float *a = g->Af + (size_t)i * n;
      for (int j = 0; j < n2; j += 2)
        wasm_v128_store(x + j, wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(
                                                  wasm_v128_load64_zero(a + j)),
                                              wasm_v128_load(g->mu + j)));
      if (n2 < n) x[n2] = (double)a[n2] - g->mu[n2];
    } else {
      const double *a = g->A + (size_t)i * n;
      for (int j = 0; j < n2; j += 2)
        wasm_v128_store(x + j, wasm_f64x2_sub(wasm_v128_load(a + j), wasm_v128_load(g->mu + j)));
      if (n2 < n) x[n2] = a[n2] - g->mu[n2];
    }
    trace += dot(n, x, x);
    for (int p = 0; p < k; p++) c[p] = dot(n, g->VT + (size_t)p * n, x);
    /* W_p += c_p·x, two columns at a time. */
    int p = 0;
    for (; p + 1 < k; p += 2) {
      double *w0 = W + (size_t)p * n, *w1 = w0 + n;
      f2 s0 = wasm_f64x2_splat(c[p]), s1 = wasm_f64x2_splat(c[p + 1]);
      for (int j = 0; j < n2; j += 2) {
        f2 xv = wasm_v128_load(x + j);
        wasm_v128_store(w0 + j, MADD(wasm_v128_load(w0 + j), s0, xv));
        wasm_v128_store(w1 + j, MADD(wasm_v128_load(w1 + j), s1, xv));
      }
      if (n2 < n) {
        w0[n2] += c[p] * x[n2];
        w1[n2] += c[p + 1] * x[n2];
      }
    }
    if (p < k) axpy(n, c[p], x, W + (size_t)p * n);
    if (t > 0) {
      f2 ss = wasm_f64x2_splat(0.0);
      for (int j = 0; j < n2; j += 2) {
        f2 r = wasm_v128_load(x + j);
        for (int q = 0; q < t; q++)
          r = wasm_f64x2_sub(r, wasm_f64x2_mul(wasm_f64x2_splat(c[q]),
                                               wasm_v128_load(g->VT + (size_t)q * n + j)));
        ss = MADD(ss, r, r);
      }
      double s = wasm_f64x2_extract_lane(ss, 0) + wasm_f64x2_extract_lane(ss, 1);
      if (n2 < n) {
        double r = x[n2];
        for (int q = 0; q < t; q++) r -= c[q] * g->VT[(size_t)q * n + n2];
        s += r * r;
      }
      tail += s;
    }
  }
  W[(size_t)k * n] += tail;
  W[(size_t)k * n + 1] += trace;
}

static void sp_task(int tid, int nt, void *p) {
  sp_args *g = (sp_args *)p;
  double *x = g->work + (size_t)par_self_tid() * (g->n + g->k + 2);
  double *c = x + g->n;
  for (int lo, hi, part, ch; claims_next(&g->cl, 1, &lo, &hi, &part, &ch);) {
    sp_rows(g, lo, hi, x, c, slot_at(g->acc, (size_t)g->k * g->n + 2, part));
    claims_done(&g->cl, ch);
  }
}

/* Zeroed slots for m rows, n columns, k vectors. */
EXPORT(sp_begin) double *sp_begin(int n, int k, int m) {
  return slots_begin((size_t)k * n + 2, m);
}

/* Bytes of the per-thread row buffers sp_add needs. */
EXPORT(sp_work_bytes) size_t sp_work_bytes(int n, int k) {
  return sizeof(double) * (size_t)(n + k + 2) * (size_t)par_threads();
}

static sp_args g_sp;

/* Starts the pass over m rows of A (float64, or float32 when Af != 0); par_join() completes it.
 * VT: k×n; the tail is taken off VT's first t rows; work: sp_work_bytes(n, k) bytes. */
EXPORT(sp_add) void sp_add(double *acc, const double *A, const float *Af, const double *mu,
                           const double *VT, int m, int n, int k, int t, double *work) {
  g_sp = (sp_args){A, Af, mu, VT, m, n, k, t, acc, work, {0}};
  claims_init(&g_sp.cl, m, slots_parts(acc));
  par_start(sp_task, &g_sp, (double)m * n * k < 2.0e5);
}

/* out (k·n + 2): W (k×n), tail, trace summed over the parts. */
EXPORT(sp_end) void sp_end(const double *acc, double *out, int n, int k) {
  const size_t per = (size_t)k * n + 2;
  const int T = slots_parts(acc);
  for (size_t o = 0; o < per; o++) {
    double s = 0.0;
    for (int t = 0; t < T; t++) s += slot_at((double *)acc, per, t)[o];
    out[o] = s;
  }
}
