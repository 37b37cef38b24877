/*
 * One-sided (Hestenes) Jacobi for the thin SVD: the same sweeps, thresholds and rotation formulas
 * as the JS kernel (src/backends/js/svd.ts); the host does the preconditioning (QR of tall
 * matrices, rotation by the Gram's eigenvectors) with the other kernels. Columns are stored as
 * rows here (Bt is n×m: row j = column j of B), so every dot product and rotation is contiguous.
 */
#include "common.h"


/*
 * Rotates the n rows of Bt (n×m) until they are mutually orthogonal, applying every rotation to
 * the rows of Vt (n×n, identity on entry). Returns 0, or -1 after 80 sweeps without convergence.
 */
EXPORT(k_jacobi) int k_jacobi(double *Bt, int m, int n, double *Vt) {
  double *norms = (double *)arena_alloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  for (int sweep = 0; sweep < 80; sweep++) {
    double maxNorm = 0.0;
    for (int j = 0; j < n; j++) {
      const double *b = Bt + (size_t)j * m;
      norms[j] = dot(m, b, b);
      if (norms[j] > maxNorm) maxNorm = norms[j];
    }
    /* Columns below 1e-2·ε·(largest column) are numerically zero (see the JS kernel). */
    double floor = MAX(maxNorm * DBL_EPS * DBL_EPS * 1e-4, 1e-300);
    /* Orthogonal once the cosine is below m·ε (LAPACK dgesvj's CTOL = M; see the JS kernel). */
    double tol = (double)MAX(1, m) * DBL_EPS;
    int rotated = 0;
    for (int i = 0; i < n - 1; i++) {
      double *bi = Bt + (size_t)i * m;
      for (int j = i + 1; j < n; j++) {
        double alpha = norms[i], beta = norms[j];
        if (alpha <= floor || beta <= floor) continue;
        double *bj = Bt + (size_t)j * m;
        double gamma = dot(m, bi, bj);
        if (nrc_fabs(gamma) <= tol * nrc_sqrt(alpha) * nrc_sqrt(beta)) continue;
        rotated = 1;
        double zeta = (beta - alpha) / (2.0 * gamma);
        double t = (zeta >= 0 ? 1.0 : -1.0) / (nrc_fabs(zeta) + nrc_sqrt(1.0 + zeta * zeta));
        double c = 1.0 / nrc_sqrt(1.0 + t * t);
        double s = c * t;
        norms[i] = MAX(alpha - t * gamma, 0.0);
        norms[j] = beta + t * gamma;
        rot_rows(m, bi, bj, c, s);
        rot_rows(n, Vt + (size_t)i * n, Vt + (size_t)j * n, c, s);
      }
    }
    if (!rotated) return 0;
  }
  return -1;
}
