/* GEMM through OpenBLAS, split over the engine's pool: each thread multiplies a block of rows
 * (or columns) of C with a single-threaded cblas_sgemm. Row-major, C = alpha op(A) op(B) + beta C,
 * op(A) M x K, op(B) K x N. rill_sgemm_ref is the plain loop the tests compare against. */
#ifndef RILL_BLAS_H
#define RILL_BLAS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* The precision of a run's dense GEMMs (rill.train{ precision = }). */
typedef enum { RILL_FP32 = 0, RILL_BF16 = 1 } rill_precision;

void rill_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);
void rill_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C,
                    int ldc);

/* The dense layers' GEMM (mlp, tower, cross, gate) at the run's precision. RILL_FP32 is
 * rill_sgemm. RILL_BF16 rounds A and B to bfloat16 (to nearest, ties to even) and multiplies
 * them through oneDNN with f32 accumulation into the f32 C, split over the pool as rill_sgemm
 * is (core/gemm_bf16.c); it fails only when oneDNN does (no kernel, no memory). Products
 * thinner than a bf16 tile (K < 32, M or N < 16) run in fp32 at either precision
 * (rill_gemm_is_bf16 says which a product gets). */
int rill_gemm(rill_precision p, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
              rill_err *err);
bool rill_gemm_is_bf16(rill_precision p, int M, int N, int K);
/* rill_gemm with the operands' bf16 copies, where the kernel that wrote A or B also rounded
 * it (an epilogue, while the rows were in cache): A16 and B16, when not NULL, hold A and B
 * rounded by rill_bf16_round, in the same layout and leading dimension. They are read instead
 * of rounding again where the product's split takes the matrix as it is stored (see
 * core/gemm_bf16.c); the f32 values are read otherwise, so the result is the same either way. */
int rill_gemm_h(rill_precision p, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                const float *A, const uint16_t *A16, int lda, const float *B, const uint16_t *B16,
                int ldb, float beta, float *C, int ldc, rill_err *err);
int rill_gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   const uint16_t *A16, int lda, const float *B, const uint16_t *B16, int ldb,
                   float beta, float *C, int ldc, rill_err *err);

/* RILL_OK when this CPU can run bf16 GEMMs: it has AMX-BF16 or AVX512-BF16 (and the OS has
 * their registers on), and oneDNN makes a bf16 matmul; *kernel (may be NULL) is then the
 * implementation oneDNN chose, e.g. "brg:avx512_core_amx_bf16". Else err says what the CPU
 * lacks. RILL_HIDE_BF16=1 in the environment hides both features (for tests). */
int rill_bf16_check(const char **kernel, rill_err *err);
void rill_cpu_bf16(bool *amx, bool *avx512_bf16);
uint16_t rill_bf16_round(float f);
void rill_bf16_round_row(uint16_t *d, const float *s, int n); /* d[i] = rill_bf16_round(s[i]) */
/* dst (rows x cols, dense) = src (rows x cols, row stride ld) rounded, split over the pool */
void rill_bf16_round_rows(uint16_t *dst, const float *src, int rows, int cols, int ld);
float rill_bf16_float(uint16_t h);

/* Benchmark support: while recording, every rill_sgemm and rill_gemm call's shape and
 * precision are counted; the replay times each recorded shape again at its precision (same
 * split over the pool) and returns the seconds all the recorded calls take at that rate, and
 * their FLOPs. record returns the previous state. */
bool rill_sgemm_record(bool on);
void rill_sgemm_record_reset(void);
/* openblas_threads: time OpenBLAS splitting each fp32 product over its own threads (as many
 * as the pool has) instead of the pool's split. */
int rill_sgemm_replay(int repeats, bool openblas_threads, double *seconds, double *flops);
/* Wall time spent inside rill_sgemm and rill_gemm while recording. */
double rill_sgemm_recorded_seconds(void);

#endif
