/*
 * One pass of block subspace iteration on centered data, in float64 (src/linalg/certified.ts):
 * for rows aᵢ of A (m×n, float64 or float32 widened exactly), the mean μ and V (n×k, row-major),
 * with xᵢ = aᵢ − μ and cᵢ = Vᵀxᵢ:
 *   W = Σᵢ xᵢcᵢᵀ = HcᵀHc·V   (n×k),
 *   tail = Σᵢ ‖xᵢ − V_t·cᵢ[:t]‖²  (the energy off V's first t columns: each residual formed
 *          entry by entry, never ‖x‖² − ‖c‖²),
 *   trace = Σᵢ ‖xᵢ‖².
 * Row blocks of SB rows: for k ≤ 16 a fused register-blocked kernel (sp_fused), else GEMMs
 * (gemm_serial: Cb = Xb·V, W += Xbᵀ·Cb, Xb −= Cb_t·V_tᵀ). 4·m·n·k + 2·m·n·t flops. Rows are claimed in chunks summed into per-part slots in a fixed
 * order (claims_t), so the sums depend on m and the part count only.
 */
#include "common.h"

#define SB 64 /* rows per block (Xb stays in L2) */

typedef struct {
  const double *A;
  const float *Af;
  const double *mu, *V;
  int m, n, k, t;
  int kp;             /* columns of W in the slots: k rounded up to even (fused), else k */
  const double *Vp;   /* V padded to n×kp (fused kernel), else 0 */
  const double *VTt;  /* V's first t columns transposed (t×n, fused kernel) */
  double *acc;        /* slots: n·kp (W) then 2 (tail, trace) */
  double *work;       /* per thread: SB·n (Xb) + SB·kp (Cb) */
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


/* The fused kernel for k ≤ 16 (KV = ⌈k/2⌉ f64x2 vectors a row of V, V padded to 2·KV columns in
 * Vp): no packing, four traversals of a block (centering with the trace, Cb = Xb·V two rows at a
 * time, W += Xbᵀ·Cb two rows of W at a time, the tail off VT_t), every product register-blocked
 * with a constant KV so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void sp_fused(const sp_args *g, int rows,
                                                           const double *Xb, double *Cb, double *W,
                                                           const int KV) {
  const int n = g->n, kp = 2 * KV;
  const double *Vp = g->Vp;
  /* Cb = Xb·V, rows in pairs (a last single row pairs with itself and is stored once). */
  for (int r = 0; r < rows; r += 2) {
    const double *x0 = Xb + (size_t)r * n, *x1 = r + 1 < rows ? x0 + n : x0;
    f2 a0[8], a1[8];
    for (int v = 0; v < KV; v++) a0[v] = a1[v] = wasm_f64x2_splat(0.0);
    for (int j = 0; j < n; j++) {
      const double *vr = Vp + (size_t)j * kp;
      f2 s0 = wasm_f64x2_splat(x0[j]), s1 = wasm_f64x2_splat(x1[j]);
      for (int v = 0; v < KV; v++) {
        f2 vv = wasm_v128_load(vr + 2 * v);
        a0[v] = MADD(a0[v], s0, vv);
        a1[v] = MADD(a1[v], s1, vv);
      }
    }
    for (int v = 0; v < KV; v++) {
      wasm_v128_store(Cb + (size_t)r * kp + 2 * v, a0[v]);
      if (r + 1 < rows) wasm_v128_store(Cb + (size_t)(r + 1) * kp + 2 * v, a1[v]);
    }
  }
  /* W += Xbᵀ·Cb, rows of W in pairs. */
  int j = 0;
  for (; j + 1 < n; j += 2) {
    double *w0 = W + (size_t)j * kp, *w1 = w0 + kp;
    f2 a0[8], a1[8];
    for (int v = 0; v < KV; v++) {
      a0[v] = wasm_v128_load(w0 + 2 * v);
      a1[v] = wasm_v128_load(w1 + 2 * v);
    }
    for (int r = 0; r < rows; r++) {
      const double *c = Cb + (size_t)r * kp;
      f2 s0 = wasm_f64x2_splat(Xb[(size_t)r * n + j]), s1 = wasm_f64x2_splat(Xb[(size_t)r * n + j + 1]);
      for (int v = 0; v < KV; v++) {
        f2 cv = wasm_v128_load(c + 2 * v);
        a0[v] = MADD(a0[v], s0, cv);
        a1[v] = MADD(a1[v], s1, cv);
      }
    }
    for (int v = 0; v < KV; v++) {
      wasm_v128_store(w0 + 2 * v, a0[v]);
      wasm_v128_store(w1 + 2 * v, a1[v]);
    }
  }
  for (; j < n; j++) {
    double *w0 = W + (size_t)j * kp;
    f2 a0[8];
    for (int v = 0; v < KV; v++) a0[v] = wasm_v128_load(w0 + 2 * v);
    for (int r = 0; r < rows; r++) {
      f2 s0 = wasm_f64x2_splat(Xb[(size_t)r * n + j]);
      for (int v = 0; v < KV; v++) a0[v] = MADD(a0[v], s0, wasm_v128_load(Cb + (size_t)r * kp + 2 * v));
    }
    for (int v = 0; v < KV; v++) wasm_v128_store(w0 + 2 * v, a0[v]);
  }
}

