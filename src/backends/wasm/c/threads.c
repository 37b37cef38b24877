/*
 * Thread pool over shared memory. Every host thread (the caller and the workers) instantiates the
 * same module on the same memory; workers sit in worker_loop(), the caller dispatches with
 * par_run(). Without -DNRC_THREADS everything runs on the caller.
 */
#include "common.h"

static int g_nt = 1;

#ifdef NRC_THREADS
/*
 * Synchronisation protocol (all counters monotonic, never reset while a thread may read them):
 *   g_gen      generation of par_run; workers run g_fn once per increment.
 *   g_pending  workers still running the current generation; the last one notifies the caller.
 *   g_bar_arr  barrier arrivals in the current par_run (reset by par_run before it publishes
 *              g_gen, when no thread can be inside a barrier); arrival a belongs to episode a/nt.
 *   g_bar_ep   completed barrier episodes in the current par_run; waiters sleep on it.
 * Every wait re-checks its condition on wake-up and uses memory.atomic.wait32's compare-and-sleep,
 * so a notify can never be lost. Waits that may have no notifier also time out.
 *
 * V8's baseline compiler (Liftoff, Node 20 / Chrome 11x) corrupts values held in registers across
 * memory.atomic.wait32 (observed: a barrier's saved episode changed after a timed-out wait, so a
 * thread left the barrier early, the threads fell out of step and both slept forever). Every wait
 * and notify therefore goes through a tiny non-inlined function: at a call every live value is
 * spilled, and nothing in the callee is live across the instruction.
 */
static volatile int32_t g_gen;
static volatile int32_t g_pending;
static volatile int32_t g_exit;
static volatile int32_t g_main_can_block;
static volatile int32_t g_in_par; /* a par_run is in progress: nested calls run serially */
static task_fn g_fn;
static void *g_arg;
static volatile uint32_t g_bar_arr;
static volatile int32_t g_bar_ep;
static volatile int32_t g_bar_sleepers;
static size_t g_stack_lo, g_stack_bytes; /* worker stacks: [lo + (t-1)·bytes, lo + t·bytes) */

#define ALOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define AADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)

/* Spin iterations (each an atomic load: 0.25–1 ns in V8 on x86-64, measured) before sleeping:
 * ~20–60 µs, so an oversubscribed CPU is still handed back quickly. A futex round trip
 * (memory.atomic.wait32 / notify) costs tens of µs on a VM, so a shorter spin turns every
 * barrier whose threads arrive a few µs apart into a sleep and a wake-up: at 2048 spins the
 * tridiagonalisation's barrier per column made 2 threads slower than 1 (512×512: 29 vs 17 ms
 * on a 2-core Xeon VM); at 65536, 15 ms (1024×1024: 115 → 77 ms). */
#define SPIN_GEN 65536
#define SPIN_BAR 65536
#define SPIN_DONE 65536

__attribute__((noinline)) static int wait_i32(volatile int32_t *p, int32_t expected,
                                              int64_t timeout_ns) {
  return __builtin_wasm_memory_atomic_wait32((int32_t *)p, expected, timeout_ns);
}
__attribute__((noinline)) static void notify_all(volatile int32_t *p) {
  __builtin_wasm_memory_atomic_notify((int32_t *)p, 0x7fffffff);
}

/* The calling thread's id, from where its stack lives (the host's stack is below __heap_base,
 * each worker's is its own slice of the arena). */
int par_self_tid(void) {
  volatile char probe = 0;
  size_t a = (size_t)&probe;
  if (g_stack_bytes == 0 || a < g_stack_lo) return 0;
  size_t t = (a - g_stack_lo) / g_stack_bytes + 1;
  return t < (size_t)g_nt ? (int)t : 0;
}

/* Worker body: waits for a generation change, runs the task, reports completion. A worker may
 * enter here after the caller has already dispatched work (it posts "ready" just before), so it
 * starts from generation 0 rather than whatever g_gen holds now. */
EXPORT(worker_loop) void worker_loop(int tid) {
  int32_t seen = 0;
  for (;;) {
    int spins = 0;
    int32_t gen;
    while ((gen = ALOAD(&g_gen)) == seen) {
      if (++spins > SPIN_GEN) wait_i32(&g_gen, seen, -1);
    }
    seen = gen;
    if (ALOAD(&g_exit)) return;
    g_fn(tid, g_nt, g_arg);
    if (AADD(&g_pending, -1) == 1) notify_all(&g_pending);
  }
}

/* Ask the workers to leave worker_loop. */
EXPORT(pool_shutdown) void pool_shutdown(void) {
  ASTORE(&g_exit, 1);
  AADD(&g_gen, 1);
  notify_all(&g_gen);
}

