/* GEMM through OpenBLAS, split over the engine's pool: each thread multiplies a block of rows
 * (or columns) of C with a single-threaded cblas_sgemm. Row-major, C = alpha op(A) op(B) + beta C,
 * op(A) M x K, op(B) K x N. rill_sgemm_ref is the plain loop the tests compare against. */
#ifndef RILL_BLAS_H
#define RILL_BLAS_H

#include <stdbool.h>

void rill_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);
void rill_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C,
                    int ldc);

/* Benchmark support: while recording, every rill_sgemm call's shape is counted; the replay
 * times each recorded shape again (same split over the pool) and returns the seconds all the
 * recorded calls take at that rate, and their FLOPs. record returns the previous state. */
bool rill_sgemm_record(bool on);
void rill_sgemm_record_reset(void);
/* openblas_threads: time OpenBLAS splitting each product over its own threads (as many as
 * the pool has) instead of the pool's split. */
int rill_sgemm_replay(int repeats, bool openblas_threads, double *seconds, double *flops);
/* Wall time spent inside rill_sgemm while recording. */
double rill_sgemm_recorded_seconds(void);

#endif
