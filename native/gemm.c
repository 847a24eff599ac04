/*
 * gemm.node: single-precision GEMM for the tfjs trainer, through a system BLAS (OpenBLAS's cblas_sgemm).
 *
 * Why dlopen and not link: the addon then builds with only a C compiler and Node's own headers (no -dev package,
 * no download), and a machine without OpenBLAS still loads it and gets a clear "no BLAS" error, so the trainer
 * falls back to tfjs-wasm's own matMul. The library path is chosen by the JS side (src/learn/gemm.ts).
 *
 * Exports:
 *   open(path) -> string            dlopen + dlsym cblas_sgemm; returns openblas_get_config() (or "") ; throws on failure
 *   setThreads(n)                   the addon's own threads (1 or 2, see "Two threads" below); OpenBLAS stays at 1
 *   threadStats() -> [jobs split, parts the helper ran, helper CPU ms in parts, helper CPU ms in all, caller CPU ms
 *        waiting for the helper's parts, kernels queued, queued kernels the helper ran, its CPU ms in them, the caller's
 *        CPU ms waiting in sync, the caller's CPU ms running queued kernels]: what the second core took and cost
 *   setQueue(on) -> bool, sync(), mark() -> position, syncTo(position)
 *                                   the helper's queue (see "The helper's queue" below)
 *   threadCpuMs()                   the calling thread's CPU time
 *   setPrecision(p) -> string       0: float32 sgemm (default); 1: sgemm's A and B rounded to bf16 and multiplied by
 *                                   oneDNN with float32 sums when M, N and K are all >= 16 (see "bf16 GEMM inputs"
 *                                   below); throws when it cannot
 *   setThreadCpus(tid, cpus)        sched_setaffinity(2) of one thread of this process (tid 0: the calling thread) to
 *                                   the CPUs in cpus (an array of CPU numbers); throws with the system's reason. Not a
 *                                   GEMM call: it is here because Node has no thread-affinity API and this is the
 *                                   project's one C addon (src/util/affinity.ts, config controlCpu)
 *   setThreadRealtime(tid, priority) sched_setscheduler(2) of one thread of this process (tid 0: the calling thread):
 *                                   priority 1-99 SCHED_FIFO with SCHED_RESET_ON_FORK, 0 SCHED_OTHER (nice kept);
 *                                   throws with the system's reason. A system call where chrt is a fork and exec: the
 *                                   control thread leaves the real-time class for each simulated reset and comes back
 *                                   (src/util/realtime.ts, config controlRealtime)
 *   sgemm(tA, tB, batch, M, N, K, A, strideA, B, strideB, C, bias, biasMode, act, alpha)
 *        C[b] = act(op(A[b]) op(B[b]) + bias) for b < batch, all row-major float32, op = transpose when tA/tB.
 *        strideA/strideB: elements between batch items (0 = broadcast one matrix). C is dense [batch, M, N].
 *        biasMode: 0 none, 1 a row vector of N (added to every row), 2 a scalar.
 *        act: 0 linear, 1 relu, 2 relu6, 3 elu, 4 sigmoid, 5 leakyrelu(alpha).
 *   adam(w, g, m, v, out, lr, beta1, beta2, eps, c1, c2)   one Adam step, element-wise, in float32 with the same
 *        bits as the JS loop it replaces (src/learn/optim.ts HeapAdam): m, v updated in place, out = the new weights.
 *   lerp(out, s, t, tau)            out = tau * s + (1 - tau) * t (Polyak averaging), in float32 with tau and 1 - tau
 *        rounded to float (tfjs' own arithmetic for the same expression).
 *   adamPolyak(w, g, m, v, out, lr, beta1, beta2, eps, c1, c2, target, targetOut, tau): adam, then in the same pass
 *        lerp(targetOut, out, target, tau) (a target network's step from the new weights); the same bits as the two.
 *   layerNorm(x, gamma, beta, y, eps)               y = (x - mean) / sqrt(var + eps) * gamma + beta per row of
 *        gamma.length values (the last axis); layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, eps) its gradients.
 *        layerNormRelu(x, gamma, beta, y, eps[, stats]): y = relu(layerNorm(x)) in one pass; reluLayerNormGrad(dy, y,
 *        x, gamma, dx, dgamma, dbeta, eps[, stats]): the gradients through it (dy: of y). Each gives the bits of the two
 *        calls it fuses; stats (2 floats a row) carries the rows' mean and 1/sqrt(var + eps) from the one to the other.
 *        Row statistics two-pass in float (the JS fallback kernels in src/learn/backend.ts use doubles).
 *        reluLayerNormGradEx(dy, w, y, x, gamma, dx, dgamma, dbeta, eps, stats, dbias[, dw]) -> bool: reluLayerNormGrad
 *        with the bias sums of dx and, below a one-output layer (w), its input and weight gradients in the same pass.
 *   conv(mode, dims, a, b, out)     NHWC 2-D convolution (no dilation): direct AVX2 kernels where the GEMM's output
 *        channels are a multiple of 16 ("Direct convolutions" below), else im2col + sgemm over chunks of output pixels;
 *        dims = Int32Array [N, H, W, Ci, KH, KW, Co, strideH, strideW, padTop, padLeft, OH, OW], filter [KH, KW, Ci, Co].
 *        mode 0: out y [N, OH, OW, Co] = conv(a = x, b = filter);
 *        mode 1: out dx [N, H, W, Ci] = the input gradient from a = dy, b = filter (GEMM then col2im);
 *        mode 2: out dW [KH, KW, Ci, Co] = the filter gradient from a = x, b = dy.
 *   convBiasRelu(dims, x, filter, bias, out)  out = relu(conv(x, filter) + bias) (mode 0; bias and ReLU per output tile).
 *   convTrunk(dims, x, filters, biases, ys, group) -> bool  layers of convBiasRelu in turn (dims: 13 values a layer), a
 *        group of images at a time; convTrunkGrad(dims, x, filters, ys, dy, dfilters, dbiases, dx, group) -> bool: every
 *        layer's filter and bias gradient (and x's when dx is given). The same bits as layer by layer; false where the
 *        direct kernels do not apply ("A trunk of conv + bias + ReLU layers" below).
 *   setConvDirect(on) -> bool       whether conv uses the direct kernels (tests and benchmarks compare both).
 *   gatherImages(src, idx, shifts, dims, out)  batch assembly with random shifts (src/learn/nets.ts gatherImages).
 *   sumRows(x, out)                 out[k] = sum over rows of x[row, k] (rows of out.length values; double accumulators)
 *   addRow(a, b, out)               out[i] = a[i] + b[i % b.length] (a bias row added to every row)
 *   relu(x)                         x = max(x, 0) in place; reluGrad(dy, y, dx): dx = y > 0 ? dy : 0 (y = relu's output).
 *        For the fused MLP heads (src/learn/fused.ts): element loops in C instead of JS (several times faster there).
 *   Every array is a Float32Array (views on the wasm heap work: no copy); sizes are checked before any access.
 *
 * Two threads (setThreads(2)): a GEMM of at least SPLIT_MNK multiply-adds and 8192 outputs is cut into two blocks
 * of output rows (a multiple of 48); Adam, LayerNorm, bias sums and ReLU into two ranges of elements, rows
 * or columns. One helper thread and the calling thread each claim blocks (an atomic counter), so when the helper is
 * not scheduled (a loaded machine) the caller does both and nothing waits for it. Each output value is computed by
 * the same code in the same order as on one thread, so the results are bit-identical (test/learn/gemm-threads.test.ts);
 * LayerNorm's gradient sums dgamma/dbeta over two halves of the rows on one thread too (the cut depends on the shape
 * only). After a job the helper spins about 50 us (the next GEMM of an update follows within microseconds; at load
 * 25-29 a 150 us spin burnt 1-2 ms more CPU per update and took no more work; INSERTION_GEMM_SPIN_US overrides),
 * then sleeps on a futex.
 * Why not OpenBLAS's own threads: at these sizes (256x256x256) they made an update slower (12.7 against 9.9 ms wall).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <node_api.h>

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*get_config_fn)(void);

static sgemm_fn g_sgemm = NULL;
static set_threads_fn g_set_threads = NULL;
static _Atomic int g_bf16 = 0; /* setPrecision: 1 = sgemm's inputs in bf16 through oneDNN */

/* ---------------------------------------------------------------------------------------------------------------
 * The two-thread pool. A job is fn(arg, part) for part < parts; `state` packs (generation << 32 | next part) so a
 * helper still finishing the previous job can never claim a part of the next one. */
typedef void (*part_fn)(void *arg, int part);
static struct {
  _Atomic uint64_t state;
  _Atomic uint32_t gen32; /* the low 32 bits of the generation */
  _Atomic uint32_t wake32; /* the futex word the helper sleeps on: bumped by every split job and queued kernel */
  _Atomic int sleeping;
  _Atomic int done;
  _Atomic int busy;        /* a job is posted (a second JS thread calling in runs alone) */
  _Atomic uint64_t jobs, helperParts;
  _Atomic uint64_t helperWorkNs, callerWaitNs; /* thread CPU time: the helper in parts, the caller waiting for them */
  part_fn fn;
  void *arg;
  int parts;
  int threads;             /* 1 or 2 */
  int started;
  pthread_t helper;
} pool = {.threads = 1};

/* ---------------------------------------------------------------------------------------------------------------
 * The helper's queue (setQueue(true) on the calling thread, then sync()): kernels called in queue mode are not run
 * but appended, in call order, to a queue that the helper thread runs one after the other while the caller goes on
 * with other kernels (src/learn/iql.ts: one IQL update's independent heads on the two threads). A command is a
 * function and a copy of its job (pointers into the caller's arrays, which the JS side keeps alive until sync()).
 * `qstate` packs (head << 1 | running): exactly one thread runs a command at a time, in order, so a queued head
 * computes what it would on the caller. sync() runs the commands the helper has not claimed on the caller, so on a
 * loaded machine, when the helper is not scheduled, nothing waits for it. Queued kernels never split (tl_nosplit):
 * both threads are busy then, and the split gives the same bits anyway. */
typedef int (*exec_fn)(void *job); /* 0, or -1 when out of memory */
#define QCAP 1024
#define QPAYLOAD 192
typedef struct {
  exec_fn fn;
  _Alignas(16) unsigned char job[QPAYLOAD];
} QCmd;
static struct {
  QCmd cmd[QCAP];
  _Atomic uint32_t tail;   /* written by the owner thread only */
  _Atomic uint64_t state;  /* head << 1 | running */
  _Atomic int error;
  _Atomic int owned;       /* one JS thread owns the queue (another, e.g. a worker, runs its kernels directly) */
  _Atomic uint64_t queued, helperRan, helperNs, syncWaitNs, callerRanNs;
} q;
static _Thread_local int tl_queue, tl_nosplit, tl_owner;

static long g_spin_ns = 50000L;  /* INSERTION_GEMM_SPIN_US overrides (experiments) */
#define SPLIT_MNK (1L << 20) /* multiply-adds below which a GEMM stays on one thread (about 12 us of work) */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static long thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int q_pending(void);
static int q_run_claimed(int helper);

/* Claims the next part of generation gen, or -1. */
static int claim(uint32_t gen, int parts) {
  uint64_t s = atomic_load(&pool.state);
  for (;;) {
    if ((uint32_t)(s >> 32) != gen || (int)(uint32_t)s >= parts) return -1;
    if (atomic_compare_exchange_weak(&pool.state, &s, s + 1)) return (int)(uint32_t)s;
  }
}

static void *helper_main(void *unused) {
  (void)unused;
  uint32_t seen = 0;
  tl_nosplit = 1; /* the helper never posts split jobs itself (nobody would share them) */
  for (;;) {
    const long t0 = now_ns();
    uint32_t g;
    int spins = 0;
    while ((g = atomic_load(&pool.gen32)) == seen && !q_pending()) {
      cpu_relax();
      if (++spins % 64 == 0 && now_ns() - t0 > g_spin_ns) {
        const uint32_t w = atomic_load(&pool.wake32);
        atomic_store(&pool.sleeping, 1);
        if (atomic_load(&pool.gen32) == seen && !q_pending()) syscall(SYS_futex, &pool.wake32, FUTEX_WAIT_PRIVATE, w, NULL, NULL, 0);
        atomic_store(&pool.sleeping, 0);
      }
    }
    /* Queued kernels first (the caller is busy with its own), then the parts of a split job. */
    while (q_run_claimed(1)) {
    }
    if (g == seen) continue;
    seen = g;
    /* fn, arg and parts were written before gen32 (seq_cst): valid for this generation. */
    const part_fn fn = pool.fn;
    void *arg = pool.arg;
    const int parts = pool.parts;
    int p;
    while ((p = claim(g, parts)) >= 0) {
      const long c0 = thread_cpu_ns();
      fn(arg, p);
      atomic_fetch_add(&pool.helperWorkNs, (uint64_t)(thread_cpu_ns() - c0));
      atomic_fetch_add(&pool.helperParts, 1);
      atomic_fetch_add(&pool.done, 1);
    }
  }
  return NULL;
}

