/*
 * gemm.node: single-precision GEMM for the tfjs trainer, through a system BLAS (OpenBLAS's cblas_sgemm).
 *
 * Why dlopen and not link: the addon then builds with only a C compiler and Node's own headers (no -dev package,
 * no download), and a machine without OpenBLAS still loads it and gets a clear "no BLAS" error, so the trainer
 * falls back to tfjs-wasm's own matMul. The library path is chosen by the JS side (src/learn/gemm.ts).
 *
 * Exports:
 *   open(path) -> string            dlopen + dlsym cblas_sgemm; returns openblas_get_config() (or "") ; throws on failure
 *   setThreads(n)                   openblas_set_num_threads when the library has it
 *   sgemm(tA, tB, batch, M, N, K, A, strideA, B, strideB, C, bias, biasMode, act, alpha)
 *        C[b] = act(op(A[b]) op(B[b]) + bias) for b < batch, all row-major float32, op = transpose when tA/tB.
 *        strideA/strideB: elements between batch items (0 = broadcast one matrix). C is dense [batch, M, N].
 *        biasMode: 0 none, 1 a row vector of N (added to every row), 2 a scalar.
 *        act: 0 linear, 1 relu, 2 relu6, 3 elu, 4 sigmoid, 5 leakyrelu(alpha).
 *   adam(w, g, m, v, out, lr, beta1, beta2, eps, c1, c2)   one Adam step, element-wise, in double precision like
 *        the JS loop it replaces (src/learn/optim.ts HeapAdam): m, v updated in place, out = the new weights.
 *   lerp(out, s, t, tau)            out = tau * s + (1 - tau) * t (Polyak averaging), in double precision.
 *   layerNorm(x, gamma, beta, y, eps)               y = (x - mean) / sqrt(var + eps) * gamma + beta per row of
 *        gamma.length values (the last axis); layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, eps) its gradients.
 *        Row statistics two-pass in float (the JS fallback kernels in src/learn/backend.ts use doubles).
 *   conv(mode, dims, a, b, out)     NHWC 2-D convolution (no dilation) as im2col + sgemm over chunks of output pixels;
 *        dims = Int32Array [N, H, W, Ci, KH, KW, Co, strideH, strideW, padTop, padLeft, OH, OW], filter [KH, KW, Ci, Co].
 *        mode 0: out y [N, OH, OW, Co] = conv(a = x, b = filter);
 *        mode 1: out dx [N, H, W, Ci] = the input gradient from a = dy, b = filter (GEMM then col2im);
 *        mode 2: out dW [KH, KW, Ci, Co] = the filter gradient from a = x, b = dy.
 *   sumRows(x, out)                 out[k] = sum over rows of x[row, k] (rows of out.length values; double accumulators)
 *   addRow(a, b, out)               out[i] = a[i] + b[i % b.length] (a bias row added to every row)
 *   relu(x)                         x = max(x, 0) in place; reluGrad(dy, y, dx): dx = y > 0 ? dy : 0 (y = relu's output).
 *        For the fused MLP heads (src/learn/fused.ts): element loops in C instead of JS (several times faster there).
 *   Every array is a Float32Array (views on the wasm heap work: no copy); sizes are checked before any access.
 */
#include <dlfcn.h>
#include <math.h>
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
  if (g_set_threads) g_set_threads(n);
  napi_value r;
  CHECK(napi_get_boolean(env, g_set_threads != NULL, &r));
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
 * same order (no FMA contraction under -std=c11, no reassociation), so results equal the baseline clone's. */
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
    float *restrict c = C + (uint64_t)b * mn;
    /* A bias is the initial C (beta = 1): no second pass over the output for it. */
    if (biasMode == 1)
      for (int32_t i = 0; i < M; i++) memcpy(c + (uint64_t)i * N, bias, sizeof(float) * N);
    else if (biasMode == 2)
      for (uint64_t t = 0; t < mn; t++) c[t] = bias[0];
    g_sgemm(RowMajor, tA ? Trans : NoTrans, tB ? Trans : NoTrans, M, N, K, 1.0f, A + (uint64_t)b * sA, lda, B + (uint64_t)b * sB, ldb,
            biasMode ? 1.0f : 0.0f, c, N);
    epilogue(c, mn, act, leak);
  }
  return NULL;
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


VEC_CLONES static void adam_loop(const float *restrict W, const float *restrict G, float *restrict M, float *restrict V, float *restrict O, size_t n,
                      double lr, double b1, double b2, double eps, double c1, double c2) {
  for (size_t k = 0; k < n; k++) {
    const double gk = G[k];
    const double mk = b1 * (double)M[k] + (1 - b1) * gk;
    const double sk = b2 * (double)V[k] + (1 - b2) * gk * gk;
    M[k] = (float)mk;
    V[k] = (float)sk;
    O[k] = (float)((double)W[k] - lr * (mk / c1) / (sqrt(sk / c2) + eps));
  }
}

static napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value a[11];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 11) {
    napi_throw_type_error(env, NULL, "gemm.adam: expected 11 arguments");
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
  /* The same operations in the same order as the JS loop (doubles, float32 stores; -std=c11 keeps FMA contraction
   * off), so both give identical weights. */
  /* Distinct buffers (the JS side passes fresh moment arrays and a fresh output): restrict lets the loop vectorise. */
  if (out == w || out == g || out == m || out == v || m == v) {
    napi_throw_range_error(env, NULL, "gemm.adam: out, m and v must be distinct buffers");
    return NULL;
  }
  adam_loop(w, g, m, v, out, lw, lr, b1, b2, eps, c1, c2);
  return NULL;
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
  for (size_t k = 0; k < lo; k++) out[k] = (float)(tau * src[k] + (1 - tau) * tgt[k]);
  return NULL;
}

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

VEC_CLONES static void ln_rows(const float *restrict X, const float *restrict G, const float *restrict Bt, float *restrict Y, size_t lx, size_t c, float eps, float *restrict tmp) {
  for (size_t o = 0; o < lx; o += c) {
    float mu, r;
    row_stats(X + o, c, eps, tmp, &mu, &r);
    for (size_t k = 0; k < c; k++) Y[o + k] = (X[o + k] - mu) * r * G[k] + Bt[k];
  }
}

VEC_CLONES static void ln_grad_rows(const float *restrict DY, const float *restrict X, const float *restrict G, float *restrict DX, float *restrict accG,
                                   float *restrict accB, float *restrict xh, float *restrict gg, float *restrict tmp, size_t lx, size_t c, float eps) {
  for (size_t o = 0; o < lx; o += c) {
    float mu, r;
    row_stats(X + o, c, eps, tmp, &mu, &r);
    for (size_t k = 0; k < c; k++) {
      const float xk = (X[o + k] - mu) * r, d = DY[o + k], gk = d * G[k];
      xh[k] = xk;
      gg[k] = gk;
      tmp[k] = gk * xk;
      accG[k] += d * xk;
      accB[k] += d;
    }
    const float s1 = sum8(gg, c) / (float)c, s2 = sum8(tmp, c) / (float)c;
    for (size_t k = 0; k < c; k++) DX[o + k] = r * (gg[k] - s1 - xh[k] * s2);
  }
}

static napi_value LayerNorm(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *x, *g, *b, *y;
  size_t lx, lg, lb, ly;
  double eps;
  if (argc != 5 || !f32(env, a[0], &x, &lx, "x") || !f32(env, a[1], &g, &lg, "gamma") || !f32(env, a[2], &b, &lb, "beta") ||
      !f32(env, a[3], &y, &ly, "y") || !dbl(env, a[4], &eps, "eps"))
    return NULL;
  if (lg == 0 || lb != lg || ly != lx || lx % lg != 0) {
    napi_throw_range_error(env, NULL, "gemm.layerNorm: x and y must be rows of gamma.length values; beta as gamma");
    return NULL;
  }
  if (lg > 65536) {
    napi_throw_range_error(env, NULL, "gemm.layerNorm: rows longer than 65536 values");
    return NULL;
  }
  /* Scratch per call (not static): the addon may be loaded in more than one thread (worker_threads). */
  float *tmp = (float *)malloc(sizeof(float) * lg);
  if (!tmp) {
    napi_throw_error(env, NULL, "gemm.layerNorm: out of memory");
    return NULL;
  }
  ln_rows(x, g, b, y, lx, lg, (float)eps, tmp);
  free(tmp);
  return NULL;
}

static napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *dy, *x, *g, *dx, *dg, *db;
  size_t ldy, lx, lg, ldx, ldg, ldb;
  double eps;
  if (argc != 7 || !f32(env, a[0], &dy, &ldy, "dy") || !f32(env, a[1], &x, &lx, "x") || !f32(env, a[2], &g, &lg, "gamma") ||
      !f32(env, a[3], &dx, &ldx, "dx") || !f32(env, a[4], &dg, &ldg, "dgamma") || !f32(env, a[5], &db, &ldb, "dbeta") ||
      !dbl(env, a[6], &eps, "eps"))
    return NULL;
  if (lg == 0 || lg > 65536 || ldy != lx || ldx != lx || ldg != lg || ldb != lg || lx % lg != 0) {
    napi_throw_range_error(env, NULL, "gemm.layerNormGrad: dy, x, dx must be rows of gamma.length (<= 65536) values; dgamma, dbeta as gamma");
    return NULL;
  }
  const size_t c = lg;
  /* Scratch per call (not static): the addon may be loaded in more than one thread (worker_threads). */
  float *scratch = (float *)calloc(5 * c, sizeof(float));
  if (!scratch) {
    napi_throw_error(env, NULL, "gemm.layerNormGrad: out of memory");
    return NULL;
  }
  float *accG = scratch, *accB = scratch + c, *xh = scratch + 2 * c, *gg = scratch + 3 * c, *tmp = scratch + 4 * c;
  ln_grad_rows(dy, x, g, dx, accG, accB, xh, gg, tmp, lx, c, (float)eps);
  memcpy(dg, accG, c * sizeof(float));
  memcpy(db, accB, c * sizeof(float));
  free(scratch);
  return NULL;
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

static napi_value Conv(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  int32_t mode = -1;
  if (argc != 5 || !i32(env, a[0], &mode, "mode")) return NULL;
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
  if (lA != want[mode][0] || lB != want[mode][1] || lO != want[mode][2]) {
    napi_throw_range_error(env, NULL, "gemm.conv: array sizes do not match dims");
    return NULL;
  }
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
      g_sgemm(RowMajor, NoTrans, NoTrans, m, d.Co, (int)kk, 1.0f, cols, (int)kk, B, d.Co, 0.0f, O + p0 * d.Co, d.Co);
    } else if (mode == 1) {
      /* dcols[p, :] = dy[p, :] . W^T, then scattered back */
      g_sgemm(RowMajor, NoTrans, Trans, m, (int)kk, d.Co, 1.0f, A + p0 * d.Co, d.Co, B, d.Co, 0.0f, cols, (int)kk);
      col2im(cols, &d, p0, p1, O);
    } else {
      im2col(A, &d, p0, p1, cols); /* dW[kk, Co] += cols^T . dy */
      g_sgemm(RowMajor, Trans, NoTrans, (int)kk, d.Co, m, 1.0f, cols, (int)kk, B + p0 * d.Co, d.Co, p0 == 0 ? 0.0f : 1.0f, O, d.Co);
    }
  }
  free(cols);
  return NULL;
}

static napi_value SumRows(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *x, *out;
  size_t lx, lo;
  if (argc != 2 || !f32(env, a[0], &x, &lx, "x") || !f32(env, a[1], &out, &lo, "out")) return NULL;
  if (lo == 0 || lx % lo != 0) {
    napi_throw_range_error(env, NULL, "gemm.sumRows: x must be rows of out.length values");
    return NULL;
  }
  double *acc = (double *)calloc(lo, sizeof(double));
  if (!acc) {
    napi_throw_error(env, NULL, "gemm.sumRows: out of memory");
    return NULL;
  }
  for (size_t o = 0; o < lx; o += lo)
    for (size_t k = 0; k < lo; k++) acc[k] += x[o + k];
  for (size_t k = 0; k < lo; k++) out[k] = (float)acc[k];
  free(acc);
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
  for (size_t o = 0; o < lx; o += lb)
    for (size_t k = 0; k < lb; k++) out[o + k] = x[o + k] + b[k];
  return NULL;
}

VEC_CLONES static void relu_loop(float *restrict x, size_t n) {
  for (size_t k = 0; k < n; k++) x[k] = x[k] > 0 ? x[k] : 0;
}

VEC_CLONES static void relu_grad_loop(const float *restrict dy, const float *restrict y, float *restrict dx, size_t n) {
  for (size_t k = 0; k < n; k++) dx[k] = y[k] > 0 ? dy[k] : 0;
}

static napi_value Relu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  float *x;
  size_t lx;
  if (argc != 1 || !f32(env, a[0], &x, &lx, "x")) return NULL;
  relu_loop(x, lx);
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
  relu_grad_loop(dy, y, dx, ldy);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, Adam, NULL, NULL, NULL, napi_default, NULL},
      {"lerp", NULL, Lerp, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, LayerNorm, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, LayerNormGrad, NULL, NULL, NULL, napi_default, NULL},
      {"conv", NULL, Conv, NULL, NULL, NULL, napi_default, NULL},
      {"sumRows", NULL, SumRows, NULL, NULL, NULL, napi_default, NULL},
      {"addRow", NULL, AddRow, NULL, NULL, NULL, napi_default, NULL},
      {"relu", NULL, Relu, NULL, NULL, NULL, napi_default, NULL},
      {"reluGrad", NULL, ReluGrad, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