/* Publishes fn to the workers (they start at once); the caller's share and the wait follow in
 * par_finish. */
static void par_dispatch(task_fn fn, void *arg) {
  ASTORE(&g_in_par, 1);
  g_fn = fn;
  g_arg = arg;
  ASTORE(&g_bar_arr, 0u);
  ASTORE(&g_bar_ep, 0);
  ASTORE(&g_pending, g_nt - 1);
  AADD(&g_gen, 1);
  notify_all(&g_gen);
}

static void par_finish(task_fn fn, void *arg) {
  fn(0, g_nt, arg);
  int spins = 0;
  int32_t p;
  while ((p = ALOAD(&g_pending)) != 0) {
    if (g_main_can_block && ++spins > SPIN_DONE) wait_i32(&g_pending, p, 1000000);
  }
  ASTORE(&g_in_par, 0);
}

void par_run(task_fn fn, void *arg) {
  /* One thread, or called from inside a parallel region (by any thread): run it all here. */
  if (g_nt == 1 || ALOAD(&g_in_par)) {
    fn(0, 1, arg);
    return;
  }
  par_dispatch(fn, arg);
  par_finish(fn, arg);
}
#endif

/* A split-phase par_run: started (dispatched to the workers, or deferred: `serial`), joined later
 * by the host, which then runs its share (what is still unclaimed: such tasks claim their work
 * dynamically) and waits. */
typedef struct {
  task_fn fn;
  void *arg;
  int serial;
} split_t;

static void split_start(split_t *s, task_fn fn, void *arg, int serial) {
  s->fn = fn;
  s->arg = arg;
#ifdef NRC_THREADS
  s->serial = serial || g_nt == 1 || ALOAD(&g_in_par);
  if (!s->serial) par_dispatch(fn, arg);
#else
  (void)serial;
  s->serial = 1;
#endif
}

static void split_join(split_t *s) {
  task_fn fn = s->fn;
  if (!fn) return;
  s->fn = 0;
  if (s->serial) {
    fn(0, 1, s->arg);
    return;
  }
#ifdef NRC_THREADS
  par_finish(fn, s->arg);
#endif
}

/*
 * For the host, so it can copy the next rows into memory while the workers already run on the
 * current ones: par_start hands fn to the workers and returns; the host's share and the wait come
 * with par_join(), which the host must call before anything else runs on the pool. `serial` (or
 * one thread) defers everything to par_join. At most one pending.
 */
static split_t g_async;

void par_start(task_fn fn, void *arg, int serial) { split_start(&g_async, fn, arg, serial); }

/* Completes the pending par_start (no-op when none). */
EXPORT(par_join) void par_join(void) { split_join(&g_async); }

/*
 * A background task: par_bg_start hands fn to the workers and returns at once; the host then runs
 * other kernels, which find the pool busy (g_in_par) and run on the host alone — par_start's
 * slot is a separate one, so they may use it — until par_bg_join() adds the host's share and
 * waits. Everything the task touches must outlive the host's kernel calls (persisted memory, the
 * fixed per-thread workspaces of gemm_work_fix). With one thread, inside a parallel region, or
 * with a par_start pending, it all runs in par_bg_join.
 */
static split_t g_bg;

void par_bg_start(task_fn fn, void *arg) { split_start(&g_bg, fn, arg, g_async.fn != 0); }

/* Completes the pending par_bg_start (no-op when none). */
EXPORT(par_bg_join) void par_bg_join(void) { split_join(&g_bg); }

#ifdef NRC_THREADS
/* Barrier among the nt threads of the current par_run. The host's thread sleeps only when
 * g_main_can_block (a browser main thread must not); its waits time out as a safety net. */
void par_barrier_t(int tid, int nt) {
  if (nt <= 1) return;
  uint32_t a = AADD(&g_bar_arr, 1u);
  int32_t ep = (int32_t)(a / (uint32_t)nt);
  if (a % (uint32_t)nt == (uint32_t)nt - 1) {
    ASTORE(&g_bar_ep, ep + 1);
    if (ALOAD(&g_bar_sleepers) > 0) notify_all(&g_bar_ep);
    return;
  }
  int spins = 0;
  int can_block = tid != 0 || g_main_can_block;
  while (ALOAD(&g_bar_ep) <= ep) {
    if (can_block && ++spins > SPIN_BAR) {
      AADD(&g_bar_sleepers, 1);
      if (ALOAD(&g_bar_ep) <= ep) wait_i32(&g_bar_ep, ep, 2000000);
      AADD(&g_bar_sleepers, -1);
    }
  }
}

