/*
 * bf16-gemm: oneDNN matmul with bf16 inputs and f32 output against OpenBLAS's cblas_sgemm, on the learner's GEMM
 * shapes (batch 256, MLP hidden 256). Times one GEMM with the primitive cached; the bf16 figure includes rounding
 * both f32 inputs to bf16 (the engine's weights and activations stay f32). Two-thread rows: the output cut in two
 * row halves, one per thread (as native/gemm.c does), and oneDNN's own OpenMP threads.
 * Build and run: bash bench/native/bf16-gemm.sh
 */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void openblas_set_num_threads(int);
char *openblas_get_config(void);

#define CK(x)                                                          \
  do {                                                                 \
    dnnl_status_t s_ = (x);                                            \
    if (s_ != dnnl_success) {                                          \
      fprintf(stderr, "%s:%d %s -> %d\n", __FILE__, __LINE__, #x, s_); \
      exit(1);                                                         \
    }                                                                  \
  } while (0)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Round to nearest even, 16 values at a time with AVX512_BF16. */
__attribute__((target("avx512f,avx512bf16,avx512vl"))) static void to_bf16(const float *x, uint16_t *y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256((__m256i *)(y + i), (__m256i)v);
  }
  for (; i < n; i++) {
    uint32_t u;
    memcpy(&u, x + i, 4);
    u += 0x7fff + ((u >> 16) & 1);
    y[i] = (uint16_t)(u >> 16);
  }
}

static dnnl_engine_t eng;
static dnnl_stream_t strm;

typedef struct {
  int tA, tB, M, N, K; /* C[M,N] = op(A) op(B), A stored [M,K] or [K,M] (tA), B [K,N] or [N,K] (tB), row-major */
  dnnl_primitive_t prim;
  dnnl_memory_t ma, mb, mc;
  uint16_t *a16, *b16;
} Mm;

static void mm_init(Mm *m, int tA, int tB, int M, int N, int K, int lda, int ldb, int ldc) {
  m->tA = tA, m->tB = tB, m->M = M, m->N = N, m->K = K;
  dnnl_memory_desc_t a, b, c;
  dnnl_dims_t da = {M, K}, db = {K, N}, dc = {M, N};
  dnnl_dims_t sa = {tA ? 1 : lda, tA ? lda : 1}, sb = {tB ? 1 : ldb, tB ? ldb : 1}, sc = {ldc, 1};
  CK(dnnl_memory_desc_init_by_strides(&a, 2, da, dnnl_bf16, sa));
  CK(dnnl_memory_desc_init_by_strides(&b, 2, db, dnnl_bf16, sb));
  CK(dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc));
  dnnl_matmul_desc_t d;
  CK(dnnl_matmul_desc_init(&d, &a, &b, NULL, &c));
  dnnl_primitive_desc_t pd;
  CK(dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL));
  const char *impl = NULL;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  static int said;
  if (said++ < 8) fprintf(stderr, "  oneDNN impl for %dx%dx%d tA%d tB%d: %s\n", M, N, K, tA, tB, impl);
  CK(dnnl_primitive_create(&m->prim, pd));
  CK(dnnl_memory_create(&m->ma, &a, eng, DNNL_MEMORY_NONE));
  CK(dnnl_memory_create(&m->mb, &b, eng, DNNL_MEMORY_NONE));
  CK(dnnl_memory_create(&m->mc, &c, eng, DNNL_MEMORY_NONE));
  dnnl_primitive_desc_destroy(pd);
}

static void mm_run(Mm *m, const uint16_t *a, const uint16_t *b, float *c) {
  CK(dnnl_memory_set_data_handle(m->ma, (void *)a));
  CK(dnnl_memory_set_data_handle(m->mb, (void *)b));
  CK(dnnl_memory_set_data_handle(m->mc, c));
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m->ma}, {DNNL_ARG_WEIGHTS, m->mb}, {DNNL_ARG_DST, m->mc}};
  CK(dnnl_primitive_execute(m->prim, strm, 3, args));
}

typedef struct {
  const char *name;
  int tA, tB, M, N, K;
} Shape;

static double median(double *x, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
      double t = x[j];
      x[j] = x[j - 1], x[j - 1] = t;
    }
  return x[n / 2];
}

