/*
 * Householder QR of a tall row-major matrix with right-hand sides: the host passes the augmented
 * matrix X = [A | B] (m × (n+q)); the first k = min(m, n) columns are reduced and every reflector
 * is applied to all n+q columns, so R and QᵀB come out together and the squared residual of each
 * column of B is summed directly from the trailing rows (never ‖B‖² − ‖QᵀB‖²).
 *
 * Blocked right-looking factorisation (panels of QR_NB columns factored in a contiguous copy,
 * compact-WY T, trailing update by two GEMMs). With several threads and a tall matrix the rows
 * are split into one block per thread, each block is factored independently (TSQR), and the
 * stacked triangular factors are factored again.
 */
#include "common.h"

#define QR_NB 32

/* Per-call description of one factored block. */
typedef struct {
  double *X; /* m × nc, ld */
  int m, nc, ld, nf;
  int k;       /* min(m, nf) reflectors */
  double *tau; /* k */
  double *Ts;  /* ceil(k/NB) × NB × NB */
  double *P;   /* m × NB panel workspace */
  double *W;   /* NB × nc */
  double *G;   /* NB × NB */
  int par;     /* use gemm_par for the trailing update */
} qr_blk;

static void blk_gemm(int par, int trA, int trB, int m, int n, int k, double alpha, const double *A,
                     int lda, const double *B, int ldb, double *C, int ldc, double *work) {
  if (par)
    gemm_par(trA, trB, m, n, k, alpha, A, lda, B, ldb, C, ldc);
  else
    gemm_serial(trA, trB, m, n, k, alpha, A, lda, B, ldb, C, ldc, work);
}

/* Unblocked QR of the contiguous panel P (rows × w, row stride w); returns R above, v below. */
static void panel_qr(double *P, int rows, int w, double *tau) {
  for (int c = 0; c < w && c < rows; c++) {
    double alpha = P[(size_t)c * w + c];
    double sigma = nrm2_strided(rows - c - 1, P + (size_t)(c + 1) * w + c, w);
    if (sigma == 0.0) {
      tau[c] = 0.0;
      continue;
    }
    double beta, sc;
    double t = house_params(alpha, sigma, &beta, &sc);
    for (int i = c + 1; i < rows; i++) P[(size_t)i * w + c] *= sc;
    P[(size_t)c * w + c] = beta;
    tau[c] = t;
    int rest = w - c - 1;
    if (rest <= 0) continue;
    /* wv = vᵀ P[c:, c+1:], then P[c:, c+1:] −= τ v wv */
    double wv[QR_NB];
    const double *pc = P + (size_t)c * w + c + 1;
    for (int j = 0; j < rest; j++) wv[j] = pc[j];
    /* Two rows per step into two sets of f64x2 accumulators (rest ≤ QR_NB − 1). */
    {
      f2 acc[QR_NB / 2];
      int nv = (rest + 1) / 2;
      for (int j = 0; j < nv; j++) acc[j] = wasm_f64x2_splat(0.0);
      for (int i = c + 1; i < rows; i++) {
        const double *pi = P + (size_t)i * w;
        f2 vv = wasm_f64x2_splat(pi[c]);
        const double *x = pi + c + 1;
        int j = 0;
        for (; 2 * j + 1 < rest; j++)
          acc[j] = MADD(acc[j], vv, wasm_v128_load(x + 2 * j));
        if (2 * j < rest)
          acc[j] = MADD(acc[j], vv, wasm_f64x2_make(x[2 * j], 0.0));
      }
      double tmp[QR_NB + 2];
      for (int j = 0; j < nv; j++) wasm_v128_store(tmp + 2 * j, acc[j]);
      for (int j = 0; j < rest; j++) wv[j] += tmp[j];
    }
    for (int j = 0; j < rest; j++) wv[j] *= t;
    {
      double *row = P + (size_t)c * w + c + 1;
      for (int j = 0; j < rest; j++) row[j] -= wv[j];
    }
    {
      f2 wq[QR_NB / 2];
      double wpad[QR_NB + 2];
      for (int j = 0; j < rest; j++) wpad[j] = wv[j];
      wpad[rest] = 0.0;
      int nv = (rest + 1) / 2;
      for (int j = 0; j < nv; j++) wq[j] = wasm_v128_load(wpad + 2 * j);
      for (int i = c + 1; i < rows; i++) {
        double *pi = P + (size_t)i * w;
        f2 vv = wasm_f64x2_splat(-pi[c]);
        double *x = pi + c + 1;
        int j = 0;
        for (; 2 * j + 1 < rest; j++)
          wasm_v128_store(x + 2 * j,
                          MADD(wasm_v128_load(x + 2 * j), vv, wq[j]));
        if (2 * j < rest) x[2 * j] += -pi[c] * wpad[2 * j];
      }
    }
  }
}