static void wake_helper(void) {
  atomic_fetch_add(&pool.wake32, 1);
  if (atomic_load(&pool.sleeping)) syscall(SYS_futex, &pool.wake32, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Runs fn(arg, 0..parts-1), on both threads when the pool has two and is free, else here in order. */
static void run_parts(part_fn fn, void *arg, int parts) {
  int expected = 0;
  if (pool.threads < 2 || parts < 2 || tl_nosplit || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
    for (int p = 0; p < parts; p++) fn(arg, p);
    return;
  }
  pool.fn = fn;
  pool.arg = arg;
  pool.parts = parts;
  atomic_store(&pool.done, 0);
  const uint32_t gen = atomic_load(&pool.gen32) + 1;
  atomic_store(&pool.state, (uint64_t)gen << 32);
  atomic_store(&pool.gen32, gen);
  wake_helper();
  atomic_fetch_add(&pool.jobs, 1);
  int mine = 0, p;
  while ((p = claim(gen, parts)) >= 0) {
    fn(arg, p);
    mine++;
  }
  /* Only parts the helper claimed are left: wait for them (spin, then yield: it may have been preempted). */
  if (atomic_load(&pool.done) + mine < parts) {
    const long c0 = thread_cpu_ns();
    int spins = 0;
    while (atomic_load(&pool.done) + mine < parts)
      if (++spins < 4096) cpu_relax();
      else sched_yield();
    atomic_fetch_add(&pool.callerWaitNs, (uint64_t)(thread_cpu_ns() - c0));
  }
  atomic_store(&pool.busy, 0);
}

static int start_pool(int n) {
  if (n >= 2 && !pool.started) {
    const char *e = getenv("INSERTION_GEMM_SPIN_US");
    if (e && *e) g_spin_ns = atol(e) * 1000L;
    /* The default stack (OpenBLAS may put small buffers on it, as on the caller's thread). */
    if (pthread_create(&pool.helper, NULL, helper_main, NULL) != 0) return 0;
    pthread_detach(pool.helper);
    pool.started = 1;
  }
  pool.threads = n >= 2 ? 2 : 1;
  return 1;
}

static int q_pending(void) {
  return (uint32_t)(atomic_load(&q.state) >> 1) != atomic_load(&q.tail);
}

/* Claims the next queued command and runs it (helper: 1 when called by the helper thread); 0 when there is none or
 * another thread is running one. */
static int q_run_claimed(int helper) {
  uint64_t s = atomic_load(&q.state);
  for (;;) {
    if ((s & 1) || (uint32_t)(s >> 1) == atomic_load(&q.tail)) return 0;
    if (atomic_compare_exchange_weak(&q.state, &s, s | 1)) break;
  }
  const uint32_t head = (uint32_t)(s >> 1);
  QCmd *c = &q.cmd[head % QCAP];
  const int saved = tl_nosplit;
  tl_nosplit = 1;
  const long c0 = thread_cpu_ns();
  if (c->fn(c->job) != 0) atomic_store(&q.error, 1);
  if (helper) {
    atomic_fetch_add(&q.helperNs, (uint64_t)(thread_cpu_ns() - c0));
    atomic_fetch_add(&q.helperRan, 1);
  } else {
    atomic_fetch_add(&q.callerRanNs, (uint64_t)(thread_cpu_ns() - c0));
  }
  tl_nosplit = saved;
  atomic_store(&q.state, (uint64_t)(uint32_t)(head + 1) << 1);
  return 1;
}

/* Whether every command queued before position mark has run. */
static int q_done_to(uint32_t mark) {
  return (int32_t)((uint32_t)(atomic_load(&q.state) >> 1) - mark) >= 0;
}

/* Runs the commands queued before position mark: those the helper has not claimed here, in order; waits for the one
 * it runs. */
static void q_drain_to(uint32_t mark) {
  if (q_done_to(mark)) return;
  const long c0 = thread_cpu_ns();
  const uint64_t ran0 = atomic_load(&q.callerRanNs);
  int spins = 0;
  while (!q_done_to(mark)) {
    if (q_run_claimed(0)) continue;
    if (++spins < 4096) cpu_relax();
    else sched_yield();
  }
  /* Waiting only: the commands run here count as the caller's work. */
  atomic_fetch_add(&q.syncWaitNs, (uint64_t)(thread_cpu_ns() - c0) - (atomic_load(&q.callerRanNs) - ran0));
}

static void q_drain(void) {
  q_drain_to(atomic_load(&q.tail));
}

/* job (size bytes, copied) run by fn: appended to the queue in queue mode, else run here. 0, or -1 out of memory. */
static int submit(exec_fn fn, const void *job, size_t size) {
  if (!tl_queue) return fn((void *)job);
  if (size > QPAYLOAD) abort(); /* a programming error: QPAYLOAD is sized for the jobs below */
  const uint32_t t = atomic_load(&q.tail);
  /* Full: run commands here until there is room (the helper may not be scheduled). */
  while (t - (uint32_t)(atomic_load(&q.state) >> 1) >= QCAP)
    if (!q_run_claimed(0)) sched_yield();
  QCmd *c = &q.cmd[t % QCAP];
  c->fn = fn;
  memcpy(c->job, job, size);
  atomic_store(&q.tail, t + 1);
  atomic_fetch_add(&q.queued, 1);
  wake_helper();
  return 0;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "gemm: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "gemm.open(path): path must be a string");
    return NULL;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    napi_throw_error(env, NULL, e ? e : "dlopen failed");
    return NULL;
  }
  sgemm_fn f = (sgemm_fn)dlsym(h, "cblas_sgemm");
  if (!f) {
    char msg[4200];
    snprintf(msg, sizeof msg, "%s has no cblas_sgemm", path);
    dlclose(h);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  g_sgemm = f;
  g_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
  get_config_fn cfg = (get_config_fn)dlsym(h, "openblas_get_config");
  const char *c = cfg ? cfg() : "";
  napi_value out;
  CHECK(napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) {
    napi_throw_type_error(env, NULL, "gemm.setThreads(n): n must be an integer >= 1");
    return NULL;
  }
  /* OpenBLAS itself stays on one thread: the addon splits the work (its own threads lose at these sizes). */
  if (g_set_threads) g_set_threads(1);
  q_drain(); /* a queue without a helper would never run */
  if (n < 2) tl_queue = 0;
  if (!start_pool(n)) {
    napi_throw_error(env, NULL, "gemm.setThreads: could not start the helper thread");
    return NULL;
  }
  napi_value r;
  CHECK(napi_create_int32(env, pool.threads, &r));
  return r;
}

/* A Float32Array argument: its data pointer (byte offset applied) and length in elements. */
static int f32(napi_env env, napi_value v, float **data, size_t *length, const char *name) {
  napi_typedarray_type type;
  void *p = NULL;
  size_t n = 0;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) != napi_ok || type != napi_float32_array) {
    char msg[128];
    snprintf(msg, sizeof msg, "gemm.sgemm: %s must be a Float32Array", name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  *data = (float *)p;
  *length = n;
  return 1;
}

static int i32(napi_env env, napi_value v, int32_t *out, const char *name) {
  if (napi_get_value_int32(env, v, out) != napi_ok || *out < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "gemm.sgemm: %s must be a non-negative integer", name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

/* Element loops get an AVX2 clone picked at load time (ifunc) on CPUs that have it: the same IEEE operations in the
 * same order (no FMA contraction under -std=c11, no reassociation), so results equal the baseline clone's. Not an
 * AVX-512 clone: on this Zen 4 it made LayerNorm and its gradient 2x slower (sum8's 8 lanes) for 5 % on Adam. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VEC_CLONES
#endif

/* The fused activation over C. In its own function with a restrict pointer and an AVX2 clone: inline in Sgemm's
 * batch loop GCC left the ReLU as a compare-and-branch per element (about 3 ns each on random signs, 200 us for a
 * 256x256 output, half again the GEMM's own time). Same operations, so the same results. */
VEC_CLONES static void epilogue(float *restrict c, uint64_t mn, int32_t act, float leak) {
  switch (act) {
    case 1: for (uint64_t t = 0; t < mn; t++) c[t] = c[t] > 0 ? c[t] : 0; break;
    case 2: for (uint64_t t = 0; t < mn; t++) c[t] = c[t] < 0 ? 0 : (c[t] > 6 ? 6 : c[t]); break;
    case 3: for (uint64_t t = 0; t < mn; t++) c[t] = c[t] > 0 ? c[t] : expm1f(c[t]); break;
    case 4: for (uint64_t t = 0; t < mn; t++) c[t] = 1.0f / (1.0f + expf(-c[t])); break;
    case 5: for (uint64_t t = 0; t < mn; t++) c[t] = c[t] > 0 ? c[t] : leak * c[t]; break;
    default: break;
  }
}


/* One GEMM (batch item) C = act(op(A) op(B) + bias) whose output can be cut into blocks of rows or columns. */
typedef struct {
  bool tA, tB;
  int M, N, K, lda, ldb, ldc;
  const float *A, *B;
  float *C;
  const float *bias;
  int32_t biasMode, act;
  float leak, beta;
  int cut; /* the first row of the second block */
  int bf16; /* inputs rounded to bf16 through oneDNN (the precision when the sgemm call was made) */
} GemmJob;

static int bf16_gemm(const GemmJob *j, int m, int n, const float *a, const float *b, float beta, float *c);
/* Products with a side under this stay float32 under bf16 too: oneDNN's bf16 kernels ran the heads' 256x1x256 and
 * 256x3x256 products 1.5-2x slower than sgemm (results/learner-bf16/), and they are a small part of the work. */
#define BF16_MIN_SIDE 16

/* Rows r0..r1, columns c0..c1 of the job's output: bias as the initial C (beta = 1), the GEMM, the activation. */
static void gemm_block(const GemmJob *j, int r0, int r1, int c0, int c1) {
  const int m = r1 - r0, n = c1 - c0;
  if (m <= 0 || n <= 0) return;
  float *c = j->C + (uint64_t)r0 * j->ldc + c0;
  float beta = j->beta;
  if (j->biasMode == 1) {
    for (int i = 0; i < m; i++) memcpy(c + (uint64_t)i * j->ldc, j->bias + c0, sizeof(float) * n);
    beta = 1.0f;
  } else if (j->biasMode == 2) {
    for (int i = 0; i < m; i++)
      for (int t = 0; t < n; t++) c[(uint64_t)i * j->ldc + t] = j->bias[0];
    beta = 1.0f;
  }
  const float *a = j->tA ? j->A + r0 : j->A + (uint64_t)r0 * j->lda;
  const float *b = j->tB ? j->B + (uint64_t)c0 * j->ldb : j->B + c0;
  if (!j->bf16 || bf16_gemm(j, m, n, a, b, beta, c) != 0)
    g_sgemm(RowMajor, j->tA ? Trans : NoTrans, j->tB ? Trans : NoTrans, m, n, j->K, 1.0f, a, j->lda, b, j->ldb, beta, c, j->ldc);
  if (j->act != 0) {
    if (n == j->ldc) epilogue(c, (uint64_t)m * n, j->act, j->leak);
    else
      for (int i = 0; i < m; i++) epilogue(c + (uint64_t)i * j->ldc, (uint64_t)n, j->act, j->leak);
  }
}

static void gemm_part(void *arg, int part) {
  const GemmJob *j = (const GemmJob *)arg;
  gemm_block(j, part == 0 ? 0 : j->cut, part == 0 ? j->cut : j->M, 0, j->N);
}

/* The job on one thread, or cut in two blocks of output rows at a multiple of 48: whole micro-tiles of OpenBLAS's
 * SkylakeX (16) and Haswell (24 rows) sgemm kernels. A block that starts inside a micro-tile sums some values in
 * another order: with Haswell's kernels (OPENBLAS_CORETYPE=Haswell, or an AMD CPU) row cuts at 16, 32 or 64 changed
 * bits, cuts at 48, 96 and 144 did not; a column cut (at 144) changed bits too, so only rows are cut. */
static void run_gemm(GemmJob *j) {
  const int64_t mnk = (int64_t)j->M * j->N * j->K;
  j->cut = ((j->M / 2 + 47) / 48) * 48;
  /* Small outputs (under 8192 values) stay whole: OpenBLAS picks its small-matrix kernels by shape there, and a half
   * could get a different kernel (another summation order) than the whole; above it, halves give the same bits.
   * So do outputs of at most 48 rows (no cut inside them). */
  if (pool.threads < 2 || tl_nosplit || mnk < SPLIT_MNK || (int64_t)j->M * j->N < 8192 || j->cut >= j->M) {
    gemm_block(j, 0, j->M, 0, j->N);
    return;
  }
  run_parts(gemm_part, j, 2);
}

static int exec_gemm(void *job) {
  run_gemm((GemmJob *)job);
  return 0;
}

static napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value a[15];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 15) {
    napi_throw_type_error(env, NULL, "gemm.sgemm: expected 15 arguments");
    return NULL;
  }
  if (!g_sgemm) {
    napi_throw_error(env, NULL, "gemm.sgemm: no BLAS opened (call open(path) first)");
    return NULL;
  }
  bool tA = false, tB = false;
  CHECK(napi_get_value_bool(env, a[0], &tA));
  CHECK(napi_get_value_bool(env, a[1], &tB));
  int32_t batch, M, N, K, sA, sB, biasMode, act;
  if (!i32(env, a[2], &batch, "batch") || !i32(env, a[3], &M, "M") || !i32(env, a[4], &N, "N") || !i32(env, a[5], &K, "K") ||
      !i32(env, a[7], &sA, "strideA") || !i32(env, a[9], &sB, "strideB") || !i32(env, a[12], &biasMode, "biasMode") ||
      !i32(env, a[13], &act, "act"))
    return NULL;
  double alphaD = 0;
  CHECK(napi_get_value_double(env, a[14], &alphaD));
  const float leak = (float)alphaD;
  float *A, *B, *C, *bias = NULL;
  size_t lA, lB, lC, lBias = 0;
  if (!f32(env, a[6], &A, &lA, "A") || !f32(env, a[8], &B, &lB, "B") || !f32(env, a[10], &C, &lC, "C")) return NULL;
  if (biasMode != 0 && !f32(env, a[11], &bias, &lBias, "bias")) return NULL;
  if (biasMode > 2 || act > 5) {
    napi_throw_range_error(env, NULL, "gemm.sgemm: biasMode must be 0..2 and act 0..5");
    return NULL;
  }
  /* Bounds: every element BLAS may touch must lie inside the arrays (these are views on a heap we must not corrupt). */
  const uint64_t mk = (uint64_t)M * K, kn = (uint64_t)K * N, mn = (uint64_t)M * N;
  if (batch < 1 || M < 1 || N < 1 || K < 1 || (uint64_t)(batch - 1) * sA + mk > lA || (uint64_t)(batch - 1) * sB + kn > lB ||
      (uint64_t)batch * mn > lC || (biasMode == 1 && lBias < (size_t)N) || (biasMode == 2 && lBias < 1)) {
    napi_throw_range_error(env, NULL, "gemm.sgemm: shapes do not fit the arrays");
    return NULL;
  }
  const int lda = tA ? M : K, ldb = tB ? K : N;
  for (int32_t b = 0; b < batch; b++) {
    /* A bias is the initial C (beta = 1): no second pass over the output for it. */
    GemmJob j = {.tA = tA, .tB = tB, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = N, .A = A + (uint64_t)b * sA,
                 .B = B + (uint64_t)b * sB, .C = C + (uint64_t)b * mn, .bias = bias, .biasMode = biasMode, .act = act, .leak = leak, .beta = 0.0f,
                 .bf16 = atomic_load(&g_bf16) && M >= BF16_MIN_SIDE && N >= BF16_MIN_SIDE && K >= BF16_MIN_SIDE};
    submit(exec_gemm, &j, sizeof j);
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------------------------
 * bf16 GEMM inputs (setPrecision(1)): an sgemm call's A and B are rounded to bfloat16 (round to nearest even, as
 * AVX512_BF16's vcvtneps2bf16: denormals to zero) and multiplied by oneDNN's matmul with float32 accumulation and a
 * float32 C; bias, activation and everything outside sgemm (weights, Adam, LayerNorm, conv) stay float32. Faster
 * only where the CPU multiplies bf16 natively (AVX512_BF16, AMX; measured in results/learner-bf16/).
 * Why dlopen again: the addon still builds and loads without oneDNN (only the header is needed at build time, from
 * libdnnl-dev; -DHAVE_DNNL), and setPrecision(1) reports why it cannot, leaving float32 on.
 * Each thread (caller, helper) keeps its own primitives, one per shape, with a user scratchpad and its own stream, so
 * the two never share oneDNN state; oneDNN's OpenMP is held to one thread per caller (the addon splits the work).
 * A block of a split GEMM is its own primitive (its own shape): each output value sums the same products in the same
 * order as the whole, so one and two threads agree bitwise here too (test/learn/gemm-bf16.test.ts). */
#ifdef HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

static void to_bf16_scalar(const float *restrict x, uint16_t *restrict y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, x + i, 4);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;                          /* denormal: signed zero */
    else if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;            /* NaN: stays a (quiet) NaN */
    else u += 0x7fffu + ((u >> 16) & 1u);                                 /* round to nearest even */
    y[i] = (uint16_t)(u >> 16);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#include <immintrin.h>
__attribute__((target("avx512f,avx512bf16,avx512vl"))) static void to_bf16_avx512(const float *restrict x, uint16_t *restrict y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(y + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
  to_bf16_scalar(x + i, y + i, n - i);
}
static int have_avx512bf16(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
}
#else
static void to_bf16_avx512(const float *x, uint16_t *y, size_t n) { to_bf16_scalar(x, y, n); }
static int have_avx512bf16(void) { return 0; }
#endif
static int g_cvt_avx512 = 0;

/* rows x cols of x (row stride ld) into dense y. */
static void to_bf16_rows(const float *x, int rows, int cols, int ld, uint16_t *y) {
  if (ld == cols) {
    if (g_cvt_avx512) to_bf16_avx512(x, y, (size_t)rows * cols);
    else to_bf16_scalar(x, y, (size_t)rows * cols);
    return;
  }
  for (int r = 0; r < rows; r++) {
    if (g_cvt_avx512) to_bf16_avx512(x + (uint64_t)r * ld, y + (uint64_t)r * cols, (size_t)cols);
    else to_bf16_scalar(x + (uint64_t)r * ld, y + (uint64_t)r * cols, (size_t)cols);
  }
}

#define DNNL_FNS(X)                                                                                                         \
  X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_memory_desc_init_by_strides) X(dnnl_matmul_desc_init)                   \
  X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy) X(dnnl_primitive_attr_set_scratchpad_mode)                    \
  X(dnnl_post_ops_create) X(dnnl_post_ops_append_sum) X(dnnl_post_ops_destroy) X(dnnl_primitive_attr_set_post_ops)          \
  X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_query) X(dnnl_primitive_desc_query_md) X(dnnl_memory_desc_get_size)    \
  X(dnnl_primitive_desc_destroy) X(dnnl_primitive_create) X(dnnl_memory_create) X(dnnl_memory_set_data_handle)              \
  X(dnnl_primitive_execute) X(dnnl_version)
#define DNNL_PTR(f) static __typeof__(&f) p_##f;
DNNL_FNS(DNNL_PTR)
static void (*p_omp_set_num_threads)(int);
static dnnl_engine_t g_eng;
static char g_dnnl_desc[256];

typedef struct {
  int tA, tB, m, n, k, ldc, sum;
  dnnl_primitive_t prim;
  dnnl_memory_t ma, mb, mc, ms;
  void *scratch;
} MmEntry;
#define MM_CACHE 64
typedef struct {
  dnnl_stream_t stream;
  MmEntry e[MM_CACHE];
  int count;
  uint16_t *a16, *b16;
  size_t a16n, b16n;
} MmThread;
static _Thread_local MmThread *tl_mm;

/* C[m, n] (row stride ldc) = op(A16) op(B16) (+ C when sum), A16/B16 dense in their stored layout. The primitive's
 * implementation string goes to *impl when asked. 0, or -1 (then the caller runs sgemm). */
static MmEntry *mm_entry(MmThread *t, int tA, int tB, int m, int n, int k, int ldc, int sum, const char **impl) {
  for (int i = 0; i < t->count; i++) {
    MmEntry *e = &t->e[i];
    if (e->tA == tA && e->tB == tB && e->m == m && e->n == n && e->k == k && e->ldc == ldc && e->sum == sum) return e;
  }
  if (t->count == MM_CACHE) return NULL; /* more shapes than any learner uses: float32 for the rest */
  MmEntry *e = &t->e[t->count];
  memset(e, 0, sizeof *e);
  dnnl_memory_desc_t a, b, c;
  dnnl_dims_t da = {m, k}, db = {k, n}, dc = {m, n};
  dnnl_dims_t sa = {tA ? 1 : k, tA ? m : 1}, sb = {tB ? 1 : n, tB ? k : 1}, sc = {ldc, 1};
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t ops = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_matmul_desc_t d;
  int ok = p_dnnl_memory_desc_init_by_strides(&a, 2, da, dnnl_bf16, sa) == dnnl_success &&
           p_dnnl_memory_desc_init_by_strides(&b, 2, db, dnnl_bf16, sb) == dnnl_success &&
           p_dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc) == dnnl_success &&
           p_dnnl_matmul_desc_init(&d, &a, &b, NULL, &c) == dnnl_success && p_dnnl_primitive_attr_create(&attr) == dnnl_success &&
           p_dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
  if (ok && sum)
    ok = p_dnnl_post_ops_create(&ops) == dnnl_success && p_dnnl_post_ops_append_sum(ops, 1.0f) == dnnl_success &&
         p_dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success;
  ok = ok && p_dnnl_primitive_desc_create(&pd, &d, attr, g_eng, NULL) == dnnl_success;
  if (ok) {
    const dnnl_memory_desc_t *smd = p_dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = smd ? p_dnnl_memory_desc_get_size(smd) : 0;
    if (impl) p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl);
    e->scratch = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
    ok = (!bytes || e->scratch) && p_dnnl_primitive_create(&e->prim, pd) == dnnl_success &&
         p_dnnl_memory_create(&e->ma, &a, g_eng, DNNL_MEMORY_NONE) == dnnl_success &&
         p_dnnl_memory_create(&e->mb, &b, g_eng, DNNL_MEMORY_NONE) == dnnl_success &&
         p_dnnl_memory_create(&e->mc, &c, g_eng, DNNL_MEMORY_NONE) == dnnl_success &&
         (!bytes || p_dnnl_memory_create(&e->ms, smd, g_eng, e->scratch) == dnnl_success);
  }
  if (pd) p_dnnl_primitive_desc_destroy(pd);
  if (ops) p_dnnl_post_ops_destroy(ops);
  if (attr) p_dnnl_primitive_attr_destroy(attr);
  if (!ok) return NULL; /* (a failed entry's objects leak: it does not happen with a working oneDNN) */
  e->tA = tA, e->tB = tB, e->m = m, e->n = n, e->k = k, e->ldc = ldc, e->sum = sum;
  t->count++;
  return e;
}

static MmThread *mm_thread(void) {
  if (tl_mm) return tl_mm;
  MmThread *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (p_dnnl_stream_create(&t->stream, g_eng, dnnl_stream_default_flags) != dnnl_success) {
    free(t);
    return NULL;
  }
  if (p_omp_set_num_threads) p_omp_set_num_threads(1);
  tl_mm = t;
  return t;
}

static uint16_t *grow(uint16_t **buf, size_t *have, size_t need) {
  if (*have >= need) return *buf;
  free(*buf);
  *buf = aligned_alloc(64, (need * 2 + 63) / 64 * 64);
  *have = *buf ? need : 0;
  return *buf;
}

static int bf16_gemm(const GemmJob *j, int m, int n, const float *a, const float *b, float beta, float *c) {
  MmThread *t = mm_thread();
  if (!t) return -1;
  const int k = j->K;
  MmEntry *e = mm_entry(t, j->tA, j->tB, m, n, k, j->ldc, beta != 0.0f, NULL);
  if (!e || !grow(&t->a16, &t->a16n, (size_t)m * k) || !grow(&t->b16, &t->b16n, (size_t)k * n)) return -1;
  /* Only the block's part of A and B, dense: A [m, K] or (tA) [K, m]; B [K, n] or (tB) [n, K]. */
  if (j->tA) to_bf16_rows(a, k, m, j->lda, t->a16);
  else to_bf16_rows(a, m, k, j->lda, t->a16);
  if (j->tB) to_bf16_rows(b, n, k, j->ldb, t->b16);
  else to_bf16_rows(b, k, n, j->ldb, t->b16);
  if (p_dnnl_memory_set_data_handle(e->ma, t->a16) != dnnl_success || p_dnnl_memory_set_data_handle(e->mb, t->b16) != dnnl_success ||
      p_dnnl_memory_set_data_handle(e->mc, c) != dnnl_success)
    return -1;
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, e->ma}, {DNNL_ARG_WEIGHTS, e->mb}, {DNNL_ARG_DST, e->mc}, {DNNL_ARG_SCRATCHPAD, e->ms}};
  return p_dnnl_primitive_execute(e->prim, t->stream, e->ms ? 4 : 3, args) == dnnl_success ? 0 : -1;
}

/* Loads oneDNN once; "" when ready, else why not (into err). */
static const char *dnnl_open(char *err, size_t len) {
  static int tried = 0;
  static char why[512];
  if (tried) return why;
  tried = 1;
  void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(why, sizeof why, "oneDNN not found (%s; install Debian's libdnnl2)", dlerror());
    goto out;
  }
