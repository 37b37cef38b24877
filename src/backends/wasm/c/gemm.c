/*
 * Level-3 kernels: packed, register-blocked float64 GEMM with wasm SIMD (f64x2), the Gram matrix
 * AᵀA (upper triangle only, mirrored), cross products AᵀB and products A·B. Blocking follows the
 * usual packed-panel scheme: a KC×NC block of B and an MC×KC block of A are packed into MR-/NR-wide
 * slivers so the micro-kernel streams contiguous memory and keeps an MR×NR tile of C in registers.
 */
#include "common.h"

/* Hides a pointer's value from the optimiser so loads off it keep constant offsets that fold into
 * the wasm load's offset immediate (loop strength reduction would otherwise emit an i32.add per
 * load, which V8 does not fold into the address). */
#define OPAQUE(p) __asm__("" : "+r"(p))

#ifndef MR
#define MR 2
#endif
#ifndef NR
#define NR 8
#endif
#define NV (NR / 2)
#define KC 256
#define NC 512
#define MC 96

size_t gemm_work_size(void) { return (size_t)KC * (NC + NR) + (size_t)KC * (MC + MR) + 64; }

static double *g_gemm_work; /* par_threads() * gemm_work_size() doubles */

/* Bytes of the per-thread gemm workspaces (all threads). */
EXPORT(gemm_work_bytes) size_t gemm_work_bytes(void) {
  return sizeof(double) * gemm_work_size() * (size_t)par_threads();
}

/* Host, once, after pool_init: the workspaces live at p (gemm_work_bytes(), memory the host keeps
 * out of every arena), so a background task's workspace survives the host's later calls. */
EXPORT(gemm_work_fix) void gemm_work_fix(double *p) { g_gemm_work = p; }

/* The workspace of the thread actually running (tid is only a hint: a task run serially by a
 * nested par_run gets tid 0 whichever thread runs it). */
double *thread_gemm_work(int tid) {
  (void)tid;
  return g_gemm_work + gemm_work_size() * (size_t)par_self_tid();
}

/* Pa[(p*kc + l)*MR + r] = op(A)[i0 + p*MR + r][l0 + l], zero padded to whole slivers. */
static void pack_a(int trA, const double *A, int lda, int i0, int mc, int l0, int kc, double *Pa) {
  int np = (mc + MR - 1) / MR;
  for (int p = 0; p < np; p++) {
    double *dst = Pa + (size_t)p * kc * MR;
    int rows = MIN(MR, mc - p * MR);
    if (!trA && MR == 2 && rows == 2) {
      const double *s0 = A + (size_t)(i0 + p * MR) * lda + l0, *s1 = s0 + lda;
      int l = 0;
      for (; l + 2 <= kc; l += 2) {
        f2 x = wasm_v128_load(s0 + l), y = wasm_v128_load(s1 + l);
        wasm_v128_store(dst + 2 * l, wasm_i64x2_shuffle(x, y, 0, 2));
        wasm_v128_store(dst + 2 * l + 2, wasm_i64x2_shuffle(x, y, 1, 3));
      }
      for (; l < kc; l++) {
        dst[2 * l] = s0[l];
        dst[2 * l + 1] = s1[l];
      }
    } else if (!trA) {
      for (int r = 0; r < rows; r++) {
        const double *src = A + (size_t)(i0 + p * MR + r) * lda + l0;
        for (int l = 0; l < kc; l++) dst[l * MR + r] = src[l];
      }
      for (int r = rows; r < MR; r++)
        for (int l = 0; l < kc; l++) dst[l * MR + r] = 0.0;
    } else {
      for (int l = 0; l < kc; l++) {
        const double *src = A + (size_t)(l0 + l) * lda + i0 + p * MR;
        double *d = dst + l * MR;
        int r = 0;
        for (; r < rows; r++) d[r] = src[r];
        for (; r < MR; r++) d[r] = 0.0;
      }
    }
  }
}