#define REPS 15
#define ITERS 200

int main(int argc, char **argv) {
  (void)argc, (void)argv;
  openblas_set_num_threads(1);
  fprintf(stderr, "OpenBLAS: %s\n", openblas_get_config());
  CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
  Shape shapes[] = {
      {"fwd 256x48 @ 48x256", 0, 0, 256, 256, 48},
      {"fwd 256x256 @ 256x256", 0, 0, 256, 256, 256},
      {"dX 256x256 @ (256x256)^T", 0, 1, 256, 256, 256},
      {"dW (256x256)^T @ 256x256", 1, 0, 256, 256, 256},
      {"dW (256x48)^T @ 256x256", 1, 0, 48, 256, 256},
  };
  const int ns = sizeof shapes / sizeof shapes[0];
  printf("{\"openblas\": \"%s\", \"rows\": [\n", openblas_get_config());
  for (int s = 0; s < ns; s++) {
    const Shape *sh = &shapes[s];
    const int M = sh->M, N = sh->N, K = sh->K;
    const size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = aligned_alloc(64, na * 4 + 64), *B = aligned_alloc(64, nb * 4 + 64), *C = aligned_alloc(64, nc * 4 + 64),
          *C2 = aligned_alloc(64, nc * 4 + 64);
    uint16_t *A16 = aligned_alloc(64, na * 2 + 64), *B16 = aligned_alloc(64, nb * 2 + 64);
    srand(s + 1);
    for (size_t i = 0; i < na; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < nb; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
    const int lda = sh->tA ? M : K, ldb = sh->tB ? K : N;
    /* Whole shape (one thread / oneDNN OpenMP), and the two row halves (the engine's cut, 16-aligned). */
    Mm whole, half[2];
    const int cut = ((M / 2 + 15) / 16) * 16;
    mm_init(&whole, sh->tA, sh->tB, M, N, K, lda, ldb, N);
    mm_init(&half[0], sh->tA, sh->tB, cut, N, K, lda, ldb, N);
    mm_init(&half[1], sh->tA, sh->tB, M - cut, N, K, lda, ldb, N);
    const double flop = 2.0 * M * N * K;
    double t[6][REPS];
    double err = 0, ref = 0;
    for (int r = 0; r < REPS; r++) {
      double t0;
      /* 0: sgemm 1 thread */
      t0 = now();
      for (int i = 0; i < ITERS; i++)
        cblas_sgemm(RowMajor, sh->tA ? Trans : NoTrans, sh->tB ? Trans : NoTrans, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, N);
      t[0][r] = (now() - t0) / ITERS;
      /* 1: bf16 1 thread, conversion included */
      omp_set_num_threads(1);
      t0 = now();
      for (int i = 0; i < ITERS; i++) {
        to_bf16(A, A16, na);
        to_bf16(B, B16, nb);
        mm_run(&whole, A16, B16, C2);
      }
      t[1][r] = (now() - t0) / ITERS;
      /* 2: bf16 1 thread, GEMM only */
      t0 = now();
      for (int i = 0; i < ITERS; i++) mm_run(&whole, A16, B16, C2);
      t[2][r] = (now() - t0) / ITERS;
      /* 3: sgemm, two row halves on two threads */
      t0 = now();
      for (int i = 0; i < ITERS; i++) {
#pragma omp parallel num_threads(2)
        {
          const int h = omp_get_thread_num(), r0 = h ? cut : 0, m = h ? M - cut : cut;
          const float *a = sh->tA ? A + r0 : A + (size_t)r0 * lda;
          cblas_sgemm(RowMajor, sh->tA ? Trans : NoTrans, sh->tB ? Trans : NoTrans, m, N, K, 1.f, a, lda, B, ldb, 0.f, C + (size_t)r0 * N, N);
        }
      }
      t[3][r] = (now() - t0) / ITERS;
      /* 4: bf16, conversion then two row halves on two threads (each thread converts half of each input) */
      t0 = now();
      for (int i = 0; i < ITERS; i++) {
#pragma omp parallel num_threads(2)
        {
          const int h = omp_get_thread_num(), r0 = h ? cut : 0;
          to_bf16(A + (h ? na / 2 : 0), A16 + (h ? na / 2 : 0), h ? na - na / 2 : na / 2);
          to_bf16(B + (h ? nb / 2 : 0), B16 + (h ? nb / 2 : 0), h ? nb - nb / 2 : nb / 2);
#pragma omp barrier
          const uint16_t *a = sh->tA ? A16 + r0 : A16 + (size_t)r0 * lda;
          mm_run(&half[h], a, B16, C2 + (size_t)r0 * N);
        }
      }
      t[4][r] = (now() - t0) / ITERS;
      /* 5: bf16 with oneDNN's own 2 OpenMP threads, conversion on one */
      omp_set_num_threads(2);
      t0 = now();
      for (int i = 0; i < ITERS; i++) {
        to_bf16(A, A16, na);
        to_bf16(B, B16, nb);
        mm_run(&whole, A16, B16, C2);
      }
      t[5][r] = (now() - t0) / ITERS;
      omp_set_num_threads(1);
    }
    cblas_sgemm(RowMajor, sh->tA ? Trans : NoTrans, sh->tB ? Trans : NoTrans, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, N);
    to_bf16(A, A16, na);
    to_bf16(B, B16, nb);
    mm_run(&whole, A16, B16, C2);
    for (size_t i = 0; i < nc; i++) err += fabs(C[i] - C2[i]), ref += fabs(C[i]);
    double conv[REPS];
    for (int r = 0; r < REPS; r++) {
      double t0 = now();
      for (int i = 0; i < ITERS; i++) to_bf16(A, A16, na), to_bf16(B, B16, nb);
      conv[r] = (now() - t0) / ITERS;
    }
    double md[6];
    for (int k = 0; k < 6; k++) md[k] = median(t[k], REPS);
    const double mconv = median(conv, REPS);
    printf("  {\"shape\": \"%s\", \"tA\": %d, \"tB\": %d, \"M\": %d, \"N\": %d, \"K\": %d,\n", sh->name, sh->tA, sh->tB, M, N, K);
    printf("   \"us\": {\"sgemm1\": %.1f, \"bf16_1_with_convert\": %.1f, \"bf16_1_gemm_only\": %.1f, \"convert_only\": %.1f,"
           " \"sgemm2_halves\": %.1f, \"bf16_2_halves_with_convert\": %.1f, \"bf16_2_onednn_omp_with_convert\": %.1f},\n",
           md[0] * 1e6, md[1] * 1e6, md[2] * 1e6, mconv * 1e6, md[3] * 1e6, md[4] * 1e6, md[5] * 1e6);
    printf("   \"gflops\": {\"sgemm1\": %.1f, \"bf16_1_with_convert\": %.1f, \"bf16_1_gemm_only\": %.1f, \"sgemm2_halves\": %.1f,"
           " \"bf16_2_halves_with_convert\": %.1f, \"bf16_2_onednn_omp_with_convert\": %.1f},\n",
           flop / md[0] / 1e9, flop / md[1] / 1e9, flop / md[2] / 1e9, flop / md[3] / 1e9, flop / md[4] / 1e9, flop / md[5] / 1e9);
    printf("   \"ratio_bf16_over_fp32\": {\"one_thread_with_convert\": %.2f, \"two_threads_halves_with_convert\": %.2f},"
           " \"rel_l1_error\": %.2e}%s\n",
           md[0] / md[1], md[3] / md[4], err / ref, s + 1 < ns ? "," : "");
    fprintf(stderr, "%-28s sgemm1 %6.1f GF/s  bf16(1,+cvt) %6.1f  bf16(1,gemm) %6.1f  | sgemm2 %6.1f  bf16(2,+cvt) %6.1f  dnnl-omp2 %6.1f | ratio1 %.2f ratio2 %.2f err %.1e\n",
            sh->name, flop / md[0] / 1e9, flop / md[1] / 1e9, flop / md[2] / 1e9, flop / md[3] / 1e9, flop / md[4] / 1e9,
            flop / md[5] / 1e9, md[0] / md[1], md[3] / md[4], err / ref);
    free(A), free(B), free(C), free(C2), free(A16), free(B16);
  }
  printf("]}\n");
  return 0;
}