#define DNNL_SYM(f)                                                                 \
  if (!(p_##f = (__typeof__(p_##f))dlsym(h, #f))) {                                 \
    snprintf(why, sizeof why, "libdnnl.so.2 has no %s (oneDNN 2.x is needed)", #f); \
    goto out;                                                                       \
  }
  DNNL_FNS(DNNL_SYM)
  p_omp_set_num_threads = (void (*)(int))dlsym(h, "omp_set_num_threads");
  if (p_dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success) {
    snprintf(why, sizeof why, "oneDNN: no CPU engine");
    goto out;
  }
  /* A probe: oneDNN runs bf16 on CPUs without it too, emulated and slower than float32; only a native kernel counts. */
  MmThread *t = mm_thread();
  const char *impl = NULL;
  if (!t || !mm_entry(t, 0, 0, 256, 256, 256, 256, 0, &impl) || !impl) {
    snprintf(why, sizeof why, "oneDNN: no bf16 matmul");
    goto out;
  }
  if (!strstr(impl, "bf16") && !strstr(impl, "amx")) {
    snprintf(why, sizeof why, "oneDNN has no native bf16 kernel on this CPU (its matmul: %s)", impl);
    goto out;
  }
  g_cvt_avx512 = have_avx512bf16();
  const dnnl_version_t *v = p_dnnl_version();
  snprintf(g_dnnl_desc, sizeof g_dnnl_desc, "oneDNN %d.%d.%d %s", v->major, v->minor, v->patch, impl);
  why[0] = 0;
out:
  snprintf(err, len, "%s", why);
  return why;
}
#else
static int bf16_gemm(const GemmJob *j, int m, int n, const float *a, const float *b, float beta, float *c) {
  (void)j, (void)m, (void)n, (void)a, (void)b, (void)beta, (void)c;
  return -1;
}
#endif

/* setPrecision(p): 0 float32 sgemm, 1 bf16 inputs through oneDNN. Returns a description of the bf16 engine (e.g.
 * "oneDNN 2.6.3 brg:avx512_core_bf16") or "float32"; throws, leaving float32 on, when bf16 cannot run here. Applies
 * to sgemm calls made after it (queued ones keep the precision they were made with). */
static napi_value SetPrecision(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t p = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &p) != napi_ok || p < 0 || p > 1) {
    napi_throw_type_error(env, NULL, "gemm.setPrecision(p): p must be 0 (float32) or 1 (bf16)");
    return NULL;
  }
  const char *desc = "float32";
  if (p == 1) {
#ifdef HAVE_DNNL
    char err[512];
    if (dnnl_open(err, sizeof err)[0]) {
      atomic_store(&g_bf16, 0);
      napi_throw_error(env, NULL, err);
      return NULL;
    }
    desc = g_dnnl_desc;
#else
    napi_throw_error(env, NULL, "this gemm addon was built without oneDNN (install libdnnl-dev, then bash native/build.sh)");
    return NULL;
#endif
  }
  atomic_store(&g_bf16, p);
  napi_value out;
  CHECK(napi_create_string_utf8(env, desc, NAPI_AUTO_LENGTH, &out));
  return out;
}

static int dbl(napi_env env, napi_value v, double *out, const char *name) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "gemm: %s must be a number", name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  return 1;
}


/* Adam's scalars as float32, computed in double from the caller's numbers and then rounded, as HeapAdam's JS loop
 * does: step = lr / c1, rc2 = 1 / sqrt(c2) (c1, c2: the bias corrections 1 - beta^t). */
typedef struct {
  float b1, a1, b2, a2, step, rc2, eps;
} AdamK;

static AdamK adam_k(double lr, double b1, double b2, double eps, double c1, double c2) {
  const AdamK k = {(float)b1, (float)(1 - b1), (float)b2, (float)(1 - b2), (float)(lr / c1), (float)(1 / sqrt(c2)), (float)eps};
  return k;
}

/* One Adam element in float32, PyTorch's formulation: m = b1 m + (1 - b1) g; v = b2 v + ((1 - b2) g) g;
 * w - step m / (sqrt(v) rc2 + eps). Float, not double: the double divisions and square root were 1.6 ns an element
 * (the update's largest cost after the GEMMs); in float the loop vectorises 8 wide. Each operation rounds to float
 * (-std=c11: no FMA contraction), so the JS loop with Math.fround after each operation gives the same bits.
 * Inlined into both loops below, so each stays one vectorisable pass. */
static inline __attribute__((always_inline)) float adam_elem(float w, float g, float *restrict m, float *restrict v, const AdamK *k) {
  const float mk = k->b1 * *m + k->a1 * g;
  const float sk = k->b2 * *v + (k->a2 * g) * g;
  *m = mk;
  *v = sk;
  return w - (k->step * mk) / (sqrtf(sk) * k->rc2 + k->eps);
}

VEC_CLONES static void adam_loop(const float *restrict W, const float *restrict G, float *restrict M, float *restrict V, float *restrict O, size_t n,
                                 AdamK k) {
  for (size_t i = 0; i < n; i++) O[i] = adam_elem(W[i], G[i], &M[i], &V[i], &k);
}

/* adam_loop, then the target's Polyak step from the new weights in the same pass: TO = tau * O + (1 - tau) * T, lerp's
 * expression on the stored (float) O, so the same bits as adam and then lerp(TO, O, T, tau). */
VEC_CLONES static void adam_polyak_loop(const float *restrict W, const float *restrict G, float *restrict M, float *restrict V, float *restrict O, size_t n,
                                        AdamK k, const float *restrict T, float *restrict TO, double tau) {
  const float a = (float)tau, b = (float)(1 - tau);
  for (size_t i = 0; i < n; i++) {
    const float o = adam_elem(W[i], G[i], &M[i], &V[i], &k);
    O[i] = o;
    TO[i] = a * o + b * T[i];
  }
}

/* Element loops split in two halves (at a multiple of 16) above this many elements. */
#define SPLIT_ELEMENTS 16384

typedef struct {
  const float *w, *g;
  float *m, *v, *out;
  size_t n;
  AdamK k;
  int parts;
  const float *t; /* adamPolyak: the target's weights, its new weights (to) and the rate; t NULL: plain Adam */
  float *to;
  double tau;
} AdamJob;

static void adam_part(void *arg, int part) {
  const AdamJob *j = (const AdamJob *)arg;
  const size_t cut = j->parts < 2 ? j->n : ((j->n / 2 + 15) / 16) * 16;
  const size_t k0 = part == 0 ? 0 : cut, k1 = part == 0 ? cut : j->n;
  if (j->t)
    adam_polyak_loop(j->w + k0, j->g + k0, j->m + k0, j->v + k0, j->out + k0, k1 - k0, j->k, j->t + k0, j->to + k0, j->tau);
  else adam_loop(j->w + k0, j->g + k0, j->m + k0, j->v + k0, j->out + k0, k1 - k0, j->k);
}

static int exec_adam(void *job) {
  run_parts(adam_part, job, ((AdamJob *)job)->parts);
  return 0;
}

static napi_value adam_call(napi_env env, napi_callback_info info, int polyak) {
  size_t argc = 14;
  napi_value a[14];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != (polyak ? 14u : 11u)) {
    napi_throw_type_error(env, NULL, polyak ? "gemm.adamPolyak: expected 14 arguments" : "gemm.adam: expected 11 arguments");
    return NULL;
  }
  float *w, *g, *m, *v, *out;
  size_t lw, lg, lm, lv, lo;
  double lr, b1, b2, eps, c1, c2;
  if (!f32(env, a[0], &w, &lw, "w") || !f32(env, a[1], &g, &lg, "g") || !f32(env, a[2], &m, &lm, "m") || !f32(env, a[3], &v, &lv, "v") ||
      !f32(env, a[4], &out, &lo, "out") || !dbl(env, a[5], &lr, "lr") || !dbl(env, a[6], &b1, "beta1") || !dbl(env, a[7], &b2, "beta2") ||
      !dbl(env, a[8], &eps, "eps") || !dbl(env, a[9], &c1, "c1") || !dbl(env, a[10], &c2, "c2"))
    return NULL;
  if (lg != lw || lm != lw || lv != lw || lo != lw) {
    napi_throw_range_error(env, NULL, "gemm.adam: w, g, m, v and out must have the same length");
    return NULL;
  }
  /* Distinct buffers (the JS side passes fresh moment arrays and a fresh output): restrict lets the loop vectorise. */
  if (out == w || out == g || out == m || out == v || m == v) {
    napi_throw_range_error(env, NULL, "gemm.adam: out, m and v must be distinct buffers");
    return NULL;
  }
  AdamJob j = {w, g, m, v, out, lw, adam_k(lr, b1, b2, eps, c1, c2), pool.threads > 1 && lw >= SPLIT_ELEMENTS ? 2 : 1, NULL, NULL, 0};
  if (polyak) {
    float *t, *to;
    size_t lt, lto;
    if (!f32(env, a[11], &t, &lt, "target") || !f32(env, a[12], &to, &lto, "targetOut") || !dbl(env, a[13], &j.tau, "tau")) return NULL;
    if (lt != lw || lto != lw) {
      napi_throw_range_error(env, NULL, "gemm.adamPolyak: target and targetOut must have w's length");
      return NULL;
    }
    if (to == t || to == w || to == g || to == m || to == v || to == out || t == out) {
      napi_throw_range_error(env, NULL, "gemm.adamPolyak: targetOut must be distinct from every other buffer, and target from out");
      return NULL;
    }
    j.t = t;
    j.to = to;
  }
  submit(exec_adam, &j, sizeof j);
  return NULL;
}

static napi_value Adam(napi_env env, napi_callback_info info) { return adam_call(env, info, 0); }
/* adamPolyak(w, g, m, v, out, lr, beta1, beta2, eps, c1, c2, target, targetOut, tau): adam, and in the same pass
 * targetOut = tau * out + (1 - tau) * target (the target network's Polyak step from the new weights). */
static napi_value AdamPolyak(napi_env env, napi_callback_info info) { return adam_call(env, info, 1); }

typedef struct {
  float *out;
  const float *s, *t;
  size_t n;
  double tau;
} LerpJob;

/* With the vector clones (the same operations: the same bits). out may be t (in place): no restrict, GCC checks the
 * overlap at run time. */
VEC_CLONES static void lerp_loop(float *out, const float *s, const float *t, size_t n, double tau) {
  const float a = (float)tau, b = (float)(1 - tau);
  for (size_t k = 0; k < n; k++) out[k] = a * s[k] + b * t[k];
}

static int exec_lerp(void *job) {
  const LerpJob *j = (const LerpJob *)job;
  lerp_loop(j->out, j->s, j->t, j->n, j->tau);
  return 0;
}

static napi_value Lerp(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *out, *src, *tgt;
  size_t lo, ls, lt;
  double tau;
  if (argc != 4 || !f32(env, a[0], &out, &lo, "out") || !f32(env, a[1], &src, &ls, "s") || !f32(env, a[2], &tgt, &lt, "t") || !dbl(env, a[3], &tau, "tau"))
    return NULL;
  if (ls != lo || lt != lo) {
    napi_throw_range_error(env, NULL, "gemm.lerp: out, s and t must have the same length");
    return NULL;
  }
  LerpJob j = {out, src, tgt, lo, tau};
  submit(exec_lerp, &j, sizeof j);
  return NULL;
}

VEC_CLONES static void sum_rows_cols(const float *restrict x, double *restrict acc, float *restrict out, size_t lx, size_t lo, size_t k0, size_t k1);

/* Sum of x[0..c) with 8 interleaved partial sums (a fixed order, so deterministic; the compiler vectorises it). */
static inline float sum8(const float *restrict x, size_t c) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= c; k += 8)
    for (int j = 0; j < 8; j++) p[j] += x[k + j];
  float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
  for (; k < c; k++) s += x[k];
  return s;
}

/* Row mean and 1/sqrt(var + eps), two-pass in float (as tfjs's own kernels); tmp holds c floats. */
static inline void row_stats(const float *restrict x, size_t c, float eps, float *restrict tmp, float *mu, float *r) {
  const float m = sum8(x, c) / (float)c;
  for (size_t k = 0; k < c; k++) tmp[k] = (x[k] - m) * (x[k] - m);
  *mu = m;
  *r = 1.0f / sqrtf(sum8(tmp, c) / (float)c + eps);
}

/* relu: the ReLU after the LayerNorm in the same pass (the same expression as relu_loop: the same bits as two calls).
 * S (not NULL): each row's mean and 1/sqrt(var + eps) are kept there (2 floats a row) for the gradient's pass. */
VEC_CLONES static void ln_rows(const float *restrict X, const float *restrict G, const float *restrict Bt, float *restrict Y, size_t lx, size_t c, float eps,
                               float *restrict tmp, int relu, float *restrict S) {
  for (size_t o = 0; o < lx; o += c) {
    float mu, r;
    row_stats(X + o, c, eps, tmp, &mu, &r);
    if (S) {
      S[2 * (o / c)] = mu;
      S[2 * (o / c) + 1] = r;
    }
    if (relu)
      for (size_t k = 0; k < c; k++) {
        const float y = (X[o + k] - mu) * r * G[k] + Bt[k];
        Y[o + k] = y > 0 ? y : 0;
      }
    else
      for (size_t k = 0; k < c; k++) Y[o + k] = (X[o + k] - mu) * r * G[k] + Bt[k];
  }
}

/* acc[k] = fma(y[k], s, acc[k]): one row of the weight gradient of a one-output dense layer, y^T dy, summed as this
 * OpenBLAS's sgemm sums that product (one fused multiply-add a row, rows in order, from 0; checked bit for bit in
 * test/learn/gemm-threads.test.ts). Only where the CPU has FMA (g_fma); else the caller keeps the sgemm. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static void fma_row(float *restrict acc, const float *restrict y, float s, size_t c) {
  for (size_t k = 0; k < c; k++) acc[k] = __builtin_fmaf(y[k], s, acc[k]);
}
static int have_fma(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
}
#else
static void fma_row(float *restrict acc, const float *restrict y, float s, size_t c) {
  for (size_t k = 0; k < c; k++) acc[k] = fmaf(y[k], s, acc[k]);
}
static int have_fma(void) { return 0; }
#endif

/* Y (not NULL): DY is the gradient of a ReLU's output Y = relu(LayerNorm(X)); it goes through the ReLU first in the
 * same pass (relu_grad_loop's expression: the same bits as reluGrad and then this). S (not NULL): the rows' statistics
 * as ln_rows kept them for this X (the same function of the same values: the same bits as computing them again).
 * DY1 (not NULL, then DY is not read): the gradient of Y is DY1[row] * W1[k], what sgemm's [rows x 1] x [1 x c] product
 * gives (one product; + 0.0f as its accumulator: a -0 product comes out +0 there too), built a row at a time in dyr.
 * BIAS (not NULL): each row of DX is added to it in double after it is written, sum_rows_cols's arithmetic in row order.
 * DW1 (not NULL, with DY1): the one-output layer's weight gradient Y^T DY1, a row at a time (fma_row). */
VEC_CLONES static void ln_grad_rows(const float *restrict DY, const float *restrict DY1, const float *restrict W1, const float *restrict Y, const float *restrict X,
                                   const float *restrict G, float *restrict DX, float *restrict accG, float *restrict accB, float *restrict xh, float *restrict gg,
                                   float *restrict tmp, float *restrict dyr, size_t lx, size_t c, float eps, const float *restrict S, double *restrict BIAS,
                                   float *restrict DW1) {
  for (size_t o = 0; o < lx; o += c) {
    float mu, r;
    if (S) {
      mu = S[2 * (o / c)];
      r = S[2 * (o / c) + 1];
    } else row_stats(X + o, c, eps, tmp, &mu, &r);
    const float *restrict dy;
    if (DY1) {
      const float s = DY1[o / c];
      for (size_t k = 0; k < c; k++) dyr[k] = 0.0f + s * W1[k];
      dy = dyr;
      if (DW1) fma_row(DW1, Y + o, s, c);
    } else dy = DY + o;
    for (size_t k = 0; k < c; k++) {
      const float xk = (X[o + k] - mu) * r, d = Y ? (Y[o + k] > 0 ? dy[k] : 0) : dy[k], gk = d * G[k];
      xh[k] = xk;
      gg[k] = gk;
      tmp[k] = gk * xk;
      accG[k] += d * xk;
      accB[k] += d;
    }
    const float s1 = sum8(gg, c) / (float)c, s2 = sum8(tmp, c) / (float)c;
    for (size_t k = 0; k < c; k++) DX[o + k] = r * (gg[k] - s1 - xh[k] * s2);
    if (BIAS)
      for (size_t k = 0; k < c; k++) BIAS[k] += DX[o + k];
  }
}

typedef struct {
  const float *x, *g, *b;
  float *y;
  size_t rows, c;
  float eps;
  float *tmp; /* 2 * c floats: one row's scratch per part */
  int parts;
  int relu;
  float *stats; /* NULL, or 2 floats a row: mean, 1/sqrt(var + eps) */
} LnJob;

static void ln_part(void *arg, int part) {
  const LnJob *j = (const LnJob *)arg;
  const size_t cut = j->parts < 2 ? j->rows : (j->rows + 1) / 2;
  const size_t r0 = part == 0 ? 0 : cut, r1 = part == 0 ? cut : j->rows;
  ln_rows(j->x + r0 * j->c, j->g, j->b, j->y + r0 * j->c, (r1 - r0) * j->c, j->c, j->eps, j->tmp + (size_t)part * j->c, j->relu,
          j->stats ? j->stats + 2 * r0 : NULL);
}

static int exec_ln(void *job) {
  LnJob *j = (LnJob *)job;
  /* Scratch per run (not static): the addon may be loaded in more than one thread (worker_threads). */
  j->tmp = (float *)malloc(sizeof(float) * j->c * 2);
  if (!j->tmp) return -1;
  run_parts(ln_part, j, j->parts);
  free(j->tmp);
  return 0;
}

/* relu: layerNormRelu, whose optional 6th argument keeps the rows' statistics (2 floats a row) for reluLayerNormGrad. */
static napi_value ln_call(napi_env env, napi_callback_info info, int relu) {
  size_t argc = 6;
  napi_value a[6];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *x, *g, *b, *y, *st = NULL;
  size_t lx, lg, lb, ly, lst = 0;
  double eps;
  if (!(argc == 5 || (relu && argc == 6))) {
    napi_throw_type_error(env, NULL, relu ? "gemm.layerNormRelu: expected 5 or 6 arguments" : "gemm.layerNorm: expected 5 arguments");
    return NULL;
  }
  if ((argc == 6 && !f32(env, a[5], &st, &lst, "stats")) || !f32(env, a[0], &x, &lx, "x") || !f32(env, a[1], &g, &lg, "gamma") ||
      !f32(env, a[2], &b, &lb, "beta") || !f32(env, a[3], &y, &ly, "y") || !dbl(env, a[4], &eps, "eps"))
    return NULL;
  if (lg == 0 || lb != lg || ly != lx || lx % lg != 0) {
    napi_throw_range_error(env, NULL, "gemm.layerNorm: x and y must be rows of gamma.length values; beta as gamma");
    return NULL;
  }
  if (lg > 65536) {
    napi_throw_range_error(env, NULL, "gemm.layerNorm: rows longer than 65536 values");
    return NULL;
  }
  /* Rows are independent: two halves of the rows on two threads give the same values. */
  if (st && lst != 2 * (lx / lg)) {
    napi_throw_range_error(env, NULL, "gemm.layerNormRelu: stats must have 2 values a row");
    return NULL;
  }
  LnJob j = {x, g, b, y, lx / lg, lg, (float)eps, NULL, pool.threads > 1 && lx >= SPLIT_ELEMENTS && lx / lg >= 2 ? 2 : 1, relu, st};
  if (submit(exec_ln, &j, sizeof j) != 0) napi_throw_error(env, NULL, "gemm.layerNorm: out of memory");
  return NULL;
}

static napi_value LayerNorm(napi_env env, napi_callback_info info) { return ln_call(env, info, 0); }
/* layerNormRelu(x, gamma, beta, y, eps[, stats]): y = relu(layerNorm(x)) in one pass, the same bits as layerNorm then
 * relu; stats (2 floats a row) keeps the rows' mean and 1/sqrt(var + eps) for reluLayerNormGrad. */
static napi_value LayerNormRelu(napi_env env, napi_callback_info info) { return ln_call(env, info, 1); }

typedef struct {
  const float *dy, *y, *x, *g; /* y: NULL, or the ReLU output whose gradient dy is (reluLayerNormGrad) */
  float *dx;
  float *scratch; /* per part: 6 * c floats (dgamma, dbeta sums, 4 rows of scratch) */
  size_t rows, c;
  float eps;
  int parts;
  const float *stats; /* NULL, or the rows' statistics layerNormRelu kept for x */
  const float *dy1, *w1; /* NULL, or the gradient of y as dy1[row] * w1[k] (reluLayerNormGradEx; dy is then NULL) */
  double *bias;          /* NULL, or the column sums of dx in double (reluLayerNormGradEx's dbias) */
  float *dw1;            /* NULL, or y^T dy1 (reluLayerNormGradEx's dw, zeroed before the pass) */
  int biasParts;         /* parts that add their rows to bias and dw1: 2 when the parts run one after the other, else 1 */
} LnGradJob;

