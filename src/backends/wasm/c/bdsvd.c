/*
 * SVD through bidiagonalisation: Householder reduction A = Q·B·Pᵀ (B upper bidiagonal), then the
 * bidiagonal SVD by implicit QR with Demmel & Kahan's (1990) zero shift and relative convergence
 * tests (so every singular value of B comes out to high relative accuracy), the left rotations
 * applied to rows of Qᵀ (U wanted) and/or of QᵀZ (only Uᵀ·Z wanted), the right ones to rows of Pᵀ.
 *
 * Row-major throughout, m ≥ n (the host transposes wide matrices, and reduces very tall ones by
 * QR first).
 *
 * Bidiagonalisation: one left and one right reflector per column, as LAPACK's dgebd2, but the
 * trailing matrix is read twice per step instead of four times: the right reflector's rank-one
 * update is applied in the same pass that accumulates the next left reflector's product
 * vᵀ·A, and the left reflector's update in the pass that forms A·u (the "BLAS 2.5" fusion of
 * Howell et al., 2008).
 *
 * Rotations: a sweep's rotations are logged (sine, cosine, the rows they join) and the log is
 * replayed onto the vectors a strip of STRIP_W columns at a time: the row carried from one
 * rotation to the next stays in registers (each row read and written once per sweep), the strip
 * in cache across the log, and strips are split among the threads. 16 columns (8 independent
 * f64x2 chains) measured best: 512×512 right vectors 116 ms against 250 with 8 columns
 * (latency-bound chains) and 162 with 32 (register spills), one thread.
 */
#include "common.h"

/* ---- Householder bidiagonalisation ---- */

/* Left-reflector step's fused pass: rows r in [r0, r1), columns [c0, n): first the pending right
 * update row −= (tp·x_r)·u, then w += v_r·row. With tp = 0 only the product. Two rows at a time,
 * so u and w are loaded (and w stored) once for both. */
static void pass_right_then_dot(double *A, int n, int r0, int r1, int c0, double tp,
                                const double *x, const double *u, const double *v, double *w) {
  int len = n - c0;
  int r = r0;
  for (; r + 1 < r1; r += 2) {
    double *p0 = A + (size_t)r * n + c0, *p1 = p0 + n;
    double v0 = v[r], v1 = v[r + 1];
    f2 vv0 = wasm_f64x2_splat(v0), vv1 = wasm_f64x2_splat(v1);
    int i = 0;
    if (tp != 0.0) {
      double a0 = -tp * x[r], a1 = -tp * x[r + 1];
      f2 av0 = wasm_f64x2_splat(a0), av1 = wasm_f64x2_splat(a1);
      for (; i + 2 <= len; i += 2) {
        f2 uu = wasm_v128_load(u + i);
        f2 y0 = MADD(wasm_v128_load(p0 + i), av0, uu);
        f2 y1 = MADD(wasm_v128_load(p1 + i), av1, uu);
        wasm_v128_store(p0 + i, y0);
        wasm_v128_store(p1 + i, y1);
        wasm_v128_store(w + i, MADD(MADD(wasm_v128_load(w + i), vv0, y0), vv1, y1));
      }
      for (; i < len; i++) {
        double y0 = p0[i] + a0 * u[i], y1 = p1[i] + a1 * u[i];
        p0[i] = y0;
        p1[i] = y1;
        w[i] += v0 * y0 + v1 * y1;
      }
    } else {
      if (v0 == 0.0 && v1 == 0.0) continue;
      for (; i + 2 <= len; i += 2)
        wasm_v128_store(w + i, MADD(MADD(wasm_v128_load(w + i), vv0, wasm_v128_load(p0 + i)), vv1,
                                    wasm_v128_load(p1 + i)));
      for (; i < len; i++) w[i] += v0 * p0[i] + v1 * p1[i];
    }
  }
  for (; r < r1; r++) {
    double *row = A + (size_t)r * n + c0;
    double vr = v[r];
    f2 vv = wasm_f64x2_splat(vr);
    int i = 0;
    if (tp != 0.0) {
      double a = -tp * x[r];
      f2 av = wasm_f64x2_splat(a);
      for (; i + 2 <= len; i += 2) {
        f2 y = MADD(wasm_v128_load(row + i), av, wasm_v128_load(u + i));
        wasm_v128_store(row + i, y);
        wasm_v128_store(w + i, MADD(wasm_v128_load(w + i), vv, y));
      }
      for (; i < len; i++) {
        double y = row[i] + a * u[i];
        row[i] = y;
        w[i] += vr * y;
      }
    } else {
      if (vr == 0.0) continue;
      for (; i + 2 <= len; i += 2)
        wasm_v128_store(w + i, MADD(wasm_v128_load(w + i), vv, wasm_v128_load(row + i)));
      for (; i < len; i++) w[i] += vr * row[i];
    }
  }
}

/* Right-reflector step's fused pass: rows r in [r0, r1), columns [c0, n): row −= (tq·v_r)·w,
 * then x_r = row·u. Two rows at a time (w and u loaded once for both). */
