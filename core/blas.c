#include "blas.h"

#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "pool.h"
#include "util.h"

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

#define MAX_SHAPES 128

static struct {
    bool on;
    int n;
    struct {
        bool ta, tb, bf16;
        bool a16, b16; /* bf16: the caller gave A's, B's bf16 copy */
        int M, N, K;
        float beta;
        unsigned long calls;
        double seconds; /* time spent in these calls while recording */
    } shape[MAX_SHAPES];
} rec;

bool rill_sgemm_record(bool on)
{
    bool was = rec.on;
    rec.on = on;
    return was;
}

void rill_sgemm_record_reset(void)
{
    rec.n = 0;
}

static int record(bool bf16, bool a16, bool b16, bool ta, bool tb, int M, int N, int K,
                  float beta)
{
    for (int i = 0; i < rec.n; i++)
        if (rec.shape[i].bf16 == bf16 && rec.shape[i].a16 == a16 && rec.shape[i].b16 == b16 &&
            rec.shape[i].ta == ta && rec.shape[i].tb == tb && rec.shape[i].M == M &&
            rec.shape[i].N == N && rec.shape[i].K == K && rec.shape[i].beta == beta) {
            rec.shape[i].calls++;
            return i;
        }
    if (rec.n < MAX_SHAPES) {
        rec.shape[rec.n].bf16 = bf16;
        rec.shape[rec.n].a16 = a16;
        rec.shape[rec.n].b16 = b16;
        rec.shape[rec.n].ta = ta;
        rec.shape[rec.n].tb = tb;
        rec.shape[rec.n].M = M;
        rec.shape[rec.n].N = N;
        rec.shape[rec.n].K = K;
        rec.shape[rec.n].beta = beta;
        rec.shape[rec.n].seconds = 0;
        rec.shape[rec.n++].calls = 1;
        return rec.n - 1;
    }
    return -1;
}

void rill_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    int shape = -1;
    double t0 = 0;
    if (rec.on) { /* only the trainer's thread calls GEMMs, so no lock */
        shape = record(false, false, false, trans_a, trans_b, M, N, K, beta);
        t0 = rill_now();
    }
    gemm_job j = {trans_a, trans_b, M >= N, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    int span = j.split_rows ? M : N;
    size_t blocks = (size_t)(span + 15) / 16;
    /* small products are not worth waking a thread for */
    double flops = 2.0 * M * N * (K > 0 ? K : 1);
    if (flops < 2e5 || rill_pool_threads() == 1)
        gemm_part(&j, 0, blocks, 0);
    else
        rill_parallel_for(blocks, 1, gemm_part, &j);
    if (shape >= 0)
        rec.shape[shape].seconds += rill_now() - t0;
}

bool rill_gemm_is_bf16(rill_precision p, int M, int N, int K)
{
    /* products too thin for a bf16 tile (16 rows of 32 pairs) stay fp32: rounding their
     * operands would cost more than the product (a layer's 13 inputs, a 1-wide logit) */
    return p == RILL_BF16 && K >= 32 && M >= 16 && N >= 16;
}

int rill_gemm_h(rill_precision p, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                const float *A, const uint16_t *A16, int lda, const float *B, const uint16_t *B16,
                int ldb, float beta, float *C, int ldc, rill_err *err)
{
    if (!rill_gemm_is_bf16(p, M, N, K)) {
        rill_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return RILL_OK;
    }
    int shape = -1;
    double t0 = 0;
    if (rec.on) {
        shape = record(true, A16 != NULL, B16 != NULL, trans_a, trans_b, M, N, K, beta);
        t0 = rill_now();
    }
    int rc = rill_gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, A16, lda, B, B16, ldb, beta, C,
                            ldc, err);
    if (shape >= 0)
        rec.shape[shape].seconds += rill_now() - t0;
    return rc;
}