static void ln_grad_part(void *arg, int part) {
  const LnGradJob *j = (const LnGradJob *)arg;
  const size_t c = j->c, cut = j->parts < 2 ? j->rows : (j->rows + 1) / 2;
  const size_t r0 = part == 0 ? 0 : cut, r1 = part == 0 ? cut : j->rows, o = r0 * c;
  float *s = j->scratch + (size_t)part * 6 * c;
  ln_grad_rows(j->dy ? j->dy + o : NULL, j->dy1 ? j->dy1 + r0 : NULL, j->w1, j->y ? j->y + o : NULL, j->x + o, j->g, j->dx + o, s, s + c, s + 2 * c, s + 3 * c,
               s + 4 * c, s + 5 * c, (r1 - r0) * c, c, j->eps, j->stats ? j->stats + 2 * r0 : NULL, part < j->biasParts ? j->bias : NULL,
               part < j->biasParts ? j->dw1 : NULL);
}

typedef struct {
  LnGradJob j;
  float *dg, *db, *dbias;
} LnGradCmd;

static int exec_ln_grad(void *job) {
  LnGradCmd *cmd = (LnGradCmd *)job;
  LnGradJob *j = &cmd->j;
  const size_t c = j->c;
  /* Scratch per run (not static): the addon may be loaded in more than one thread (worker_threads). */
  float *scratch = (float *)calloc(12 * c, sizeof(float));
  double *bias = cmd->dbias ? (double *)calloc(c, sizeof(double)) : NULL;
  if (!scratch || (cmd->dbias && !bias)) {
    free(scratch);
    free(bias);
    return -1;
  }
  j->scratch = scratch;
  j->bias = bias;
  /* The bias sums add rows in order: both parts in the pass when they run one after the other (run_parts then loops
   * here), else the first part's rows in the pass and the second's after it. */
  j->biasParts = j->parts < 2 || pool.threads < 2 || tl_nosplit ? 2 : 1;
  if (j->dw1) memset(j->dw1, 0, sizeof(float) * c);
  run_parts(ln_grad_part, j, j->parts);
  for (size_t k = 0; k < c; k++) {
    cmd->dg[k] = j->parts == 2 ? scratch[k] + scratch[6 * c + k] : scratch[k];
    cmd->db[k] = j->parts == 2 ? scratch[c + k] + scratch[7 * c + k] : scratch[c + k];
  }
  if (bias) {
    const size_t cut = j->parts < 2 ? j->rows : (j->rows + 1) / 2;
    if (j->biasParts < 2) sum_rows_cols(j->dx + cut * c, bias, cmd->dbias, (j->rows - cut) * c, c, 0, c);
    else
      for (size_t k = 0; k < c; k++) cmd->dbias[k] = (float)bias[k];
  }
  if (j->dw1 && j->biasParts < 2) {
    const size_t cut = (j->rows + 1) / 2;
    for (size_t r = cut; r < j->rows; r++) fma_row(j->dw1, j->y + r * c, j->dy1[r], c);
  }
  free(scratch);
  free(bias);
  return 0;
}

/* relu: the arguments start with (dy, y, ...): dy is the gradient of y = relu(layerNorm(x)) (reluLayerNormGrad). */
static napi_value ln_grad_call(napi_env env, napi_callback_info info, int relu) {
  size_t argc = 9;
  napi_value a[9];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *dy, *y = NULL, *x, *g, *dx, *dg, *db, *st = NULL;
  size_t ldy, ly = 0, lx, lg, ldx, ldg, ldb, lst = 0;
  double eps;
  const int o = relu ? 1 : 0;
  if (!(argc == (size_t)(7 + o) || (relu && argc == 9))) {
    napi_throw_type_error(env, NULL, relu ? "gemm.reluLayerNormGrad: expected 8 or 9 arguments" : "gemm.layerNormGrad: expected 7 arguments");
    return NULL;
  }
  if ((argc == 9 && !f32(env, a[8], &st, &lst, "stats")) || !f32(env, a[0], &dy, &ldy, "dy") || (relu && !f32(env, a[1], &y, &ly, "y")) || !f32(env, a[1 + o], &x, &lx, "x") ||
      !f32(env, a[2 + o], &g, &lg, "gamma") || !f32(env, a[3 + o], &dx, &ldx, "dx") || !f32(env, a[4 + o], &dg, &ldg, "dgamma") ||
      !f32(env, a[5 + o], &db, &ldb, "dbeta") || !dbl(env, a[6 + o], &eps, "eps"))
    return NULL;
  if (lg == 0 || lg > 65536 || ldy != lx || ldx != lx || ldg != lg || ldb != lg || lx % lg != 0 || (relu && ly != lx)) {
    napi_throw_range_error(env, NULL, "gemm.layerNormGrad: dy, (y,) x, dx must be rows of gamma.length (<= 65536) values; dgamma, dbeta as gamma");
    return NULL;
  }
  if (relu && (dx == dy || dx == y)) {
    napi_throw_range_error(env, NULL, "gemm.reluLayerNormGrad: dx must be a buffer distinct from dy and y");
    return NULL;
  }
  if (st && lst != 2 * (lx / lg)) {
    napi_throw_range_error(env, NULL, "gemm.reluLayerNormGrad: stats must have 2 values a row");
    return NULL;
  }
  const size_t c = lg;
  /* Large inputs: two halves of the rows, each with its own dgamma/dbeta sums, added at the end. The cut depends
   * on the shape only, never on the thread count, so one and two threads give the same bits. */
  LnGradCmd j = {{dy, y, x, g, dx, NULL, lx / c, c, (float)eps, lx >= SPLIT_ELEMENTS && lx / c >= 2 ? 2 : 1, st, NULL, NULL, NULL, NULL, 0}, dg, db, NULL};
  if (submit(exec_ln_grad, &j, sizeof j) != 0) napi_throw_error(env, NULL, "gemm.layerNormGrad: out of memory");
  return NULL;
}

static napi_value LayerNormGrad(napi_env env, napi_callback_info info) { return ln_grad_call(env, info, 0); }
/* reluLayerNormGrad(dy, y, x, gamma, dx, dgamma, dbeta, eps[, stats]): the gradient through y = relu(layerNorm(x)) in
 * one pass, the same bits as reluGrad(dy, y, t) and then layerNormGrad(t, x, ...); stats: layerNormRelu's for this x
 * (the rows' mean and 1/sqrt(var + eps) are then read, not computed again). */
static napi_value ReluLayerNormGrad(napi_env env, napi_callback_info info) { return ln_grad_call(env, info, 1); }

/* A Float32Array argument or null (then *data = NULL, *length = 0). */
static int f32_or_null(napi_env env, napi_value v, float **data, size_t *length, const char *name) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_null) {
    *data = NULL;
    *length = 0;
    return 1;
  }
  return f32(env, v, data, length, name);
}

/* reluLayerNormGradEx(dy, w, y, x, gamma, dx, dgamma, dbeta, eps, stats, dbias[, dw]) -> bool: reluLayerNormGrad with
 * more passes folded in, each the same bits as the calls it replaces (test/learn/gemm-threads.test.ts):
 *   w (or null): dy is [rows] and the gradient of y is dy[row] * w[k], what sgemm(false, true, rows, c, 1, dy, w) gives
 *     (the gradient through a dense layer with one output, e.g. a critic's head): that product is not written out;
 *   dbias (or null): sumRows(dx, dbias), the bias gradient of the dense layer under the LayerNorm;
 *   dw (with w; or null): that one-output layer's weight gradient y^T dy, sgemm(true, false, c, 1, rows, y, dy)'s sums.
 * stats may be null. Returns whether it wrote dw (false on a CPU without FMA: then compute it otherwise). */
static napi_value ReluLayerNormGradEx(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value a[12];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 11 && argc != 12) {
    napi_throw_type_error(env, NULL, "gemm.reluLayerNormGradEx: expected 11 or 12 arguments");
    return NULL;
  }
  float *dy, *w, *y, *x, *g, *dx, *dg, *db, *st, *dbias, *dw = NULL;
  size_t ldy, lw, ly, lx, lg, ldx, ldg, ldb, lst, lbias, ldw = 0;
  double eps;
  if (!f32(env, a[0], &dy, &ldy, "dy") || !f32_or_null(env, a[1], &w, &lw, "w") || !f32(env, a[2], &y, &ly, "y") || !f32(env, a[3], &x, &lx, "x") ||
      !f32(env, a[4], &g, &lg, "gamma") || !f32(env, a[5], &dx, &ldx, "dx") || !f32(env, a[6], &dg, &ldg, "dgamma") || !f32(env, a[7], &db, &ldb, "dbeta") ||
      !dbl(env, a[8], &eps, "eps") || !f32_or_null(env, a[9], &st, &lst, "stats") || !f32_or_null(env, a[10], &dbias, &lbias, "dbias") ||
      (argc == 12 && !f32_or_null(env, a[11], &dw, &ldw, "dw")))
    return NULL;
  if (lg == 0 || lg > 65536 || ly != lx || ldx != lx || ldg != lg || ldb != lg || lx % lg != 0 || (w ? lw != lg || ldy != lx / lg : ldy != lx) ||
      (dbias && lbias != lg)) {
    napi_throw_range_error(env, NULL,
                           "gemm.reluLayerNormGradEx: y, x, dx must be rows of gamma.length (<= 65536) values, dy as them (or one value a row with w of "
                           "gamma.length); dgamma, dbeta, dbias as gamma");
    return NULL;
  }
  if (dx == dy || dx == y) {
    napi_throw_range_error(env, NULL, "gemm.reluLayerNormGradEx: dx must be a buffer distinct from dy and y");
    return NULL;
  }
  if (st && lst != 2 * (lx / lg)) {
    napi_throw_range_error(env, NULL, "gemm.reluLayerNormGradEx: stats must have 2 values a row");
    return NULL;
  }
  if (dw && (!w || ldw != lg || dw == dx || dw == dbias)) {
    napi_throw_range_error(env, NULL, "gemm.reluLayerNormGradEx: dw needs w and has gamma.length values, in its own buffer");
    return NULL;
  }
  static int fma = -1;
  if (fma < 0) fma = have_fma();
  if (!fma) dw = NULL;
  const size_t c = lg;
  LnGradCmd j = {{w ? NULL : dy, y, x, g, dx, NULL, lx / c, c, (float)eps, lx >= SPLIT_ELEMENTS && lx / c >= 2 ? 2 : 1, st, w ? dy : NULL, w, NULL, dw, 0}, dg, db, dbias};
  if (submit(exec_ln_grad, &j, sizeof j) != 0) napi_throw_error(env, NULL, "gemm.reluLayerNormGradEx: out of memory");
  napi_value r;
  CHECK(napi_get_boolean(env, dw != NULL, &r));
  return r;
}

/* Output pixels per chunk: the im2col block (chunk x KH*KW*Ci floats) stays a few MB and cache-friendly. */
#define CONV_CHUNK 2048

typedef struct {
  int N, H, W, Ci, KH, KW, Co, sh, sw, pT, pL, OH, OW;
} ConvDims;

/* cols[p - p0][(a*KW + b)*Ci + c] = x[n, i*sh + a - pT, j*sw + b - pL, c] (0 outside), for pixels p0 <= p < p1. */
static void im2col(const float *x, const ConvDims *d, size_t p0, size_t p1, float *cols) {
  const size_t kk = (size_t)d->KH * d->KW * d->Ci, ohw = (size_t)d->OH * d->OW;
  for (size_t p = p0; p < p1; p++) {
    const size_t n = p / ohw, rem = p % ohw;
    const int i = (int)(rem / d->OW), j = (int)(rem % d->OW);
    float *row = cols + (p - p0) * kk;
    const int q0 = j * d->sw - d->pL;
    const size_t span = (size_t)d->KW * d->Ci;
    for (int a = 0; a < d->KH; a++) {
      const int r = i * d->sh + a - d->pT;
      if (r >= 0 && r < d->H && q0 >= 0 && q0 + d->KW <= d->W) {
        /* Inside the image the KW taps of a filter row are one contiguous run of KW*Ci floats (no dilation). */
        const float *src = x + (((size_t)n * d->H + r) * d->W + q0) * d->Ci;
        float *dst = row + (size_t)a * span;
        for (size_t t = 0; t < span; t++) dst[t] = src[t];
        continue;
      }
      for (int b = 0; b < d->KW; b++) {
        const int q = j * d->sw + b - d->pL;
        float *dst = row + ((size_t)a * d->KW + b) * d->Ci;
        if (r < 0 || r >= d->H || q < 0 || q >= d->W) {
          for (int c = 0; c < d->Ci; c++) dst[c] = 0;
        } else {
          const float *src = x + (((size_t)n * d->H + r) * d->W + q) * d->Ci;
          for (int c = 0; c < d->Ci; c++) dst[c] = src[c];
        }
      }
    }
  }
}

/* dx[n, r, q, c] += cols[p - p0][(a*KW + b)*Ci + c], the adjoint of im2col. */
static void col2im(const float *cols, const ConvDims *d, size_t p0, size_t p1, float *dx) {
  const size_t kk = (size_t)d->KH * d->KW * d->Ci, ohw = (size_t)d->OH * d->OW;
  for (size_t p = p0; p < p1; p++) {
    const size_t n = p / ohw, rem = p % ohw;
    const int i = (int)(rem / d->OW), j = (int)(rem % d->OW);
    const float *row = cols + (p - p0) * kk;
    const int q0 = j * d->sw - d->pL;
    const size_t span = (size_t)d->KW * d->Ci;
    for (int a = 0; a < d->KH; a++) {
      const int r = i * d->sh + a - d->pT;
      if (r < 0 || r >= d->H) continue;
      if (q0 >= 0 && q0 + d->KW <= d->W) {
        const float *src = row + (size_t)a * span;
        float *dst = dx + (((size_t)n * d->H + r) * d->W + q0) * d->Ci;
        for (size_t t = 0; t < span; t++) dst[t] += src[t];
        continue;
      }
      for (int b = 0; b < d->KW; b++) {
        const int q = j * d->sw + b - d->pL;
        if (q < 0 || q >= d->W) continue;
        const float *src = row + ((size_t)a * d->KW + b) * d->Ci;
        float *dst = dx + (((size_t)n * d->H + r) * d->W + q) * d->Ci;
        for (int c = 0; c < d->Ci; c++) dst[c] += src[c];
      }
    }
  }
}

/* ---------------------------------------------------------------------------------------------------------------
 * Direct convolutions (x86-64 with AVX2 and FMA; `conv` uses them when the output channels of the GEMM it replaces
 * are a multiple of 16, else im2col + sgemm above). Why: the training convs are small GEMMs with 32 output columns
 * (Co), where OpenBLAS reached 45-60 GFLOP/s of its 98 and the im2col copy cost as much again at Ci = 3. Here a
 * register tile of DC_R rows x 16 columns (12 accumulators) reads the input in place through a table of pointers:
 *  - forward: rows = output pixels, reduced over the filter's KH rows, each a contiguous run of KW*Ci input floats
 *    (border runs are copied with their zeros into a scratch row);
 *  - input gradient: rows = input pixels of one stride phase (all share the same filter taps), reduced over those
 *    taps, each a run of Co floats of dy (zeros where the tap falls outside dy), with the filter transposed per tap;
 *  - filter gradient: rows = DC_R values of one filter row's run, columns = Co, reduced over every output pixel.
 * Every output value is summed in a fixed order that depends on the shape only, so one and two threads give the
 * same bits (parts cut pixel blocks or filter blocks). Not bit-identical to im2col + sgemm (another summation order):
 * test/learn/backend.test.ts compares both with tfjs's cpu kernels. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DC_R 6
#define DC_P 128 /* pixels per chunk of the filter gradient (any size gives the same sums: the partial sums are floats) */

static int g_conv_direct = -1; /* -1: not checked yet; 0 off (no AVX2/FMA, or setConvDirect(false)); 1 on */
static int conv_direct_on(void) {
  if (g_conv_direct < 0) {
    __builtin_cpu_init();
    const char *e = getenv("INSERTION_CONV_DIRECT");
    g_conv_direct = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !(e && strcmp(e, "off") == 0);
  }
  return g_conv_direct;
}

/* The wide tiles (AVX-512F: up to 12 rows x 32 columns, 24 of the 32 zmm registers) where the CPU has them and the
 * columns are a multiple of 32. Each output value gets the same operations in the same order as in the AVX2 tiles
 * (init, then one FMA per term in the order of t, l or of the pixels), so both give the same bits; the wide tile reads
 * its inputs once for 32 columns instead of twice, and half as many weights per FMA, which matters once a layer's
 * tensors (8 MB at batch 256) no longer fit in L2. INSERTION_CONV_WIDE=off or setConvWide(false): AVX2 tiles only. */
#define DC_RMAX 12
static int g_conv_wide = -1;
static int conv_wide_on(void) {
  if (g_conv_wide < 0) {
    __builtin_cpu_init();
    const char *e = getenv("INSERTION_CONV_WIDE");
    g_conv_wide = __builtin_cpu_supports("avx512f") && !(e && strcmp(e, "off") == 0);
  }
  return g_conv_wide;
}

/* o[r][0..15] = act(init[0..15] + sum over t < T, l < L of s[t*DC_R + r][l] * w[t][l*ldw + 0..15]) for r < DC_R. */
__attribute__((target("avx2,fma"))) static void dc_tile(int T, int L, const float *const *s, const float *const *w, int ldw, const float *init,
                                                      float *const *o, int relu) {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  c00 = init ? _mm256_loadu_ps(init) : _mm256_setzero_ps();
  c01 = init ? _mm256_loadu_ps(init + 8) : _mm256_setzero_ps();
  c10 = c20 = c30 = c40 = c50 = c00;
  c11 = c21 = c31 = c41 = c51 = c01;
  for (int t = 0; t < T; t++) {
    const float *s0 = s[t * DC_R], *s1 = s[t * DC_R + 1], *s2 = s[t * DC_R + 2], *s3 = s[t * DC_R + 3], *s4 = s[t * DC_R + 4],
                *s5 = s[t * DC_R + 5];
    const float *wt = w[t];
    for (int l = 0; l < L; l++, wt += ldw) {
      const __m256 w0 = _mm256_loadu_ps(wt), w1 = _mm256_loadu_ps(wt + 8);
      __m256 b;
      b = _mm256_broadcast_ss(s0 + l), c00 = _mm256_fmadd_ps(b, w0, c00), c01 = _mm256_fmadd_ps(b, w1, c01);
      b = _mm256_broadcast_ss(s1 + l), c10 = _mm256_fmadd_ps(b, w0, c10), c11 = _mm256_fmadd_ps(b, w1, c11);
      b = _mm256_broadcast_ss(s2 + l), c20 = _mm256_fmadd_ps(b, w0, c20), c21 = _mm256_fmadd_ps(b, w1, c21);
      b = _mm256_broadcast_ss(s3 + l), c30 = _mm256_fmadd_ps(b, w0, c30), c31 = _mm256_fmadd_ps(b, w1, c31);
      b = _mm256_broadcast_ss(s4 + l), c40 = _mm256_fmadd_ps(b, w0, c40), c41 = _mm256_fmadd_ps(b, w1, c41);
      b = _mm256_broadcast_ss(s5 + l), c50 = _mm256_fmadd_ps(b, w0, c50), c51 = _mm256_fmadd_ps(b, w1, c51);
    }
  }
  if (relu) {
    const __m256 z = _mm256_setzero_ps();
    c00 = _mm256_max_ps(c00, z), c01 = _mm256_max_ps(c01, z), c10 = _mm256_max_ps(c10, z), c11 = _mm256_max_ps(c11, z);
    c20 = _mm256_max_ps(c20, z), c21 = _mm256_max_ps(c21, z), c30 = _mm256_max_ps(c30, z), c31 = _mm256_max_ps(c31, z);
    c40 = _mm256_max_ps(c40, z), c41 = _mm256_max_ps(c41, z), c50 = _mm256_max_ps(c50, z), c51 = _mm256_max_ps(c51, z);
  }
  _mm256_storeu_ps(o[0], c00), _mm256_storeu_ps(o[0] + 8, c01), _mm256_storeu_ps(o[1], c10), _mm256_storeu_ps(o[1] + 8, c11);
  _mm256_storeu_ps(o[2], c20), _mm256_storeu_ps(o[2] + 8, c21), _mm256_storeu_ps(o[3], c30), _mm256_storeu_ps(o[3] + 8, c31);
  _mm256_storeu_ps(o[4], c40), _mm256_storeu_ps(o[4] + 8, c41), _mm256_storeu_ps(o[5], c50), _mm256_storeu_ps(o[5] + 8, c51);
}