/* Rewrites the factored panel P (rows × w) into V (unit lower trapezoidal), returning R via X. */
static void panel_to_v(double *P, int rows, int w, double *X, int ld) {
  for (int i = 0; i < rows; i++) {
    double *pi = P + (size_t)i * w;
    double *xi = X + (size_t)i * ld;
    for (int j = 0; j < w; j++) {
      if (j >= i) xi[j] = pi[j]; /* R part (upper) */
      else xi[j] = pi[j];        /* v stays below the diagonal in X too */
      if (j > i) pi[j] = 0.0;
      else if (j == i) pi[j] = 1.0;
    }
  }
}

/* T (upper, w×w, stride NB) of H_0…H_{w-1} = I − V T Vᵀ from G = VᵀV. */
static void form_t(int w, const double *G, const double *tau, double *T) {
  for (int i = 0; i < w; i++) {
    for (int j = 0; j < QR_NB; j++) T[i * QR_NB + j] = 0.0;
  }
  for (int i = 0; i < w; i++) {
    double ti = tau[i];
    T[i * QR_NB + i] = ti;
    for (int r = 0; r < i; r++) {
      double s = 0.0;
      for (int j = r; j < i; j++) s += T[r * QR_NB + j] * G[j * QR_NB + i];
      T[r * QR_NB + i] = -ti * s;
    }
  }
}

/* W ← Tᵀ W (trans != 0) or T W, W is w × nc (stride ldw). */
static void apply_t(int trans, int w, const double *T, double *W, int nc, int ldw) {
  if (trans) {
    for (int i = w - 1; i >= 0; i--) {
      double *wi = W + (size_t)i * ldw;
      scal(nc, T[i * QR_NB + i], wi);
      for (int l = 0; l < i; l++) axpy(nc, T[l * QR_NB + i], W + (size_t)l * ldw, wi);
    }
  } else {
    for (int i = 0; i < w; i++) {
      double *wi = W + (size_t)i * ldw;
      scal(nc, T[i * QR_NB + i], wi);
      for (int l = i + 1; l < w; l++) axpy(nc, T[i * QR_NB + l], W + (size_t)l * ldw, wi);
    }
  }
}

/* Copies V of panel p (rows j.. of X, columns j..j+w) into the contiguous unit-lower P. */
static void load_v(const qr_blk *b, int j, int w, double *P) {
  int rows = b->m - j;
  for (int i = 0; i < rows; i++) {
    const double *xi = b->X + (size_t)(j + i) * b->ld + j;
    double *pi = P + (size_t)i * w;
    for (int c = 0; c < w; c++) pi[c] = c < i ? xi[c] : (c == i ? 1.0 : 0.0);
  }
}

static void qr_factor(qr_blk *b, double *gw) {
  int m = b->m, ld = b->ld, nc = b->nc;
  int k = b->k;
  for (int j = 0; j < k; j += QR_NB) {
    int w = MIN(QR_NB, k - j);
    int rows = m - j;
    double *P = b->P;
    /* copy panel */
    for (int i = 0; i < rows; i++) {
      const double *xi = b->X + (size_t)(j + i) * ld + j;
      double *pi = P + (size_t)i * w;
      for (int c = 0; c < w; c++) pi[c] = xi[c];
    }
    panel_qr(P, rows, w, b->tau + j);
    panel_to_v(P, rows, w, b->X + (size_t)j * ld + j, ld);
    double *T = b->Ts + (size_t)(j / QR_NB) * QR_NB * QR_NB;
    int rest = nc - j - w;
    /* G = VᵀV, then T. */
    for (int q = 0; q < QR_NB * QR_NB; q++) b->G[q] = 0.0;
    gemm_serial(1, 0, w, w, rows, 1.0, P, w, P, w, b->G, QR_NB, gw);
    form_t(w, b->G, b->tau + j, T);
    if (rest <= 0) continue;
    double *C = b->X + (size_t)j * ld + j + w;
    for (size_t q = 0; q < (size_t)w * rest; q++) b->W[q] = 0.0;
    blk_gemm(b->par, 1, 0, w, rest, rows, 1.0, P, w, C, ld, b->W, rest, gw);
    apply_t(1, w, T, b->W, rest, rest);
    blk_gemm(b->par, 0, 0, rows, rest, w, -1.0, P, w, b->W, rest, C, ld, gw);
  }
}