static void pass_left_then_dot(double *A, int n, int r0, int r1, int c0, double tq,
                               const double *v, const double *w, const double *u, double *x) {
  int len = n - c0;
  int r = r0;
  for (; r + 1 < r1; r += 2) {
    double *p0 = A + (size_t)r * n + c0, *p1 = p0 + n;
    double a0 = -tq * v[r], a1 = -tq * v[r + 1];
    f2 av0 = wasm_f64x2_splat(a0), av1 = wasm_f64x2_splat(a1);
    f2 s0 = wasm_f64x2_splat(0.0), s1 = s0;
    int i = 0;
    for (; i + 2 <= len; i += 2) {
      f2 ww = wasm_v128_load(w + i), uu = wasm_v128_load(u + i);
      f2 y0 = MADD(wasm_v128_load(p0 + i), av0, ww);
      f2 y1 = MADD(wasm_v128_load(p1 + i), av1, ww);
      wasm_v128_store(p0 + i, y0);
      wasm_v128_store(p1 + i, y1);
      s0 = MADD(s0, y0, uu);
      s1 = MADD(s1, y1, uu);
    }
    double t0 = wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
    double t1 = wasm_f64x2_extract_lane(s1, 0) + wasm_f64x2_extract_lane(s1, 1);
    for (; i < len; i++) {
      double y0 = p0[i] + a0 * w[i], y1 = p1[i] + a1 * w[i];
      p0[i] = y0;
      p1[i] = y1;
      t0 += y0 * u[i];
      t1 += y1 * u[i];
    }
    x[r] = t0;
    x[r + 1] = t1;
  }
  for (; r < r1; r++) {
    double *row = A + (size_t)r * n + c0;
    double a = -tq * v[r];
    f2 av = wasm_f64x2_splat(a);
    f2 s0 = wasm_f64x2_splat(0.0);
    int i = 0;
    for (; i + 2 <= len; i += 2) {
      f2 y = MADD(wasm_v128_load(row + i), av, wasm_v128_load(w + i));
      wasm_v128_store(row + i, y);
      s0 = MADD(s0, y, wasm_v128_load(u + i));
    }
    double s = wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
    for (; i < len; i++) {
      double y = row[i] + a * w[i];
      row[i] = y;
      s += y * u[i];
    }
    x[r] = s;
  }
}

/* Rows are dealt to the threads in blocks of BD_RB, cyclically, so every thread keeps a share of
 * the shrinking trailing matrix. */
#define BD_RB 16
#define BD_PAR_MIN (768.0 * 768.0)
#define BD_MAXT 64

typedef struct {
  double *A, *d, *e, *tauq, *taup, *Z;
  int m, n, q;
  double *v, *x;     /* by row (shared; each thread writes its own rows) */
  double *wpart;     /* nt × (n + q) partial products */
  double *sspart;    /* nt partial sums of squares */
  double *priv;      /* nt × (2n + q + 4) private scratch */
} bidiag_arg;

/* For thread tid of nt: calls body over its rows of [lo, m) as ranges. */
#define FOR_OWN_ROWS(lo, m, tid, nt, r0, r1, BODY)                                           \
  for (int blk_ = ((lo) / BD_RB); blk_ * BD_RB < (m); blk_++) {                              \
    if (blk_ % (nt) != (tid)) continue;                                                      \
    int r0 = MAX((lo), blk_ * BD_RB), r1 = MIN((m), (blk_ + 1) * BD_RB);                     \
    if (r0 >= r1) continue;                                                                  \
    BODY                                                                                     \
  }

static int owner_of(int r, int nt) { return (r / BD_RB) % nt; }

/*
 * Reduces A (m×n, m ≥ n ≥ 1, row-major) to upper bidiagonal form: d (n), e (n − 1). On exit the
 * left reflectors' vectors are below the diagonal (unit leading entry implied), the right ones'
 * right of the superdiagonal, their factors in tauq, taup. Z (m×q) becomes QᵀZ. Two barriers per
 * column: after the column's partial norms, and after the partial products vᵀ·A; the small
 * serial steps (reflector parameters, the next right reflector from row j) are done by every
 * thread alike from the same sums, so nobody waits for a single thread.
 */
