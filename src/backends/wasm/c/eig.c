/*
 * Symmetric eigensolver: A = Q·T·Qᵀ by Householder tridiagonalisation (upper triangle, one fused
 * rank-2-update + symmetric matrix-vector pass per column, rows shared cyclically among threads,
 * one barrier per column), eigenpairs of T by Cuppen's divide and conquer (deflation, a safeguarded rational
 * secular-equation solver, Gu–Eisenstat recomputation of z for orthogonal vectors, level-3 merges),
 * then eigenvectors of A by applying the reflectors in compact-WY blocks (GEMMs).
 * Eigenvectors are held as ROWS (E[j][:] is eigenvector j) so every rotation is contiguous.
 */
#include "common.h"

/* ------------------------------------------------------------------------------------------ */
/* Tridiagonalisation. */

typedef struct {
  double *A; /* n×n symmetric, upper triangle read and updated; destroyed */
  int n;
  double *V;   /* n×n, row k = Householder vector k (zero outside k+1..n-1, v[k+1] = 1) */
  double *tau; /* n */
  double *d, *e;
  double *y;    /* 2 × nt × n: double-buffered per-thread partial sums of A v */
  double *priv; /* nt × 6n private buffers */
} trd_args;

/* Householder reflector for x (length m): H x = β e₁, H = I − τ v vᵀ, v[0] = 1 (written to v). */
static double make_reflector(int m, const double *x, double *v, double *beta) {
  double alpha = x[0];
  double sigma = m > 1 ? nrm2(m - 1, x + 1) : 0.0;
  v[0] = 1.0;
  if (sigma == 0.0) {
    for (int j = 1; j < m; j++) v[j] = 0.0;
    *beta = alpha;
    return 0.0;
  }
  double b, sc;
  double t = house_params(alpha, sigma, &b, &sc);
  for (int j = 1; j < m; j++) v[j] = x[j] * sc;
  *beta = b;
  return t;
}

/*
 * One row of the upper triangle, r[0..len) = A[i][i..n): r[j] -= a·x[j] + b·y[j] (the previous
 * reflector's rank-2 update), then returns Σ_j r[j]·z[j] (row i of A·v over j ≥ i) and adds
 * zi·r[j] to out[j] for j ≥ 1 (the column part of A·v, by symmetry).
 */
static double update_dot_axpy(int len, double *r, double a, const double *x, double b,
                              const double *y, const double *z, double zi, double *out) {
  if (len <= 0) return 0.0;
  r[0] -= a * x[0] + b * y[0];
  double s = r[0] * z[0];
  f2 av = wasm_f64x2_splat(a), bv = wasm_f64x2_splat(b), zv = wasm_f64x2_splat(zi);
  f2 s0 = wasm_f64x2_splat(0.0), s1 = s0;
  int j = 1;
  for (; j + 4 <= len; j += 4) {
    f2 r0 = wasm_v128_load(r + j), r1 = wasm_v128_load(r + j + 2);
    r0 = wasm_f64x2_sub(
        r0, MADD(wasm_f64x2_mul(av, wasm_v128_load(x + j)), bv, wasm_v128_load(y + j)));
    r1 = wasm_f64x2_sub(
        r1, MADD(wasm_f64x2_mul(av, wasm_v128_load(x + j + 2)), bv, wasm_v128_load(y + j + 2)));
    wasm_v128_store(r + j, r0);
    wasm_v128_store(r + j + 2, r1);
    s0 = MADD(s0, r0, wasm_v128_load(z + j));
    s1 = MADD(s1, r1, wasm_v128_load(z + j + 2));
    wasm_v128_store(out + j, MADD(wasm_v128_load(out + j), zv, r0));
    wasm_v128_store(out + j + 2, MADD(wasm_v128_load(out + j + 2), zv, r1));
  }
  s0 = wasm_f64x2_add(s0, s1);
  s += wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
  for (; j < len; j++) {
    r[j] -= a * x[j] + b * y[j];
    s += r[j] * z[j];
    out[j] += zi * r[j];
  }
  return s;
}

/*
 * Householder tridiagonalisation on the upper triangle, one fused pass per column: each thread
 * takes every nt-th row of the trailing block, applies the previous reflector's rank-2 update to
 * it and accumulates both halves of the symmetric product A·v (row i gives (A v)_i over j ≥ i and,
 * by symmetry, a_ij·v_i to (A v)_j) into its own partial vector. One barrier per column, after
 * which every thread sums the partials itself (double-buffered, so no second barrier). Each
 * element of the upper triangle is read and written once per column: half the traffic of the
 * full-storage pass.
 */