/* Host, once all workers have started: thread count, whether the caller may block in
 * Atomics.wait, and where the worker stacks are (`stack_bytes` each from `stack_lo`). */
EXPORT(pool_init) void pool_init(int nt, int main_can_block, size_t stack_lo, size_t stack_bytes) {
  g_nt = nt < 1 ? 1 : nt;
  g_main_can_block = main_can_block;
  g_stack_lo = stack_lo;
  g_stack_bytes = stack_bytes;
}
#else
void par_run(task_fn fn, void *arg) { fn(0, 1, arg); }

void par_barrier_t(int tid, int nt) {
  (void)tid;
  (void)nt;
}
int par_self_tid(void) { return 0; }
EXPORT(pool_init) void pool_init(int nt, int main_can_block, size_t stack_lo, size_t stack_bytes) {
  (void)nt;
  (void)main_can_block;
  (void)stack_lo;
  (void)stack_bytes;
  g_nt = 1;
}
#endif

int par_threads(void) { return g_nt; }

int par_claim(volatile int32_t *next) {
#ifdef NRC_THREADS
  return AADD(next, 1);
#else
  return (*next)++;
#endif
}

void claims_init(claims_t *cl, int m, int parts) {
  int c = MAX(parts, MIN(8 * parts, m / 128));
  cl->next = 0;
  cl->m = m;
  cl->parts = parts;
  cl->chunks = c;
  cl->avail = m;
  for (int i = 0; i < parts; i++) cl->done[i] = 0;
}

void claims_done(claims_t *cl, int chunk) {
#ifdef NRC_THREADS
  ASTORE(&cl->done[chunk % cl->parts], chunk / cl->parts + 1);
#else
  cl->done[chunk % cl->parts] = chunk / cl->parts + 1;
#endif
}

int claims_next(claims_t *cl, int align, int *lo, int *hi, int *slot, int *chunk) {
  for (;;) {
    int c = par_claim(&cl->next);
    if (c >= cl->chunks) return 0;
    int s = c % cl->parts;
#ifdef NRC_THREADS
    while (ALOAD(&cl->done[s]) < c / cl->parts) {
    }
#endif
    split_range(cl->m, c, cl->chunks, align, lo, hi);
#ifdef NRC_THREADS
    while (ALOAD(&cl->avail) < *hi) {
    }
#endif
    *slot = s;
    *chunk = c;
    if (*hi > *lo) return 1;
    claims_done(cl, c);
  }
}

/* Slots of all parts together stay under this size (parts drop towards one per thread). */
#define SLOTS_MAX_BYTES ((size_t)32 << 20)

typedef struct {
  double *p;
  size_t len;
} zero_args;

static void zero_task(int tid, int nt, void *arg) {
  zero_args *z = (zero_args *)arg;
  size_t lo = z->len * (size_t)tid / (size_t)nt, hi = z->len * (size_t)(tid + 1) / (size_t)nt;
  for (size_t i = lo; i < hi; i++) z->p[i] = 0.0;
}

void slots_init(double *acc, size_t slot_doubles, int parts) {
  size_t len = (size_t)parts * slot_doubles;
  *(int32_t *)acc = parts;
  zero_args z = {acc + 2, len};
  if (len < ((size_t)1 << 16))
    zero_task(0, 1, &z);
  else
    par_run(zero_task, &z);
}

int slots_count_for(size_t slot_doubles, int m) {
  int parts = g_nt == 1 ? 1 : MAX(g_nt, MIN(4 * g_nt, m / 512));
  while (parts > g_nt && (size_t)parts * slot_doubles * sizeof(double) > SLOTS_MAX_BYTES) parts--;
  return parts;
}

double *slots_begin(size_t slot_doubles, int m) {
  int parts = slots_count_for(slot_doubles, m);
  double *acc =
      (double *)arena_alloc(2 * sizeof(double) + (size_t)parts * slot_doubles * sizeof(double));
  slots_init(acc, slot_doubles, parts);
  return acc;
}

/* ---- arena ---- */
extern unsigned char __heap_base;
static size_t g_brk;
static size_t g_base;

/* Host: reset the arena to `base` (0 = just after the static data and stacks it reserved). */
EXPORT(arena_reset) void arena_reset(size_t base) {
  if (base == 0) base = (size_t)&__heap_base;
  g_base = g_brk = (base + 63) & ~(size_t)63;
}

EXPORT(arena_top) size_t arena_top(void) { return g_brk; }

/* Back to an earlier arena_top() of the same call (no effect below the arena's base). */
void arena_set_top(size_t top) {
  if (top >= g_base && top <= g_brk) g_brk = top;
}

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