static void bidiag_task(int tid, int nt, void *arg) {
  bidiag_arg *g = (bidiag_arg *)arg;
  double *A = g->A, *Z = g->Z, *v = g->v, *x = g->x;
  const int m = g->m, n = g->n, q = g->q, wl = n + q;
  double *u = g->priv + (size_t)tid * (2 * (size_t)n + q + 4); /* private: n + 2 */
  double *w = u + (n + 2);                                      /* private: n + q */
  double *mine = g->wpart + (size_t)tid * wl;
  double tp = 0.0; /* pending right update: rows ≥ j, columns ≥ j, A −= tp·x·uᵀ (u[0] ↔ col j) */
  int rowj_pending = -1; /* a row j whose reflector this thread (its owner) still has to store */
  for (int j = 0; j < n; j++) {
    /* Own rows of column j (below j) with the pending right update; partial sum of squares. */
    double ss = 0.0;
    FOR_OWN_ROWS(j, m, tid, nt, r0, r1, {
      for (int r = r0; r < r1; r++) {
        double *p = A + (size_t)r * n + j;
        if (tp != 0.0) *p -= tp * x[r];
        if (r > j) ss += *p * *p;
      }
    })
    g->sspart[tid] = ss;
    par_barrier_t(tid, nt);
    /* Everyone has read row j−1 (its u was computed from it): its owner stores it now. */
    if (rowj_pending >= 0) {
      int pj = rowj_pending;
      double *rowp = A + (size_t)pj * n + pj + 1;
      for (int c = 1; c < n - pj - 1; c++) rowp[c] = u[c];
      rowj_pending = -1;
    }
    /* Left reflector of column j (every thread computes the same parameters). */
    double sumsq = 0.0;
    for (int t = 0; t < nt; t++) sumsq += g->sspart[t];
    double alpha = A[(size_t)j * n + j];
    double sigma = nrc_sqrt(sumsq);
    double tq = 0.0, sc = 0.0, beta = alpha;
    if (sigma > 0.0) tq = house_params(alpha, sigma, &beta, &sc);
    if (tid == 0) {
      g->d[j] = beta;
      g->tauq[j] = tq;
    }
    /* Own rows: v, and w = vᵀ·A[j:, j+1:] (pending right update applied on the way), wz = vᵀ·Z. */
    for (int i = 0; i < wl; i++) mine[i] = 0.0;
    FOR_OWN_ROWS(j, m, tid, nt, r0, r1, {
      for (int r = r0; r < r1; r++) {
        double *p = A + (size_t)r * n + j;
        if (r == j)
          v[r] = 1.0;
        else if (tq != 0.0) {
          *p *= sc;
          v[r] = *p;
        } else
          v[r] = 0.0;
      }
      if (j < n - 1) pass_right_then_dot(A, n, r0, r1, j + 1, tp, x, u + 1, v, mine);
      if (q > 0 && tq != 0.0)
        for (int r = r0; r < r1; r++) axpy(q, v[r], Z + (size_t)r * q, mine + n);
    })
    par_barrier_t(tid, nt);
    for (int i = 0; i < wl; i++) w[i] = 0.0;
    for (int t = 0; t < nt; t++) {
      const double *pt = g->wpart + (size_t)t * wl;
      for (int i = 0; i < wl; i++) w[i] += pt[i];
    }
    if (q > 0 && tq != 0.0)
      FOR_OWN_ROWS(j, m, tid, nt, r0, r1, {
        for (int r = r0; r < r1; r++) axpy(q, -tq * v[r], w + n, Z + (size_t)r * q);
      })
    if (j == n - 1) break;
    /* Row j after the left update, in a private copy; its right reflector. */
    const double *rowj = A + (size_t)j * n + j + 1;
    int len = n - j - 1;
    for (int c = 0; c < len; c++) u[c] = rowj[c] - tq * w[c];
    double alpha2 = u[0];
    double sigma2 = len > 1 ? nrm2(len - 1, u + 1) : 0.0;
    double tp2 = 0.0, beta2 = alpha2, sc2 = 0.0;
    if (sigma2 > 0.0) tp2 = house_params(alpha2, sigma2, &beta2, &sc2);
    u[0] = 1.0;
    if (tp2 != 0.0)
      for (int c = 1; c < len; c++) u[c] *= sc2;
    else
      for (int c = 1; c < len; c++) u[c] = 0.0;
    if (tid == 0) {
      g->e[j] = beta2;
      g->taup[j] = tp2;
    }
    if (owner_of(j, nt) == tid && tp2 != 0.0) rowj_pending = j;
    tp = tp2;
    /* Own rows below j: the left update, and x = A·u for the right one. */
    if (tq != 0.0 || tp != 0.0)
      FOR_OWN_ROWS(j + 1, m, tid, nt, r0, r1,
                   { pass_left_then_dot(A, n, r0, r1, j + 1, tq, v, w, u, x); })
  }
  /* The last row reflector stored (after a barrier: every thread has read that row). */
  par_barrier_t(tid, nt);
  if (rowj_pending >= 0) {
    int pj = rowj_pending;
    double *rowp = A + (size_t)pj * n + pj + 1;
    for (int c = 1; c < n - pj - 1; c++) rowp[c] = u[c];
  }
}

static void bidiag(double *A, int m, int n, double *d, double *e, double *tauq, double *taup,
                   double *Z, int q) {
  bidiag_arg g;
  g.A = A, g.d = d, g.e = e, g.tauq = tauq, g.taup = taup, g.Z = Z;
  g.m = m, g.n = n, g.q = q;
  g.v = (double *)arena_alloc(sizeof(double) * (size_t)m);
  g.x = (double *)arena_alloc(sizeof(double) * (size_t)m);
  int nt = par_threads();
  if (nt > BD_MAXT) nt = BD_MAXT;
  g.wpart = (double *)arena_alloc(sizeof(double) * (size_t)nt * (size_t)(n + q));
  g.sspart = (double *)arena_alloc(sizeof(double) * (size_t)nt);
  g.priv = (double *)arena_alloc(sizeof(double) * (size_t)nt * (2 * (size_t)n + q + 4));
  /* Threads only from a 768×768 matrix on: each column costs two barriers, and on a shared
 * machine a preempted thread stalls every one of them (2-core VM with a neighbour holding a core:
 * 512×512 singular values 73 ms with 2 threads against 37 with one; symEig's tridiagonalisation,
 * one barrier a column, 92 against 65 there). */
  if (nt > 1 && (double)m * n >= BD_PAR_MIN)
    par_run(bidiag_task, &g);
  else
    bidiag_task(0, 1, &g);
}

/*
 * Blocked backward accumulation: X[r0:, c0:c0+len] ← X·(H_0⋯H_{nb−1})ᵀ where H_t = I − τ_t·v_t·v_tᵀ
 * are the columns of V (len×nb, row-major; v_t zero above row t, one at row t): with the compact
 * WY form H_0⋯H_{nb−1} = I − V·T·Vᵀ (T upper triangular, built as LAPACK's dlarft), that is
 * X ← X − (X·V)·Tᵀ·Vᵀ: two GEMMs.
 */
