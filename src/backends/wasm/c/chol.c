/*
 * Cholesky factorisation A = L·Lᵀ of a symmetric positive definite matrix (row-major, the lower
 * triangle read and overwritten by L), right-looking and blocked: an NB-column diagonal block
 * factored in place, then one threaded pass over the rows below it in blocks of NB: each block of
 * rows first solves its panel part against the diagonal block (x·L_kkᵀ = a, rows independent),
 * then updates its rows of the trailing matrix's lower triangle, A22[rows, :end] −= P[rows]·
 * P[:end]ᵀ (a GEMM whose columns stop at the block's last row: about half of a full trailing
 * GEMM's flops). A row block needs the panel of the rows above it, so the blocks are taken in
 * order and each waits until those rows' panel solves are published.
 */
#include "common.h"

#define CHOL_NB 64

typedef struct {
  double *A;
  int n, kb, bs;
  volatile int32_t next;    /* next row block to claim */
  volatile int32_t solved;  /* row blocks whose panel solve is done, in order */
} chol_args;

static void chol_task(int tid, int nt, void *p) {
  chol_args *g = (chol_args *)p;
  double *A = g->A;
  int n = g->n, kb = g->kb, bs = g->bs, r0 = kb + bs;
  int blocks = (n - r0 + CHOL_NB - 1) / CHOL_NB;
  double *w = thread_gemm_work(tid);
  (void)nt;
  for (;;) {
    int b = __atomic_fetch_add(&g->next, 1, __ATOMIC_SEQ_CST);
    if (b >= blocks) return;
    int lo = r0 + b * CHOL_NB, hi = MIN(n, lo + CHOL_NB);
    for (int i = lo; i < hi; i++) {
      double *ri = A + (size_t)i * n;
      for (int j = kb; j < kb + bs; j++) {
        const double *rj = A + (size_t)j * n;
        ri[j] = (ri[j] - dot(j - kb, ri + kb, rj + kb)) / rj[j];
      }
    }
    /* Publish in order (block b after b − 1), then wait for every block above to be solved. */
    while (__atomic_load_n(&g->solved, __ATOMIC_SEQ_CST) < b) {
    }
    __atomic_store_n(&g->solved, b + 1, __ATOMIC_SEQ_CST);
    /* Rows [lo, hi) of the trailing lower triangle: columns r0 … hi − 1. */
    gemm_serial(0, 1, hi - lo, hi - r0, bs, -1.0, A + (size_t)lo * n + kb, n,
                A + (size_t)r0 * n + kb, n, A + (size_t)lo * n + r0, n, w);
  }
}

/* In-place factorisation; returns 0, or j + 1 when pivot j is not positive (not PD). */
EXPORT(k_chol) int k_chol(double *A, int n) {
  for (int kb = 0; kb < n; kb += CHOL_NB) {
    int bs = MIN(CHOL_NB, n - kb);
    /* Diagonal block. */
    for (int j = kb; j < kb + bs; j++) {
      double *rj = A + (size_t)j * n;
      double s = rj[j] - dot(j - kb, rj + kb, rj + kb);
      if (!(s > 0.0)) return j + 1;
      double ljj = nrc_sqrt(s);
      rj[j] = ljj;
      for (int i = j + 1; i < kb + bs; i++) {
        double *ri = A + (size_t)i * n;
        ri[j] = (ri[j] - dot(j - kb, ri + kb, rj + kb)) / ljj;
      }
    }
    int m = n - kb - bs;
    if (m <= 0) break;
    chol_args g = {A, n, kb, bs, 0, 0};
    if ((double)m * m * bs < 4.0e5 || par_threads() == 1)
      chol_task(0, 1, &g);
    else
      par_run(chol_task, &g);
  }
  return 0;
}