/* o[k*ldo + 0..15] (+)= sum over p < P of sk[k][p][lk[k]] * dy[p*ldy + 0..15] for k < DC_R (first: = instead of +=);
 * sk[k]: per pixel, the run that row k reads (all the same when the tile's values are in one filter row). */
__attribute__((target("avx2,fma"))) static void dc_tile_dw(int P, const float *const *const *sk, const int *lk, const float *dy, int ldy, float *o,
                                                         int ldo, int first) {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (first) {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  } else {
    c00 = _mm256_loadu_ps(o), c01 = _mm256_loadu_ps(o + 8), c10 = _mm256_loadu_ps(o + ldo), c11 = _mm256_loadu_ps(o + ldo + 8);
    c20 = _mm256_loadu_ps(o + 2 * ldo), c21 = _mm256_loadu_ps(o + 2 * ldo + 8), c30 = _mm256_loadu_ps(o + 3 * ldo), c31 = _mm256_loadu_ps(o + 3 * ldo + 8);
    c40 = _mm256_loadu_ps(o + 4 * ldo), c41 = _mm256_loadu_ps(o + 4 * ldo + 8), c50 = _mm256_loadu_ps(o + 5 * ldo), c51 = _mm256_loadu_ps(o + 5 * ldo + 8);
  }
  const int k0 = lk[0], k1 = lk[1], k2 = lk[2], k3 = lk[3], k4 = lk[4], k5 = lk[5];
#define DC_DW_STEP(q0, q1, q2, q3, q4, q5)                                                                          \
  {                                                                                                                  \
    const __m256 d0 = _mm256_loadu_ps(dy), d1 = _mm256_loadu_ps(dy + 8);                                             \
    __m256 b;                                                                                                        \
    b = _mm256_broadcast_ss((q0) + k0), c00 = _mm256_fmadd_ps(b, d0, c00), c01 = _mm256_fmadd_ps(b, d1, c01);        \
    b = _mm256_broadcast_ss((q1) + k1), c10 = _mm256_fmadd_ps(b, d0, c10), c11 = _mm256_fmadd_ps(b, d1, c11);        \
    b = _mm256_broadcast_ss((q2) + k2), c20 = _mm256_fmadd_ps(b, d0, c20), c21 = _mm256_fmadd_ps(b, d1, c21);        \
    b = _mm256_broadcast_ss((q3) + k3), c30 = _mm256_fmadd_ps(b, d0, c30), c31 = _mm256_fmadd_ps(b, d1, c31);        \
    b = _mm256_broadcast_ss((q4) + k4), c40 = _mm256_fmadd_ps(b, d0, c40), c41 = _mm256_fmadd_ps(b, d1, c41);        \
    b = _mm256_broadcast_ss((q5) + k5), c50 = _mm256_fmadd_ps(b, d0, c50), c51 = _mm256_fmadd_ps(b, d1, c51);        \
  }
  const float *const *s0 = sk[0], *const *s1 = sk[1], *const *s2 = sk[2], *const *s3 = sk[3], *const *s4 = sk[4], *const *s5 = sk[5];
  if (s0 == s1 && s0 == s2 && s0 == s3 && s0 == s4 && s0 == s5) {
    for (int p = 0; p < P; p++, dy += ldy) {
      const float *sp = s0[p];
      DC_DW_STEP(sp, sp, sp, sp, sp, sp)
    }
  } else {
    for (int p = 0; p < P; p++, dy += ldy) DC_DW_STEP(s0[p], s1[p], s2[p], s3[p], s4[p], s5[p])
  }
#undef DC_DW_STEP
  _mm256_storeu_ps(o, c00), _mm256_storeu_ps(o + 8, c01), _mm256_storeu_ps(o + ldo, c10), _mm256_storeu_ps(o + ldo + 8, c11);
  _mm256_storeu_ps(o + 2 * ldo, c20), _mm256_storeu_ps(o + 2 * ldo + 8, c21), _mm256_storeu_ps(o + 3 * ldo, c30), _mm256_storeu_ps(o + 3 * ldo + 8, c31);
  _mm256_storeu_ps(o + 4 * ldo, c40), _mm256_storeu_ps(o + 4 * ldo + 8, c41), _mm256_storeu_ps(o + 5 * ldo, c50), _mm256_storeu_ps(o + 5 * ldo + 8, c51);
}

/* The wide tiles, generated for several row counts (the columns are 32: two zmm registers a row). */
#define DC_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DC_ROWS9(X) DC_ROWS8(X) X(8)
#define DC_ROWS12(X) DC_ROWS9(X) X(9) X(10) X(11)
#define DCW_DECL(r) __m512 c##r##a = i0, c##r##b = i1;
#define DCW_SP(r) const float *s##r = s[t * rn + r];
#define DCW_FMA(r, v)                                                                                                \
  {                                                                                                                  \
    const __m512 b = _mm512_set1_ps(v);                                                                              \
    c##r##a = _mm512_fmadd_ps(b, w0, c##r##a), c##r##b = _mm512_fmadd_ps(b, w1, c##r##b);                            \
  }
#define DCW_FMA_S(r) DCW_FMA(r, s##r[l])
#define DCW_FMA_V(r) DCW_FMA(r, v[r])
#define DCW_RELU(r) c##r##a = _mm512_max_ps(c##r##a, z), c##r##b = _mm512_max_ps(c##r##b, z);
#define DCW_ST(r) _mm512_storeu_ps(o[r], c##r##a), _mm512_storeu_ps(o[r] + 16, c##r##b);
#define DCW_DECL_DW(r)                                                                                               \
  __m512 c##r##a = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + r * ldo),                                      \
         c##r##b = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + r * ldo + 16);
#define DCW_ST_DW(r) _mm512_storeu_ps(o + r * ldo, c##r##a), _mm512_storeu_ps(o + r * ldo + 16, c##r##b);

/* dc_tile with ROWS rows and 32 columns: o[r][0..31] = act(init[0..31] + sum over t, l of s[t*RN + r][l] * w[t][l*ldw + 0..31]). */
#define DC_TILE_W(NAME, ROWS, RN)                                                                                    \
  __attribute__((target("avx512f"))) static void NAME(int T, int L, const float *const *s, const float *const *w, int ldw, const float *init, \
                                                     float *const *o, int relu) {                                    \
    const int rn = RN;                                                                                               \
    const __m512 i0 = init ? _mm512_loadu_ps(init) : _mm512_setzero_ps(), i1 = init ? _mm512_loadu_ps(init + 16) : _mm512_setzero_ps(); \
    ROWS(DCW_DECL)                                                                                                   \
    for (int t = 0; t < T; t++) {                                                                                    \
      ROWS(DCW_SP)                                                                                                   \
      const float *wt = w[t];                                                                                        \
      for (int l = 0; l < L; l++, wt += ldw) {                                                                       \
        const __m512 w0 = _mm512_loadu_ps(wt), w1 = _mm512_loadu_ps(wt + 16);                                       \
        ROWS(DCW_FMA_S)                                                                                              \
      }                                                                                                              \
    }                                                                                                                \
    if (relu) {                                                                                                      \
      const __m512 z = _mm512_setzero_ps();                                                                          \
      ROWS(DCW_RELU)                                                                                                 \
    }                                                                                                                \
    ROWS(DCW_ST)                                                                                                     \
  }
DC_TILE_W(dc_tile_w12, DC_ROWS12, 12)
DC_TILE_W(dc_tile_w8, DC_ROWS8, 8)

/* dc_tile_dw with ROWS rows of consecutive filter values and 32 columns: o[r*ldo + 0..31] (+)= sum over p < P of
 * sp[p][k0 + r] * dy[p*ldy + 0..31] (each pixel's values for the tile in one run: sp[p]). */
#define DC_TILE_DW_W(NAME, ROWS)                                                                                     \
  __attribute__((target("avx512f"))) static void NAME(int P, const float *const *sp, int k0, const float *dy, int ldy, float *o, int ldo, \
                                                     int first) {                                                    \
    ROWS(DCW_DECL_DW)                                                                                                \
    for (int p = 0; p < P; p++, dy += ldy) {                                                                         \
      const float *v = sp[p] + k0;                                                                                   \
      const __m512 w0 = _mm512_loadu_ps(dy), w1 = _mm512_loadu_ps(dy + 16);                                         \
      ROWS(DCW_FMA_V)                                                                                                \
    }                                                                                                                \
    ROWS(DCW_ST_DW)                                                                                                  \
  }
DC_TILE_DW_W(dc_tile_dw_w12, DC_ROWS12)
DC_TILE_DW_W(dc_tile_dw_w9, DC_ROWS9)

typedef void (*dc_tile_fn)(int T, int L, const float *const *s, const float *const *w, int ldw, const float *init, float *const *o, int relu);
typedef void (*dc_tile_dw_fn)(int P, const float *const *sp, int k0, const float *dy, int ldy, float *o, int ldo, int first);

typedef struct {
  ConvDims d;
  const float *a, *b, *bias; /* as conv's a and b; bias: forward only (NULL: none) */
  float *out;
  const float *wt;           /* input gradient: the filter transposed per tap, [KH*KW][Co][Ci] */
  const float *zeros;        /* at least max(KW*Ci, Co) zeros */
  int relu, parts, failed;
  int acc;                   /* filter gradient: add to out (the trunk's later image groups) instead of starting at 0 */
  int R, CW;                 /* the tile: R rows x CW columns (AVX2: DC_R x 16; wide: 8, 9 or 12 x 32) */
  dc_tile_fn tile;           /* forward and input gradient: dc_tile or a wide tile */
  dc_tile_dw_fn tile_dw;     /* filter gradient with wide tiles (NULL: dc_tile_dw) */
} DcJob;

/* An output pixel (image n, row i, column j), stepped through in order without divisions. */
typedef struct {
  size_t n;
  int i, j;
} DcPix;
static DcPix dc_pix(const ConvDims *d, size_t p) {
  const size_t ohw = (size_t)d->OH * d->OW, rem = p % ohw;
  return (DcPix){p / ohw, (int)(rem / d->OW), (int)(rem % d->OW)};
}
static inline void dc_next(const ConvDims *d, DcPix *x) {
  if (++x->j == d->OW) {
    x->j = 0;
    if (++x->i == d->OH) x->i = 0, x->n++;
  }
}

/* A run that crosses the left or right border: its taps inside the image row copied into scratch, zeros for the rest,
 * in one copy and at most two fills (per tap, as before, Ci = 3 made three library calls of 12 bytes a run). */
static const float *dc_border(const float *row, int q0, const ConvDims *d, float *scratch) {
  const int L = d->KW * d->Ci, off = q0 * d->Ci; /* run value t is row[off + t] where 0 <= off + t < W*Ci */
  int lo = off < 0 ? -off : 0, hi = d->W * d->Ci - off;
  if (lo > L) lo = L;
  if (hi > L) hi = L;
  if (hi < lo) hi = lo;
  if (lo > 0) memset(scratch, 0, sizeof(float) * lo);
  if (hi > lo) memcpy(scratch + lo, row + off + lo, sizeof(float) * (hi - lo));
  if (L > hi) memset(scratch + hi, 0, sizeof(float) * (L - hi));
  return scratch;
}

/* The input runs (KW*Ci floats) of output pixel x's KH filter rows: s[a * ss] for a < KH, through scratch + a * sc (L
 * floats each) at the left and right borders, j->zeros for padding rows. rows caches the KH input rows of the output
 * row (n, i) last seen: the row arithmetic runs once per output row, not once per pixel and filter row. */
typedef struct {
  size_t n;
  int i;
  const float **rows;
} DcRows;
static inline __attribute__((always_inline)) void dc_runs(const DcJob *j, DcRows *c, DcPix x, const float **s, size_t ss, float *scratch, size_t sc) {
  const ConvDims *d = &j->d;
  const int KH = d->KH;
  if (x.n != c->n || x.i != c->i) {
    c->n = x.n, c->i = x.i;
    for (int a = 0; a < KH; a++) {
      const int r = x.i * d->sh + a - d->pT;
      c->rows[a] = r < 0 || r >= d->H ? NULL : j->a + ((size_t)x.n * d->H + r) * d->W * d->Ci;
    }
  }
  const int q0 = x.j * d->sw - d->pL;
  if (q0 >= 0 && q0 + d->KW <= d->W) {
    for (int a = 0; a < KH; a++) s[a * ss] = c->rows[a] ? c->rows[a] + (size_t)q0 * d->Ci : j->zeros;
  } else {
    for (int a = 0; a < KH; a++) s[a * ss] = c->rows[a] ? dc_border(c->rows[a], q0, d, scratch + a * sc) : j->zeros;
  }
}

/* Software prefetch of a byte range, a few lines per call, spread over the work that comes before it is read: at
 * batch 256 a layer's tensors (up to 8 MB) come from L3 or memory. Used for the next image of the input gradient and
 * the next chunk of the filter gradient, where it saved 5 % and 2 % of an update's CPU; the forward pass gained
 * nothing measurable from it (results/learner-conv32/README.md). */
typedef struct {
  const char *at, *end;
} DcPf;
static inline void dc_pf(DcPf *f, int lines, int hint_l2) {
  for (; lines > 0 && f->at < f->end; lines--, f->at += 64) {
    if (hint_l2) _mm_prefetch(f->at, _MM_HINT_T1);
    else _mm_prefetch(f->at, _MM_HINT_T0);
  }
}

/* Forward, pixel blocks of part `part`: y[p, :] = act(bias + sum_a run(p, a) . W[a]), in tiles of R pixels x CW. */
static void dc_fwd_part(void *arg, int part) {
  DcJob *j = (DcJob *)arg;
  const ConvDims *d = &j->d;
  const int R = j->R, CW = j->CW;
  const size_t np = (size_t)d->N * d->OH * d->OW, nb = (np + R - 1) / R;
  const int L = d->KW * d->Ci, KH = d->KH;
  const float **s = malloc(sizeof(float *) * R * KH);
  const float **w = malloc(sizeof(float *) * KH);
  const float **rows = malloc(sizeof(float *) * KH); /* dc_runs' cache */
  float *scratch = malloc(sizeof(float) * R * KH * L);
  if (!s || !w || !rows || !scratch) {
    free(s), free(w), free(rows), free(scratch);
    j->failed = 1;
    return;
  }
  float dummy[DC_RMAX * 32];
  DcRows rc = {(size_t)-1, -1, rows};
  for (size_t blk = nb * part / j->parts; blk < nb * (part + 1) / j->parts; blk++) {
    float *base[DC_RMAX];
    DcPix x = dc_pix(d, blk * R);
    for (int r = 0; r < R; r++) { /* rows past the end repeat the last pixel, into a dummy output */
      const size_t p = blk * R + r;
      base[r] = p < np ? j->out + p * d->Co : NULL;
      dc_runs(j, &rc, x, s + r, R, scratch + (size_t)r * KH * L, L);
      if (p + 1 < np) dc_next(d, &x);
    }
    for (int c0 = 0; c0 < d->Co; c0 += CW) {
      float *o[DC_RMAX];
      for (int r = 0; r < R; r++) o[r] = base[r] ? base[r] + c0 : dummy + r * CW;
      for (int a = 0; a < KH; a++) w[a] = j->b + (size_t)a * L * d->Co + c0;
      j->tile(KH, L, s, w, d->Co, j->bias ? j->bias + c0 : NULL, o, j->relu);
    }
  }
  free(s), free(w), free(rows), free(scratch);
}

/* Input gradient, per stride phase (ph_r, ph_q): every input pixel (n, r, q) with r = ph_r, q = ph_q modulo the
 * strides gets dy[n, i, j] . W[a, b]^T over the taps (a, b) with i*sh + a - pT = r and j*sw + b - pL = q. */
static void dc_dx_part(void *arg, int part) {
  DcJob *j = (DcJob *)arg;
  const ConvDims *d = &j->d;
  const int R = j->R, CW = j->CW;
  const int taps = d->KH * d->KW;
  const float **s = malloc(sizeof(float *) * R * taps);
  const float **w = malloc(sizeof(float *) * taps);
  int *ta = malloc(sizeof(int) * 4 * taps); /* per tap: a, b, and the offsets of dy's row and column (exact divisions) */
  if (!s || !w || !ta) {
    free(s), free(w), free(ta);
    j->failed = 1;
    return;
  }
  float dummy[DC_RMAX * 32];
  DcPf pfy = {NULL, NULL}, pfx = {NULL, NULL};
  const size_t tilesPerImage = ((size_t)d->H * d->W + R - 1) / R + 1;
  const int pfLinesY = (int)(((size_t)d->OH * d->OW * d->Co * sizeof(float) / 64 + tilesPerImage - 1) / tilesPerImage + 1);
  const int pfLinesX = (int)(((size_t)d->H * d->W * d->Ci * sizeof(float) / 64 + tilesPerImage - 1) / tilesPerImage + 1);
  /* Image by image (its dx and dy stay in cache over its phases), the images cut between the parts. */
  for (size_t n = (size_t)d->N * part / j->parts; n < (size_t)d->N * (part + 1) / j->parts; n++)
    for (int phr = 0; phr < d->sh && phr < d->H; phr++)
      for (int phq = 0; phq < d->sw && phq < d->W; phq++) {
        int T = 0;
        for (int a = 0; a < d->KH; a++)
          for (int b = 0; b < d->KW; b++)
            if (((phr + d->pT - a) % d->sh + d->sh) % d->sh == 0 && ((phq + d->pL - b) % d->sw + d->sw) % d->sw == 0)
              ta[4 * T] = a, ta[4 * T + 1] = b, ta[4 * T + 2] = (phr + d->pT - a) / d->sh, ta[4 * T + 3] = (phq + d->pL - b) / d->sw, T++;
        const int nr = (d->H - phr + d->sh - 1) / d->sh, nq = (d->W - phq + d->sw - 1) / d->sw, npx = nr * nq;
        const float *dyn = j->a + n * d->OH * d->OW * d->Co;
        float *dxn = j->out + n * d->H * d->W * d->Ci;
        if (phr == 0 && phq == 0 && n + 1 < (size_t)d->N) { /* the next image's dy, then its dx (written next) */
          pfy = (DcPf){(const char *)(dyn + d->OH * d->OW * d->Co), (const char *)(dyn + 2 * d->OH * d->OW * d->Co)};
          pfx = (DcPf){(const char *)(dxn + d->H * d->W * d->Ci), (const char *)(dxn + 2 * d->H * d->W * d->Ci)};
        }
        for (int k0 = 0; k0 < npx; k0 += R) {
          dc_pf(&pfy, pfLinesY, 0);
          dc_pf(&pfx, pfLinesX, 0);
          float *base[DC_RMAX];
          int ri = k0 / nq, qi = k0 % nq; /* the input pixel (row phr + ri*sh, column phq + qi*sw), stepped in order */
          for (int r = 0; r < R; r++) { /* rows past the end repeat the last pixel, into a dummy output */
            const int row = phr + ri * d->sh, col = phq + qi * d->sw;
            base[r] = k0 + r < npx ? dxn + ((size_t)row * d->W + col) * d->Ci : NULL;
            for (int t = 0; t < T; t++) {
              const int i = ri + ta[4 * t + 2], jj = qi + ta[4 * t + 3];
              s[t * R + r] = i >= 0 && jj >= 0 && i < d->OH && jj < d->OW ? dyn + ((size_t)i * d->OW + jj) * d->Co : j->zeros;
            }
            if (k0 + r + 1 < npx && ++qi == nq) qi = 0, ri++;
          }
          for (int c0 = 0; c0 < d->Ci; c0 += CW) {
            float *o[DC_RMAX];
            for (int r = 0; r < R; r++) o[r] = base[r] ? base[r] + c0 : dummy + r * CW;
            for (int t = 0; t < T; t++) w[t] = j->wt + ((size_t)(ta[4 * t] * d->KW + ta[4 * t + 1]) * d->Co) * d->Ci + c0;
            j->tile(T, d->Co, s, w, d->Ci, NULL, o, 0);
          }
        }
      }
  free(s), free(w), free(ta);
}

