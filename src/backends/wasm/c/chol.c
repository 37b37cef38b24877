/*
 * Cholesky factorisation A = L·Lᵀ of a symmetric positive definite matrix (row-major, the lower
 * triangle read and overwritten by L), right-looking and blocked: an NB-column diagonal block
 * factored in place, the panel below it solved against that block (rows are contiguous), then the
 * trailing matrix updated by one threaded GEMM (both triangles, twice syrk's flops but one call).
 */
#include "common.h"

#define CHOL_NB 64

/* In-place factorisation; returns 0, or j + 1 when pivot j is not positive (not PD). */
EXPORT(k_chol) int k_chol(double *A, int n) {
  ensure_gemm_work();
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
    /* Panel: each row x of A[kb+bs:, kb:kb+bs] solves x·L_kkᵀ = a. */
    for (int i = kb + bs; i < n; i++) {
      double *ri = A + (size_t)i * n;
      for (int j = kb; j < kb + bs; j++) {
        const double *rj = A + (size_t)j * n;
        ri[j] = (ri[j] - dot(j - kb, ri + kb, rj + kb)) / rj[j];
      }
    }
    /* Trailing update A22 −= P·Pᵀ. */
    double *P = A + (size_t)(kb + bs) * n + kb;
    double *C = A + (size_t)(kb + bs) * n + kb + bs;
    gemm_par(0, 1, m, m, bs, -1.0, P, n, P, n, C, n);
  }
  return 0;
}