static void trd_task(int tid, int nt, void *arg) {
  trd_args *g = (trd_args *)arg;
  int n = g->n;
  double *A = g->A;
  double *buf = g->priv + (size_t)tid * 6 * n;
  double *vo = buf, *wo = buf + n, *vn = buf + 2 * n, *wn = buf + 3 * n, *row = buf + 4 * n;
  double *p = buf + 5 * n;
  for (int j = 0; j < 4 * n; j++) buf[j] = 0.0;
  for (int k = 0; k + 2 < n; k++) {
    /* Pivot row k of A^(k): memory holds A^(k-1); apply reflector k-1 privately. */
    const double *ak = A + (size_t)k * n;
    for (int j = k; j < n; j++) row[j] = ak[j] - (vo[k] * wo[j] + wo[k] * vo[j]);
    int m = n - k - 1;
    double beta;
    for (int j = 0; j <= k; j++) vn[j] = 0.0;
    double tau = make_reflector(m, row + k + 1, vn + k + 1, &beta);
    if (tid == 0) {
      g->d[k] = row[k];
      g->e[k] = beta;
      g->tau[k] = tau;
      double *vk = g->V + (size_t)k * n;
      for (int j = 0; j < n; j++) vk[j] = vn[j];
    }
    int first = k + 1;
    double *ybase = g->y + (size_t)(k & 1) * nt * n;
    double *yt = ybase + (size_t)tid * n;
    for (int j = first; j < n; j++) yt[j] = 0.0;
    /* Fused pass over own rows: apply reflector k-1, then accumulate A^(k) v_k. */
    int i0 = first + ((tid - first % nt) % nt + nt) % nt;
    for (int i = i0; i < n; i += nt) {
      double *r = A + (size_t)i * n + i;
      yt[i] += update_dot_axpy(n - i, r, vo[i], wo + i, wo[i], vo + i, vn + i, vn[i], yt + i);
    }
    par_barrier_t(tid, nt);
    /* p = τ A v from the partials, w = p − (τ/2)(pᵀv) v, identical on every thread. */
    for (int j = first; j < n; j++) {
      double s = ybase[j];
      for (int t = 1; t < nt; t++) s += ybase[(size_t)t * n + j];
      p[j] = tau * s;
    }
    double K = dot(m, p + first, vn + first);
    double a = -0.5 * tau * K;
    for (int j = 0; j < first; j++) wn[j] = 0.0;
    for (int j = first; j < n; j++) wn[j] = p[j] + a * vn[j];
    double *t;
    t = vo, vo = vn, vn = t;
    t = wo, wo = wn, wn = t;
  }
  if (tid == 0) {
    if (n >= 2) {
      int k = n - 2;
      const double *ak = A + (size_t)k * n;
      double r0 = ak[k] - 2.0 * vo[k] * wo[k];
      double r1 = ak[k + 1] - (vo[k] * wo[k + 1] + wo[k] * vo[k + 1]);
      double r2 = A[(size_t)(n - 1) * n + n - 1] - 2.0 * vo[n - 1] * wo[n - 1];
      g->d[k] = r0;
      g->e[k] = r1;
      g->d[n - 1] = r2;
      g->tau[k] = 0.0;
      for (int j = 0; j < n; j++) g->V[(size_t)k * n + j] = 0.0;
    } else {
      g->d[0] = A[0];
    }
    g->tau[n - 1] = 0.0;
    for (int j = 0; j < n; j++) g->V[(size_t)(n - 1) * n + j] = 0.0;
    if (n >= 1) g->e[n - 1] = 0.0;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Small tridiagonal problems: implicit QL with Wilkinson-type shifts; E rows rotated. */

static double hypot2(double a, double b) {
  a = nrc_fabs(a);
  b = nrc_fabs(b);
  if (a < b) {
    double t = a;
    a = b;
    b = t;
  }
  if (a == 0.0) return 0.0;
  double r = b / a;
  return a * nrc_sqrt(1.0 + r * r);
}


/*
 * Eigen-decomposition of the n×n tridiagonal (d, e; e[i] couples i and i+1) with eigenvector rows
 * E (row j, columns [0, n), stride lde) that must hold the identity on entry, or E = 0 for the
 * eigenvalues only (O(n²)). Sorted ascending. Returns 0, or -1 if some eigenvalue failed to
 * converge.
 */
static int tri_ql(int n, double *d, double *e, double *E, int lde) {
  int status = 0;
  if (n > 0) e[n - 1] = 0.0;
  for (int l = 0; l < n; l++) {
    int iter = 0, m;
    for (;;) {
      for (m = l; m < n - 1; m++) {
        double dd = nrc_fabs(d[m]) + nrc_fabs(d[m + 1]);
        if (nrc_fabs(e[m]) <= DBL_EPS * dd) break;
      }
      if (m == l) break;
      if (++iter > 60) {
        status = -1;
        break;
      }
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = hypot2(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + nrc_copysign(r, g));
      double s = 1.0, c = 1.0, p = 0.0;
      int i;
      int early = 0;
      for (i = m - 1; i >= l; i--) {
        double f = s * e[i], b = c * e[i];
        r = hypot2(f, g);
        e[i + 1] = r;
        if (r == 0.0) {
          d[i + 1] -= p;
          e[m] = 0.0;
          early = 1;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        /* Column rotation (i, i+1) of the eigenvector matrix = rows here. */
        if (E) rot_rows(n, E + (size_t)i * lde, E + (size_t)(i + 1) * lde, c, s);
      }
      if (early) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0.0;
    }
  }
  /* Selection sort ascending (n small), swapping rows. */
  for (int i = 0; i < n - 1; i++) {
    int k = i;
    for (int j = i + 1; j < n; j++)
      if (d[j] < d[k]) k = j;
    if (k != i) {
      double t = d[i];
      d[i] = d[k];
      d[k] = t;
      if (!E) continue;
      double *x = E + (size_t)i * lde, *y = E + (size_t)k * lde;
      for (int j = 0; j < n; j++) {
        double u = x[j];
        x[j] = y[j];
        y[j] = u;
      }
    }
  }
  return status;
}

/*
 * Eigenvalues only of the tridiagonal (d, e), ascending into d: the rational (square-root-free)
 * QL of EISPACK's tqlrat (Reinsch), on the squared off-diagonals. A few times cheaper than
 * tri_ql without vectors (one sqrt per sweep, not per rotation). Returns 0, or -1 when an
 * eigenvalue did not converge in 30 sweeps. e2 is scratch of length n.
 */
static int tri_values(int n, double *d, const double *e, double *e2) {
  if (n <= 0) return 0;
  for (int i = 0; i + 1 < n; i++) e2[i] = e[i] * e[i];
  e2[n - 1] = 0.0;
  double f = 0.0, t = 0.0, b = 0.0, c = 0.0;
  for (int l = 0; l < n; l++) {
    double h = nrc_fabs(d[l]) + nrc_sqrt(e2[l]);
    if (t < h) {
      t = h;
      b = DBL_EPS * t;
      c = b * b;
    }
    int m = l;
    while (m < n - 1 && e2[m] > c) m++;
    if (m != l) {
      for (int sweep = 0;; sweep++) {
        if (sweep == 30) return -1;
        /* Shift from the leading 2×2. */
        double s = nrc_sqrt(e2[l]);
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * s);
        double r = hypot2(p, 1.0);
        d[l] = s / (p + nrc_copysign(r, p));
        h = g - d[l];
        for (int i = l + 1; i < n; i++) d[i] -= h;
        f += h;
        /* Rational QL sweep from m up to l. */
        g = d[m];
        if (g == 0.0) g = b;
        h = g;
        s = 0.0;
        for (int i = m - 1; i >= l; i--) {
          p = g * h;
          r = p + e2[i];
          e2[i + 1] = s * r;
          s = e2[i] / r;
          d[i + 1] = h + s * (h + d[i]);
          g = d[i] - e2[i] / g;
          if (g == 0.0) g = b;
          h = g * p / r;
        }
        e2[l] = s * g;
        d[l] = h;
        /* Converged (guarding against underflow in the test)? */
        if (h == 0.0 || nrc_fabs(e2[l]) <= nrc_fabs(c / h)) break;
        e2[l] = h * e2[l];
        if (e2[l] == 0.0) break;
      }
    }
    /* Insert the converged value into the ascending d[0..l]. */
    double p = d[l] + f;
    int i = l;
    for (; i > 0 && p < d[i - 1]; i--) d[i] = d[i - 1];
    d[i] = p;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Secular equation 1 + ρ Σ z_j²/(d_j − λ) = 0 (d strictly increasing, ρ > 0, z_j ≠ 0). */

/* Root i: returns τ with λ = d[org] + τ, accurate relative to the nearest pole. */
static double secular_root(int K, const double *d, const double *z2, double rho, double z2sum,
                           int i, int *org_out) {
  int org;
  double lo, hi, tau;
  if (i < K - 1) {
    double gap = d[i + 1] - d[i];
    double mid = 0.5 * gap;
    double f = 1.0;
    for (int j = 0; j < K; j++) f += rho * z2[j] / ((d[j] - d[i]) - mid);
    if (f >= 0.0) {
      org = i;
      lo = 0.0;
      hi = mid;
    } else {
      org = i + 1;
      lo = -(gap - mid);
      hi = 0.0;
    }
  } else {
    org = K - 1;
    lo = 0.0;
    hi = rho * z2sum;
    /* λ_K − d_K ≤ ρ‖z‖²; make sure hi is on the positive side of f. */
  }
  *org_out = org;
  double dorg = d[org];
  tau = 0.5 * (lo + hi);
  for (int it = 0; it < 200; it++) {
    double psi = 0, dpsi = 0, phi = 0, dphi = 0;
    for (int j = 0; j <= i; j++) {
      double del = (d[j] - dorg) - tau;
      double q = z2[j] / del;
      psi += q;
      dpsi += q / del;
    }
    for (int j = i + 1; j < K; j++) {
      double del = (d[j] - dorg) - tau;
      double q = z2[j] / del;
      phi += q;
      dphi += q / del;
    }
    double f = 1.0 + rho * (psi + phi);
    if (f == 0.0) break;
    if (f < 0.0)
      lo = tau;
    else
      hi = tau;
    /* τ is resolved relative to itself (the poles' offsets d_j − d_org are exact-ish). */
    if (hi - lo <= 2.0 * DBL_EPS * MAX(nrc_fabs(lo), nrc_fabs(hi)) || hi <= lo) break;
    double eta;
    int ok = 0;
    if (i < K - 1) {
      double di = (d[i] - dorg) - tau, dj = (d[i + 1] - dorg) - tau;
      double b = dpsi * di * di, a = psi - dpsi * di;
      double B = dphi * dj * dj, A2 = phi - dphi * dj;
      double C = 1.0 + rho * (a + A2);
      double qb = C * (di + dj) + rho * (b + B);
      double qc = C * di * dj + rho * (b * dj + B * di);
      if (nrc_fabs(C) <= DBL_EPS * (nrc_fabs(qb) / (nrc_fabs(di) + nrc_fabs(dj)))) {
        if (qb != 0.0) {
          eta = qc / qb;
          ok = 1;
        }
      } else {
        double disc = qb * qb - 4.0 * C * qc;
        if (disc >= 0.0) {
          double sq = nrc_sqrt(disc);
          double q = 0.5 * (qb + (qb >= 0 ? sq : -sq));
          double r1 = q / C, r2 = q != 0.0 ? qc / q : r1;
          int in1 = r1 > di && r1 < dj, in2 = r2 > di && r2 < dj;
          if (in1 && !in2) {
            eta = r1;
            ok = 1;
          } else if (in2 && !in1) {
            eta = r2;
            ok = 1;
          } else if (in1 && in2) {
            eta = nrc_fabs(r1) < nrc_fabs(r2) ? r1 : r2;
            ok = 1;
          }
        }
      }
    } else {
      double di = (d[i] - dorg) - tau;
      double b = dpsi * di * di, a = psi - dpsi * di;
      double C = 1.0 + rho * a;
      if (C > 0.0) {
        eta = di + rho * b / C;
        ok = 1;
      }
    }
    double tn = ok ? tau + eta : 0.5 * (lo + hi);
    if (!(tn > lo && tn < hi)) tn = 0.5 * (lo + hi);
    if (tn == tau) break;
    double step = nrc_fabs(tn - tau);
    tau = tn;
    if (ok && step <= 2.0 * DBL_EPS * nrc_fabs(tau)) break;
  }
  return tau;
}

/* ------------------------------------------------------------------------------------------ */
/* Divide and conquer. */

#define DC_SMALL 32

typedef struct {
  int N;      /* full size (row stride of E) */
  double *E;  /* N×N eigenvector rows */
  double *d, *e;
  /* workspace, each sized for the full problem */
  double *z, *dl, *zz, *tau, *W, *Wc, *Ec, *En, *dtmp;
  int *idx, *type, *nd, *dfl, *org, *cord, *perm;
  int status;
} dc_ws;

typedef struct {
  int K;
  const double *dl, *z2;
  double rho, z2sum;
  double *tau;
  int *org;
} sec_args;

static void sec_task(int tid, int nt, void *p) {
  sec_args *s = (sec_args *)p;
  for (int i = tid; i < s->K; i += nt)
    s->tau[i] = secular_root(s->K, s->dl, s->z2, s->rho, s->z2sum, i, &s->org[i]);
}

typedef struct {
  int K;
  const double *dl, *zz, *tau;
  const int *org;
  double *W;
} vec_args;

/* Gu–Eisenstat ẑ and the normalised eigenvectors W[m][:] of D + ρ z zᵀ. */
static void zhat_task(int tid, int nt, void *p) {
  vec_args *s = (vec_args *)p;
  int K = s->K;
  /* ẑ_i² = −(d_i − λ_i) Π_{j≠i} (d_i − λ_j)/(d_i − d_j); store in W row 0 scratch? use own buffer */
  for (int i = tid; i < K; i += nt) {
    double di = s->dl[i];
    double w = (di - s->dl[s->org[i]]) - s->tau[i];
    for (int j = 0; j < K; j++) {
      if (j == i) continue;
      double num = (di - s->dl[s->org[j]]) - s->tau[j];
      w *= num / (di - s->dl[j]);
    }
    double zh = nrc_sqrt(nrc_fabs(w));
    /* keep the sign of z */
    ((double *)s->W)[(size_t)K * K + i] = s->zz[i] >= 0 ? zh : -zh;
  }
}

static void wvec_task(int tid, int nt, void *p) {
  vec_args *s = (vec_args *)p;
  int K = s->K;
  const double *zh = s->W + (size_t)K * K;
  for (int m = tid; m < K; m += nt) {
    double *row = s->W + (size_t)m * K;
    double dm = s->dl[s->org[m]], tm = s->tau[m];
    double ss = 0.0;
    for (int i = 0; i < K; i++) {
      double v = zh[i] / ((s->dl[i] - dm) - tm);
      row[i] = v;
      ss += v * v;
    }
    double sc = 1.0 / nrc_sqrt(ss);
    for (int i = 0; i < K; i++) row[i] *= sc;
  }
}

static void dc_merge(dc_ws *w, int s, int n1, int n) {
  int N = w->N;
  double *E = w->E, *d = w->d + s;
  double beta = w->e[s + n1 - 1];
  double rho = nrc_fabs(beta);
  double sg = beta >= 0 ? 1.0 : -1.0;
  double *z = w->z;
  const double r2 = 0.70710678118654752440;
  for (int j = 0; j < n1; j++) z[j] = E[(size_t)(s + j) * N + s + n1 - 1] * r2;
  for (int j = n1; j < n; j++) z[j] = sg * E[(size_t)(s + j) * N + s + n1] * r2;
  rho *= 2.0;
  /* Merge the two ascending halves into a sorted order idx. */
  int *idx = w->idx;
  {
    int a = 0, b = n1, k = 0;
    while (a < n1 && b < n) idx[k++] = d[a] <= d[b] ? a++ : b++;
    while (a < n1) idx[k++] = a++;
    while (b < n) idx[k++] = b++;
  }
  int *type = w->type;
  for (int j = 0; j < n; j++) type[j] = j < n1 ? 1 : 3;
  double dmax = 0.0, zmax = 0.0;
  for (int j = 0; j < n; j++) {
    if (nrc_fabs(d[j]) > dmax) dmax = nrc_fabs(d[j]);
    if (nrc_fabs(z[j]) > zmax) zmax = nrc_fabs(z[j]);
  }
  double tol = 8.0 * DBL_EPS * MAX(dmax, rho * zmax);
  int *nd = w->nd, *dfl = w->dfl;
  int K = 0, nde = 0;
  int jlam = -1;
  for (int t = 0; t < n; t++) {
    int j = idx[t];
    if (rho * nrc_fabs(z[j]) <= tol) {
      dfl[nde++] = j;
      continue;
    }
    if (jlam < 0) {
      jlam = j;
      continue;
    }
    double S = z[jlam], C = z[j];
    double tq = hypot2(C, S);
    double c = C / tq, sn = -S / tq;
    double dt = d[j] - d[jlam];
    if (nrc_fabs(dt * c * sn) <= tol) {
      /* Deflate jlam: rotate so z[jlam] = 0. */
      z[j] = tq;
      z[jlam] = 0.0;
      double *xj = E + (size_t)(s + jlam) * N + s, *yj = E + (size_t)(s + j) * N + s;
      /* x' = c x + sn y, y' = c y − sn x */
      rot_rows(n, xj, yj, c, -sn);
      double dj = d[jlam], dn = d[j];
      d[jlam] = dj * c * c + dn * sn * sn;
      d[j] = dj * sn * sn + dn * c * c;
      if (type[jlam] != type[j]) type[jlam] = type[j] = 2;
      dfl[nde++] = jlam;
      jlam = j;
    } else {
      nd[K++] = jlam;
      jlam = j;
    }
  }
  if (jlam >= 0) nd[K++] = jlam;

  double *dl = w->dl, *zz = w->zz, *tau = w->tau, *dtmp = w->dtmp;
  int *org = w->org;
  double *En = w->En;
  /* New eigenvalues, sorted: merge non-deflated roots with deflated values. */
  int *perm = w->perm; /* perm[t] = source: >=0 non-deflated root m, <0 deflated −(q+1) */
  if (K > 0) {
    double z2sum = 0.0;
    for (int m = 0; m < K; m++) {
      dl[m] = d[nd[m]];
      zz[m] = z[nd[m]];
    }
    double *z2 = dtmp;
    for (int m = 0; m < K; m++) {
      z2[m] = zz[m] * zz[m];
      z2sum += z2[m];
    }
    sec_args sa = {K, dl, z2, rho, z2sum, tau, org};
    if (K >= 64 && par_threads() > 1)
      par_run(sec_task, &sa);
    else
      sec_task(0, 1, &sa);
    vec_args va = {K, dl, zz, tau, org, w->W};
    if (K >= 64 && par_threads() > 1) {
      par_run(zhat_task, &va);
      par_run(wvec_task, &va);
    } else {
      zhat_task(0, 1, &va);
      wvec_task(0, 1, &va);
    }
    /* Compact the non-deflated eigenvector rows ordered by type (1, 2, 3). */
    int *cord = w->cord;
    int k1 = 0, k2 = 0, c = 0;
    for (int tp = 1; tp <= 3; tp++)
      for (int m = 0; m < K; m++)
        if (type[nd[m]] == tp) {
          cord[c++] = m;
          if (tp == 1) k1++;
          if (tp == 2) k2++;
        }
    double *Ec = w->Ec, *Wc = w->Wc;
    for (int r = 0; r < K; r++) {
      const double *src = E + (size_t)(s + nd[cord[r]]) * N + s;
      double *dst = Ec + (size_t)r * n;
      for (int j = 0; j < n; j++) dst[j] = src[j];
    }
    for (int m = 0; m < K; m++) {
      const double *src = w->W + (size_t)m * K;
      double *dst = Wc + (size_t)m * K;
      for (int r = 0; r < K; r++) dst[r] = src[cord[r]];
    }
    for (size_t i = 0; i < (size_t)K * n; i++) En[i] = 0.0;
    if (k1 + k2 > 0) gemm_par(0, 0, K, n1, k1 + k2, 1.0, Wc, K, Ec, n, En, n);
    if (K - k1 > 0)
      gemm_par(0, 0, K, n - n1, K - k1, 1.0, Wc + k1, K, Ec + (size_t)k1 * n + n1, n, En + n1, n);
  }
  /* Deflated values in ascending order (insertion sort: nearly sorted already). */
  for (int a = 1; a < nde; a++) {
    int v = dfl[a];
    int b = a - 1;
    while (b >= 0 && d[dfl[b]] > d[v]) {
      dfl[b + 1] = dfl[b];
      b--;
    }
    dfl[b + 1] = v;
  }
  {
    int a = 0, b = 0, t = 0;
    while (a < K || b < nde) {
      double la = a < K ? dl[org[a]] + tau[a] : 0.0;
      if (b >= nde || (a < K && la <= d[dfl[b]]))
        perm[t++] = a++;
      else
        perm[t++] = -(b++) - 1;
    }
  }
  /* Assemble the sorted eigenpairs into the block (via w->Ec as an n×n staging area). */
  double *stage = w->Ec; /* Ec no longer needed */
  double *vals = w->dtmp;
  for (int t = 0; t < n; t++) {
    double *dst = stage + (size_t)t * n;
    if (perm[t] >= 0) {
      int m = perm[t];
      vals[t] = dl[org[m]] + tau[m];
      const double *src = En + (size_t)m * n;
      for (int j = 0; j < n; j++) dst[j] = src[j];
    } else {
      int q = dfl[-perm[t] - 1];
      vals[t] = d[q];
      const double *src = E + (size_t)(s + q) * N + s;
      for (int j = 0; j < n; j++) dst[j] = src[j];
    }
  }
  for (int t = 0; t < n; t++) {
    d[t] = vals[t];
    double *dst = E + (size_t)(s + t) * N + s;
    const double *src = stage + (size_t)t * n;
    for (int j = 0; j < n; j++) dst[j] = src[j];
  }
}

static void dc_rec(dc_ws *w, int s, int n) {
  if (n <= DC_SMALL) {
    if (tri_ql(n, w->d + s, w->e + s, w->E + (size_t)s * w->N + s, w->N) != 0) w->status = -1;
    return;
  }
  int n1 = n / 2;
  double beta = w->e[s + n1 - 1];
  double rho = nrc_fabs(beta);
  w->d[s + n1 - 1] -= rho;
  w->d[s + n1] -= rho;
  /* e[s+n1-1] keeps β for the merge; the halves must not see it. */
  dc_rec(w, s, n1);
  w->e[s + n1 - 1] = beta;
  dc_rec(w, s + n1, n - n1);
  w->e[s + n1 - 1] = beta;
  dc_merge(w, s, n1, n);
}

/* Eigen-decomposition of the tridiagonal (d, e) into E (n×n rows, stride n): ascending values. */
static int tri_dc(int n, double *d, double *e, double *E) {
  dc_ws w;
  w.N = n;
  w.E = E;
  w.d = d;
  w.e = e;
  w.status = 0;
  size_t nn = (size_t)n * n;
  w.z = (double *)arena_alloc(sizeof(double) * n);
  w.dl = (double *)arena_alloc(sizeof(double) * n);
  w.zz = (double *)arena_alloc(sizeof(double) * n);
  w.tau = (double *)arena_alloc(sizeof(double) * n);
  w.dtmp = (double *)arena_alloc(sizeof(double) * n);
  w.W = (double *)arena_alloc(sizeof(double) * (nn + n));
  w.Wc = (double *)arena_alloc(sizeof(double) * nn);
  w.Ec = (double *)arena_alloc(sizeof(double) * nn);
  w.En = (double *)arena_alloc(sizeof(double) * nn);
  w.idx = (int *)arena_alloc(sizeof(int) * n);
  w.type = (int *)arena_alloc(sizeof(int) * n);
  w.nd = (int *)arena_alloc(sizeof(int) * n);
  w.dfl = (int *)arena_alloc(sizeof(int) * n);
  w.org = (int *)arena_alloc(sizeof(int) * n);
  w.cord = (int *)arena_alloc(sizeof(int) * n);
  w.perm = (int *)arena_alloc(sizeof(int) * n);
  for (size_t i = 0; i < nn; i++) E[i] = 0.0;
  for (int i = 0; i < n; i++) E[(size_t)i * n + i] = 1.0;
  dc_rec(&w, 0, n);
  return w.status;
}

/* ------------------------------------------------------------------------------------------ */
/*
 * A few eigenvectors of the tridiagonal by inverse iteration (the dstein scheme: LU of T − λI with
 * partial pivoting, tiny pivots replaced by ε‖T‖, eigenvalues closer than 10ε‖T‖ pulled apart,
 * Gram–Schmidt against the vectors already found whose eigenvalues lie within 1e-3‖T‖), for the
 * top k of the ascending eigenvalues lam. Every vector is then checked a posteriori: residual
 * ‖T x − λ x‖ ≤ 4n·ε‖T‖ and |xᵢᵀxⱼ| ≤ 4n·ε, which is what divide and conquer guarantees; if any
 * check fails the caller falls back to divide and conquer. Rows n−k … n−1 of E (stride n) get the
 * vectors of lam[n−k … n−1]. Returns 0 on success, -1 to fall back.
 */
static int tri_topk(int n, const double *d, const double *e, const double *lam, int k, double *E) {
  double tnorm = 0.0;
  for (int i = 0; i < n; i++) {
    double r = nrc_fabs(d[i]) + (i > 0 ? nrc_fabs(e[i - 1]) : 0.0) + (i + 1 < n ? nrc_fabs(e[i]) : 0.0);
    if (r > tnorm) tnorm = r;
  }
  if (tnorm == 0.0) tnorm = DBL_SAFEMIN;
  double pivmin = DBL_EPS * tnorm, pertol = 10.0 * DBL_EPS * tnorm, ortol = 1e-3 * tnorm;
  /* LU of T − λI with partial pivoting: U has diagonal u0, superdiagonals u1, u2; L multipliers ml,
   * ip[i] = 1 when rows i and i+1 were swapped. */
  double *u0 = (double *)arena_alloc(sizeof(double) * n);
  double *u1 = (double *)arena_alloc(sizeof(double) * n);
  double *u2 = (double *)arena_alloc(sizeof(double) * n);
  double *ml = (double *)arena_alloc(sizeof(double) * n);
  int *ip = (int *)arena_alloc(sizeof(int) * n);
  double *x = (double *)arena_alloc(sizeof(double) * n);
  double prev = 0.0;
  for (int q = 0; q < k; q++) {
    int j = n - 1 - q; /* eigenvalue index, from the top */
    double l = lam[j];
    if (q > 0 && prev - l < pertol) l = prev - pertol;
    prev = l;
    /* Factor. */
    double diag = d[0] - l, sup = n > 1 ? e[0] : 0.0;
    for (int i = 0; i < n - 1; i++) {
      double sub = e[i], nd = d[i + 1] - l, nsup = i + 2 < n ? e[i + 1] : 0.0;
      if (nrc_fabs(diag) >= nrc_fabs(sub)) {
        double piv = diag;
        if (nrc_fabs(piv) < pivmin) piv = piv < 0 ? -pivmin : pivmin;
        double mlt = sub / piv;
        ip[i] = 0;
        u0[i] = piv;
        u1[i] = sup;
        u2[i] = 0.0;
        ml[i] = mlt;
        diag = nd - mlt * sup;
        sup = nsup;
      } else {
        double mlt = diag / sub;
        ip[i] = 1;
        u0[i] = sub;
        u1[i] = nd;
        u2[i] = nsup;
        ml[i] = mlt;
        diag = sup - mlt * nd;
        sup = -mlt * nsup;
      }
    }
    if (nrc_fabs(diag) < pivmin) diag = diag < 0 ? -pivmin : pivmin;
    u0[n - 1] = diag;
    /* Start vector: deterministic pseudo-random entries in [-1, 1). */
    uint32_t st = 0x9e3779b9u ^ (uint32_t)(j * 2654435761u);
    double *out = E + (size_t)j * n;
    for (int i = 0; i < n; i++) x[i] = (double)(lcg_next(&st) >> 8) * (2.0 / 16777216.0) - 1.0;
    int ok = 0, extra = 0;
    for (int it = 0; it < 10 && !ok; it++) {
      double xmax = 0.0;
      for (int i = 0; i < n; i++)
        if (nrc_fabs(x[i]) > xmax) xmax = nrc_fabs(x[i]);
      if (xmax == 0.0) return -1;
      for (int i = 0; i < n; i++) x[i] /= xmax;
      /* Solve L U y = P x in place: forward with the row swaps, then back substitution. */
      for (int i = 0; i < n - 1; i++) {
        if (ip[i]) {
          double t = x[i];
          x[i] = x[i + 1];
          x[i + 1] = t - ml[i] * x[i];
        } else
          x[i + 1] -= ml[i] * x[i];
      }
      double ymax = 0.0;
      for (int i = n - 1; i >= 0; i--) {
        double t = x[i];
        if (i + 1 < n) t -= u1[i] * x[i + 1];
        if (i + 2 < n) t -= u2[i] * x[i + 2];
        x[i] = t / u0[i];
        if (nrc_fabs(x[i]) > ymax) ymax = nrc_fabs(x[i]);
        if (ymax > 1e300) { /* rescale to stay finite */
          for (int r = i; r < n; r++) x[r] *= 1e-300;
          ymax *= 1e-300;
        }
      }
      /* Orthogonalise against the vectors already found for eigenvalues within ortol (twice). */
      for (int pass = 0; pass < 2; pass++)
        for (int r = j + 1; r < n && lam[r] - lam[j] <= ortol; r++) {
          const double *v = E + (size_t)r * n;
          double c = 0.0;
          for (int i = 0; i < n; i++) c += v[i] * x[i];
          for (int i = 0; i < n; i++) x[i] -= c * v[i];
        }
      /* Growth ≥ 1/(8n·ε‖T‖) means T − λI nearly annihilates x/‖x‖: converged; then two more
       * iterations (as dstein) to purge the other directions. */
      double nx = 0.0;
      for (int i = 0; i < n; i++) nx += x[i] * x[i];
      nx = nrc_sqrt(nx);
      if (nx * 8.0 * n * DBL_EPS * tnorm >= 1.0 && ++extra > 2) ok = 1;
    }
    if (!ok) return -1;
    double nx = 0.0;
    int imax = 0;
    for (int i = 0; i < n; i++) {
      nx += x[i] * x[i];
      if (nrc_fabs(x[i]) > nrc_fabs(x[imax])) imax = i;
    }
    nx = nrc_sqrt(nx);
    if (!(nx > 0.0)) return -1;
    double sc = (x[imax] < 0 ? -1.0 : 1.0) / nx;
    for (int i = 0; i < n; i++) out[i] = x[i] * sc;
  }
  /* A posteriori checks. */
  double rtol = 4.0 * n * DBL_EPS * tnorm, otol = 4.0 * n * DBL_EPS;
  for (int q = 0; q < k; q++) {
    int j = n - 1 - q;
    const double *v = E + (size_t)j * n;
    double res = 0.0;
    for (int i = 0; i < n; i++) {
      double t = (d[i] - lam[j]) * v[i];
      if (i > 0) t += e[i - 1] * v[i - 1];
      if (i + 1 < n) t += e[i] * v[i + 1];
      res += t * t;
    }
    if (!(nrc_sqrt(res) <= rtol)) return -1;
    for (int r = j; r < n; r++) {
      double c = dot(n, v, E + (size_t)r * n) - (r == j ? 1.0 : 0.0);
      if (!(nrc_fabs(c) <= otol)) return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Back-transformation: rows r0..r1 of E ← rows of E·(H_0 … H_{n-3})ᵀ, blocked compact WY. */

#define BT_NB 32

static void back_transform(int n, const double *V, const double *tau, double *E, int rows) {
  if (n < 3 || rows <= 0) return;
  int nref = n - 2;
  double *T = (double *)arena_alloc(sizeof(double) * BT_NB * BT_NB);
  double *Wm = (double *)arena_alloc(sizeof(double) * (size_t)rows * BT_NB);
  double *y = (double *)arena_alloc(sizeof(double) * BT_NB);
  int nblk = (nref + BT_NB - 1) / BT_NB;
  for (int bi = nblk - 1; bi >= 0; bi--) {
    int b = bi * BT_NB;
    int nb = MIN(BT_NB, nref - b);
    int c0 = b + 1; /* first nonzero column of the block's vectors */
    int len = n - c0;
    const double *Vb = V + (size_t)b * n + c0;
    /* T (upper triangular) of H_b … H_{b+nb-1} = I − Vᵀ T V (rows of Vb are the vectors). */
    for (int i = 0; i < nb; i++) {
      double ti = tau[b + i];
      T[i * BT_NB + i] = ti;
      for (int j = 0; j < i; j++) y[j] = dot(len, Vb + (size_t)j * n, Vb + (size_t)i * n);
      for (int r = 0; r < i; r++) {
        double s = 0.0;
        for (int j = r; j < i; j++) s += T[r * BT_NB + j] * y[j];
        T[r * BT_NB + i] = -ti * s;
      }
    }
    /* Wm = E[:, c0:] · Vbᵀ  (rows × nb) */
    for (size_t q = 0; q < (size_t)rows * nb; q++) Wm[q] = 0.0;
    gemm_par(0, 1, rows, nb, len, 1.0, E + c0, n, Vb, n, Wm, nb);
    /* Wm ← Wm · Tᵀ (in place, ascending columns) */
    for (int r = 0; r < rows; r++) {
      double *wr = Wm + (size_t)r * nb;
      for (int i = 0; i < nb; i++) {
        double s = 0.0;
        for (int j = i; j < nb; j++) s += wr[j] * T[i * BT_NB + j];
        wr[i] = s;
      }
    }
    /* E[:, c0:] −= Wm · Vb */
    gemm_par(0, 0, rows, len, nb, -1.0, Wm, nb, Vb, n, E + c0, n);
  }
}

/* ------------------------------------------------------------------------------------------ */

/*
 * Eigen-decomposition of the symmetric n×n matrix A (lower triangle read; A is overwritten).
 * Outputs values (descending, n) and vecs (n×k, column j = eigenvector of values[j]) for the top
 * k eigenpairs (k = n: all). Returns 0, or -1 if the tridiagonal solver failed to converge.
 */
/* Which tridiagonal solver the last k_symeig used (1: rational QL + inverse iteration, 3: the
 * same with QL by rotations after the rational QL failed, 0: divide and conquer, 2: none, A was
 * zero), for tests. */
static int g_eig_path;
EXPORT(k_symeig_path) int k_symeig_path(void) { return g_eig_path; }

EXPORT(k_symeig) int k_symeig(double *A, int n, int k, double *values, double *vecs) {
  if (n <= 0) return 0;
  if (k > n) k = n;
  /* Symmetrise from the lower triangle and scale by a power of two. */
  double amax = sym_from_lower(A, n);
  g_eig_path = 2;
  if (amax == 0.0) {
    for (int i = 0; i < n; i++) values[i] = 0.0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < k; j++) vecs[(size_t)i * k + j] = i == j ? 1.0 : 0.0;
    return 0;
  }
  double unscale = pow2_normalize(A, (size_t)n * n, amax);
  int nt = par_threads();
  double *V = (double *)arena_alloc(sizeof(double) * (size_t)n * n);
  double *tau = (double *)arena_alloc(sizeof(double) * n);
  double *d = (double *)arena_alloc(sizeof(double) * n);
  double *e = (double *)arena_alloc(sizeof(double) * n);
  double *y = (double *)arena_alloc(sizeof(double) * 2 * (size_t)n * nt);
  double *priv = (double *)arena_alloc(sizeof(double) * 6 * (size_t)n * nt);
  trd_args ta = {A, n, V, tau, d, e, y, priv};
  if (n >= 96 && nt > 1)
    par_run(trd_task, &ta);
  else {
    /* the task uses par_barrier(nt) with nt = 1: no-op */
    trd_task(0, 1, &ta);
  }
  double *E = A; /* reuse A's storage for the eigenvector rows */
  int st = -1;
  g_eig_path = 0;
  if (4 * k <= n) {
    /* Few vectors: eigenvalues by the rational QL (O(n²)), the k vectors by inverse iteration;
     * divide and conquer only if a check fails. */
    double *dv = (double *)arena_alloc(sizeof(double) * n);
    double *ev = (double *)arena_alloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) dv[i] = d[i], ev[i] = e[i];
    int vst = tri_values(n, dv, e, ev), rotations = 0;
    if (vst != 0) {
      for (int i = 0; i < n; i++) dv[i] = d[i], ev[i] = e[i];
      vst = tri_ql(n, dv, ev, 0, n);
      rotations = 1;
    }
    if (vst == 0 && (k == 0 || tri_topk(n, d, e, dv, k, E) == 0)) {
      for (int i = 0; i < n; i++) d[i] = dv[i];
      st = 0;
      g_eig_path = rotations ? 3 : 1;
    }
  }
  if (st != 0) st = tri_dc(n, d, e, E);
  /* Rows n-k … n-1 of E are the top k eigenvectors (ascending order). */
  double *Etop = E + (size_t)(n - k) * n;
  back_transform(n, V, tau, Etop, k);
  for (int j = 0; j < n; j++) values[j] = d[n - 1 - j] * unscale;
  for (int j = 0; j < k; j++) {
    const double *row = E + (size_t)(n - 1 - j) * n;
    for (int i = 0; i < n; i++) vecs[(size_t)i * k + j] = row[i];
  }
  return st;
}

/* Test entry: eigenpairs of the tridiagonal (d, e) into E rows; method 0 = divide and conquer,
 * 1 = QL. d, e are overwritten (d: ascending eigenvalues). */
EXPORT(k_tridiag_eig) int k_tridiag_eig(double *d, double *e, int n, double *E, int method) {
  if (method == 1) {
    for (size_t i = 0; i < (size_t)n * n; i++) E[i] = 0.0;
    for (int i = 0; i < n; i++) E[(size_t)i * n + i] = 1.0;
    return tri_ql(n, d, e, E, n);
  }
  return tri_dc(n, d, e, E);
}

/* Test entry: eigenpairs of diag(d) + ρ z zᵀ (d strictly increasing, K terms): lam[K], W (K×K rows). */
EXPORT(k_secular) void k_secular(int K, const double *d, const double *z, double rho, double *lam,
                                 double *W) {
  double *z2 = (double *)arena_alloc(sizeof(double) * K);
  double *tau = (double *)arena_alloc(sizeof(double) * K);
  int *org = (int *)arena_alloc(sizeof(int) * K);
  double s = 0.0;
  for (int i = 0; i < K; i++) {
    z2[i] = z[i] * z[i];
    s += z2[i];
  }
  sec_args sa = {K, d, z2, rho, s, tau, org};
  sec_task(0, 1, &sa);
  vec_args va = {K, d, z, tau, org, W};
  zhat_task(0, 1, &va);
  wvec_task(0, 1, &va);
  for (int i = 0; i < K; i++) lam[i] = d[org[i]] + tau[i];
}