int rill_gemm(rill_precision p, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
              rill_err *err)
{
    return rill_gemm_h(p, trans_a, trans_b, M, N, K, alpha, A, NULL, lda, B, NULL, ldb, beta, C,
                       ldc, err);
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

double rill_sgemm_recorded_seconds(void)
{
    double s = 0;
    for (int i = 0; i < rec.n; i++)
        s += rec.shape[i].seconds;
    return s;
}

int rill_sgemm_replay(int repeats, bool openblas_threads, double *seconds, double *flops)
{
    bool was = rec.on;
    double t0_global = 0;
    rec.on = false;
    *seconds = 0;
    *flops = 0;
    for (int i = 0; i < rec.n; i++) {
        int M = rec.shape[i].M, N = rec.shape[i].N, K = rec.shape[i].K;
        bool ta = rec.shape[i].ta, tb = rec.shape[i].tb;
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = calloc(na ? na : 1, sizeof *A), *Bm = calloc(nb ? nb : 1, sizeof *Bm),
              *C = calloc(nc, sizeof *C);
        if (!A || !Bm || !C) {
            free(A), free(Bm), free(C);
            rec.on = was;
            return -1;
        }
        for (size_t k = 0; k < na; k++)
            A[k] = (float)(k % 13) * 0.01f;
        for (size_t k = 0; k < nb; k++)
            Bm[k] = (float)(k % 7) * 0.01f;
        int lda = ta ? M : K, ldb = tb ? K : N;
        bool bf16 = rec.shape[i].bf16;
        double per;
        if (bf16) { /* oneDNN has no threads of its own here: the pool's split either way */
            /* the operands' bf16 copies where training had them */
            uint16_t *A16 = rec.shape[i].a16 ? malloc(na * sizeof *A16) : NULL;
            uint16_t *B16 = rec.shape[i].b16 ? malloc(nb * sizeof *B16) : NULL;
            int rc = (rec.shape[i].a16 && !A16) || (rec.shape[i].b16 && !B16);
            if (A16)
                rill_bf16_round_rows(A16, A, ta ? K : M, lda, lda);
            if (B16)
                rill_bf16_round_rows(B16, Bm, tb ? N : K, ldb, ldb);
            if (!rc)
                rc = rill_gemm_bf16(ta, tb, M, N, K, 1.0f, A, A16, lda, Bm, B16, ldb,
                                    rec.shape[i].beta, C, N, NULL);
            double t0 = rill_now();
            for (int r = 0; rc == 0 && r < repeats; r++)
                rc = rill_gemm_bf16(ta, tb, M, N, K, 1.0f, A, A16, lda, Bm, B16, ldb,
                                    rec.shape[i].beta, C, N, NULL);
            per = (rill_now() - t0) / repeats;
            free(A16);
            free(B16);
            if (rc) {
                free(A), free(Bm), free(C);
                rec.on = was;
                return -1;
            }
        } else if (openblas_threads) {
            /* OpenBLAS splitting the product over its own threads, one per pool thread */
            openblas_set_num_threads(rill_pool_threads());
            for (int r = -1; r < repeats; r++) {
                if (r == 0)
                    t0_global = rill_now();
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, Bm, ldb,
                            rec.shape[i].beta, C, N);
            }
            per = (rill_now() - t0_global) / repeats;
            openblas_set_num_threads(1);
        } else {
            rill_sgemm(ta, tb, M, N, K, 1.0f, A, lda, Bm, ldb, rec.shape[i].beta, C, N); /* warm */
            double t0 = rill_now();
            for (int r = 0; r < repeats; r++)
                rill_sgemm(ta, tb, M, N, K, 1.0f, A, lda, Bm, ldb, rec.shape[i].beta, C, N);
            per = (rill_now() - t0) / repeats;
        }
        if (getenv("RILL_GEMM_DETAIL") && !openblas_threads)
            fprintf(stderr, "gemm %s %c%c M=%d N=%d K=%d calls=%lu replay %.3f ms, in training %.3f ms\n",
                    bf16 ? "bf16" : "fp32", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, rec.shape[i].calls, per * 1e3,
                    rec.shape[i].seconds / (double)rec.shape[i].calls * 1e3);
        *seconds += per * (double)rec.shape[i].calls;
        *flops += 2.0 * M * N * (double)K * (double)rec.shape[i].calls;
        free(A), free(Bm), free(C);
    }
    rec.on = was;
    return 0;
}