static __attribute__((noinline)) void sp_fused_kv(const sp_args *g, int rows, const double *Xb,
                                                  double *Cb, double *W) {
  switch ((g->k + 1) / 2) {
  case 1: sp_fused(g, rows, Xb, Cb, W, 1); break;
  case 2: sp_fused(g, rows, Xb, Cb, W, 2); break;
  case 3: sp_fused(g, rows, Xb, Cb, W, 3); break;
  case 4: sp_fused(g, rows, Xb, Cb, W, 4); break;
  case 5: sp_fused(g, rows, Xb, Cb, W, 5); break;
  case 6: sp_fused(g, rows, Xb, Cb, W, 6); break;
  case 7: sp_fused(g, rows, Xb, Cb, W, 7); break;
  default: sp_fused(g, rows, Xb, Cb, W, 8); break;
  }
}

/* The tail off V's first t columns for the rows of Xb, from Cb (row stride ldc). */
static double sp_tail(const sp_args *g, int rows, const double *Xb, const double *Cb, int ldc) {
  double tail = 0.0;
  for (int r = 0; r < rows; r++)
    tail += resid_sq(g->n, g->t, Xb + (size_t)r * g->n, Cb + (size_t)r * ldc, g->VTt);
  return tail;
}

static void sp_block(const sp_args *g, int lo, int rows, double *Xb, double *Cb, double *W,
                     double *gw) {
  const int n = g->n, k = g->k, t = g->t, kp = g->kp;
  const int n2 = n & ~1;
  f2 tr = wasm_f64x2_splat(0.0);
  double tr1 = 0.0;
  for (int r = 0; r < rows; r++) {
    double *x = Xb + (size_t)r * n;
    if (g->Af) {
      const float *a = g->Af + (size_t)(lo + r) * n;
      for (int j = 0; j < n2; j += 2) {
        f2 e = wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(a + j)),
                              wasm_v128_load(g->mu + j));
        wasm_v128_store(x + j, e);
        tr = MADD(tr, e, e);
      }
      if (n2 < n) x[n2] = (double)a[n2] - g->mu[n2];
    } else {
      const double *a = g->A + (size_t)(lo + r) * n;
      for (int j = 0; j < n2; j += 2) {
        f2 e = wasm_f64x2_sub(wasm_v128_load(a + j), wasm_v128_load(g->mu + j));
        wasm_v128_store(x + j, e);
        tr = MADD(tr, e, e);
      }
      if (n2 < n) x[n2] = a[n2] - g->mu[n2];
    }
    if (n2 < n) tr1 += x[n2] * x[n2];
  }
  W[(size_t)n * kp + 1] += wasm_f64x2_extract_lane(tr, 0) + wasm_f64x2_extract_lane(tr, 1) + tr1;
  if (g->Vp) {
    sp_fused_kv(g, rows, Xb, Cb, W);
    if (t > 0) W[(size_t)n * kp] += sp_tail(g, rows, Xb, Cb, kp);
    return;
  }
  const size_t len = (size_t)rows * n;
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
  const int n = g->n;
  double *Xb = g->work + (size_t)par_self_tid() * SB * (n + g->kp);
  double *Cb = Xb + (size_t)SB * n;
  double *gw = thread_gemm_work(tid);
  for (int lo, hi, part, ch; claims_next(&g->cl, SB, &lo, &hi, &part, &ch);) {
    double *W = slot_at(g->acc, (size_t)n * g->kp + 2, part);
    for (int b = lo; b < hi; b += SB) sp_block(g, b, MIN(SB, hi - b), Xb, Cb, W, gw);
    claims_done(&g->cl, ch);
  }
}