static void apply_wy_right(double *X, int ldx, int r0, int r1, int c0, int len, const double *V,
                           const double *tau, int nb, double *T, double *W) {
  for (int t = 0; t < nb; t++) {
    for (int s = 0; s < nb; s++) T[t * nb + s] = 0.0;
  }
  double z[64];
  for (int t = 0; t < nb; t++) {
    double tt = tau[t];
    T[t * nb + t] = tt;
    if (t == 0 || tt == 0.0) continue;
    /* z = −τ_t·V[:, :t]ᵀ·v_t (v_t is zero above row t) */
    for (int s = 0; s < t; s++) z[s] = 0.0;
    for (int r = t; r < len; r++) {
      double vt = V[(size_t)r * nb + t];
      if (vt == 0.0) continue;
      const double *vr = V + (size_t)r * nb;
      for (int s = 0; s < t; s++) z[s] += vr[s] * vt;
    }
    for (int s = 0; s < t; s++) z[s] *= -tt;
    /* T[:t, t] = T[:t, :t]·z */
    for (int i = 0; i < t; i++) {
      double acc = 0.0;
      for (int s = i; s < t; s++) acc += T[i * nb + s] * z[s];
      T[i * nb + t] = acc;
    }
  }
  int rows = r1 - r0;
  for (size_t i = 0; i < (size_t)rows * nb; i++) W[i] = 0.0;
  gemm_par(0, 0, rows, nb, len, 1.0, X + (size_t)r0 * ldx + c0, ldx, V, nb, W, nb);
  /* W ← W·Tᵀ, row by row in place: (W·Tᵀ)[i][t] = Σ_{s ≥ t} W[i][s]·T[t][s] */
  for (int i = 0; i < rows; i++) {
    double *wi = W + (size_t)i * nb;
    for (int t = 0; t < nb; t++) {
      double acc = 0.0;
      for (int s = t; s < nb; s++) acc += wi[s] * T[t * nb + s];
      wi[t] = acc;
    }
  }
  gemm_par(0, 1, rows, len, nb, -1.0, W, nb, V, nb, X + (size_t)r0 * ldx + c0, ldx);
}

#define WY_NB 32

/* Qᵀ's first n rows (n×m) from the left reflectors: Ut = [I 0]·H_{n−1}⋯H_0, accumulated
 * backwards (Ut ← Ut·H_j touches rows j.. and columns j.. only), WY_NB reflectors at a time. */
static void form_ut(const double *A, int m, int n, const double *tauq, double *Ut) {
  for (size_t i = 0; i < (size_t)n * m; i++) Ut[i] = 0.0;
  for (int i = 0; i < n; i++) Ut[(size_t)i * m + i] = 1.0;
  double *V = (double *)arena_alloc(sizeof(double) * (size_t)m * WY_NB);
  double *T = (double *)arena_alloc(sizeof(double) * WY_NB * WY_NB);
  double *W = (double *)arena_alloc(sizeof(double) * (size_t)n * WY_NB);
  for (int j1 = n; j1 > 0;) {
    int j0 = MAX(0, j1 - WY_NB), nb = j1 - j0, len = m - j0;
    for (int r = 0; r < len; r++)
      for (int t = 0; t < nb; t++) {
        int row = j0 + r, col = j0 + t;
        V[(size_t)r * nb + t] = r < t ? 0.0 : r == t ? 1.0 : A[(size_t)row * n + col];
      }
    apply_wy_right(Ut, m, j0, n, j0, len, V, tauq + j0, nb, T, W);
    j1 = j0;
  }
}

/* Pᵀ (n×n) from the right reflectors: Pᵀ = G_{n−3}⋯G_0, G_j acting on indices j+1.., blocked
 * likewise. */
static void form_pt(const double *A, int n, const double *taup, double *Pt) {
  for (size_t i = 0; i < (size_t)n * n; i++) Pt[i] = 0.0;
  for (int i = 0; i < n; i++) Pt[(size_t)i * n + i] = 1.0;
  int nr = n - 2; /* reflectors G_0…G_{n−3} */
  if (nr <= 0) return;
  double *V = (double *)arena_alloc(sizeof(double) * (size_t)n * WY_NB);
  double *T = (double *)arena_alloc(sizeof(double) * WY_NB * WY_NB);
  double *W = (double *)arena_alloc(sizeof(double) * (size_t)n * WY_NB);
  for (int j1 = nr; j1 > 0;) {
    int j0 = MAX(0, j1 - WY_NB), nb = j1 - j0, len = n - j0 - 1;
    for (int r = 0; r < len; r++)
      for (int t = 0; t < nb; t++) {
        /* reflector j0+t: index j0+t+1 ↔ its entry 1, then A[j0+t][j0+t+2..] */
        int jr = j0 + t;
        V[(size_t)r * nb + t] = r < t ? 0.0 : r == t ? 1.0 : A[(size_t)jr * n + (j0 + 1 + r)];
      }
    apply_wy_right(Pt, n, j0 + 1, n, j0 + 1, len, V, taup + j0, nb, T, W);
    j1 = j0;
  }
}

/* ---- rotation logs ---- */

/*
 * A sweep joins rows (lo+p, lo+p+1), p = 0..cnt−1 in that order (dir > 0), or rows
 * (lo+cnt−1−p, lo+cnt−p) in that order (dir < 0); rotation p maps the pair (a, b), a < b, to
 * (c·a + s·b, −s·a + c·b).
 */
typedef struct {
  int lo, cnt, dir, off;
} sweep_t;

#define LOG_ROTS 8192
#ifndef STRIP_W
#define STRIP_W 16
#endif
#define LOG_SWEEPS 8192

typedef struct {
  double *c, *s;
  sweep_t *sw;
  int nsw, nrot;
  /* Targets: up to two row-major matrices with n rows each. */
  double *X[2];
  int len[2];
  int nx;
} rotlog_t;

