/*
 * The float32 Gram of shifted rows, for the certified spectrum (src/linalg/certified.ts): rows aᵢ
 * of A (m×n, float64 or float32) less a float64 shift s, xᵢ = aᵢ − s rounded once to float32;
 * G = Σ xᵢxᵢᵀ with f32x4 products (twice the lanes of f64x2) summed in float32 over blocks of GB
 * rows only, each block's tile added into float64 slots, so the accumulated rounding stays that
 * of a GB-term float32 sum. Beside it, in float64 from the unrounded xᵢ: the column sums Σxᵢ (the
 * mean, exactly) and Σxᵢ² (the trace, exactly). The Gram is a starting point and a preconditioner
 * only: every value the metrics read is refined and certified in float64 on the data.
 *
 * Rows are claimed in chunks (claims_t) summed into per-part slots in a fixed order, so results
 * depend on m and the part count only, never on the thread that took a chunk.
 */
#include "common.h"

#define GB 256 /* rows per float32 block */
#define PW 8   /* packed panel width (two f32x4) */

typedef struct {
  const double *A;
  const float *Af; /* float32 rows instead of A, else 0 */
  const double *sh;
  int m, n, np;
  double *acc;  /* slots (per part): n·n (G, upper triangle) + n (sums) + n (squares) */
  float *work;  /* per thread: GB·np floats (the packed block) */
  claims_t cl;
} g32_args;

/* Rows [lo, lo+rows) less the shift into panels P[(j/PW)·GB·PW + r·PW + j%PW] (float32, zero
 * padded to np columns); sums and squares in float64. */
static void g32_pack(const g32_args *g, int lo, int rows, float *P, double *sums, double *sq) {
  const int n = g->n, np = g->np;
  for (int r = 0; r < rows; r++) {
    const size_t o = (size_t)(lo + r) * n;
    float *pr = P + (size_t)r * PW;
    for (int j = 0; j < n; j++) {
      double x = (g->Af ? (double)g->Af[o + j] : g->A[o + j]) - g->sh[j];
      sums[j] += x;
      sq[j] += x * x;
      pr[(size_t)(j / PW) * GB * PW + (j % PW)] = (float)x;
    }
    for (int j = n; j < np; j++) pr[(size_t)(j / PW) * GB * PW + (j % PW)] = 0.0f;
  }
}

#define SPL(v, l) wasm_i32x4_shuffle((v), (v), (l), (l), (l), (l))

/* The 4×8 tile Σ_r pi[r·PW + 0..3] ⊗ pj[r·PW + 0..7] over `rows` rows, added into G (float64)
 * at (i0, j0); entries beyond n are dropped. */
static void g32_tile(const float *pi, const float *pj, int rows, double *G, int n, int i0, int j0) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00;
  for (int r = 0; r < rows; r++) {
    v128_t b0 = wasm_v128_load(pj + (size_t)r * PW), b1 = wasm_v128_load(pj + (size_t)r * PW + 4);
    v128_t a = wasm_v128_load(pi + (size_t)r * PW);
    v128_t a0 = SPL(a, 0), a1 = SPL(a, 1), a2 = SPL(a, 2), a3 = SPL(a, 3);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a2, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a2, b1));
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a3, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a3, b1));
  }
  float t[4][8];
  wasm_v128_store(&t[0][0], c00);
  wasm_v128_store(&t[0][4], c01);
  wasm_v128_store(&t[1][0], c10);
  wasm_v128_store(&t[1][4], c11);
  wasm_v128_store(&t[2][0], c20);
  wasm_v128_store(&t[2][4], c21);
  wasm_v128_store(&t[3][0], c30);
  wasm_v128_store(&t[3][4], c31);
  const int ie = MIN(4, n - i0), je = MIN(8, n - j0);
  for (int ii = 0; ii < ie; ii++) {
    double *gr = G + (size_t)(i0 + ii) * n + j0;
    if (je == 8) {
      for (int jj = 0; jj < 8; jj += 4) {
        v128_t v = wasm_v128_load(&t[ii][jj]);
        wasm_v128_store(gr + jj,
                        wasm_f64x2_add(wasm_v128_load(gr + jj), wasm_f64x2_promote_low_f32x4(v)));
        wasm_v128_store(gr + jj + 2,
                        wasm_f64x2_add(wasm_v128_load(gr + jj + 2),
                                       wasm_f64x2_promote_low_f32x4(
                                           wasm_i32x4_shuffle(v, v, 2, 3, 0, 1))));
      }
    } else
      for (int jj = 0; jj < je; jj++) gr[jj] += (double)t[ii][jj];
  }
}