/* Filter gradient: dW[f][co] = sum over output pixels p of run(p, a)[l] * dy[p, co] for the filter's values f = a*L + l
 * (l < L = KW*Ci); the work items (a block of R values of f, a block of CW of co) are cut between the parts, pixels
 * summed in order in chunks of DC_P. AVX2 tiles: a block stays in one filter row when L is a multiple of DC_R (one run
 * per pixel), else it runs on over the rows (L = 9 at Ci = 3: blocks of the 27 values, not of each row's 9). Wide
 * tiles read one run per pixel: when L is not a multiple of R (9 or 12), each pixel's KH runs are first copied into one
 * row of F values (padded with zeros to whole tiles): the same values, so the same sums. */
static void dc_dw_part(void *arg, int part) {
  DcJob *j = (DcJob *)arg;
  const ConvDims *d = &j->d;
  const int R = j->R, CW = j->CW;
  const size_t np = (size_t)d->N * d->OH * d->OW;
  const int L = d->KW * d->Ci, KH = d->KH, F = KH * L, nc = d->Co / CW;
  const int nf = (F + R - 1) / R;
  const int wide = j->tile_dw != NULL, pack = wide && L % R != 0, Fp = nf * R;
  const int items = nf * nc, i0 = items * part / j->parts, i1 = items * (part + 1) / j->parts;
  if (i0 >= i1) return;
  const float **s = malloc(sizeof(float *) * DC_P * KH);
  const float **rows = malloc(sizeof(float *) * KH); /* dc_runs' cache */
  float *scratch = malloc(sizeof(float) * DC_P * KH * L);
  float *packed = pack ? calloc((size_t)DC_P * Fp, sizeof(float)) : NULL;
  if (!s || !rows || !scratch || (pack && !packed)) {
    free(s), free(rows), free(scratch), free(packed);
    j->failed = 1;
    return;
  }
  DcRows rc = {(size_t)-1, -1, rows};
  for (size_t p0 = 0; p0 < np; p0 += DC_P) {
    const int P = (int)(np - p0 < DC_P ? np - p0 : DC_P);
    DcPix x = dc_pix(d, p0);
    for (int p = 0; p < P; p++, dc_next(d, &x)) dc_runs(j, &rc, x, s + p, DC_P, scratch + (size_t)p * L, (size_t)DC_P * L);
    if (pack) {
      for (int p = 0; p < P; p++)
        for (int a = 0; a < KH; a++) memcpy(packed + (size_t)p * Fp + (size_t)a * L, s[a * DC_P + p], sizeof(float) * L);
      for (int p = 0; p < P; p++) s[p] = packed + (size_t)p * Fp;
    }
    DcPf pfx = {NULL, NULL}, pfy = {NULL, NULL};
    int pfLines = 0;
    if (p0 + P < np) { /* the next chunk's images (whole, from its first pixel's) and its dy */
      const size_t q1 = p0 + 2 * (size_t)P < np ? p0 + 2 * (size_t)P : np, ohw = (size_t)d->OH * d->OW, hwc = (size_t)d->H * d->W * d->Ci;
      pfx = (DcPf){(const char *)(j->a + (p0 + P) / ohw * hwc), (const char *)(j->a + ((q1 - 1) / ohw + 1) * hwc)};
      pfy = (DcPf){(const char *)(j->b + (p0 + P) * d->Co), (const char *)(j->b + q1 * d->Co)};
      pfLines = (int)(((size_t)(pfx.end - pfx.at + pfy.end - pfy.at) / 64 + (i1 - i0) - 1) / (i1 - i0) + 1);
    }
    for (int it = i0; it < i1; it++) {
      const int f0 = it / nc * R, c0 = it % nc * CW;
      dc_pf(&pfy, pfLines, 1);
      dc_pf(&pfx, pfLines, 1);
      float *o = j->out + (size_t)f0 * d->Co + c0;
      float t[DC_RMAX * 32];
      const int full = f0 + R <= F;
      if (!full) /* the last values: a full tile through a copy, the valid rows written back */
        for (int k = 0; f0 + k < F; k++) memcpy(t + k * CW, o + (size_t)k * d->Co, sizeof(float) * CW);
      float *ot = full ? o : t;
      const int ldo = full ? d->Co : CW;
      if (wide) {
        /* one run per pixel: the packed rows (KH = 1, L = Fp), or filter row f0 / L with the tile inside it */
        j->tile_dw(P, pack ? s : s + (size_t)(f0 / L) * DC_P, pack ? f0 : f0 % L, j->b + p0 * d->Co + c0, d->Co, ot, ldo, p0 == 0 && !j->acc);
      } else {
        int lk[DC_R];
        const float *const *sk[DC_R];
        for (int k = 0; k < DC_R; k++) {
          const int f = f0 + k < F ? f0 + k : F - 1;
          lk[k] = f % L;
          sk[k] = s + (size_t)(f / L) * DC_P;
        }
        dc_tile_dw(P, sk, lk, j->b + p0 * d->Co + c0, d->Co, ot, ldo, p0 == 0 && !j->acc);
      }
      if (!full)
        for (int k = 0; f0 + k < F; k++) memcpy(o + (size_t)k * d->Co, t + k * CW, sizeof(float) * CW);
    }
  }
  free(s), free(rows), free(scratch), free(packed);
}

/* The direct kernel for conv's mode, or 0 when it does not apply (no AVX2/FMA, channels not a multiple of 16);
 * -1 out of memory. */
/* The direct kernel for conv's mode, as conv_direct; acc: the filter gradient adds to O; wtpre: the input gradient's
 * filter already transposed per tap (NULL: transposed here). */
static int conv_direct_ex(int mode, const ConvDims *d, const float *A, const float *B, const float *bias, float *O, int acc, const float *wtpre) {
  const int cols = mode == 1 ? d->Ci : d->Co; /* the tile's columns: dx's input channels, else the output channels */
  if (!conv_direct_on() || cols % 16 != 0) return 0;
  const size_t L = (size_t)d->KW * d->Ci, zn = L > (size_t)d->Co ? L : (size_t)d->Co;
  const int wide = cols % 32 == 0 && conv_wide_on();
  DcJob j = {.d = *d, .a = A, .b = B, .bias = bias, .out = O, .relu = bias != NULL, .parts = pool.threads >= 2 && !tl_nosplit ? 2 : 1,
             .R = DC_R, .CW = 16, .tile = dc_tile, .acc = acc};
  if (wide) { /* rows: 12 for pixels of the whole batch; 8 for the input gradient's phases (8x8 or 4x4 pixels at 16x16
               * or 8x8); the filter gradient's a divisor of a filter row's values (96 at Ci = 32, 9 at Ci = 3) */
    j.CW = 32;
    j.R = mode == 0 ? 12 : mode == 1 ? 8 : L % 12 == 0 || L % 9 != 0 ? 12 : 9;
    j.tile = j.R == 8 ? dc_tile_w8 : dc_tile_w12;
    if (mode == 2) j.tile_dw = j.R == 9 ? dc_tile_dw_w9 : dc_tile_dw_w12;
  }
  float *zeros = calloc(zn, sizeof(float)), *wt = NULL;
  if (!zeros) return -1;
  j.zeros = zeros;
  if (mode == 1 && wtpre) j.wt = wtpre;
  else if (mode == 1) {
    const size_t taps = (size_t)d->KH * d->KW;
    wt = malloc(sizeof(float) * taps * d->Ci * d->Co);
    if (!wt) {
      free(zeros);
      return -1;
    }
    for (size_t t = 0; t < taps; t++)
      for (int c = 0; c < d->Ci; c++)
        for (int o = 0; o < d->Co; o++) wt[(t * d->Co + o) * d->Ci + c] = B[(t * d->Ci + c) * d->Co + o];
    j.wt = wt;
  }
  run_parts(mode == 0 ? dc_fwd_part : mode == 1 ? dc_dx_part : dc_dw_part, &j, j.parts);
  free(zeros), free(wt);
  return j.failed ? -1 : 1;
}
static int conv_direct(int mode, const ConvDims *d, const float *A, const float *B, const float *bias, float *O) {
  return conv_direct_ex(mode, d, A, B, bias, O, 0, NULL);
}
static int conv_direct_avail(void) { return conv_direct_on(); }
#else
static int conv_direct_avail(void) { return 0; }
static int conv_direct_ex(int mode, const ConvDims *d, const float *A, const float *B, const float *bias, float *O, int acc, const float *wtpre) {
  (void)mode, (void)d, (void)A, (void)B, (void)bias, (void)O, (void)acc, (void)wtpre;
  return 0;
}
static int conv_direct(int mode, const ConvDims *d, const float *A, const float *B, const float *bias, float *O) {
  return conv_direct_ex(mode, d, A, B, bias, O, 0, NULL);
}
#endif

/* conv(mode, dims, a, b, out) and convBiasRelu(dims, x, filter, bias, out) (fused: mode 0 with y = relu(conv + bias)). */
static napi_value conv_call(napi_env env, napi_callback_info info, int fused) {
  size_t argc = 5;
  napi_value a5[5], a[6] = {0};
  CHECK(napi_get_cb_info(env, info, &argc, a5, NULL, NULL));
  int32_t mode = 0;
  if (argc != 5) {
    napi_throw_type_error(env, NULL, "gemm.conv: expected 5 arguments");
    return NULL;
  }
  if (fused) { /* the argument order of conv with the bias before out: a = [mode], dims, x, filter, out, bias */
    a[1] = a5[0], a[2] = a5[1], a[3] = a5[2], a[4] = a5[4], a[5] = a5[3];
  } else {
    memcpy(a, a5, sizeof a5);
    if (!i32(env, a[0], &mode, "mode")) return NULL;
  }
  napi_typedarray_type type;
  size_t nd = 0;
  void *dp = NULL;
  if (napi_get_typedarray_info(env, a[1], &type, &nd, &dp, NULL, NULL) != napi_ok || type != napi_int32_array || nd != 13) {
    napi_throw_type_error(env, NULL, "gemm.conv: dims must be an Int32Array of 13 values");
    return NULL;
  }
  ConvDims d;
  memcpy(&d, dp, sizeof d);
  float *A, *B, *O;
  size_t lA, lB, lO;
  if (!f32(env, a[2], &A, &lA, "a") || !f32(env, a[3], &B, &lB, "b") || !f32(env, a[4], &O, &lO, "out")) return NULL;
  float *bias = NULL;
  size_t lbias = 0;
  if (fused && !f32(env, a[5], &bias, &lbias, "bias")) return NULL;
  if (!g_sgemm) {
    napi_throw_error(env, NULL, "gemm.conv: no BLAS opened");
    return NULL;
  }
  const int32_t *dv = (const int32_t *)dp;
  for (int k = 0; k < 13; k++) {
    const int32_t lo = (k == 9 || k == 10) ? 0 : 1; /* paddings may be 0, every size and stride >= 1 */
    if (dv[k] < lo || dv[k] > (1 << 24)) {
      napi_throw_range_error(env, NULL, "gemm.conv: bad dims");
      return NULL;
    }
  }
  if (mode < 0 || mode > 2) {
    napi_throw_range_error(env, NULL, "gemm.conv: mode must be 0, 1 or 2");
    return NULL;
  }
  /* Sizes in double first: no size_t wrap-around can make a huge shape look like a small array. */
  if ((double)d.N * d.H * d.W * d.Ci > 1e12 || (double)d.N * d.OH * d.OW * d.Co > 1e12 || (double)d.KH * d.KW * d.Ci * d.Co > 1e12) {
    napi_throw_range_error(env, NULL, "gemm.conv: dims too large");
    return NULL;
  }
  const size_t kk = (size_t)d.KH * d.KW * d.Ci, np = (size_t)d.N * d.OH * d.OW, nx = (size_t)d.N * d.H * d.W * d.Ci;
  const size_t nw = kk * d.Co, ny = np * d.Co;
  const size_t want[3][3] = {{nx, nw, ny}, {ny, nw, nx}, {nx, ny, nw}};
  if (lA != want[mode][0] || lB != want[mode][1] || lO != want[mode][2] || (fused && lbias != (size_t)d.Co)) {
    napi_throw_range_error(env, NULL, "gemm.conv: array sizes do not match dims");
    return NULL;
  }
  q_drain(); /* never queued (the fused heads do not call it): what was queued before comes first */
  const int direct = conv_direct(mode, &d, A, B, bias, O);
  if (direct < 0) {
    napi_throw_error(env, NULL, "gemm.conv: out of memory");
    return NULL;
  }
  if (direct > 0) return NULL;
  float *cols = (float *)malloc(sizeof(float) * kk * CONV_CHUNK);
  if (!cols) {
    napi_throw_error(env, NULL, "gemm.conv: out of memory");
    return NULL;
  }
  if (mode == 1) memset(O, 0, sizeof(float) * nx);
  for (size_t p0 = 0; p0 < np; p0 += CONV_CHUNK) {
    const size_t p1 = p0 + CONV_CHUNK < np ? p0 + CONV_CHUNK : np;
    const int m = (int)(p1 - p0);
    if (mode == 0) {
      im2col(A, &d, p0, p1, cols); /* y[p, :] = cols[p, :] . W[kk, Co] */
      GemmJob j = {.M = m, .N = d.Co, .K = (int)kk, .lda = (int)kk, .ldb = d.Co, .ldc = d.Co, .A = cols, .B = B, .C = O + p0 * d.Co,
                   .bias = bias, .biasMode = bias ? 1 : 0, .act = fused ? 1 : 0};
      run_gemm(&j);
    } else if (mode == 1) {
      /* dcols[p, :] = dy[p, :] . W^T, then scattered back */
      GemmJob j = {.tB = true, .M = m, .N = (int)kk, .K = d.Co, .lda = d.Co, .ldb = d.Co, .ldc = (int)kk, .A = A + p0 * d.Co, .B = B, .C = cols};
      run_gemm(&j);
      col2im(cols, &d, p0, p1, O);
    } else {
      im2col(A, &d, p0, p1, cols); /* dW[kk, Co] += cols^T . dy */
      GemmJob j = {.tA = true, .M = (int)kk, .N = d.Co, .K = m, .lda = (int)kk, .ldb = d.Co, .ldc = d.Co, .A = cols, .B = B + p0 * d.Co, .C = O,
                   .beta = p0 == 0 ? 0.0f : 1.0f};
      run_gemm(&j);
    }
  }
  free(cols);
  return NULL;
}
static napi_value Conv(napi_env env, napi_callback_info info) { return conv_call(env, info, 0); }
static napi_value ConvBiasRelu(napi_env env, napi_callback_info info) { return conv_call(env, info, 1); }

/* ---------------------------------------------------------------------------------------------------------------
 * A trunk of conv + bias + ReLU layers (the image encoders' convs) as one call each way, image group by image group:
 * a group's layer outputs (and in the backward pass its gradients) are still in L2 when the next layer reads them,
 * where layer by layer each 8 MB tensor at batch 256 went out to memory and came back. The same direct kernels run on
 * each group, and every value gets the same operations in the same order as layer by layer: outputs and input
 * gradients are per pixel or per image; each filter gradient value sums the pixels in order, continued from group to
 * group (DcJob.acc); each bias gradient is sumRows' double sum in row order, continued likewise. So the same bits. */
#define TRUNK_MAX 8
#define TRUNK_GROUP 16 /* images a group: layer 1 of the 32x32 encoder is 512 KB of output a group (16 gave 3 % less CPU than 8 in the backward, 32 the same) */

/* dz = y > 0 ? dy : 0 (the ReLU's gradient) and acc[k] += dz's column k in double, rows in order (reluGradSumRows'
 * sums, continued over groups). Vectorised across columns only: the same operations per column. */
VEC_CLONES static void relu_mask_acc_loop(const float *restrict dy, const float *restrict y, float *restrict dz, double *restrict acc, size_t rows, size_t c) {
  for (size_t r = 0; r < rows; r++, dy += c, y += c, dz += c)
    for (size_t k = 0; k < c; k++) {
      const float g = y[k] > 0.0f ? dy[k] : 0.0f;
      dz[k] = g;
      acc[k] += g;
    }
}

static int relu_sum_wide(size_t lo); /* reluGradSumRows' test: AVX-512F and columns a multiple of 16 */
#if defined(__x86_64__) && defined(__GNUC__)
/* relu_mask_acc_loop with AVX-512F, 16 columns a register (the compiler's clone of the loop above was 3x slower than
 * reluGradSumRows' pass): each column's additions are the same, in the same order. */
__attribute__((target("avx512f"))) static void relu_mask_acc16(const float *dy, const float *y, float *dz, double *acc, size_t rows, size_t c) {
  const __m512 z = _mm512_setzero_ps();
  for (size_t k = 0; k < c; k += 16) {
    __m512d a0 = _mm512_loadu_pd(acc + k), a1 = _mm512_loadu_pd(acc + k + 8);
    for (size_t r = 0, o = k; r < rows; r++, o += c) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + o), z, _CMP_GT_OQ);
      const __m512 g = _mm512_maskz_mov_ps(m, _mm512_loadu_ps(dy + o));
      _mm512_storeu_ps(dz + o, g);
      a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(g)));
      a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1))));
    }
    _mm512_storeu_pd(acc + k, a0);
    _mm512_storeu_pd(acc + k + 8, a1);
  }
}
static void relu_mask_acc(const float *dy, const float *y, float *dz, double *acc, size_t rows, size_t c) {
  if (relu_sum_wide(c)) relu_mask_acc16(dy, y, dz, acc, rows, c);
  else relu_mask_acc_loop(dy, y, dz, acc, rows, c);
}
#else
static void relu_mask_acc(const float *dy, const float *y, float *dz, double *acc, size_t rows, size_t c) { relu_mask_acc_loop(dy, y, dz, acc, rows, c); }
#endif

/* The layers' dims (13 values each), checked one by one as conv's and as a chain (each layer's input is the previous
 * layer's output); 0 (thrown) if not. */
static int trunk_dims(napi_env env, napi_value v, ConvDims *d, int *L) {
  napi_typedarray_type type;
  size_t nd = 0;
  void *dp = NULL;
  if (napi_get_typedarray_info(env, v, &type, &nd, &dp, NULL, NULL) != napi_ok || type != napi_int32_array || nd == 0 || nd % 13 != 0 ||
      nd / 13 > TRUNK_MAX) {
    napi_throw_type_error(env, NULL, "gemm.convTrunk: dims must be an Int32Array of 13 values per layer (1 to 8 layers)");
    return 0;
  }
  *L = (int)(nd / 13);
  const int32_t *dv = (const int32_t *)dp;
  for (int l = 0; l < *L; l++) {
    for (int k = 0; k < 13; k++) {
      const int32_t lo = (k == 9 || k == 10) ? 0 : 1;
      if (dv[13 * l + k] < lo || dv[13 * l + k] > (1 << 24)) {
        napi_throw_range_error(env, NULL, "gemm.convTrunk: bad dims");
        return 0;
      }
    }
    memcpy(&d[l], dv + 13 * l, sizeof(ConvDims));
    const ConvDims *c = &d[l];
    if ((double)c->N * c->H * c->W * c->Ci > 1e12 || (double)c->N * c->OH * c->OW * c->Co > 1e12 || (double)c->KH * c->KW * c->Ci * c->Co > 1e12) {
      napi_throw_range_error(env, NULL, "gemm.convTrunk: dims too large");
      return 0;
    }
    if (l > 0 && (c->N != d[l - 1].N || c->H != d[l - 1].OH || c->W != d[l - 1].OW || c->Ci != d[l - 1].Co)) {
      napi_throw_range_error(env, NULL, "gemm.convTrunk: a layer's input is not the previous layer's output");
      return 0;
    }
  }
  return 1;
}