/* Pb[(q*kc + l)*NR + c] = op(B)[l0 + l][j0 + q*NR + c], zero padded. */
static void pack_b(int trB, const double *B, int ldb, int l0, int kc, int j0, int nc, double *Pb) {
  int nq = (nc + NR - 1) / NR;
  for (int q = 0; q < nq; q++) {
    double *dst = Pb + (size_t)q * kc * NR;
    int cols = MIN(NR, nc - q * NR);
    if (!trB && cols == NR) {
      const double *src = B + (size_t)l0 * ldb + j0 + q * NR;
      for (int l = 0; l < kc; l++) {
        double *d = dst + l * NR;
        for (int c = 0; c < NR; c += 2) wasm_v128_store(d + c, wasm_v128_load(src + c));
        src += ldb;
      }
    } else if (!trB) {
      for (int l = 0; l < kc; l++) {
        const double *src = B + (size_t)(l0 + l) * ldb + j0 + q * NR;
        double *d = dst + l * NR;
        int c = 0;
        for (; c < cols; c++) d[c] = src[c];
        for (; c < NR; c++) d[c] = 0.0;
      }
    } else {
      for (int c = 0; c < cols; c++) {
        const double *src = B + (size_t)(j0 + q * NR + c) * ldb + l0;
        for (int l = 0; l < kc; l++) dst[l * NR + c] = src[l];
      }
      for (int c = cols; c < NR; c++)
        for (int l = 0; l < kc; l++) dst[l * NR + c] = 0.0;
    }
  }
}

/* C[mv×nv] += alpha · (packed MR-sliver a) · (packed NR-sliver b) over kc. */
static inline __attribute__((always_inline)) void micro(int kc, const double *restrict a,
                                                        const double *restrict b, double *c,
                                                        int ldc, double alpha, int mv, int nv) {
  f2 acc[MR][NV];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++) acc[i][j] = wasm_f64x2_splat(0.0);
  for (int l = 0; l < kc; l++) {
    f2 bv[NV];
    for (int j = 0; j < NV; j++) bv[j] = wasm_v128_load(b + 2 * j);
    for (int i = 0; i < MR; i++) {
      f2 av = wasm_v128_load64_splat(a + i);
      for (int j = 0; j < NV; j++) acc[i][j] = MADD(acc[i][j], av, bv[j]);
    }
    a += MR;
    b += NR;
    OPAQUE(a);
    OPAQUE(b);
  }
  if (mv == MR && nv == NR) {
    if (alpha == 1.0) {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) {
          double *p = c + (size_t)i * ldc + 2 * j;
          wasm_v128_store(p, wasm_f64x2_add(wasm_v128_load(p), acc[i][j]));
        }
    } else {
      f2 al = wasm_f64x2_splat(alpha);
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) {
          double *p = c + (size_t)i * ldc + 2 * j;
          wasm_v128_store(p, MADD(wasm_v128_load(p), al, acc[i][j]));
        }
    }
  } else {
    double t[MR * NR];
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NV; j++) wasm_v128_store(t + i * NR + 2 * j, acc[i][j]);
    for (int i = 0; i < mv; i++)
      for (int j = 0; j < nv; j++) c[(size_t)i * ldc + j] += alpha * t[i * NR + j];
  }
}

static __attribute__((noinline)) void micro_full(int kc, const double *a, const double *b,
                                                 double *c, int ldc, double alpha) {
  micro(kc, a, b, c, ldc, alpha, MR, NR);
}
static __attribute__((noinline)) void micro_edge(int kc, const double *a, const double *b,
                                                 double *c, int ldc, double alpha, int mv, int nv) {
  micro(kc, a, b, c, ldc, alpha, mv, nv);
}

/* Multiply a packed MC×KC block by a packed KC×NC block into C (only tiles with j0+NR > i0+off
 * when tri != 0, i.e. those touching the upper triangle, off = global row minus global column). */
static void macro_kernel(int mc, int nc, int kc, double alpha, const double *Pa, const double *Pb,
                         double *C, int ldc, int tri, int diagoff) {
  for (int jr = 0; jr < nc; jr += NR) {
    int nv = MIN(NR, nc - jr);
    const double *b = Pb + (size_t)(jr / NR) * kc * NR;
    for (int ir = 0; ir < mc; ir += MR) {
      if (tri && jr + NR <= ir + diagoff) break; /* tile entirely below the diagonal */
      int mv = MIN(MR, mc - ir);
      const double *a = Pa + (size_t)(ir / MR) * kc * MR;
      double *c = C + (size_t)ir * ldc + jr;
      if (mv == MR && nv == NR)
        micro_full(kc, a, b, c, ldc, alpha);
      else
        micro_edge(kc, a, b, c, ldc, alpha, mv, nv);
    }
  }
}