/* C (m × ncc, ldc) ← Q C with Q = H_0 … H_{k-1} of the factored block b. */
static void qr_apply_q(qr_blk *b, double *C, int ncc, int ldc, double *gw) {
  int k = b->k;
  int npan = (k + QR_NB - 1) / QR_NB;
  for (int p = npan - 1; p >= 0; p--) {
    int j = p * QR_NB;
    int w = MIN(QR_NB, k - j);
    int rows = b->m - j;
    load_v(b, j, w, b->P);
    double *T = b->Ts + (size_t)p * QR_NB * QR_NB;
    double *Cj = C + (size_t)j * ldc;
    for (size_t q = 0; q < (size_t)w * ncc; q++) b->W[q] = 0.0;
    blk_gemm(b->par, 1, 0, w, ncc, rows, 1.0, b->P, w, Cj, ldc, b->W, ncc, gw);
    apply_t(0, w, T, b->W, ncc, ncc);
    blk_gemm(b->par, 0, 0, rows, ncc, w, -1.0, b->P, w, b->W, ncc, Cj, ldc, gw);
  }
}

static void blk_alloc(qr_blk *b, double *X, int m, int nc, int ld, int nf, int par) {
  b->X = X;
  b->m = m;
  b->nc = nc;
  b->ld = ld;
  b->nf = nf;
  b->k = MIN(m, nf);
  b->par = par;
  int npan = (b->k + QR_NB - 1) / QR_NB;
  b->tau = (double *)arena_alloc(sizeof(double) * (b->k + 1));
  b->Ts = (double *)arena_alloc(sizeof(double) * (size_t)(npan + 1) * QR_NB * QR_NB);
  b->P = (double *)arena_alloc(sizeof(double) * (size_t)m * QR_NB);
  b->W = (double *)arena_alloc(sizeof(double) * (size_t)QR_NB * nc);
  b->G = (double *)arena_alloc(sizeof(double) * QR_NB * QR_NB);
}

typedef struct {
  qr_blk *blks;
  int nblk;
  double *Q;     /* when forming Q: m × k output (ld k) */
  double *S;     /* stacked Qs rows (for Q formation) */
  int *rowoff;   /* first row of each block in X / Q */
  int *stackoff; /* first row of each block's R in the stack */
  int k;
  int phase; /* 0: factor; 1: form Q blocks */
} tsqr_args;

static void tsqr_task(int tid, int nt, void *p) {
  tsqr_args *a = (tsqr_args *)p;
  double *gw = thread_gemm_work(tid);
  for (int bi = tid; bi < a->nblk; bi += nt) {
    qr_blk *b = &a->blks[bi];
    if (a->phase == 0) {
      qr_factor(b, gw);
    } else {
      /* Q rows of this block = Q_b · [S rows of this block; 0] */
      int k = a->k;
      double *Qb = a->Q + (size_t)a->rowoff[bi] * k;
      for (size_t q = 0; q < (size_t)b->m * k; q++) Qb[q] = 0.0;
      const double *Sb = a->S + (size_t)a->stackoff[bi] * k;
      for (int i = 0; i < b->k; i++)
        for (int c = 0; c < k; c++) Qb[(size_t)i * k + c] = Sb[(size_t)i * k + c];
      qr_apply_q(b, Qb, k, k, gw);
    }
  }
}

/*
 * QR of the m × (n+q) row-major X = [A | B] (overwritten). Outputs: R (k × n), QtB (k × q),
 * res (q) squared residuals, and, when Q != 0, the m × k orthonormal Q. The sign of each row of R
 * is normalised so that R has a non-negative diagonal (rows of QtB and columns of Q follow).
 */
