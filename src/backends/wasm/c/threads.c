/*
 * Thread pool over shared memory. Every host thread (the caller and the workers) instantiates the
 * same module on the same memory; workers sit in worker_loop(), the caller dispatches with
 * par_run(). Without -DNRC_THREADS everything runs on the caller.
 */
#include "common.h"

static int g_nt = 1;
static double *g_gemm_work;  /* g_nt * gemm_work_size() doubles */

#ifdef NRC_THREADS
static volatile int32_t g_gen;
static volatile int32_t g_pending;
static volatile int32_t g_exit;
static volatile int32_t g_main_can_block;
static task_fn g_fn;
static void *g_arg;
static volatile int32_t g_bar_count;
static volatile int32_t g_bar_sense;

#define ALOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define AADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)

/* Worker body: waits for a generation change, runs the task, reports completion. */
EXPORT(worker_loop) void worker_loop(int tid) {
  int32_t seen = ALOAD(&g_gen);
  for (;;) {
    int spins = 0;
    int32_t gen;
    while ((gen = ALOAD(&g_gen)) == seen) {
      if (++spins > 20000) __builtin_wasm_memory_atomic_wait32((int32_t *)&g_gen, seen, -1);
    }
    seen = gen;
    if (ALOAD(&g_exit)) return;
    g_fn(tid, g_nt, g_arg);
    if (AADD(&g_pending, -1) == 1) __builtin_wasm_memory_atomic_notify((int32_t *)&g_pending, 1);
  }
}

/* Ask the workers to leave worker_loop. */
EXPORT(pool_shutdown) void pool_shutdown(void) {
  ASTORE(&g_exit, 1);
  AADD(&g_gen, 1);
  __builtin_wasm_memory_atomic_notify((int32_t *)&g_gen, 0x7fffffff);
}

void par_run(task_fn fn, void *arg) {
  if (g_nt == 1) {
    fn(0, 1, arg);
    return;
  }
  g_fn = fn;
  g_arg = arg;
  ASTORE(&g_pending, g_nt - 1);
  AADD(&g_gen, 1);
  __builtin_wasm_memory_atomic_notify((int32_t *)&g_gen, 0x7fffffff);
  fn(0, g_nt, arg);
  int spins = 0;
  int32_t p;
  while ((p = ALOAD(&g_pending)) != 0) {
    if (g_main_can_block && ++spins > 20000)
      __builtin_wasm_memory_atomic_wait32((int32_t *)&g_pending, p, 1000000);
  }
}

/* The calling thread's id is not known here, so whether it may block is decided per call site:
 * workers always may; the host's thread only when g_main_can_block. Blocking waits use a timeout
 * so a thread that may not block can never be the only one left to wake the others. */
static volatile int32_t g_bar_sleepers;
void par_barrier_t(int tid, int nt) {
  if (nt <= 1) return;
  int32_t s = ALOAD(&g_bar_sense);
  if (AADD(&g_bar_count, 1) == nt - 1) {
    ASTORE(&g_bar_count, 0);
    ASTORE(&g_bar_sense, s ^ 1);
    if (ALOAD(&g_bar_sleepers) > 0)
      __builtin_wasm_memory_atomic_notify((int32_t *)&g_bar_sense, 0x7fffffff);
  } else {
    int spins = 0;
    int can_block = tid != 0 || g_main_can_block;
    while (ALOAD(&g_bar_sense) == s) {
      if (can_block && ++spins > 4000) {
        AADD(&g_bar_sleepers, 1);
        __builtin_wasm_memory_atomic_wait32((int32_t *)&g_bar_sense, s, 200000);
        AADD(&g_bar_sleepers, -1);
      }
    }
  }
}


/* Host sets the thread count once all workers are running; main_can_block: the caller may wait. */
EXPORT(pool_init) void pool_init(int nt, int main_can_block) {
  g_nt = nt < 1 ? 1 : nt;
  g_main_can_block = main_can_block;
}
#else
void par_run(task_fn fn, void *arg) { fn(0, 1, arg); }

void par_barrier_t(int tid, int nt) {
  (void)tid;
  (void)nt;
}
EXPORT(pool_init) void pool_init(int nt, int main_can_block) {
  (void)nt;
  (void)main_can_block;
  g_nt = 1;
}
#endif

int par_threads(void) { return g_nt; }

/* ---- arena ---- */
extern unsigned char __heap_base;
static size_t g_brk;
static size_t g_base;

/* Host: reset the arena to `base` (0 = just after the static data and stacks it reserved). */
EXPORT(arena_reset) void arena_reset(size_t base) {
  if (base == 0) base = (size_t)&__heap_base;
  g_base = g_brk = (base + 63) & ~(size_t)63;
  g_gemm_work = 0;
}

EXPORT(arena_top) size_t arena_top(void) { return g_brk; }

/* 64-byte aligned bump allocation, growing memory as needed; traps when memory is exhausted. */
EXPORT(arena_alloc) void *arena_alloc(size_t bytes) {
  if (g_brk == 0) arena_reset(0);
  size_t p = g_brk;
  size_t end = p + ((bytes + 63) & ~(size_t)63);
  if (end < p) __builtin_trap();
  size_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    size_t need = (end - have + 65535u) / 65536u;
    if (__builtin_wasm_memory_grow(0, need) == (size_t)-1) __builtin_trap(); /* host: out of memory */
  }
  g_brk = end;
  return (void *)p;
}

/* Must be called from serial code before a parallel region uses thread_gemm_work(). */
void ensure_gemm_work(void) {
  if (!g_gemm_work) g_gemm_work = (double *)arena_alloc(sizeof(double) * gemm_work_size() * g_nt);
}

double *thread_gemm_work(int tid) { return g_gemm_work + gemm_work_size() * (size_t)tid; }