static void gemm_blocked(int trA, int trB, int m, int n, int k, double alpha, const double *A,
                         int lda, const double *B, int ldb, double *C, int ldc, double *work,
                         int tri) {
  double *Pb = work;
  double *Pa = work + (size_t)KC * (NC + NR);
  for (int jc = 0; jc < n; jc += NC) {
    int nc = MIN(NC, n - jc);
    for (int pc = 0; pc < k; pc += KC) {
      int kc = MIN(KC, k - pc);
      pack_b(trB, B, ldb, pc, kc, jc, nc, Pb);
      int iend = tri ? MIN(m, jc + nc) : m;
      for (int ic = 0; ic < iend; ic += MC) {
        int mc = MIN(MC, iend - ic);
        pack_a(trA, A, lda, ic, mc, pc, kc, Pa);
        macro_kernel(mc, nc, kc, alpha, Pa, Pb, C + (size_t)ic * ldc + jc, ldc, tri, ic - jc);
      }
    }
  }
}

void gemm_serial(int trA, int trB, int m, int n, int k, double alpha, const double *A, int lda,
                 const double *B, int ldb, double *C, int ldc, double *work) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  gemm_blocked(trA, trB, m, n, k, alpha, A, lda, B, ldb, C, ldc, work, 0);
}

typedef struct {
  int trA, trB, m, n, k;
  double alpha;
  const double *A;
  int lda;
  const double *B;
  int ldb;
  double *C;
  int ldc;
} gemm_args;

static void gemm_task(int tid, int nt, void *p) {
  gemm_args *g = (gemm_args *)p;
  int lo, hi;
  double *w = thread_gemm_work(tid);
  if (g->m >= g->n || g->m >= 4 * MR * nt) {
    split_range(g->m, tid, nt, MR, &lo, &hi);
    if (hi <= lo) return;
    const double *A = g->trA ? g->A + lo : g->A + (size_t)lo * g->lda;
    gemm_serial(g->trA, g->trB, hi - lo, g->n, g->k, g->alpha, A, g->lda, g->B, g->ldb,
                g->C + (size_t)lo * g->ldc, g->ldc, w);
  } else {
    split_range(g->n, tid, nt, NR, &lo, &hi);
    if (hi <= lo) return;
    const double *B = g->trB ? g->B + (size_t)lo * g->ldb : g->B + lo;
    gemm_serial(g->trA, g->trB, g->m, hi - lo, g->k, g->alpha, g->A, g->lda, B, g->ldb, g->C + lo,
                g->ldc, w);
  }
}

void gemm_par(int trA, int trB, int m, int n, int k, double alpha, const double *A, int lda,
              const double *B, int ldb, double *C, int ldc) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  gemm_args g = {trA, trB, m, n, k, alpha, A, lda, B, ldb, C, ldc};
  /* Small products are not worth waking the workers. */
  if ((double)m * n * k < 2.0e5 || par_threads() == 1)
    gemm_task(0, 1, &g);
  else
    par_run(gemm_task, &g);
}

/* ------------------------------------------------------------------------------------------ */
/* Host-facing kernels. Streaming Gram/cross products: float64 accumulator slots, rows claimed by
 * the threads in chunks (see claims_t in common.h), slots summed at the end in a fixed order, so
 * results do not depend on timing. */

/* Zeroed accumulator slots for an n×q product over m rows. */
EXPORT(acc_begin) double *acc_begin(int n, int q, int m) {
  return slots_begin((size_t)n * q, m);
}

/* ------------------------------------------------------------------------------------------ */
/* Gram AᵀA of a row-major m×n A, upper triangle of C only. Each K-panel of GKC rows of A is packed
 * once into GW-column slivers P[(q·kc + l)·GW + c] = A[l][q·GW + c] (zero padded); a GR×GW tile of
 * C at rows i…i+GR−1 and columns jr…jr+GW−1 then streams GR broadcast values from the sliver holding
 * row i and GW/2 vectors from the sliver of jr, both with the same stride, so one packing serves
 * both operands. The 3×6 tile (9 accumulators, 3 vectors of B, one broadcast, one product: 14 of
 * the 16 xmm registers V8 allocates from) measured fastest in V8 of the shapes that do not spill:
 * 18–19 GFLOP/s per thread in L1 against 15 for 2×8 and 16 for 4×4; 4×6 and 6×4 spill (11–12),
 * and unrolling the k loop spills too (12–15). */
#define GKC 128
#define GW 6
#define GR 3

