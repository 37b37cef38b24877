/*
 * deep-nrc WebAssembly kernels: shared definitions.
 * Freestanding C (no libc): float64 only, SIMD through wasm_simd128.h.
 * Built four times by scripts/build-wasm.sh: with -DNRC_THREADS (shared memory, atomics) and
 * without, each with plain SIMD and with -DNRC_FMA (relaxed SIMD's fused multiply-add).
 */
#ifndef NRC_COMMON_H
#define NRC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DBL_EPS 2.220446049250313e-16
#define DBL_SAFEMIN 2.2250738585072014e-308

typedef v128_t f2;

/*
 * acc + x·y on f64x2. With -DNRC_FMA it is one fused multiply-add (relaxed SIMD's
 * f64x2.relaxed_madd: a single rounding, x64's vfmadd in V8), else a multiply and an add.
 * clang 14 knows only the relaxed-SIMD *prototype* (`__builtin_wasm_fma_f64x2(a, b, c)` = a + b·c,
 * opcode 0xfd 0xcf 0x01, which no engine accepts any more); scripts/wasm-relaxed.mjs rewrites
 * that opcode to the standard f64x2.relaxed_madd (0xfd 0x87 0x02), which computes
 * first·second + third of the same three operands: hence the argument order below.
 */
#ifdef NRC_FMA
#define MADD(acc, x, y) ((f2)__builtin_wasm_fma_f64x2((__f64x2)(x), (__f64x2)(y), (__f64x2)(acc)))
#else
#define MADD(acc, x, y) wasm_f64x2_add((acc), wasm_f64x2_mul((x), (y)))
#endif

static inline double nrc_sqrt(double x) { return __builtin_sqrt(x); }
static inline double nrc_fabs(double x) { return __builtin_fabs(x); }
static inline double nrc_copysign(double a, double b) { return __builtin_copysign(a, b); }

/* ---- arena allocator (main thread only; reset by the host before each kernel call) ---- */
void *arena_alloc(size_t bytes);

/* ---- thread pool ---- */
typedef void (*task_fn)(int tid, int nt, void *arg);
/* Runs fn(tid, nt, arg) on every thread (the caller is tid 0) and returns when all are done. */
void par_run(task_fn fn, void *arg);
/* Split-phase par_run for exported kernels the host overlaps with copying: see threads.c. */
void par_start(task_fn fn, void *arg, int serial);
/* A task that runs on the workers while the host runs other kernels (threads.c). */
void par_bg_start(task_fn fn, void *arg);
/* Number of threads (including the caller). */
int par_threads(void);
/* The calling thread's id (0 = the host), from where its stack lives. */
int par_self_tid(void);
/* Atomically takes the next index of a shared counter (work claimed one piece at a time). */
int par_claim(volatile int32_t *next);
/* Barrier among the nt threads of the current par_run (spins, then sleeps where allowed). */
void par_barrier_t(int tid, int nt);

/* Deterministic dynamic splits of a row range over accumulator slots. slots_begin returns zeroed
 * slots (a header first) for m rows; slots_parts reads their count (one per 512 rows, one to four
 * per thread, fewer when they would exceed 32 MiB: each costs a slot to zero and to sum). */
double *slots_begin(size_t slot_doubles, int m);
/* How many parts slots_begin gives m rows. */
int slots_count_for(size_t slot_doubles, int m);
/* The same in caller-provided memory of 2 + parts·slot_doubles doubles (parts ≥ 1). */
void slots_init(double *acc, size_t slot_doubles, int parts);
static inline int slots_parts(const double *acc) { return *(const int32_t *)acc; }
static inline double *slot_at(double *acc, size_t slot_doubles, int part) {
  return acc + 2 + (size_t)part * slot_doubles;
}

/* Claims: the m rows are cut into chunks (at least one per part, up to 8, of ≥ 128 rows), taken
 * through an atomic counter by whichever thread is free (a thread the OS preempts holds up no
 * one but for one small chunk). Chunk c is summed into slot c % parts, and a slot's chunks in
 * order: a thread that claims chunk c first waits for chunk c − parts, claimed earlier and nearly
 * always finished (the lowest unfinished chunk never waits, so this cannot deadlock). The sums
 * therefore depend on m and the number of parts only, never on which thread took which chunk. */
#define CLAIMS_MAX 256
typedef struct {
  volatile int32_t next;
  int32_t m, chunks, parts;
  volatile int32_t avail; /* rows [0, avail) are in memory: a claim waits for its rows (claims_init: m) */
  volatile int32_t done[CLAIMS_MAX];
} claims_t;
void claims_init(claims_t *cl, int m, int parts);
/* The next chunk: rows [*lo, *hi) (a multiple of `align` rows but the last) into slot *slot; 0
 * when none is left. Call claims_done(cl, *chunk) when it is summed. */
int claims_next(claims_t *cl, int align, int *lo, int *hi, int *slot, int *chunk);
void claims_done(claims_t *cl, int chunk);

/* Even split of [0, n) among nt parts, aligned to `align`. */
static inline void split_range(int n, int tid, int nt, int align, int *lo, int *hi) {
  int blocks = (n + align - 1) / align;
  int b0 = (int)((long long)blocks * tid / nt), b1 = (int)((long long)blocks * (tid + 1) / nt);
  *lo = MIN(n, b0 * align);
  *hi = MIN(n, b1 * align);
}

/* ---- level-3 building blocks (gemm.c) ---- */
/*
 * C[m×n] += alpha · op(A)[m×k] · op(B)[k×n], row-major, single thread (callers split the work).
 * op(X) = X when trX == 0, Xᵀ when trX != 0. lda/ldb/ldc are row strides.
 */
void gemm_serial(int trA, int trB, int m, int n, int k, double alpha, const double *A, int lda,
                 const double *B, int ldb, double *C, int ldc, double *work);
/* Workspace (doubles) gemm_serial needs per thread. */
size_t gemm_work_size(void);
/* Same, split over all threads by rows of C (or columns when m is small). */
void gemm_par(int trA, int trB, int m, int n, int k, double alpha, const double *A, int lda,
              const double *B, int ldb, double *C, int ldc);

/* Per-thread scratch of gemm_work_size() doubles, placed once by the host at start-up
 * (gemm_work_fix, in memory no arena reuses), so even a background task's survives other calls. */
double *thread_gemm_work(int tid);

/* Level-1/2 helpers (blas1.c). */
double dot(int n, const double *x, const double *y);
void axpy(int n, double a, const double *x, double *y);
void scal(int n, double a, double *x);
double nrm2(int n, const double *x);
double nrm2_strided(int n, const double *x, int inc);
/* ‖x − Σ_{p<k} c_p·VT_p‖², the residual formed entry by entry (blas1.c). */
double resid_sq(int n, int k, const double *x, const double *c, const double *VT);
/* Rows x, y (length len): x' = c x − s y, y' = s x + c y. */
void rot_rows(int len, double *x, double *y, double c, double s);
/* Householder parameters: see blas1.c. */
double house_params(double alpha, double sigma, double *beta, double *scale);
double sym_from_lower(double *A, int n);
double pow2_normalize(double *x, size_t len, double amax);
int k_symeig(double *A, int n, int k, double *values, double *vecs);
/* Host-visible arena top and a way back to it (blocks above `top` are then free again). */
size_t arena_top(void);
void arena_set_top(size_t top);

/* A small LCG for reproducible random starts. */
static inline uint32_t lcg_next(uint32_t *st) {
  *st = *st * 1664525u + 1013904223u;
  return *st;
}

#endif