EXPORT(k_qr) void k_qr(double *X, int m, int n, int q, double *R, double *QtB, double *res,
                       double *Q) {
  int nc = n + q;
  int k = MIN(m, n);
  int nt = par_threads();
  for (int c = 0; c < q; c++) res[c] = 0.0;
  /* Blocks: one per thread when tall enough, else a single block with parallel GEMMs. */
  int nblk = 1;
  if (nt > 1 && m >= 4 * n && m >= 256 * nt) nblk = nt;
  qr_blk *blks = (qr_blk *)arena_alloc(sizeof(qr_blk) * nblk);
  int *rowoff = (int *)arena_alloc(sizeof(int) * (nblk + 1));
  int *stackoff = (int *)arena_alloc(sizeof(int) * (nblk + 1));
  for (int bi = 0; bi < nblk; bi++) {
    int lo, hi;
    split_range(m, bi, nblk, 1, &lo, &hi);
    rowoff[bi] = lo;
    blk_alloc(&blks[bi], X + (size_t)lo * nc, hi - lo, nc, nc, n, nblk == 1);
  }
  tsqr_args ta = {blks, nblk, 0, 0, rowoff, stackoff, k, 0};
  if (nblk == 1)
    qr_factor(&blks[0], thread_gemm_work(0));
  else
    par_run(tsqr_task, &ta);
  qr_blk *top = &blks[0];
  qr_blk stack;
  double *Sx = 0;
  if (nblk > 1) {
    /* Residual rows of each block (fixed order), then stack the triangles. */
    int srows = 0;
    for (int bi = 0; bi < nblk; bi++) {
      qr_blk *b = &blks[bi];
      for (int i = b->k; i < b->m; i++) {
        const double *xi = b->X + (size_t)i * nc + n;
        for (int c = 0; c < q; c++) res[c] += xi[c] * xi[c];
      }
      stackoff[bi] = srows;
      srows += b->k;
    }
    Sx = (double *)arena_alloc(sizeof(double) * (size_t)srows * nc);
    for (int bi = 0; bi < nblk; bi++) {
      qr_blk *b = &blks[bi];
      for (int i = 0; i < b->k; i++) {
        const double *xi = b->X + (size_t)i * nc;
        double *si = Sx + (size_t)(stackoff[bi] + i) * nc;
        for (int c = 0; c < nc; c++) si[c] = c < i ? 0.0 : xi[c];
      }
    }
    blk_alloc(&stack, Sx, srows, nc, nc, n, 1);
    qr_factor(&stack, thread_gemm_work(0));
    top = &stack;
  }
  /* Residual rows of the (last) factorisation. */
  for (int i = top->k; i < top->m; i++) {
    const double *xi = top->X + (size_t)i * nc + n;
    for (int c = 0; c < q; c++) res[c] += xi[c] * xi[c];
  }
  /* R, QtB with a non-negative diagonal. */
  for (int i = 0; i < k; i++) {
    const double *xi = top->X + (size_t)i * nc;
    double sg = xi[i] < 0 ? -1.0 : 1.0;
    for (int j = 0; j < n; j++) R[(size_t)i * n + j] = j < i ? 0.0 : sg * xi[j];
    for (int c = 0; c < q; c++) QtB[(size_t)i * q + c] = sg * xi[n + c];
  }
  if (Q) {
    /* Q_top = (stack or single block) Q applied to I[:, :k], then the block Qs. */
    int mt = top->m;
    double *Qt = nblk > 1 ? (double *)arena_alloc(sizeof(double) * (size_t)mt * k) : Q;
    for (size_t t = 0; t < (size_t)mt * k; t++) Qt[t] = 0.0;
    for (int i = 0; i < k; i++) Qt[(size_t)i * k + i] = 1.0;
    top->par = 1;
    qr_apply_q(top, Qt, k, k, thread_gemm_work(0));
    if (nblk > 1) {
      ta.Q = Q;
      ta.S = Qt;
      ta.phase = 1;
      par_run(tsqr_task, &ta);
    }
    for (int i = 0; i < k; i++) {
      if (top->X[(size_t)i * nc + i] < 0)
        for (int r = 0; r < m; r++) Q[(size_t)r * k + i] = -Q[(size_t)r * k + i];
    }
  }
}