static void log_init(rotlog_t *L) {
  L->c = (double *)arena_alloc(sizeof(double) * LOG_ROTS);
  L->s = (double *)arena_alloc(sizeof(double) * LOG_ROTS);
  L->sw = (sweep_t *)arena_alloc(sizeof(sweep_t) * LOG_SWEEPS);
  L->nsw = L->nrot = 0;
}

/* One sweep on W columns (W/2 vectors) from column pointer col0 of X (row stride ld). */
static void replay_strip(const sweep_t *sw, const double *cs, const double *ss,
                             double *X, int ld, int col) {
  f2 x[STRIP_W / 2];
  if (sw->dir > 0) {
    double *pr = X + (size_t)sw->lo * ld + col;
    for (int i = 0; i < STRIP_W / 2; i++) x[i] = wasm_v128_load(pr + 2 * i);
    for (int p = 0; p < sw->cnt; p++) {
      double *py = pr + ld;
      f2 c = wasm_f64x2_splat(cs[p]), s = wasm_f64x2_splat(ss[p]), ns = wasm_f64x2_neg(s);
      for (int i = 0; i < STRIP_W / 2; i++) {
        f2 y = wasm_v128_load(py + 2 * i);
        wasm_v128_store(pr + 2 * i, MADD(wasm_f64x2_mul(c, x[i]), s, y));
        x[i] = MADD(wasm_f64x2_mul(c, y), ns, x[i]);
      }
      pr = py;
    }
    for (int i = 0; i < STRIP_W / 2; i++) wasm_v128_store(pr + 2 * i, x[i]);
  } else {
    double *pb = X + (size_t)(sw->lo + sw->cnt) * ld + col;
    for (int i = 0; i < STRIP_W / 2; i++) x[i] = wasm_v128_load(pb + 2 * i);
    for (int p = 0; p < sw->cnt; p++) {
      double *pa = pb - ld;
      f2 c = wasm_f64x2_splat(cs[p]), s = wasm_f64x2_splat(ss[p]), ns = wasm_f64x2_neg(s);
      for (int i = 0; i < STRIP_W / 2; i++) {
        f2 y = wasm_v128_load(pa + 2 * i);
        /* a' = c·a + s·b (carried on), b' = −s·a + c·b (stored) */
        wasm_v128_store(pb + 2 * i, MADD(wasm_f64x2_mul(c, x[i]), ns, y));
        x[i] = MADD(wasm_f64x2_mul(c, y), s, x[i]);
      }
      pb = pa;
    }
    for (int i = 0; i < STRIP_W / 2; i++) wasm_v128_store(pb + 2 * i, x[i]);
  }
}

/* Replays the log's sweeps on columns [c0, c1) of X (row stride ld), STRIP_W columns at a time
 * (the strip's rows stay in cache across the log; each row is read and written once a sweep). */
static void replay(const rotlog_t *L, double *X, int ld, int c0, int c1) {
  int col = c0;
  for (; col + STRIP_W <= c1; col += STRIP_W)
    for (int k = 0; k < L->nsw; k++)
      replay_strip(&L->sw[k], L->c + L->sw[k].off, L->s + L->sw[k].off, X, ld, col);
  for (; col < c1; col++) {
    for (int k = 0; k < L->nsw; k++) {
      const sweep_t *sw = &L->sw[k];
      const double *cs = L->c + sw->off, *ss = L->s + sw->off;
      if (sw->dir > 0) {
        double *pr = X + (size_t)sw->lo * ld + col;
        double xv = *pr;
        for (int p = 0; p < sw->cnt; p++) {
          double *py = pr + ld;
          double c = cs[p], s = ss[p], y = *py;
          *pr = c * xv + s * y;
          xv = c * y - s * xv;
          pr = py;
        }
        *pr = xv;
      } else {
        double *pb = X + (size_t)(sw->lo + sw->cnt) * ld + col;
        double xv = *pb;
        for (int p = 0; p < sw->cnt; p++) {
          double *pa = pb - ld;
          double c = cs[p], s = ss[p], y = *pa;
          *pb = c * xv - s * y;
          xv = c * y + s * xv;
          pb = pa;
        }
        *pb = xv;
      }
    }
  }
}

typedef struct {
  const rotlog_t *L;
  volatile int32_t next; /* strips are claimed one at a time: a thread the OS preempts holds up
                            no one but for the strip in its hands */
} replay_arg;

static void replay_task(int tid, int nt, void *arg) {
  replay_arg *ra = (replay_arg *)arg;
  const rotlog_t *L = ra->L;
  int strips[2], total = 0;
  for (int t = 0; t < L->nx; t++) total += strips[t] = (L->len[t] + STRIP_W - 1) / STRIP_W;
  for (;;) {
    int c = par_claim(&ra->next);
    if (c >= total) return;
    int t = 0;
    while (c >= strips[t]) c -= strips[t++];
    int lo = c * STRIP_W, hi = MIN(L->len[t], lo + STRIP_W);
    replay(L, L->X[t], L->len[t], lo, hi);
  }
}

static void log_flush(rotlog_t *L) {
  if (L->nsw == 0) return;
  long work = 0;
  for (int t = 0; t < L->nx; t++) work += (long)L->len[t];
  replay_arg ra = {L, 0};
  if ((long)L->nrot * work >= 200000)
    par_run(replay_task, &ra);
  else
    replay_task(0, 1, &ra);
  L->nsw = L->nrot = 0;
}

