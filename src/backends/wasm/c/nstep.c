/*
 * One pass of a refined least-squares solve over the data: for rows of A (m×n) and B (m×q) and a
 * coefficient matrix X (n×q), the residual R = B − A·X (R = B without X) is formed row by row and
 * never stored; what accumulates is G = AᵀR (n×q) and the squared column norms of R. With X absent
 * this is the cross product AᵀB of a tall matrix with a few columns, which the packed GEMM serves
 * poorly (its panels assume both sides wide).
 *
 * The rows are cut into parts (slots_begin), each accumulated into its own G and rss by whichever
 * thread claims it; ns_end sums them.
 * Columns are processed in blocks of up to QB, two rows at a time, so each loaded pair of A's
 * entries updates 2·QB accumulators.
 */
#include "common.h"

#define QB 4

typedef struct {
  const double *A, *B, *XT;
  int m, n, q;
  double *acc; /* slots (per part): q·n (G, column-major) then q (rss) */
  claims_t cl;
  const float *Af; /* float32 rows instead of A (ns_add_f32), else 0 */
} ns_args;

/* Entries j, j+1 of a row of A as float64: loaded as they are, or widened (exactly) from float32
 * rows, so a float32 pass computes bit for bit what the float64 pass does on the widened rows. */
static inline __attribute__((always_inline)) f2 ld2(const double *d, const float *f, int j,
                                                    const int f32) {
  return f32 ? wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(f + j)) : wasm_v128_load(d + j);
}
static inline __attribute__((always_inline)) double ld1(const double *d, const float *f, int j,
                                                        const int f32) {
  return f32 ? (double)f[j] : d[j];
}

/* Rows [lo, hi) for columns [c0, c0+qb): XT is column-major (XT[c·n + j] = X[j][c]). Inlined
 * into one copy per qb (ns_block_qb), so the compiler sees a constant qb, unrolls the column loops
 * and keeps the 2·qb accumulators in registers (a runtime qb left them on the stack: ~2.5×
 * slower). */
static inline __attribute__((always_inline)) void ns_block(const ns_args *g, int lo, int hi,
                                                           int c0, const int qb, const int f32,
                                                           double *G, double *rss) {
  const int n = g->n, q = g->q;
  const int n2 = n & ~1;
  const double *XT = g->XT;
  int i = lo;
  for (; i < hi; i += 2) {
    const int two = i + 1 < hi;
    const double *a0 = f32 ? 0 : g->A + (size_t)i * n;
    const double *a1 = f32 ? 0 : two ? a0 + n : a0;
    const float *f0 = f32 ? g->Af + (size_t)i * n : 0;
    const float *f1 = f32 ? (two ? f0 + n : f0) : 0;
    double r0[QB], r1[QB];
    for (int c = 0; c < qb; c++) {
      r0[c] = g->B[(size_t)i * q + c0 + c];
      r1[c] = two ? g->B[(size_t)(i + 1) * q + c0 + c] : 0.0;
    }
    if (XT) {
      f2 s0[QB], s1[QB];
      for (int c = 0; c < qb; c++) s0[c] = s1[c] = wasm_f64x2_splat(0.0);
      for (int j = 0; j < n2; j += 2) {
        f2 x0 = ld2(a0, f0, j, f32), x1 = ld2(a1, f1, j, f32);
        for (int c = 0; c < qb; c++) {
          f2 xc = wasm_v128_load(XT + (size_t)(c0 + c) * n + j);
          s0[c] = MADD(s0[c], x0, xc);
          s1[c] = MADD(s1[c], x1, xc);
        }
      }
      for (int c = 0; c < qb; c++) {
        const double *xc = XT + (size_t)(c0 + c) * n;
        double d0 = wasm_f64x2_extract_lane(s0[c], 0) + wasm_f64x2_extract_lane(s0[c], 1);
        double d1 = wasm_f64x2_extract_lane(s1[c], 0) + wasm_f64x2_extract_lane(s1[c], 1);
        if (n2 < n) {
          d0 += ld1(a0, f0, n2, f32) * xc[n2];
          d1 += ld1(a1, f1, n2, f32) * xc[n2];
        }
        r0[c] -= d0;
        r1[c] = two ? r1[c] - d1 : 0.0;
      }
    }
    for (int c = 0; c < qb; c++) rss[c] += r0[c] * r0[c] + r1[c] * r1[c];
    f2 v0[QB], v1[QB];
    for (int c = 0; c < qb; c++) {
      v0[c] = wasm_f64x2_splat(r0[c]);
      v1[c] = wasm_f64x2_splat(r1[c]);
    }
    for (int j = 0; j < n2; j += 2) {
      f2 x0 = ld2(a0, f0, j, f32), x1 = ld2(a1, f1, j, f32);
      for (int c = 0; c < qb; c++) {
        double *gc = G + (size_t)c * n + j;
        f2 t = MADD(wasm_f64x2_mul(x0, v0[c]), x1, v1[c]);
        wasm_v128_store(gc, wasm_f64x2_add(wasm_v128_load(gc), t));
      }
    }
    if (n2 < n)
      for (int c = 0; c < qb; c++)
        G[(size_t)c * n + n2] += ld1(a0, f0, n2, f32) * r0[c] + ld1(a1, f1, n2, f32) * r1[c];
  }
}

