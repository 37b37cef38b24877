/*
 * The k leading eigenpairs of a symmetric n×n matrix, when only those are needed (a weight's input
 * subspace for NRC3, its λ₁ for the stable rank): block Krylov (block Lanczos) with full
 * reorthogonalisation and an explicit Rayleigh–Ritz step, instead of tridiagonalising all of A.
 *
 * The basis Q (rows, orthonormal) grows by one block of k vectors a step: A·(last block),
 * orthogonalised against all of Q by classical Gram–Schmidt twice. A·q is kept for every basis
 * vector, so the projected matrix T = QᵀAQ is formed from dot products (never from the three-term
 * recurrence, which loses orthogonality in floating point) and each Ritz pair (θ, y = Q·s) gets
 * its true residual ‖A·y − θ·y‖ = ‖(AQ)·s − θ·Q·s‖. The pairs are accepted when every one of the
 * k residuals is ≤ 16·√n·ε·θ₁: a backward error of the size a dense solver's own rounding leaves
 * (so the eigenvalues are within that of A's and each vector within it over the gap, as for
 * LAPACK's), which takes a few steps when the top k stand apart from the rest of the spectrum
 * and many when they sit in a dense bulk. So the work is bounded: past `maxdim` basis vectors, or
 * once the residuals shrink too slowly to get there, it gives up (a negative return) and the
 * caller runs the dense solver. A deterministic random start block (and a fresh random vector
 * wherever a block deflates, e.g. for an eigenvalue of multiplicity above k) makes the result
 * reproducible. Cost per step O(n²·k + n·dim·k), against 4n³/3 for the tridiagonalisation.
 */
#include "common.h"

/* x ← x orthogonalised against rows Q[0..p) (CGS2) and normalised; returns ‖after‖/‖before‖. */
static double orth_against(int n, const double *Q, int p, double *x, double *h) {
  double before = nrm2(n, x);
  if (!(before > 0.0)) return 0.0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < p; i++) h[i] = dot(n, Q + (size_t)i * n, x);
    for (int i = 0; i < p; i++) axpy(n, -h[i], Q + (size_t)i * n, x);
  }
  double after = nrm2(n, x);
  if (after > 0.0) scal(n, 1.0 / after, x);
  return after / before;
}

/* Rows Y[v] = A·X[v] for b vectors, A symmetric row-major: each row of A is read once. */
static void sym_block_mv(int n, const double *A, int b, const double *X, double *Y) {
  for (int r = 0; r < n; r++) {
    const double *ar = A + (size_t)r * n;
    for (int v = 0; v < b; v++) Y[(size_t)v * n + r] = dot(n, ar, X + (size_t)v * n);
  }
}

/* Appends a random unit vector orthogonal to Q[0..p) as row p (retrying while it is not). */
static void random_direction(int n, double *Q, int p, double *h, uint32_t *st) {
  double *x = Q + (size_t)p * n;
  do {
    for (int i = 0; i < n; i++) x[i] = (double)(lcg_next(st) >> 8) * (2.0 / 16777216.0) - 1.0;
  } while (orth_against(n, Q, p, x, h) < 1e-3);
}

/*
 * A (n×n, lower triangle read, overwritten), k ≥ 1 wanted pairs, at most maxdim basis vectors:
 * values[0..k) descending and vecs (n×k, column j the eigenvector of values[j]). Returns the
 * basis size used, minus the basis size at which it gave up (outputs then undefined), or 0 when
 * it did not try (A = 0, the dense solver's special case, or maxdim < 2k).
 */