/* L Float32Arrays (or nulls where `nulls` allows: bit l set) from a JS array, each of want[l] values. */
static int trunk_arrays(napi_env env, napi_value v, int L, const size_t *want, unsigned nulls, float **out, const char *name) {
  bool isArray = false;
  uint32_t len = 0;
  char msg[112];
  if (napi_is_array(env, v, &isArray) != napi_ok || !isArray || napi_get_array_length(env, v, &len) != napi_ok || len != (uint32_t)L) {
    snprintf(msg, sizeof msg, "gemm.convTrunk: %s must be an array of one entry per layer", name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  for (int l = 0; l < L; l++) {
    napi_value e;
    napi_valuetype t;
    if (napi_get_element(env, v, (uint32_t)l, &e) != napi_ok || napi_typeof(env, e, &t) != napi_ok) return 0;
    out[l] = NULL;
    if ((t == napi_null || t == napi_undefined) && (nulls >> l & 1u)) continue;
    size_t n = 0;
    if (!f32(env, e, &out[l], &n, name)) return 0;
    if (n != want[l]) {
      snprintf(msg, sizeof msg, "gemm.convTrunk: %s[%d] has %zu values, expected %zu", name, l, n, want[l]);
      napi_throw_range_error(env, NULL, msg);
      return 0;
    }
  }
  return 1;
}

/* One Float32Array of want values (or null where allowed). */
static int trunk_one(napi_env env, napi_value v, size_t want, int allowNull, float **out, const char *name) {
  napi_valuetype t;
  char msg[112];
  *out = NULL;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (allowNull && (t == napi_null || t == napi_undefined)) return 1;
  size_t n = 0;
  if (!f32(env, v, out, &n, name)) return 0;
  if (n != want) {
    snprintf(msg, sizeof msg, "gemm.convTrunk: %s has %zu values, expected %zu", name, n, want);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

/* Whether the direct kernels run every layer (AVX2/FMA, output channels a multiple of 16, and input channels too for
 * the layers whose input gradient is taken). */
static int trunk_direct(const ConvDims *d, int L, int dxFrom) {
  if (!conv_direct_avail()) return 0;
  for (int l = 0; l < L; l++)
    if (d[l].Co % 16 != 0 || (l >= dxFrom && d[l].Ci % 16 != 0)) return 0;
  return 1;
}

static size_t trunk_in(const ConvDims *c) { return (size_t)c->H * c->W * c->Ci; }   /* floats an image, input */
static size_t trunk_out(const ConvDims *c) { return (size_t)c->OH * c->OW * c->Co; } /* floats an image, output */

/* The trunk calls' common arguments: exactly `want` of them into a[], the layers' dims from a[0], the group from the
 * last, and the floats of each layer's filter (wf), bias (wb) and output for the batch (wy). 0: an exception is set. */
static int trunk_args(napi_env env, napi_callback_info info, size_t want, napi_value *a, const char *name, ConvDims *d, int *L,
                      int *group, size_t *wf, size_t *wb, size_t *wy) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "gemm: N-API call failed: napi_get_cb_info");
    return 0;
  }
  if (argc != want) {
    char msg[80];
    snprintf(msg, sizeof msg, "gemm.%s: expected %zu arguments", name, want);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  if (!trunk_dims(env, a[0], d, L) || !i32(env, a[want - 1], group, "group")) return 0;
  for (int l = 0; l < *L; l++)
    wf[l] = (size_t)d[l].KH * d[l].KW * d[l].Ci * d[l].Co, wb[l] = (size_t)d[l].Co, wy[l] = (size_t)d[0].N * trunk_out(&d[l]);
  return 1;
}

/* convTrunk(dims, x, filters, biases, ys, group): ys[l] = relu(conv(ys[l - 1], filters[l]) + biases[l]) with ys[-1] = x;
 * ys[l] null (not the last) keeps only a group's values. Returns false (nothing done) where the direct kernels do not
 * apply (the caller then runs the layers one by one). group: images a group, 0 = TRUNK_GROUP. */
static napi_value ConvTrunk(napi_env env, napi_callback_info info) {
  napi_value a[6];
  ConvDims d[TRUNK_MAX];
  int L = 0, group = 0;
  size_t wf[TRUNK_MAX], wb[TRUNK_MAX], wy[TRUNK_MAX];
  if (!trunk_args(env, info, 6, a, "convTrunk", d, &L, &group, wf, wb, wy)) return NULL;
  const size_t N = (size_t)d[0].N;
  float *x[1], *F[TRUNK_MAX], *B[TRUNK_MAX], *Y[TRUNK_MAX];
  if (!trunk_one(env, a[1], N * trunk_in(&d[0]), 0, x, "x") || !trunk_arrays(env, a[2], L, wf, 0, F, "filters") || !trunk_arrays(env, a[3], L, wb, 0, B, "biases") ||
      !trunk_arrays(env, a[4], L, wy, (1u << (L - 1)) - 1u, Y, "ys"))
    return NULL;
  napi_value r;
  if (!trunk_direct(d, L, L)) {
    CHECK(napi_get_boolean(env, false, &r));
    return r;
  }
  const size_t G = group > 0 ? (size_t)group : TRUNK_GROUP;
  float *scratch[TRUNK_MAX] = {0};
  int failed = 0;
  for (int l = 0; l < L && !failed; l++)
    if (!Y[l] && !(scratch[l] = malloc(sizeof(float) * G * trunk_out(&d[l])))) failed = 1;
  q_drain(); /* never queued, as conv */
  for (size_t n0 = 0; n0 < N && !failed; n0 += G) {
    const size_t g = N - n0 < G ? N - n0 : G;
    const float *in = x[0] + n0 * trunk_in(&d[0]);
    for (int l = 0; l < L && !failed; l++) {
      ConvDims c = d[l];
      c.N = (int)g;
      float *out = Y[l] ? Y[l] + n0 * trunk_out(&d[l]) : scratch[l];
      if (conv_direct_ex(0, &c, in, F[l], B[l], out, 0, NULL) != 1) failed = 1;
      in = out;
    }
  }
  for (int l = 0; l < L; l++) free(scratch[l]);
  if (failed) {
    napi_throw_error(env, NULL, "gemm.convTrunk: out of memory");
    return NULL;
  }
  CHECK(napi_get_boolean(env, true, &r));
  return r;
}

/* convTrunkGrad(dims, x, filters, ys, dy, dfilters, dbiases, dx, group): the gradients of convTrunk's last output
 * (dy) for every layer's filter and bias, and for x when dx is given (else not computed). ys: every layer's output,
 * as convTrunk kept them. Returns false (nothing done) where the direct kernels do not apply. */
static napi_value ConvTrunkGrad(napi_env env, napi_callback_info info) {
  napi_value a[9];
  ConvDims d[TRUNK_MAX];
  int L = 0, group = 0;
  size_t wf[TRUNK_MAX], wb[TRUNK_MAX], wy[TRUNK_MAX];
  if (!trunk_args(env, info, 9, a, "convTrunkGrad", d, &L, &group, wf, wb, wy)) return NULL;
  const size_t N = (size_t)d[0].N;
  const size_t wx = N * trunk_in(&d[0]);
  float *x[1], *dy[1], *dx[1], *F[TRUNK_MAX], *Y[TRUNK_MAX], *DF[TRUNK_MAX], *DB[TRUNK_MAX];
  if (!trunk_one(env, a[1], wx, 0, x, "x") || !trunk_arrays(env, a[2], L, wf, 0, F, "filters") || !trunk_arrays(env, a[3], L, wy, 0, Y, "ys") ||
      !trunk_one(env, a[4], wy[L - 1], 0, dy, "dy") || !trunk_arrays(env, a[5], L, wf, 0, DF, "dfilters") ||
      !trunk_arrays(env, a[6], L, wb, 0, DB, "dbiases") || !trunk_one(env, a[7], wx, 1, dx, "dx"))
    return NULL;
  napi_value r;
  if (!trunk_direct(d, L, dx[0] ? 0 : 1)) {
    CHECK(napi_get_boolean(env, false, &r));
    return r;
  }
  const size_t G = group > 0 ? (size_t)group : TRUNK_GROUP;
  float *dz[TRUNK_MAX] = {0}, *dyl[TRUNK_MAX] = {0}, *wt[TRUNK_MAX] = {0};
  double *acc[TRUNK_MAX] = {0};
  int failed = 0;
  for (int l = 0; l < L && !failed; l++) {
    const size_t taps = (size_t)d[l].KH * d[l].KW;
    if (!(dz[l] = malloc(sizeof(float) * G * trunk_out(&d[l]))) || !(acc[l] = calloc((size_t)d[l].Co, sizeof(double)))) failed = 1;
    else if (l < L - 1 && !(dyl[l] = malloc(sizeof(float) * G * trunk_out(&d[l])))) failed = 1;
    else if ((l > 0 || dx[0]) && !(wt[l] = malloc(sizeof(float) * taps * d[l].Ci * d[l].Co))) failed = 1;
    else if (wt[l]) /* the input gradient's filter, transposed per tap once for every group (as conv_direct does) */
      for (size_t t = 0; t < taps; t++)
        for (int c = 0; c < d[l].Ci; c++)
          for (int o = 0; o < d[l].Co; o++) wt[l][(t * d[l].Co + o) * d[l].Ci + c] = F[l][(t * d[l].Ci + c) * d[l].Co + o];
  }
  q_drain(); /* never queued, as conv */
  for (size_t n0 = 0; n0 < N && !failed; n0 += G) {
    const size_t g = N - n0 < G ? N - n0 : G;
    for (int l = L - 1; l >= 0 && !failed; l--) {
      ConvDims c = d[l];
      c.N = (int)g;
      const size_t per = trunk_out(&d[l]);
      const float *dyg = l == L - 1 ? dy[0] + n0 * per : dyl[l];
      relu_mask_acc(dyg, Y[l] + n0 * per, dz[l], acc[l], g * c.OH * c.OW, (size_t)c.Co);
      const float *in = l == 0 ? x[0] + n0 * trunk_in(&d[0]) : Y[l - 1] + n0 * trunk_out(&d[l - 1]);
      if (conv_direct_ex(2, &c, in, dz[l], NULL, DF[l], n0 > 0, NULL) != 1) failed = 1;
      else if (l > 0 && conv_direct_ex(1, &c, dz[l], F[l], NULL, dyl[l - 1], 0, wt[l]) != 1) failed = 1;
      else if (l == 0 && dx[0] && conv_direct_ex(1, &c, dz[0], F[0], NULL, dx[0] + n0 * trunk_in(&d[0]), 0, wt[0]) != 1) failed = 1;
    }
  }
  for (int l = 0; l < L; l++) {
    if (!failed)
      for (int k = 0; k < d[l].Co; k++) DB[l][k] = (float)acc[l][k];
    free(dz[l]), free(dyl[l]), free(wt[l]), free(acc[l]);
  }
  if (failed) {
    napi_throw_error(env, NULL, "gemm.convTrunkGrad: out of memory");
    return NULL;
  }
  CHECK(napi_get_boolean(env, true, &r));
  return r;
}

typedef struct {
  const float *x;
  float *out;
  double *acc;
  size_t lx, lo;
  int parts;
} SumRowsJob;

/* Columns k0..k1 of the row sums, rows in order, in double: with the vector clones (the same operations per column,
 * in the same order: the same bits). */
VEC_CLONES static void sum_rows_cols(const float *restrict x, double *restrict acc, float *restrict out, size_t lx, size_t lo, size_t k0, size_t k1) {
  for (size_t o = 0; o < lx; o += lo)
    for (size_t k = k0; k < k1; k++) acc[k] += x[o + k];
  for (size_t k = k0; k < k1; k++) out[k] = (float)acc[k];
}

static void sum_rows_part(void *arg, int part) {
  const SumRowsJob *j = (const SumRowsJob *)arg;
  const size_t cut = j->parts < 2 ? j->lo : ((j->lo / 2 + 15) / 16) * 16;
  const size_t k0 = part == 0 ? 0 : cut, k1 = part == 0 ? cut : j->lo;
  sum_rows_cols(j->x, j->acc, j->out, j->lx, j->lo, k0, k1);
}

static int exec_sum_rows(void *job) {
  SumRowsJob *j = (SumRowsJob *)job;
  j->acc = (double *)calloc(j->lo, sizeof(double));
  if (!j->acc) return -1;
  run_parts(sum_rows_part, j, j->parts);
  free(j->acc);
  return 0;
}

/* The arguments of sumRows and sumRowsFloat, (x, out): x rows of out.length values, out apart from x; 0 (thrown) if
 * not. */
static int sum_rows_args(napi_env env, napi_callback_info info, const char *name, float **x, float **out, size_t *lx, size_t *lo) {
  size_t argc = 2;
  napi_value a[2];
  char msg[96];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "gemm: N-API call failed: napi_get_cb_info");
    return 0;
  }
  if (argc != 2 || !f32(env, a[0], x, lx, "x") || !f32(env, a[1], out, lo, "out")) return 0;
  if (*lo == 0 || *lx % *lo != 0) {
    snprintf(msg, sizeof msg, "gemm.%s: x must be rows of out.length values", name);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  if (*out + *lo > *x && *out < *x + *lx) {
    snprintf(msg, sizeof msg, "gemm.%s: out must not overlap x", name);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

static napi_value SumRows(napi_env env, napi_callback_info info) {
  float *x, *out;
  size_t lx, lo;
  if (!sum_rows_args(env, info, "sumRows", &x, &out, &lx, &lo)) return NULL;
  /* Columns are independent sums: two ranges of columns on two threads give the same values. */
  SumRowsJob j = {x, out, NULL, lx, lo, pool.threads > 1 && lx >= SPLIT_ELEMENTS && lo >= 32 ? 2 : 1};
  if (submit(exec_sum_rows, &j, sizeof j) != 0) napi_throw_error(env, NULL, "gemm.sumRows: out of memory");
  return NULL;
}

/* sumRowsFloat(x, out): out[k] = the sum of x's rows (rows of out.length values) in float, from 0, rows in order: the
 * sums of tfjs-wasm's Sum kernel (the small bias gradients of the heads), without its transpose. Vectorised across
 * columns only, so every column's additions are the same and in the same order. */
VEC_CLONES static void sum_rows_float(const float *restrict x, float *restrict out, size_t lx, size_t lo) {
  for (size_t k = 0; k < lo; k++) out[k] = 0.0f;
  for (size_t o = 0; o < lx; o += lo)
    for (size_t k = 0; k < lo; k++) out[k] += x[o + k];
}

static napi_value SumRowsFloat(napi_env env, napi_callback_info info) {
  float *x, *out;
  size_t lx, lo;
  if (!sum_rows_args(env, info, "sumRowsFloat", &x, &out, &lx, &lo)) return NULL;
  q_drain(); /* never queued, as conv */
  sum_rows_float(x, out, lx, lo);
  return NULL;
}

static napi_value AddRow(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *x, *b, *out;
  size_t lx, lb, lo;
  if (argc != 3 || !f32(env, a[0], &x, &lx, "a") || !f32(env, a[1], &b, &lb, "b") || !f32(env, a[2], &out, &lo, "out")) return NULL;
  if (lb == 0 || lx % lb != 0 || lo != lx) {
    napi_throw_range_error(env, NULL, "gemm.addRow: a and out must be rows of b.length values");
    return NULL;
  }
  q_drain(); /* never queued, as conv */
  for (size_t o = 0; o < lx; o += lb)
    for (size_t k = 0; k < lb; k++) out[o + k] = x[o + k] + b[k];
  return NULL;
}

/* gatherImages(src, idx, shifts, dims, out): out[b] = image idx[b] of src (uint8 NHWC, dims = Int32Array [h, w, c]) / 255,
 * shifted by (shifts[2b], shifts[2b+1]) rows and columns with edge replication (shifts null: none). The rule of
 * gatherImages in src/learn/nets.ts (which draws the shifts), with the same double division rounded to float. */
static napi_value GatherImages(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  napi_typedarray_type t0, t1, t2 = napi_int32_array, t3;
  size_t ls = 0, li = 0, lsh = 0, ld = 0;
  void *src = NULL, *idx = NULL, *sh = NULL, *dims = NULL;
  napi_valuetype shType = napi_null;
  float *out;
  size_t lo;
  if (argc != 5) {
    napi_throw_type_error(env, NULL, "gemm.gatherImages: expected 5 arguments");
    return NULL;
  }
  if (!f32(env, a[4], &out, &lo, "out")) return NULL;
  if (napi_get_typedarray_info(env, a[0], &t0, &ls, &src, NULL, NULL) != napi_ok || t0 != napi_uint8_array ||
      napi_get_typedarray_info(env, a[1], &t1, &li, &idx, NULL, NULL) != napi_ok || t1 != napi_int32_array || napi_typeof(env, a[2], &shType) != napi_ok ||
      (shType != napi_null && (napi_get_typedarray_info(env, a[2], &t2, &lsh, &sh, NULL, NULL) != napi_ok || t2 != napi_int32_array || lsh != 2 * li)) ||
      napi_get_typedarray_info(env, a[3], &t3, &ld, &dims, NULL, NULL) != napi_ok || t3 != napi_int32_array || ld != 3) {
    napi_throw_type_error(env, NULL, "gemm.gatherImages: expected (Uint8Array, Int32Array idx, Int32Array shifts (2 per image) or null, Int32Array [h, w, c], Float32Array)");
    return NULL;
  }
  const int32_t *d = (const int32_t *)dims, *ix = (const int32_t *)idx, *shift = (const int32_t *)sh;
  if (d[0] < 1 || d[1] < 1 || d[2] < 1) {
    napi_throw_range_error(env, NULL, "gemm.gatherImages: bad dims");
    return NULL;
  }
  const int h = d[0], w = d[1], c = d[2];
  const size_t size = (size_t)h * w * c;
  if (lo < li * size) {
    napi_throw_range_error(env, NULL, "gemm.gatherImages: out is too short");
    return NULL;
  }
  for (size_t b = 0; b < li; b++)
    if (ix[b] < 0 || ((size_t)ix[b] + 1) * size > ls) {
      napi_throw_range_error(env, NULL, "gemm.gatherImages: an index is outside the images");
      return NULL;
    }
  q_drain(); /* never queued, as conv */
  const uint8_t *u8 = (const uint8_t *)src;
  float lut[256]; /* (float)(v / 255.0) for every byte: the same values as the division, without one per pixel */
  for (int v = 0; v < 256; v++) lut[v] = (float)(v / 255.0);
  for (size_t b = 0; b < li; b++) {
    const uint8_t *img = u8 + (size_t)ix[b] * size;
    float *o = out + b * size;
    const int dy = shift ? shift[2 * b] : 0, dx = shift ? shift[2 * b + 1] : 0;
    for (int y = 0; y < h; y++) {
      const int sy = y + dy < 0 ? 0 : (y + dy >= h ? h - 1 : y + dy);
      const uint8_t *row = img + (size_t)sy * w * c;
      for (int x = 0; x < w; x++) {
        const int sx = x + dx < 0 ? 0 : (x + dx >= w ? w - 1 : x + dx);
        const uint8_t *px = row + (size_t)sx * c;
        for (int k = 0; k < c; k++) *o++ = lut[px[k]];
      }
    }
  }
  return NULL;
}

VEC_CLONES static void relu_loop(float *restrict x, size_t n) {
  for (size_t k = 0; k < n; k++) x[k] = x[k] > 0 ? x[k] : 0;
}

VEC_CLONES static void relu_grad_loop(const float *restrict dy, const float *restrict y, float *restrict dx, size_t n) {
  for (size_t k = 0; k < n; k++) dx[k] = y[k] > 0 ? dy[k] : 0;
}

/* relu (dy NULL: x = out in place) or reluGrad (out = dx) over one of two element ranges. */
typedef struct {
  const float *dy, *y;
  float *out;
  size_t n;
  int parts;
} ReluJob;

static void relu_part(void *arg, int part) {
  const ReluJob *j = (const ReluJob *)arg;
  const size_t cut = j->parts < 2 ? j->n : ((j->n / 2 + 15) / 16) * 16;
  const size_t k0 = part == 0 ? 0 : cut, k1 = part == 0 ? cut : j->n;
  if (j->dy) relu_grad_loop(j->dy + k0, j->y + k0, j->out + k0, k1 - k0);
  else relu_loop(j->out + k0, k1 - k0);
}

static int exec_relu(void *job) {
  run_parts(relu_part, job, ((ReluJob *)job)->parts);
  return 0;
}

static napi_value Relu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *x;
  size_t lx;
  if (argc != 1 || !f32(env, a[0], &x, &lx, "x")) return NULL;
  ReluJob j = {NULL, NULL, x, lx, pool.threads > 1 && lx >= SPLIT_ELEMENTS ? 2 : 1};
  submit(exec_relu, &j, sizeof j);
  return NULL;
}

static napi_value ReluGrad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *dy, *y, *dx;
  size_t ldy, ly, ldx;
  if (argc != 3 || !f32(env, a[0], &dy, &ldy, "dy") || !f32(env, a[1], &y, &ly, "y") || !f32(env, a[2], &dx, &ldx, "dx")) return NULL;
  if (ly != ldy || ldx != ldy) {
    napi_throw_range_error(env, NULL, "gemm.reluGrad: dy, y and dx must have the same length");
    return NULL;
  }
  ReluJob j = {dy, y, dx, ldy, pool.threads > 1 && ldy >= SPLIT_ELEMENTS ? 2 : 1};
  submit(exec_relu, &j, sizeof j);
  return NULL;
}

/* reluGradSumRows(dy, y, dz, db): dz = y > 0 ? dy : 0 and db = the sum of dz's rows (rows of db.length values), the
 * ReLU's gradient and the bias gradient of a conv + bias + ReLU layer in one pass over dz instead of reluGrad then
 * sumRows (which read dz again: 8 MB a call at batch 256). Each column's sum is sumRows': in double, rows in order,
 * rounded once, so the same bits as the two calls. With AVX-512F and columns a multiple of 16: 16 columns per
 * register (32 at a time: the encoders' convs), else the two loops above. Parts cut the columns. */
typedef struct {
  const float *dy, *y;
  float *dz, *db;
  double *acc;
  size_t n, lo;
  int parts, wide;
} ReluSumJob;

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) static void relu_sum_cols16(const float *dy, const float *y, float *dz, float *db, size_t n, size_t lo, size_t k0,
                                                               size_t k1) {
  const __m512 z = _mm512_setzero_ps();
  for (size_t k = k0; k < k1; k += 16) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    for (size_t o = k; o < n; o += lo) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + o), z, _CMP_GT_OQ);
      const __m512 g = _mm512_maskz_mov_ps(m, _mm512_loadu_ps(dy + o));
      _mm512_storeu_ps(dz + o, g);
      a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(g)));
      a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1))));
    }
    _mm256_storeu_ps(db + k, _mm512_cvtpd_ps(a0));
    _mm256_storeu_ps(db + k + 8, _mm512_cvtpd_ps(a1));
  }
}
/* 32 columns a pass (rows of 128 bytes: whole cache lines), the sums in 4 registers. */
__attribute__((target("avx512f"))) static void relu_sum_cols32(const float *dy, const float *y, float *dz, float *db, size_t n, size_t lo, size_t k0) {
  const __m512 z = _mm512_setzero_ps();
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd(), a2 = _mm512_setzero_pd(), a3 = _mm512_setzero_pd();
  for (size_t o = k0; o < n; o += lo) {
    const __mmask16 m0 = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + o), z, _CMP_GT_OQ);
    const __mmask16 m1 = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + o + 16), z, _CMP_GT_OQ);
    const __m512 g0 = _mm512_maskz_mov_ps(m0, _mm512_loadu_ps(dy + o)), g1 = _mm512_maskz_mov_ps(m1, _mm512_loadu_ps(dy + o + 16));
    _mm512_storeu_ps(dz + o, g0);
    _mm512_storeu_ps(dz + o + 16, g1);
    a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(g0)));
    a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g0), 1))));
    a2 = _mm512_add_pd(a2, _mm512_cvtps_pd(_mm512_castps512_ps256(g1)));
    a3 = _mm512_add_pd(a3, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g1), 1))));
  }
  _mm256_storeu_ps(db + k0, _mm512_cvtpd_ps(a0));
  _mm256_storeu_ps(db + k0 + 8, _mm512_cvtpd_ps(a1));
  _mm256_storeu_ps(db + k0 + 16, _mm512_cvtpd_ps(a2));
  _mm256_storeu_ps(db + k0 + 24, _mm512_cvtpd_ps(a3));
}
static int relu_sum_wide(size_t lo) {
  static int avx512 = -1;
  if (avx512 < 0) {
    __builtin_cpu_init();
    avx512 = __builtin_cpu_supports("avx512f");
  }
  return avx512 && lo % 16 == 0;
}
#else
static void relu_sum_cols16(const float *dy, const float *y, float *dz, float *db, size_t n, size_t lo, size_t k0, size_t k1) {
  (void)dy, (void)y, (void)dz, (void)db, (void)n, (void)lo, (void)k0, (void)k1;
}
static void relu_sum_cols32(const float *dy, const float *y, float *dz, float *db, size_t n, size_t lo, size_t k0) {
  (void)dy, (void)y, (void)dz, (void)db, (void)n, (void)lo, (void)k0;
}
static int relu_sum_wide(size_t lo) {
  (void)lo;
  return 0;
}
#endif