/* Room for a sweep of cnt rotations; returns where its cosines/sines go. */
static int log_reserve(rotlog_t *L, int lo, int cnt, int dir) {
  if (L->nsw == LOG_SWEEPS || L->nrot + cnt > LOG_ROTS) log_flush(L);
  sweep_t *sw = &L->sw[L->nsw++];
  sw->lo = lo;
  sw->cnt = cnt;
  sw->dir = dir;
  sw->off = L->nrot;
  L->nrot += cnt;
  return sw->off;
}

/* ---- bidiagonal QR ---- */

/* c, s, r with [c s; −s c]·[f; g] = [r; 0]. */
static void lartg(double f, double g, double *c, double *s, double *r) {
  if (g == 0.0) {
    *c = 1.0, *s = 0.0, *r = f;
  } else if (f == 0.0) {
    *c = 0.0, *s = 1.0, *r = g;
  } else {
    double af = nrc_fabs(f), ag = nrc_fabs(g);
    double rr;
    if (af > 1e-150 && af < 1e150 && ag > 1e-150 && ag < 1e150) {
      rr = nrc_sqrt(f * f + g * g); /* squares safe from overflow and underflow */
    } else {
      double sc = af > ag ? af : ag;
      double fs = f / sc, gs = g / sc;
      rr = sc * nrc_sqrt(fs * fs + gs * gs);
    }
    if (af > ag && f < 0) rr = -rr; /* r keeps f's sign where f dominates */
    double inv = 1.0 / rr;
    *c = f * inv;
    *s = g * inv;
    *r = rr;
  }
}

/* Singular values of [f g; 0 h] (smin to high relative accuracy: smin·smax = |f·h|). */
static void las2(double f, double g, double h, double *smin, double *smax) {
  double fa = nrc_fabs(f), ga = nrc_fabs(g), ha = nrc_fabs(h);
  double mn = MIN(fa, ha), mx = MAX(fa, ha);
  if (mn == 0.0) {
    *smin = 0.0;
    if (mx == 0.0)
      *smax = ga;
    else {
      double a = MAX(mx, ga), b = MIN(mx, ga);
      *smax = a * nrc_sqrt(1.0 + (b / a) * (b / a));
    }
  } else if (ga < mx) {
    double as = 1.0 + mn / mx, at = (mx - mn) / mx, au = (ga / mx) * (ga / mx);
    double c = 2.0 / (nrc_sqrt(as * as + au) + nrc_sqrt(at * at + au));
    *smin = mn * c;
    *smax = mx / c;
  } else {
    double au = mx / ga;
    if (au == 0.0) {
      *smin = (mn * mx) / ga;
      *smax = ga;
    } else {
      double as = 1.0 + mn / mx, at = (mx - mn) / mx;
      double c = 1.0 / (nrc_sqrt(1.0 + (as * au) * (as * au)) + nrc_sqrt(1.0 + (at * au) * (at * au)));
      *smin = 2.0 * (mn * c) * au;
      *smax = ga / (c + c);
    }
  }
}

/*
 * SVD of [f g; 0 h]: rotations (cl, sl), (cr, sr) in the log's convention with
 * L·B·Rᵀ = diag(s1, s2) where L = [cl sl; −sl cl], R = [cr sr; −sr cr] (R's rows are the right
 * vectors). The right rotation makes the columns orthogonal (one-sided Jacobi on 2×2, scaled),
 * the left one is the first column's direction; |s1|, |s2| are then taken from las2.
 */
static void svd2(double f, double g, double h, double *s1, double *s2, double *cl, double *sl,
                 double *cr, double *sr) {
  double sc = MAX(nrc_fabs(f), MAX(nrc_fabs(g), nrc_fabs(h)));
  if (sc == 0.0) {
    *s1 = *s2 = 0.0;
    *cl = *cr = 1.0;
    *sl = *sr = 0.0;
    return;
  }
  double fs = f / sc, gs = g / sc, hs = h / sc;
  /* columns (fs, 0) and (gs, hs); rotate col1' = c·col1 + s·col2, col2' = −s·col1 + c·col2 */
  double alpha = fs * fs, beta = gs * gs + hs * hs, gamma = fs * gs;
  double c = 1.0, s = 0.0;
  if (gamma != 0.0) {
    double zeta = (beta - alpha) / (2.0 * gamma);
    double t = (zeta >= 0 ? 1.0 : -1.0) / (nrc_fabs(zeta) + nrc_sqrt(1.0 + zeta * zeta));
    c = 1.0 / nrc_sqrt(1.0 + t * t);
    s = c * t;
    /* With this t, col1 gains: col1' = c·col1 − s·col2 in Jacobi's convention; ours is (c, −s). */
    s = -s;
  }
  double w1x = c * fs + s * gs, w1y = s * hs;
  double w2x = -s * fs + c * gs, w2y = c * hs;
  double n1 = nrc_sqrt(w1x * w1x + w1y * w1y), n2 = nrc_sqrt(w2x * w2x + w2y * w2y);
  double lc, ls;
  if (n1 >= n2 && n1 > 0.0) {
    lc = w1x / n1, ls = w1y / n1;
  } else if (n2 > 0.0) {
    /* (−ls, lc) = w2/‖w2‖ */
    lc = w2y / n2, ls = -w2x / n2;
  } else {
    lc = 1.0, ls = 0.0;
  }
  double d1 = lc * w1x + ls * w1y, d2 = -ls * w2x + lc * w2y;
  double mn, mx;
  las2(f, g, h, &mn, &mx);
  if (nrc_fabs(d1) >= nrc_fabs(d2)) {
    *s1 = d1 >= 0 ? mx : -mx;
    *s2 = d2 >= 0 ? mn : -mn;
  } else {
    *s1 = d1 >= 0 ? mn : -mn;
    *s2 = d2 >= 0 ? mx : -mx;
  }
  *cl = lc, *sl = ls, *cr = c, *sr = s;
}