/* Columns of W in the slots for k vectors: even for the fused kernel (k ≤ 16), else k. */
static int sp_kp(int k) { return k <= 16 ? (k + 1) & ~1 : k; }

/* Zeroed slots for m rows, n columns, k vectors. */
EXPORT(sp_begin) double *sp_begin(int n, int k, int m) {
  return slots_begin((size_t)n * sp_kp(k) + 2, m);
}

/* Bytes of the per-thread row blocks sp_add needs. */
EXPORT(sp_work_bytes) size_t sp_work_bytes(int n, int k) {
  return sizeof(double) * (size_t)SB * (size_t)(n + sp_kp(k)) * (size_t)par_threads();
}

static sp_args g_sp;

/* Starts the pass over m rows of A (float64, or float32 when Af != 0); par_join() completes it.
 * V: n×k row-major; the tail is taken off V's first t columns; work: sp_work_bytes(n, k) bytes.
 * For k ≤ 16 the padded V and V_tᵀ the fused kernel reads are laid out here (host, arena). */
EXPORT(sp_add) void sp_add(double *acc, const double *A, const float *Af, const double *mu,
                           const double *V, int m, int n, int k, int t, double *work) {
  const int kp = sp_kp(k);
  double *Vp = 0, *VTt = 0;
  if (k <= 16) {
    Vp = (double *)arena_alloc(sizeof(double) * (size_t)n * kp);
    VTt = (double *)arena_alloc(sizeof(double) * (size_t)n * (size_t)(t > 0 ? t : 1));
    for (int j = 0; j < n; j++)
      for (int p = 0; p < kp; p++) Vp[(size_t)j * kp + p] = p < k ? V[(size_t)j * k + p] : 0.0;
    for (int q = 0; q < t; q++)
      for (int j = 0; j < n; j++) VTt[(size_t)q * n + j] = V[(size_t)j * k + q];
  }
  g_sp = (sp_args){A, Af, mu, V, m, n, k, t, kp, Vp, VTt, acc, work, {0}};
  claims_init(&g_sp.cl, m, slots_parts(acc));
  par_start(sp_task, &g_sp, (double)m * n * k < 2.0e5);
}

/* out (n·k + 2): W (n×k), tail, trace summed over the parts. */
EXPORT(sp_end) void sp_end(const double *acc, double *out, int n, int k) {
  const int kp = sp_kp(k);
  const size_t per = (size_t)n * kp + 2;
  const int T = slots_parts(acc);
  for (size_t o = 0; o < per; o++) {
    double s = 0.0;
    for (int t = 0; t < T; t++) s += slot_at((double *)acc, per, t)[o];
    if (o < (size_t)n * kp) {
      size_t j = o / kp, p = o % kp;
      if (p < (size_t)k) out[j * k + p] = s;
    } else
      out[(size_t)n * k + (o - (size_t)n * kp)] = s;
  }
}