static void relu_sum_part(void *arg, int part) {
  const ReluSumJob *j = (const ReluSumJob *)arg;
  const size_t cut = j->parts < 2 ? j->lo : ((j->lo / 2 + 15) / 16) * 16;
  const size_t k0 = part == 0 ? 0 : cut, k1 = part == 0 ? cut : j->lo;
  if (j->wide) {
    size_t k = k0;
    for (; k + 32 <= k1; k += 32) relu_sum_cols32(j->dy, j->y, j->dz, j->db, j->n, j->lo, k);
    if (k < k1) relu_sum_cols16(j->dy, j->y, j->dz, j->db, j->n, j->lo, k, k1);
    return;
  }
  /* the two passes of reluGrad and sumRows, over this part's columns */
  for (size_t o = 0; o < j->n; o += j->lo) relu_grad_loop(j->dy + o + k0, j->y + o + k0, j->dz + o + k0, k1 - k0);
  sum_rows_cols(j->dz, j->acc, j->db, j->n, j->lo, k0, k1);
}

static int exec_relu_sum(void *job) {
  ReluSumJob *j = (ReluSumJob *)job;
  if (!j->wide && !(j->acc = (double *)calloc(j->lo, sizeof(double)))) return -1;
  run_parts(relu_sum_part, j, j->parts);
  free(j->acc);
  return 0;
}

static napi_value ReluGradSumRows(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *dy, *y, *dz, *db;
  size_t ldy, ly, ldz, ldb;
  if (argc != 4 || !f32(env, a[0], &dy, &ldy, "dy") || !f32(env, a[1], &y, &ly, "y") || !f32(env, a[2], &dz, &ldz, "dz") ||
      !f32(env, a[3], &db, &ldb, "db"))
    return NULL;
  if (ly != ldy || ldz != ldy || ldb == 0 || ldy % ldb != 0) {
    napi_throw_range_error(env, NULL, "gemm.reluGradSumRows: dy, y and dz must have the same length, rows of db.length values");
    return NULL;
  }
  if ((db + ldb > dz && db < dz + ldz) || (db + ldb > dy && db < dy + ldy) || (db + ldb > y && db < y + ly)) {
    napi_throw_range_error(env, NULL, "gemm.reluGradSumRows: db must not overlap dy, y or dz");
    return NULL;
  }
  ReluSumJob j = {dy, y, dz, db, NULL, ldy, ldb, pool.threads > 1 && ldy >= SPLIT_ELEMENTS && ldb >= 32 ? 2 : 1, relu_sum_wide(ldb)};
  if (submit(exec_relu_sum, &j, sizeof j) != 0) napi_throw_error(env, NULL, "gemm.reluGradSumRows: out of memory");
  return NULL;
}

static napi_value ThreadStats(napi_env env, napi_callback_info info) {
  (void)info;
  double helperCpuMs = 0;
  if (pool.started) {
    clockid_t cid;
    struct timespec t;
    if (pthread_getcpuclockid(pool.helper, &cid) == 0 && clock_gettime(cid, &t) == 0) helperCpuMs = t.tv_sec * 1e3 + t.tv_nsec / 1e6;
  }
  const double v[10] = {(double)atomic_load(&pool.jobs),  (double)atomic_load(&pool.helperParts), atomic_load(&pool.helperWorkNs) / 1e6,
                       helperCpuMs,
                       atomic_load(&pool.callerWaitNs) / 1e6, (double)atomic_load(&q.queued), (double)atomic_load(&q.helperRan),
                       atomic_load(&q.helperNs) / 1e6,     atomic_load(&q.syncWaitNs) / 1e6, atomic_load(&q.callerRanNs) / 1e6};
  napi_value r, x;
  CHECK(napi_create_array_with_length(env, 10, &r));
  for (uint32_t k = 0; k < 10; k++) {
    CHECK(napi_create_double(env, v[k], &x));
    CHECK(napi_set_element(env, r, k, x));
  }
  return r;
}

_Static_assert(sizeof(GemmJob) <= QPAYLOAD && sizeof(AdamJob) <= QPAYLOAD && sizeof(LnJob) <= QPAYLOAD && sizeof(LnGradCmd) <= QPAYLOAD &&
                   sizeof(SumRowsJob) <= QPAYLOAD && sizeof(ReluJob) <= QPAYLOAD && sizeof(LerpJob) <= QPAYLOAD,
               "a queued job does not fit QPAYLOAD");

/* The one argument of a switch (setQueue, setConvDirect, setConvWide): false with a TypeError thrown (`message`) unless
 * the call has exactly one boolean argument. */
static bool bool_arg(napi_env env, napi_callback_info info, const char *message, bool *on) {
  size_t argc = 1;
  napi_value a[1];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_bool(env, a[0], on) != napi_ok) {
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

/* A JS boolean (NULL, with an error thrown, if N-API fails). */
static napi_value boolean(napi_env env, bool b) {
  napi_value r;
  CHECK(napi_get_boolean(env, b, &r));
  return r;
}

/* setQueue(on) -> whether this thread now queues its kernels (on needs two threads and the queue not owned by another
 * thread; then false, and kernels run directly). Turning it off does not run the queue: sync() does. */
static napi_value SetQueue(napi_env env, napi_callback_info info) {
  bool on = false;
  if (!bool_arg(env, info, "gemm.setQueue(on): on must be a boolean", &on)) return NULL;
  if (on && !tl_owner) {
    int expected = 0;
    tl_owner = atomic_compare_exchange_strong(&q.owned, &expected, 1);
  }
  tl_queue = on && tl_owner && pool.threads >= 2;
  return boolean(env, tl_queue);
}

/* sync(): every queued kernel has run when it returns (the caller runs those the helper has not started). */
static napi_value Sync(napi_env env, napi_callback_info info) {
  (void)info;
  q_drain();
  if (atomic_exchange(&q.error, 0)) napi_throw_error(env, NULL, "gemm.sync: a queued kernel ran out of memory (its output is not valid)");
  return NULL;
}

/* mark() -> the queue's position after the last queued kernel; syncTo(mark): every kernel queued before it has run
 * (later ones may still be running: the caller waits only for what it reads next). */
static napi_value Mark(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(napi_create_uint32(env, atomic_load(&q.tail), &r));
  return r;
}

static napi_value SyncTo(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  uint32_t mark = 0;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 1 || napi_get_value_uint32(env, a[0], &mark) != napi_ok) {
    napi_throw_type_error(env, NULL, "gemm.syncTo(mark): mark must be a value of mark()");
    return NULL;
  }
  q_drain_to(mark);
  if (atomic_exchange(&q.error, 0)) napi_throw_error(env, NULL, "gemm.syncTo: a queued kernel ran out of memory (its output is not valid)");
  return NULL;
}

/* setConvDirect(on) -> whether conv now uses its direct kernels (false where the CPU lacks AVX2/FMA): tests and
 * benchmarks compare them with im2col + sgemm in one process. */
static napi_value SetConvDirect(napi_env env, napi_callback_info info) {
  bool on = false;
  if (!bool_arg(env, info, "gemm.setConvDirect: expected a boolean", &on)) return NULL;
#if defined(__x86_64__) && defined(__GNUC__)
  g_conv_direct = -1;
  g_conv_direct = on ? conv_direct_on() : 0;
  const bool now = g_conv_direct == 1;
#else
  const bool now = false;
#endif
  return boolean(env, now);
}

/* setConvWide(on) -> whether the direct convs now use their wide (AVX-512F) tiles where the columns allow (false where
 * the CPU lacks AVX-512F or the direct kernels are off): tests compare them with the AVX2 tiles in one process. */
static napi_value SetConvWide(napi_env env, napi_callback_info info) {
  bool on = false;
  if (!bool_arg(env, info, "gemm.setConvWide: expected a boolean", &on)) return NULL;
#if defined(__x86_64__) && defined(__GNUC__)
  g_conv_wide = -1;
  g_conv_wide = on ? conv_wide_on() : 0;
  const bool now = g_conv_wide == 1 && conv_direct_on();
#else
  const bool now = false;
#endif
  return boolean(env, now);
}

/* threadCpuMs(): the calling thread's CPU time (benchmarks: the caller's own share beside the helper). */
static napi_value ThreadCpuMs(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(napi_create_double(env, thread_cpu_ns() / 1e6, &r));
  return r;
}

/* Whether tid is 0 (the caller) or a thread of this process; throws naming `fn` when not: the thread calls may only
 * touch this process's threads. */
static bool isOwnThread(napi_env env, int32_t tid, const char* fn) {
  if (tid == 0) return true;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d", tid);
  if (access(path, F_OK) == 0) return true;
  char msg[128];
  snprintf(msg, sizeof msg, "%s: %d is not a thread of this process", fn, tid);
  napi_throw_error(env, NULL, msg);
  return false;
}

/* setThreadCpus(tid, cpus): sched_setaffinity on one thread id (0 = the caller), so the daemon pins its control thread
 * without running taskset. Only threads of this process are accepted: the call is for the daemon's own threads. */
static napi_value SetThreadCpus(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t tid = -1;
  bool isArray = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_int32(env, argv[0], &tid) != napi_ok || tid < 0 ||
      napi_is_array(env, argv[1], &isArray) != napi_ok || !isArray) {
    napi_throw_type_error(env, NULL, "gemm.setThreadCpus(tid, cpus): tid must be a thread id >= 0, cpus an array of CPU numbers");
    return NULL;
  }
  if (!isOwnThread(env, tid, "gemm.setThreadCpus")) return NULL;
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[1], &n));
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int32_t cpu = -1;
    CHECK(napi_get_element(env, argv[1], i, &v));
    if (napi_get_value_int32(env, v, &cpu) != napi_ok || cpu < 0 || cpu >= CPU_SETSIZE) {
      napi_throw_range_error(env, NULL, "gemm.setThreadCpus: each CPU must be an integer in [0, CPU_SETSIZE)");
      return NULL;
    }
    CPU_SET(cpu, &set);
  }
  if (n == 0) {
    napi_throw_range_error(env, NULL, "gemm.setThreadCpus: no CPU given");
    return NULL;
  }
  if (sched_setaffinity((pid_t)tid, sizeof set, &set) != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "sched_setaffinity(%d): %s", tid, strerror(errno));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  return NULL;
}

/* setThreadRealtime(tid, priority): sched_setscheduler on one thread id (0 = the caller), SCHED_FIFO at priority 1-99
 * (reset on fork: a process the thread starts is not real-time) or SCHED_OTHER for 0. Threads of this process only. */
static napi_value SetThreadRealtime(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t tid = -1, prio = -1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_int32(env, argv[0], &tid) != napi_ok || tid < 0 || napi_get_value_int32(env, argv[1], &prio) != napi_ok ||
      prio < 0 || prio > 99) {
    napi_throw_type_error(env, NULL, "gemm.setThreadRealtime(tid, priority): tid must be a thread id >= 0, priority an integer in [0, 99] (0: SCHED_OTHER)");
    return NULL;
  }
  if (!isOwnThread(env, tid, "gemm.setThreadRealtime")) return NULL;
  struct sched_param sp;
  memset(&sp, 0, sizeof sp);
  sp.sched_priority = prio;
  int policy = prio > 0 ? (SCHED_FIFO | SCHED_RESET_ON_FORK) : SCHED_OTHER;
  if (sched_setscheduler((pid_t)tid, policy, &sp) != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "sched_setscheduler(%d, %s, %d): %s", tid, prio > 0 ? "SCHED_FIFO" : "SCHED_OTHER", prio, strerror(errno));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
      {"threadStats", NULL, ThreadStats, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, Adam, NULL, NULL, NULL, napi_default, NULL},
      {"adamPolyak", NULL, AdamPolyak, NULL, NULL, NULL, napi_default, NULL},
      {"lerp", NULL, Lerp, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, LayerNorm, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, LayerNormGrad, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormRelu", NULL, LayerNormRelu, NULL, NULL, NULL, napi_default, NULL},
      {"reluLayerNormGrad", NULL, ReluLayerNormGrad, NULL, NULL, NULL, napi_default, NULL},
      {"reluLayerNormGradEx", NULL, ReluLayerNormGradEx, NULL, NULL, NULL, napi_default, NULL},
      {"conv", NULL, Conv, NULL, NULL, NULL, napi_default, NULL},
      {"gatherImages", NULL, GatherImages, NULL, NULL, NULL, napi_default, NULL},
      {"convBiasRelu", NULL, ConvBiasRelu, NULL, NULL, NULL, napi_default, NULL},
      {"convTrunk", NULL, ConvTrunk, NULL, NULL, NULL, napi_default, NULL},
      {"convTrunkGrad", NULL, ConvTrunkGrad, NULL, NULL, NULL, napi_default, NULL},
      {"setConvDirect", NULL, SetConvDirect, NULL, NULL, NULL, napi_default, NULL},
      {"setConvWide", NULL, SetConvWide, NULL, NULL, NULL, napi_default, NULL},
      {"sumRows", NULL, SumRows, NULL, NULL, NULL, napi_default, NULL},
      {"sumRowsFloat", NULL, SumRowsFloat, NULL, NULL, NULL, napi_default, NULL},
      {"addRow", NULL, AddRow, NULL, NULL, NULL, napi_default, NULL},
      {"relu", NULL, Relu, NULL, NULL, NULL, napi_default, NULL},
      {"reluGrad", NULL, ReluGrad, NULL, NULL, NULL, napi_default, NULL},
      {"reluGradSumRows", NULL, ReluGradSumRows, NULL, NULL, NULL, napi_default, NULL},
      {"setQueue", NULL, SetQueue, NULL, NULL, NULL, napi_default, NULL},
      {"sync", NULL, Sync, NULL, NULL, NULL, napi_default, NULL},
      {"mark", NULL, Mark, NULL, NULL, NULL, napi_default, NULL},
      {"syncTo", NULL, SyncTo, NULL, NULL, NULL, napi_default, NULL},
      {"threadCpuMs", NULL, ThreadCpuMs, NULL, NULL, NULL, napi_default, NULL},
      {"setPrecision", NULL, SetPrecision, NULL, NULL, NULL, napi_default, NULL},
      {"setThreadCpus", NULL, SetThreadCpus, NULL, NULL, NULL, napi_default, NULL},
      {"setThreadRealtime", NULL, SetThreadRealtime, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