static void pack_rows(const double *A, int lda, int kc, int n, double *P) {
  int nq = (n + GW - 1) / GW, full = n / GW;
  for (int l = 0; l < kc; l++) {
    const double *src = A + (size_t)l * lda;
    double *d = P + (size_t)l * GW;
    for (int q = 0; q < full; q++) {
      const double *s = src + q * GW;
      double *t = d + (size_t)q * kc * GW;
      for (int c = 0; c < GW; c += 2) wasm_v128_store(t + c, wasm_v128_load(s + c));
    }
    if (full < nq) {
      double *e = d + (size_t)full * kc * GW;
      int c = 0;
      for (; c < n - full * GW; c++) e[c] = src[full * GW + c];
      for (; c < GW; c++) e[c] = 0.0;
    }
  }
}

/* C[mv×nv] += (GR broadcast columns at a) · (GW-wide sliver b) over kc, stride GW for both. */
static __attribute__((noinline)) void micro_gram(int kc, const double *a, const double *b,
                                                 double *c, int ldc, int mv, int nv) {
  f2 c00 = wasm_f64x2_splat(0.0), c01 = c00, c02 = c00;
  f2 c10 = c00, c11 = c00, c12 = c00;
  f2 c20 = c00, c21 = c00, c22 = c00;
  for (int l = 0; l < kc; l++) {
    f2 b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 2), b2 = wasm_v128_load(b + 4);
    f2 s = wasm_v128_load64_splat(a);
    c00 = MADD(c00, s, b0);
    c01 = MADD(c01, s, b1);
    c02 = MADD(c02, s, b2);
    s = wasm_v128_load64_splat(a + 1);
    c10 = MADD(c10, s, b0);
    c11 = MADD(c11, s, b1);
    c12 = MADD(c12, s, b2);
    s = wasm_v128_load64_splat(a + 2);
    c20 = MADD(c20, s, b0);
    c21 = MADD(c21, s, b1);
    c22 = MADD(c22, s, b2);
    a += GW;
    b += GW;
    OPAQUE(a);
    OPAQUE(b);
  }
  if (mv == GR && nv == GW) {
    double *r = c;
    wasm_v128_store(r, wasm_f64x2_add(wasm_v128_load(r), c00));
    wasm_v128_store(r + 2, wasm_f64x2_add(wasm_v128_load(r + 2), c01));
    wasm_v128_store(r + 4, wasm_f64x2_add(wasm_v128_load(r + 4), c02));
    r += ldc;
    wasm_v128_store(r, wasm_f64x2_add(wasm_v128_load(r), c10));
    wasm_v128_store(r + 2, wasm_f64x2_add(wasm_v128_load(r + 2), c11));
    wasm_v128_store(r + 4, wasm_f64x2_add(wasm_v128_load(r + 4), c12));
    r += ldc;
    wasm_v128_store(r, wasm_f64x2_add(wasm_v128_load(r), c20));
    wasm_v128_store(r + 2, wasm_f64x2_add(wasm_v128_load(r + 2), c21));
    wasm_v128_store(r + 4, wasm_f64x2_add(wasm_v128_load(r + 4), c22));
  } else {
    double t[GR * GW];
    wasm_v128_store(t, c00);
    wasm_v128_store(t + 2, c01);
    wasm_v128_store(t + 4, c02);
    wasm_v128_store(t + 6, c10);
    wasm_v128_store(t + 8, c11);
    wasm_v128_store(t + 10, c12);
    wasm_v128_store(t + 12, c20);
    wasm_v128_store(t + 14, c21);
    wasm_v128_store(t + 16, c22);
    for (int i = 0; i < mv; i++)
      for (int j = 0; j < nv; j++) c[(size_t)i * ldc + j] += t[i * GW + j];
  }
}

/* C (upper triangle; tiles straddling the diagonal in full) += PᵀP for one packed panel. */
static void gram_panel(const double *P, int kc, int n, double *C, int ldc) {
  int nq = (n + GW - 1) / GW;
  for (int q = 0; q < nq; q++) {
    int jr = q * GW, nv = MIN(GW, n - jr);
    const double *b = P + (size_t)q * kc * GW;
    int iend = MIN(n, jr + GW);
    for (int i = 0; i < iend; i += GR) {
      const double *a = P + (size_t)(i / GW) * kc * GW + (i % GW);
      micro_gram(kc, a, b, C + (size_t)i * ldc + jr, ldc, MIN(GR, n - i), nv);
    }
  }
}

