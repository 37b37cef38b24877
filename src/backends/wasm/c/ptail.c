/*
 * The energy of centered rows off a subspace and along its basis, in one pass over the data
 * (src/linalg/tail.ts): for rows aᵢ of A (m×n), means μ and V (n×k, orthonormal columns, given
 * transposed as VT k×n), with xᵢ = aᵢ − μ and cᵢ = Vᵀxᵢ,
 *   tail = Σᵢ ‖xᵢ − V·cᵢ‖²,  energy[j] = Σᵢ cᵢⱼ².
 * Each residual is formed entry by entry and squared (never ‖x‖² − ‖c‖²), so a tail of 1e-15 of
 * the total keeps its digits. Rows are claimed in chunks summed into per-part slots in a fixed
 * order (claims_t), so the sums depend on m and the part count only.
 */
#include "common.h"

typedef struct {
  const double *A, *mu, *VT;
  int m, n, k;
  double *acc;  /* slots: k (energy) then 1 (tail) */
  double *work; /* per thread: n (x) + k (c) */
  claims_t cl;
} pt_args;

static void pt_rows(const pt_args *g, int lo, int hi, double *x, double *c, double *slot) {
  const int n = g->n, k = g->k;
  const int n2 = n & ~1;
  double tail = 0.0;
  for (int i = lo; i < hi; i++) {
    const double *a = g->A + (size_t)i * n;
    for (int j = 0; j < n2; j += 2)
      wasm_v128_store(x + j, wasm_f64x2_sub(wasm_v128_load(a + j), wasm_v128_load(g->mu + j)));
    if (n2 < n) x[n2] = a[n2] - g->mu[n2];
    for (int p = 0; p < k; p++) {
      const double *v = g->VT + (size_t)p * n;
      double s = dot(n, v, x);
      c[p] = s;
      slot[p] += s * s;
    }
    tail += resid_sq(n, k, x, c, g->VT);
  }
  slot[k] += tail;
}

static void pt_task(int tid, int nt, void *p) {
  pt_args *g = (pt_args *)p;
  double *x = g->work + (size_t)tid * (g->n + g->k);
  double *c = x + g->n;
  for (int lo, hi, part, ch; claims_next(&g->cl, 1, &lo, &hi, &part, &ch);) {
    pt_rows(g, lo, hi, x, c, slot_at(g->acc, (size_t)g->k + 1, part));
    claims_done(&g->cl, ch);
  }
}

/* out (k + 1): energy[0..k) then tail. */
EXPORT(k_projtail) void k_projtail(const double *A, int m, int n, const double *mu,
                                   const double *VT, int k, double *out) {
  static pt_args g;
  double *acc = slots_begin((size_t)k + 1, m);
  double *work = (double *)arena_alloc(sizeof(double) * (size_t)par_threads() * (n + k + 2));
  g = (pt_args){A, mu, VT, m, n, k, acc, work, {0}};
  claims_init(&g.cl, m, slots_parts(acc));
  par_run(pt_task, &g);
  int T = slots_parts(acc);
  for (int o = 0; o <= k; o++) {
    double s = 0.0;
    for (int t = 0; t < T; t++) s += slot_at(acc, (size_t)k + 1, t)[o];
    out[o] = s;
  }
}