static void reverse_block(double *d, double *e, int ll, int mm) {
  for (int i = ll, j = mm; i < j; i++, j--) {
    double t = d[i];
    d[i] = d[j];
    d[j] = t;
  }
  for (int i = ll, j = mm - 1; i < j; i++, j--) {
    double t = e[i];
    e[i] = e[j];
    e[j] = t;
  }
}

/*
 * Singular values of the upper bidiagonal (d, e) by implicit QR (Demmel & Kahan 1990): relative
 * convergence tests, zero shift where the shift would spoil relative accuracy, the sweep's
 * direction chosen so the bulge is chased from the larger end (by running the sweep on the
 * reversed block). Left rotations go to Lg, right ones to Rg (either may be null).
 * d ends unsorted and of either sign. Returns 0, or −1 without convergence.
 */
static int bdqr(int n, double *d, double *e, rotlog_t *Lg, rotlog_t *Rg) {
  if (n <= 1) return 0;
  const double eps = DBL_EPS / 2;
  const double tol = 98.0 * eps;
  const long maxit = 6L * n * n;
  double *cr = (double *)arena_alloc(sizeof(double) * (size_t)n);
  double *sr = (double *)arena_alloc(sizeof(double) * (size_t)n);
  double *cl = (double *)arena_alloc(sizeof(double) * (size_t)n);
  double *sl = (double *)arena_alloc(sizeof(double) * (size_t)n);
  /* Absolute threshold from a lower bound on σ_min (Demmel–Kahan's recurrence). */
  double smin_est = nrc_fabs(d[0]), mu = smin_est;
  for (int i = 1; i < n && smin_est > 0; i++) {
    mu = nrc_fabs(d[i]) * (mu / (mu + nrc_fabs(e[i - 1])));
    if (mu < smin_est) smin_est = mu;
  }
  smin_est /= nrc_sqrt((double)n);
  double thresh = MAX(tol * smin_est, 6.0 * ((double)n * ((double)n * DBL_SAFEMIN)));
  long iter = 0;
  int mm = n - 1, oldll = -1, oldmm = -1, rev = 0;
  while (mm > 0) {
    if (iter > maxit) return -1;
    int ll;
    double smax = nrc_fabs(d[mm]);
    for (ll = mm - 1; ll >= 0; ll--) {
      if (nrc_fabs(e[ll]) <= thresh) {
        e[ll] = 0.0;
        break;
      }
      smax = MAX(smax, MAX(nrc_fabs(d[ll]), nrc_fabs(e[ll])));
    }
    if (ll == mm - 1) {
      mm--;
      continue;
    }
    ll++;
    if (ll == mm - 1) {
      double s1, s2, c1, s1n, c2, s2n;
      svd2(d[ll], e[ll], d[mm], &s1, &s2, &c1, &s1n, &c2, &s2n);
      d[ll] = s1;
      d[mm] = s2;
      e[ll] = 0.0;
      if (Lg) {
        int o = log_reserve(Lg, ll, 1, 1);
        Lg->c[o] = c1, Lg->s[o] = s1n;
      }
      if (Rg) {
        int o = log_reserve(Rg, ll, 1, 1);
        Rg->c[o] = c2, Rg->s[o] = s2n;
      }
      mm -= 2;
      continue;
    }
    if (ll > oldmm || mm < oldll) rev = nrc_fabs(d[ll]) < nrc_fabs(d[mm]);
    oldll = ll;
    oldmm = mm;
    if (rev) reverse_block(d, e, ll, mm);
    int split = 0;
    double sminl = 0.0;
    if (nrc_fabs(e[mm - 1]) <= tol * nrc_fabs(d[mm])) {
      e[mm - 1] = 0.0;
      split = 1;
    } else {
      mu = nrc_fabs(d[ll]);
      sminl = mu;
      for (int i = ll; i < mm; i++) {
        if (nrc_fabs(e[i]) <= tol * mu) {
          e[i] = 0.0;
          split = 1;
          break;
        }
        mu = nrc_fabs(d[i + 1]) * (mu / (mu + nrc_fabs(e[i])));
        if (mu < sminl) sminl = mu;
      }
    }
    int cnt = mm - ll;
    if (!split) {
      double shift = 0.0, r;
      if (!((double)n * tol * (sminl / smax) <= MAX(eps, 0.01 * tol))) {
        double sll = nrc_fabs(d[ll]);
        las2(d[mm - 1], e[mm - 1], d[mm], &shift, &r);
        if (sll > 0.0 && (shift / sll) * (shift / sll) < eps) shift = 0.0;
      }
      iter += cnt;
      if (shift == 0.0) {
        double cs = 1.0, sn = 0.0, ocs = 1.0, osn = 0.0, rr;
        for (int i = ll; i < mm; i++) {
          lartg(d[i] * cs, e[i], &cs, &sn, &rr);
          if (i > ll) e[i - 1] = osn * rr;
          lartg(ocs * rr, d[i + 1] * sn, &ocs, &osn, &d[i]);
          cr[i - ll] = cs, sr[i - ll] = sn;
          cl[i - ll] = ocs, sl[i - ll] = osn;
        }
        double h = d[mm] * cs;
        d[mm] = h * ocs;
        e[mm - 1] = h * osn;
      } else {
        double f = (nrc_fabs(d[ll]) - shift) * ((d[ll] >= 0 ? 1.0 : -1.0) + shift / d[ll]);
        double g = e[ll], c, s, rr;
        for (int i = ll; i < mm; i++) {
          lartg(f, g, &c, &s, &rr);
          if (i > ll) e[i - 1] = rr;
          f = c * d[i] + s * e[i];
          e[i] = c * e[i] - s * d[i];
          g = s * d[i + 1];
          d[i + 1] = c * d[i + 1];
          cr[i - ll] = c, sr[i - ll] = s;
          lartg(f, g, &c, &s, &rr);
          d[i] = rr;
          f = c * e[i] + s * d[i + 1];
          d[i + 1] = c * d[i + 1] - s * e[i];
          if (i < mm - 1) {
            g = s * e[i + 1];
            e[i + 1] = c * e[i + 1];
          }
          cl[i - ll] = c, sl[i - ll] = s;
        }
        e[mm - 1] = f;
      }
      if (nrc_fabs(e[mm - 1]) <= thresh) e[mm - 1] = 0.0;
    }
    if (rev) reverse_block(d, e, ll, mm);
    if (split) continue;
    /* Log: forward frame, rotation p joins (ll+p, ll+p+1); reversed frame, rotation p of the
     * frame's left (right) side is the matrix's right (left) rotation on (mm−1−p, mm−p) with the
     * sine negated. */
    rotlog_t *toL = rev ? Rg : Lg, *toR = rev ? Lg : Rg;
    double sg = rev ? -1.0 : 1.0;
    int dir = rev ? -1 : 1;
    if (toL) {
      int o = log_reserve(toL, ll, cnt, dir);
      for (int p = 0; p < cnt; p++) toL->c[o + p] = cl[p], toL->s[o + p] = sg * sl[p];
    }
    if (toR) {
      int o = log_reserve(toR, ll, cnt, dir);
      for (int p = 0; p < cnt; p++) toR->c[o + p] = cr[p], toR->s[o + p] = sg * sr[p];
    }
  }
  return 0;
}