static void g32_task(int tid, int nt, void *p) {
  g32_args *g = (g32_args *)p;
  const int n = g->n, np = g->np;
  float *P = g->work + (size_t)par_self_tid() * GB * np;
  const size_t per = (size_t)n * n + 2 * (size_t)n;
  for (int lo, hi, part, ch; claims_next(&g->cl, GB, &lo, &hi, &part, &ch);) {
    double *G = slot_at(g->acc, per, part);
    double *sums = G + (size_t)n * n, *sq = sums + n;
    for (int b = lo; b < hi; b += GB) {
      const int rows = MIN(GB, hi - b);
      g32_pack(g, b, rows, P, sums, sq);
      for (int j0 = 0; j0 < n; j0 += PW) {
        const float *pj = P + (size_t)(j0 / PW) * GB * PW;
        for (int i0 = 0; i0 < MIN(n, j0 + PW); i0 += 4)
          g32_tile(P + (size_t)(i0 / PW) * GB * PW + (i0 % PW), pj, rows, G, n, i0, j0);
      }
    }
    claims_done(&g->cl, ch);
  }
}

/* Zeroed slots for m rows of n columns. */
EXPORT(g32_begin) double *g32_begin(int n, int m) {
  return slots_begin((size_t)n * n + 2 * (size_t)n, m);
}

static g32_args g_g32;

/* Bytes of the packed blocks g32_add needs (all threads). */
EXPORT(g32_work_bytes) size_t g32_work_bytes(int n) {
  return sizeof(float) * (size_t)GB * (size_t)((n + PW - 1) / PW * PW) * (size_t)par_threads();
}

/* Starts accumulating m rows of A (float64, or float32 when Af != 0) less sh; par_join()
 * completes it. w: g32_work_bytes(n) bytes for the packed blocks; rows [0, avail) are in memory
 * (g32_avail announces more). */
EXPORT(g32_add) void g32_add(double *acc, const double *A, const float *Af, const double *sh,
                             int m, int n, float *w, int avail) {
  const int np = (n + PW - 1) / PW * PW;
  g_g32 = (g32_args){A, Af, sh, m, n, np, acc, w, {0}};
  claims_init(&g_g32.cl, m, slots_parts(acc));
  g_g32.cl.avail = avail;
  par_start(g32_task, &g_g32, (double)m * n * n < 2.0e5);
}

/* Rows [0, rows) of the pending g32_add's A are now in memory (the host copies the rest while
 * the workers start on the first rows). */
EXPORT(g32_avail) void g32_avail(int rows) {
  __atomic_store_n(&g_g32.cl.avail, rows, __ATOMIC_SEQ_CST);
}

typedef struct {
  const double *acc;
  double *G, *S, *Q;
  int n;
} g32_red_args;

static void g32_red_task(int tid, int nt, void *p) {
  g32_red_args *g = (g32_red_args *)p;
  const int n = g->n, T = slots_parts(g->acc);
  const size_t per = (size_t)n * n + 2 * (size_t)n;
  const double *acc = g->acc + 2;
  for (int i = tid; i < n; i += nt) {
    for (int j = i; j < n; j++) {
      size_t o = (size_t)i * n + j;
      double v = acc[o];
      for (int t = 1; t < T; t++) v += acc[(size_t)t * per + o];
      g->G[o] = v;
      g->G[(size_t)j * n + i] = v;
    }
    size_t o = (size_t)n * n + i;
    double s = acc[o], q = acc[o + n];
    for (int t = 1; t < T; t++) {
      s += acc[(size_t)t * per + o];
      q += acc[(size_t)t * per + o + n];
    }
    g->S[i] = s;
    g->Q[i] = q;
  }
}

/* G (n×n, symmetric), S (sums) and Q (squares) over the parts' slots. */
EXPORT(g32_end) void g32_end(const double *acc, double *G, double *S, double *Q, int n) {
  g32_red_args g = {acc, G, S, Q, n};
  if ((double)n * n < 1.0e4 || par_threads() == 1)
    g32_red_task(0, 1, &g);
  else
    par_run(g32_red_task, &g);
}