EXPORT(k_topeig) int k_topeig(double *A, int n, int k, int maxdim, double *values, double *vecs) {
  if (n <= 0 || k <= 0) return 0;
  if (k > n) k = n;
  if (maxdim > n) maxdim = n;
  if (maxdim < 2 * k) return 0;
  double amax = sym_from_lower(A, n);
  if (amax == 0.0) return 0; /* the dense solver handles the zero matrix */
  double unscale = pow2_normalize(A, (size_t)n * n, amax);
  const int b = k, D = maxdim;
  double *Q = (double *)arena_alloc(sizeof(double) * (size_t)D * n);
  double *AQ = (double *)arena_alloc(sizeof(double) * (size_t)D * n);
  double *T = (double *)arena_alloc(sizeof(double) * (size_t)D * D);
  double *Tw = (double *)arena_alloc(sizeof(double) * (size_t)D * D);
  double *th = (double *)arena_alloc(sizeof(double) * D);
  double *S = (double *)arena_alloc(sizeof(double) * (size_t)D * k);
  double *h = (double *)arena_alloc(sizeof(double) * D);
  double *Y = (double *)arena_alloc(sizeof(double) * (size_t)k * n);
  double *r = (double *)arena_alloc(sizeof(double) * n);
  size_t mark = arena_top();
  uint32_t st = 0x2545f491u;
  int p = 0, m = 0, steps = 0;
  for (int v = 0; v < b; v++) random_direction(n, Q, p++, h, &st);
  double tol = 16.0 * nrc_sqrt((double)n) * DBL_EPS;
  double hist[4] = {0, 0, 0, 0}; /* worst relative residual of the last steps */
  for (;;) {
    sym_block_mv(n, A, p - m, Q + (size_t)m * n, AQ + (size_t)m * n);
    /* New columns j ∈ [m, p) of T = QᵀAQ: qᵢ·(A qⱼ), averaged with qⱼ·(A qᵢ) where both are new. */
    for (int j = m; j < p; j++)
      for (int i = 0; i <= j; i++) {
        double t = dot(n, Q + (size_t)i * n, AQ + (size_t)j * n);
        if (i >= m) t = 0.5 * (t + dot(n, Q + (size_t)j * n, AQ + (size_t)i * n));
        T[(size_t)i * D + j] = T[(size_t)j * D + i] = t;
      }
    m = p;
    steps++;
    /* Rayleigh–Ritz: the top k eigenpairs of T (m×m) by the dense solver. */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) Tw[(size_t)i * m + j] = T[(size_t)i * D + j];
    int ok = k_symeig(Tw, m, k, th, S) == 0;
    arena_set_top(mark);
    if (!ok) return -m;
    double worst = 0.0, scale = th[0] > 0.0 ? th[0] : 0.0;
    for (int j = 0; j < k; j++) {
      double *y = Y + (size_t)j * n;
      for (int i = 0; i < n; i++) y[i] = 0.0, r[i] = 0.0;
      for (int i = 0; i < m; i++) {
        double s = S[(size_t)i * k + j];
        axpy(n, s, Q + (size_t)i * n, y);
        axpy(n, s, AQ + (size_t)i * n, r);
      }
      axpy(n, -th[j], y, r);
      double res = nrm2(n, r);
      if (nrc_fabs(th[j]) > scale) scale = nrc_fabs(th[j]);
      if (res > worst) worst = res;
    }
    double rel = scale > 0.0 ? worst / scale : 1.0;
    if (scale > 0.0 && rel <= tol) {
      for (int j = 0; j < k; j++) {
        values[j] = th[j] * unscale;
        const double *y = Y + (size_t)j * n;
        for (int i = 0; i < n; i++) vecs[(size_t)i * k + j] = y[i];
      }
      return m;
    }
    if (p + b > D) return -m;
    /* Give up early when the residual's recent rate of decrease (over three steps) would not
     * reach tol within the remaining budget with a margin of 2. */
    hist[0] = hist[1], hist[1] = hist[2], hist[2] = hist[3], hist[3] = rel;
    if (steps >= 6 && hist[0] > 0.0) {
      double rate = hist[3] / hist[0], x = rel; /* rate over 3 steps */
      int left = (D - p) / b, s = 0;
      if (!(rate < 1.0)) return -m;
      while (x > tol && s <= 2 * left) x *= rate, s += 3;
      if (x > tol) return -m;
    }
    /* Next block: A·(last block) orthogonalised against all of Q; a direction that is (nearly)
     * in span(Q) already — an invariant subspace — is replaced by a random one. */
    for (int v = m - b; v < m; v++) {
      double *x = Q + (size_t)p * n;
      for (int i = 0; i < n; i++) x[i] = AQ[(size_t)v * n + i];
      if (orth_against(n, Q, p, x, h) < 1e-10)
        random_direction(n, Q, p, h, &st);
      p++;
    }
  }
}