static void gram_blocked(const double *A, int lda, int n, int k, double *C, int ldc, double *P) {
  for (int pc = 0; pc < k; pc += GKC) {
    int kc = MIN(GKC, k - pc);
    pack_rows(A + (size_t)pc * lda, lda, kc, n, P);
    gram_panel(P, kc, n, C, ldc);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Shifted moments in one pass: G += (A − 1sᵀ)ᵀ(A − 1sᵀ) (upper triangle), X += (A − 1sᵀ)ᵀB and
 * S += Σ rows of (A − 1sᵀ). The shift is subtracted while packing (the packing copies anyway), the
 * cross product and the sums are read off the packed panel, so A is read from memory once. */

/* Adds the packed panel's column sums (kc rows, sliver by sliver: contiguous) to S. */
static void panel_sums(const double *P, int kc, int n, double *S) {
  int nq = (n + GW - 1) / GW;
  for (int q = 0; q < nq; q++) {
    const double *t = P + (size_t)q * kc * GW;
    f2 a0 = wasm_f64x2_splat(0.0), a1 = a0, a2 = a0;
    for (int l = 0; l < kc; l++, t += GW) {
      a0 = wasm_f64x2_add(a0, wasm_v128_load(t));
      a1 = wasm_f64x2_add(a1, wasm_v128_load(t + 2));
      a2 = wasm_f64x2_add(a2, wasm_v128_load(t + 4));
    }
    double tmp[GW];
    wasm_v128_store(tmp, a0);
    wasm_v128_store(tmp + 2, a1);
    wasm_v128_store(tmp + 4, a2);
    for (int c = 0; c < GW && q * GW + c < n; c++) S[q * GW + c] += tmp[c];
  }
}

/* pack_rows with the shift subtracted; padded columns stay zero. Adds the panel's shifted column
 * sums to S. */
static void pack_rows_shift(const double *A, int lda, int kc, int n, const double *sh, double *P,
                            double *S) {
  int nq = (n + GW - 1) / GW, full = n / GW;
  for (int l = 0; l < kc; l++) {
    const double *src = A + (size_t)l * lda;
    double *d = P + (size_t)l * GW;
    for (int q = 0; q < full; q++) {
      const double *s = src + q * GW;
      const double *h = sh + q * GW;
      double *t = d + (size_t)q * kc * GW;
      for (int c = 0; c < GW; c += 2)
        wasm_v128_store(t + c, wasm_f64x2_sub(wasm_v128_load(s + c), wasm_v128_load(h + c)));
    }
    if (full < nq) {
      double *e = d + (size_t)full * kc * GW;
      int c = 0;
      for (; c < n - full * GW; c++) e[c] = src[full * GW + c] - sh[full * GW + c];
      for (; c < GW; c++) e[c] = 0.0;
    }
  }
  panel_sums(P, kc, n, S);
}

/* The same for float32 rows of A: each pair of entries is widened to float64 (exactly) as it is
 * loaded, then the shift subtracted, so the packed panel is bit for bit what pack_rows_shift
 * makes of the widened rows, and everything after it (products and sums in float64) the same. */
static void pack_rows_shift_f32(const float *A, int lda, int kc, int n, const double *sh,
                                double *P, double *S) {
  int nq = (n + GW - 1) / GW, full = n / GW;
  for (int l = 0; l < kc; l++) {
    const float *src = A + (size_t)l * lda;
    double *d = P + (size_t)l * GW;
    for (int q = 0; q < full; q++) {
      const float *s = src + q * GW;
      const double *h = sh + q * GW;
      double *t = d + (size_t)q * kc * GW;
      for (int c = 0; c < GW; c += 2)
        wasm_v128_store(t + c, wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(
                                                  wasm_v128_load64_zero(s + c)),
                                              wasm_v128_load(h + c)));
    }
    if (full < nq) {
      double *e = d + (size_t)full * kc * GW;
      int c = 0;
      for (; c < n - full * GW; c++) e[c] = (double)src[full * GW + c] - sh[full * GW + c];
      for (; c < GW; c++) e[c] = 0.0;
    }
  }
  panel_sums(P, kc, n, S);
}

/* X (n×q) += Pᵀ B for a packed panel P (kc rows) and B (kc×q, row stride q). */
static void panel_cross(const double *P, int kc, int n, const double *B, int q, double *X) {
  int nq = (n + GW - 1) / GW;
  for (int s = 0; s < nq; s++) {
    const double *t0 = P + (size_t)s * kc * GW;
    for (int j = 0; j < q; j++) {
      const double *t = t0;
      f2 a0 = wasm_f64x2_splat(0.0), a1 = a0, a2 = a0;
      for (int l = 0; l < kc; l++, t += GW) {
        f2 bv = wasm_f64x2_splat(B[(size_t)l * q + j]);
        a0 = MADD(a0, bv, wasm_v128_load(t));
        a1 = MADD(a1, bv, wasm_v128_load(t + 2));
        a2 = MADD(a2, bv, wasm_v128_load(t + 4));
      }
      double tmp[GW];
      wasm_v128_store(tmp, a0);
      wasm_v128_store(tmp + 2, a1);
      wasm_v128_store(tmp + 4, a2);
      for (int c = 0; c < GW && s * GW + c < n; c++) X[(size_t)(s * GW + c) * q + j] += tmp[c];
    }
  }
}

/* Af (float32 rows) is read instead of A where it is not null. */
static void moments_blocked(const double *A, const float *Af, int n, int k, const double *sh,
                            const double *B, int q, double *G, double *X, double *S, double *P) {
  for (int pc = 0; pc < k; pc += GKC) {
    int kc = MIN(GKC, k - pc);
    if (Af)
      pack_rows_shift_f32(Af + (size_t)pc * n, n, kc, n, sh, P, S);
    else
      pack_rows_shift(A + (size_t)pc * n, n, kc, n, sh, P, S);
    if (q > 0) panel_cross(P, kc, n, B + (size_t)pc * q, q, X);
    gram_panel(P, kc, n, G, n);
  }
}

/* Largest n the one-pass moments kernel handles (its packed panel must fit the gemm scratch). */
EXPORT(mom_max_cols) int mom_max_cols(void) {
  return (int)(gemm_work_size() / GKC) - GW;
}

/* Accumulator slots [n×n | n×q | n] per part, zeroed. */
EXPORT(mom_begin) double *mom_begin(int n, int q, int m) {
  return slots_begin((size_t)n * n + (size_t)n * q + n, m);
}

/* A run that outlives one call (the host keeps its memory: 2 + parts·(n² + nq + n) doubles):
 * zeroed slots with `parts` parts; mom_add / mom_probe / mom_end then work on it as on mom_begin's. */
EXPORT(mom_init) void mom_init(double *acc, int n, int q, int parts) {
  slots_init(acc, (size_t)n * n + (size_t)n * q + n, parts);
}

/* Column sums S and the diagonal of G accumulated so far (summed over the parts). */
EXPORT(mom_probe) void mom_probe(const double *acc, int n, int q, double *S, double *diag) {
  int T = slots_parts(acc);
  size_t per = (size_t)n * n + (size_t)n * q + n;
  const double *a = acc + 2;
  for (int i = 0; i < n; i++) {
    double s = 0.0, g = 0.0;
    for (int t = 0; t < T; t++) {
      s += a[(size_t)t * per + (size_t)n * n + (size_t)n * q + i];
      g += a[(size_t)t * per + (size_t)i * n + i];
    }
    S[i] = s;
    diag[i] = g;
  }
}

typedef struct {
  const double *A, *sh, *B;
  int m, n, q;
  double *acc;
  claims_t cl;
  const float *Af; /* float32 rows instead of A (the *_f32 entries), else 0 */
} mom_args;

static void mom_task(int tid, int nt, void *p) {
  mom_args *g = (mom_args *)p;
  size_t n = g->n, q = g->q, per = n * n + n * q + n;
  for (int lo, hi, part, c; claims_next(&g->cl, GKC, &lo, &hi, &part, &c);) {
    double *G = slot_at(g->acc, per, part);
    moments_blocked(g->Af ? 0 : g->A + lo * n, g->Af ? g->Af + lo * n : 0, g->n, hi - lo, g->sh,
                    g->B ? g->B + lo * q : 0, g->q, G, G + n * n, G + n * n + n * q,
                    thread_gemm_work(tid));
    claims_done(&g->cl, c);
  }
}

/* Starts adding m rows of A (m×n) and B (m×q) to the accumulators, with the shift sh (n);
 * par_join() completes it (the host copies the next rows meanwhile). */
static mom_args g_mom;
EXPORT(mom_add) void mom_add(double *acc, const double *A, const double *sh, const double *B,
                             int m, int n, int q) {
  g_mom = (mom_args){A, sh, B, m, n, q, acc, {0}, 0};
  claims_init(&g_mom.cl, m, slots_parts(acc));
  par_start(mom_task, &g_mom, (double)m * n * n < 1.0e5);
}

/* mom_add for float32 rows A (m×n): widened to float64 while packing, so the moments are bit for
 * bit those of mom_add on the widened rows (same parts, same order of every sum). */
EXPORT(mom_add_f32) void mom_add_f32(double *acc, const float *A, const double *sh,
                                     const double *B, int m, int n, int q) {
  g_mom = (mom_args){0, sh, B, m, n, q, acc, {0}, A};
  claims_init(&g_mom.cl, m, slots_parts(acc));
  par_start(mom_task, &g_mom, (double)m * n * n < 1.0e5);
}

/* The same over all m rows, in the background (par_bg_start; par_bg_join completes it): A, B, sh
 * and acc must be memory the host keeps out of its arenas until then. Only A's first `avail` rows
 * need be there yet: the host copies the rest and says so with mom_bg_avail (a claim waits for
 * its rows), all of them before it joins. */
static mom_args g_mom_bg;
EXPORT(mom_add_bg) void mom_add_bg(double *acc, const double *A, const double *sh, const double *B,
                                   int m, int n, int q, int avail) {
  g_mom_bg = (mom_args){A, sh, B, m, n, q, acc, {0}, 0};
  claims_init(&g_mom_bg.cl, m, slots_parts(acc));
  g_mom_bg.cl.avail = avail;
  par_bg_start(mom_task, &g_mom_bg);
}

/* mom_add_bg for float32 rows A (see mom_add_f32). */
EXPORT(mom_add_bg_f32) void mom_add_bg_f32(double *acc, const float *A, const double *sh,
                                           const double *B, int m, int n, int q, int avail) {
  g_mom_bg = (mom_args){0, sh, B, m, n, q, acc, {0}, A};
  claims_init(&g_mom_bg.cl, m, slots_parts(acc));
  g_mom_bg.cl.avail = avail;
  par_bg_start(mom_task, &g_mom_bg);
}

/* Rows [0, rows) of the background job's A are now in memory. */
EXPORT(mom_bg_avail) void mom_bg_avail(int rows) {
  __atomic_store_n(&g_mom_bg.cl.avail, rows, __ATOMIC_SEQ_CST);
}

/* The part count mom_begin gives m rows of n columns and q targets. */
EXPORT(mom_parts) int mom_parts(int n, int q, int m) {
  return slots_count_for((size_t)n * n + (size_t)n * q + n, m);
}

typedef struct {
  const double *acc;
  double *G, *X, *S;
  int n, q;
} mom_red_args;

/* Upper triangle of G (rows cyclic over threads, for balance) and the rows of X and S. */
static void mom_red_task(int tid, int nt, void *p) {
  mom_red_args *g = (mom_red_args *)p;
  int n = g->n, q = g->q, T = slots_parts(g->acc);
  size_t per = (size_t)n * n + (size_t)n * q + n;
  const double *acc = g->acc + 2;
  for (int i = tid; i < n; i += nt) {
    for (int j = i; j < n; j++) {
      size_t o = (size_t)i * n + j;
      double v = acc[o];
      for (int t = 1; t < T; t++) v += acc[(size_t)t * per + o];
      g->G[o] = v;
    }
    for (int c = 0; c < q; c++) {
      size_t o = (size_t)n * n + (size_t)i * q + c;
      double v = acc[o];
      for (int t = 1; t < T; t++) v += acc[(size_t)t * per + o];
      g->X[(size_t)i * q + c] = v;
    }
    size_t o = (size_t)n * n + (size_t)n * q + i;
    double v = acc[o];
    for (int t = 1; t < T; t++) v += acc[(size_t)t * per + o];
    g->S[i] = v;
  }
}

/* Lower triangle of G from the upper, in 32×32 blocks (block columns cyclic over threads). */
static void mirror_task(int tid, int nt, void *p) {
  mom_red_args *g = (mom_red_args *)p;
  int n = g->n;
  double *G = g->G;
  for (int jb = 32 * tid; jb < n; jb += 32 * nt)
    for (int ib = jb; ib < n; ib += 32) {
      int i1 = MIN(n, ib + 32), j1 = MIN(n, jb + 32);
      for (int i = ib; i < i1; i++)
        for (int j = jb; j < MIN(j1, i); j++) G[(size_t)i * n + j] = G[(size_t)j * n + i];
    }
}

/* G (n×n, mirrored), X (n×q), S (n) = sums over the parts' slots. */
EXPORT(mom_end) void mom_end(const double *acc, double *G, double *X, double *S, int n, int q) {
  mom_red_args g = {acc, G, X, S, n, q};
  if ((double)n * n < 1.0e4 || par_threads() == 1) {
    mom_red_task(0, 1, &g);
    mirror_task(0, 1, &g);
  } else {
    par_run(mom_red_task, &g);
    par_run(mirror_task, &g);
  }
}

typedef struct {
  const double *A;
  const double *B;
  int m, n, q;
  double *acc;
  int gram;
  claims_t cl;
} acc_args;

static void acc_task(int tid, int nt, void *p) {
  acc_args *g = (acc_args *)p;
  double *w = thread_gemm_work(tid);
  for (int lo, hi, part, c; claims_next(&g->cl, GKC, &lo, &hi, &part, &c);) {
    double *C = slot_at(g->acc, (size_t)g->n * g->q, part);
    const double *A = g->A + (size_t)lo * g->n;
    if (g->gram && (size_t)GKC * (g->n + GW) <= gemm_work_size())
      gram_blocked(A, g->n, g->n, hi - lo, C, g->n, w);
    else if (g->gram)
      gemm_blocked(1, 0, g->n, g->n, hi - lo, 1.0, A, g->n, A, g->n, C, g->n, w, 1);
    else
      gemm_blocked(1, 0, g->n, g->q, hi - lo, 1.0, A, g->n, g->B + (size_t)lo * g->q, g->q, C,
                   g->q, w, 0);
    claims_done(&g->cl, c);
  }
}

/* Starts acc += AᵀA (B == 0, q == n; upper triangle only) or AᵀB, for m rows of A (m×n) and
 * B (m×q); par_join() completes it. Too small to split: all on the host at the join. */
static acc_args g_acc;
EXPORT(acc_add) void acc_add(double *acc, const double *A, const double *B, int m, int n, int q) {
  g_acc = (acc_args){A, B, m, n, q, acc, B == 0, {0}};
  claims_init(&g_acc.cl, m, slots_parts(acc));
  par_start(acc_task, &g_acc, (double)m * n * q < 1.0e5);
}

typedef struct {
  const double *acc;
  double *C;
  int n, q, gram;
} red_args;

static void red_task(int tid, int nt, void *p) {
  red_args *g = (red_args *)p;
  int lo, hi, T = slots_parts(g->acc);
  split_range(g->n, tid, nt, 1, &lo, &hi);
  size_t nn = (size_t)g->n * g->q;
  const double *acc = g->acc + 2;
  for (int i = lo; i < hi; i++) {
    int j0 = g->gram ? i : 0;
    for (int j = j0; j < g->q; j++) {
      size_t o = (size_t)i * g->q + j;
      double s = acc[o];
      for (int t = 1; t < T; t++) s += acc[(size_t)t * nn + o];
      g->C[o] = s;
      if (g->gram) g->C[(size_t)j * g->q + i] = s;
    }
  }
}

/* C = Σ_threads acc (mirrored to full symmetric when gram != 0). */
EXPORT(acc_end) void acc_end(const double *acc, double *C, int n, int q, int gram) {
  red_args g = {acc, C, n, q, gram};
  if ((double)n * q < 1.0e4 || par_threads() == 1)
    red_task(0, 1, &g);
  else
    par_run(red_task, &g);
}

/* C (m×n) = A (m×k) · B (k×n). */
EXPORT(k_matmul) void k_matmul(const double *A, const double *B, double *C, int m, int k, int n) {
  for (size_t i = 0; i < (size_t)m * n; i++) C[i] = 0.0;
  gemm_par(0, 0, m, n, k, 1.0, A, k, B, n, C, n);
}

/* General entry for tests: C += alpha op(A) op(B). */
EXPORT(k_gemm) void k_gemm(int trA, int trB, int m, int n, int k, double alpha, const double *A,
                           int lda, const double *B, int ldb, double *C, int ldc) {
  gemm_par(trA, trB, m, n, k, alpha, A, lda, B, ldb, C, ldc);
}