static __attribute__((noinline)) void ns_block_qb(const ns_args *g, int lo, int hi, int c0,
                                                   int qb, double *G, double *rss) {
  if (g->Af) switch (qb) {
    case 1: ns_block(g, lo, hi, c0, 1, 1, G, rss); break;
    case 2: ns_block(g, lo, hi, c0, 2, 1, G, rss); break;
    case 3: ns_block(g, lo, hi, c0, 3, 1, G, rss); break;
    default: ns_block(g, lo, hi, c0, 4, 1, G, rss); break;
    }
  else switch (qb) {
    case 1: ns_block(g, lo, hi, c0, 1, 0, G, rss); break;
    case 2: ns_block(g, lo, hi, c0, 2, 0, G, rss); break;
    case 3: ns_block(g, lo, hi, c0, 3, 0, G, rss); break;
    default: ns_block(g, lo, hi, c0, 4, 0, G, rss); break;
    }
}

static void ns_task(int tid, int nt, void *p) {
  ns_args *g = (ns_args *)p;
  for (int lo, hi, part, c; claims_next(&g->cl, 2, &lo, &hi, &part, &c);) {
    double *G = slot_at(g->acc, (size_t)(g->n + 1) * g->q, part);
    double *rss = G + (size_t)g->n * g->q;
    for (int c0 = 0; c0 < g->q; c0 += QB) {
      int qb = MIN(QB, g->q - c0);
      ns_block_qb(g, lo, hi, c0, qb, G + (size_t)c0 * g->n, rss + c0);
    }
    claims_done(&g->cl, c);
  }
}

/* Zeroed accumulator slots for an n×q pass. */
EXPORT(ns_begin) double *ns_begin(int n, int q, int m) {
  return slots_begin((size_t)(n + 1) * q, m);
}

/* Starts accumulating m rows of A (m×n) and B (m×q); XT (column-major X) may be 0 for R = B;
 * par_join() completes it. */
static ns_args g_ns;
EXPORT(ns_add) void ns_add(double *acc, const double *A, const double *B, const double *XT, int m,
                           int n, int q) {
  g_ns = (ns_args){A, B, XT, m, n, q, acc, {0}, 0};
  claims_init(&g_ns.cl, m, slots_parts(acc));
  par_start(ns_task, &g_ns, (double)m * n * q < 2.0e5);
}

/* ns_add for float32 rows A (m×n), widened per entry as read: the same sums, bit for bit, as
 * ns_add on the widened rows. */
EXPORT(ns_add_f32) void ns_add_f32(double *acc, const float *A, const double *B, const double *XT,
                                   int m, int n, int q) {
  g_ns = (ns_args){0, B, XT, m, n, q, acc, {0}, A};
  claims_init(&g_ns.cl, m, slots_parts(acc));
  par_start(ns_task, &g_ns, (double)m * n * q < 2.0e5);
}

/* G (column-major q×n, i.e. G[c·n + j] = (AᵀR)[j][c]) and rss (q) summed over the threads. */
EXPORT(ns_end) void ns_end(const double *acc, double *G, double *rss, int n, int q) {
  int T = slots_parts(acc);
  size_t stride = (size_t)(n + 1) * q;
  acc += 2;
  for (size_t o = 0; o < stride; o++) {
    double s = acc[o];
    for (int t = 1; t < T; t++) s += acc[(size_t)t * stride + o];
    if (o < (size_t)n * q)
      G[o] = s;
    else
      rss[o - (size_t)n * q] = s;
  }
}