/*
 * SVD of A (m×n row-major, m ≥ n ≥ 1; overwritten). S (n): singular values, descending. With
 * wantU, U (m×n) the left singular vectors; with nv > 0, V (n×nv) the first nv right singular
 * vectors; with q > 0, Z (m×q; overwritten) gives UtZ (n×q) = Uᵀ·Z. Returns 0, or −1 when the
 * bidiagonal QR did not converge.
 */
EXPORT(k_bdsvd)
int k_bdsvd(double *A, int m, int n, double *S, int wantU, double *U, int nv, double *V,
            double *Z, int q, double *UtZ) {
  double *d = (double *)arena_alloc(sizeof(double) * (size_t)n);
  double *e = (double *)arena_alloc(sizeof(double) * (size_t)(n > 1 ? n : 1));
  double *tauq = (double *)arena_alloc(sizeof(double) * (size_t)n);
  double *taup = (double *)arena_alloc(sizeof(double) * (size_t)(n > 1 ? n : 1));
  if (q <= 0) Z = 0, q = 0;
  bidiag(A, m, n, d, e, tauq, taup, Z, q);
  double *Ut = 0, *Pt = 0;
  rotlog_t lg, rg;
  rotlog_t *Lg = 0, *Rg = 0;
  if (wantU || q > 0) {
    lg.nx = 0;
    if (wantU) {
      Ut = (double *)arena_alloc(sizeof(double) * (size_t)n * m);
      form_ut(A, m, n, tauq, Ut);
      lg.X[lg.nx] = Ut, lg.len[lg.nx++] = m;
    }
    if (q > 0) lg.X[lg.nx] = Z, lg.len[lg.nx++] = q; /* QᵀZ's first n rows */
    log_init(&lg);
    Lg = &lg;
  }
  if (nv > 0) {
    Pt = (double *)arena_alloc(sizeof(double) * (size_t)n * n);
    form_pt(A, n, taup, Pt);
    rg.nx = 1;
    rg.X[0] = Pt, rg.len[0] = n;
    log_init(&rg);
    Rg = &rg;
  }
  int st = bdqr(n, d, e, Lg, Rg);
  if (Lg) log_flush(Lg);
  if (Rg) log_flush(Rg);
  if (st != 0) return st;
  /* Order: descending |d|; signs go to the right vectors. */
  int *perm = (int *)arena_alloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = 1; i < n; i++) { /* insertion sort on |d| (n log n is not needed at these n) */
    int p = perm[i];
    double v = nrc_fabs(d[p]);
    int j = i - 1;
    while (j >= 0 && nrc_fabs(d[perm[j]]) < v) {
      perm[j + 1] = perm[j];
      j--;
    }
    perm[j + 1] = p;
  }
  for (int j = 0; j < n; j++) S[j] = nrc_fabs(d[perm[j]]);
  if (wantU)
    for (int j = 0; j < n; j++) {
      const double *src = Ut + (size_t)perm[j] * m;
      for (int r = 0; r < m; r++) U[(size_t)r * n + j] = src[r];
    }
  if (q > 0)
    for (int j = 0; j < n; j++) {
      const double *src = Z + (size_t)perm[j] * q;
      for (int c = 0; c < q; c++) UtZ[(size_t)j * q + c] = src[c];
    }
  if (nv > 0) {
    if (nv > n) nv = n;
    for (int j = 0; j < nv; j++) {
      const double *src = Pt + (size_t)perm[j] * n;
      double sg = d[perm[j]] < 0 ? -1.0 : 1.0;
      for (int r = 0; r < n; r++) V[(size_t)r * nv + j] = sg * src[r];
    }
  }
  return 0;
}
