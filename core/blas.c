#include "blas.h"

#include <stddef.h>

#include <cblas.h>

#include "pool.h"

typedef struct {
    bool ta, tb, split_rows;
    int M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

/* Blocks are rounded to 16 rows/columns so each thread's panel stays kernel-friendly. */
static void gemm_part(void *ctx, size_t b, size_t e, int worker)
{
    const gemm_job *j = ctx;
    (void)worker;
    int lo = (int)b * 16, hi = (int)e * 16;
    if (j->split_rows) {
        if (hi > j->M)
            hi = j->M;
        if (lo >= hi)
            return;
        const float *A = j->ta ? j->A + lo : j->A + (size_t)lo * j->lda;
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans,
                    j->tb ? CblasTrans : CblasNoTrans, hi - lo, j->N, j->K, j->alpha, A, j->lda,
                    j->B, j->ldb, j->beta, j->C + (size_t)lo * j->ldc, j->ldc);
    } else {
        if (hi > j->N)
            hi = j->N;
        if (lo >= hi)
            return;
        const float *B = j->tb ? j->B + (size_t)lo * j->ldb : j->B + lo;
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans,
                    j->tb ? CblasTrans : CblasNoTrans, j->M, hi - lo, j->K, j->alpha, j->A,
                    j->lda, B, j->ldb, j->beta, j->C + lo, j->ldc);
    }
}

void rill_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    gemm_job j = {trans_a, trans_b, M >= N, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    int span = j.split_rows ? M : N;
    size_t blocks = (size_t)(span + 15) / 16;
    /* small products are not worth waking a thread for */
    double flops = 2.0 * M * N * (K > 0 ? K : 1);
    if (flops < 2e5 || rill_pool_threads() == 1)
        gemm_part(&j, 0, blocks, 0);
    else
        rill_parallel_for(blocks, 1, gemm_part, &j);
}

void rill_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C,
                    int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * (double)b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)((double)alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * (double)*c));
        }
}
